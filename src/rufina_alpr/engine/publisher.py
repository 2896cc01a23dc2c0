"""The publisher: the only code that publishes on the broker.

`Publisher` sends the engine's status (and builds the offline one for the last will), the stations,
the health (when it changed, or forced), the stats, the hotlists' change notice, each stored
transit (QoS 1) with its station's retained ``last`` and ``crop``, the alerts (raised, confirmed,
withdrawn, handled), the outbox of what was stored but never delivered (on each connection), and
clears the retained messages a retention purge removed. It tracks which transits and alerts are
in flight so that the outbox never sends one twice at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Final

from rufina_alpr import contract, privacy
from rufina_alpr.alerts import Alert, ledger
from rufina_alpr.alerts.ledger import Settled
from rufina_alpr.config import Settings
from rufina_alpr.metrics import Metrics
from rufina_alpr.mqtt import MqttLink
from rufina_alpr.store import Store
from rufina_alpr.transits import Transit

# The engine's logger: the publisher's lines read as they did before the split.
_LOGGER = logging.getLogger(__name__)

OUTBOX_PAGE = 500
PUBLISHED_ACTIONS: Final = frozenset({"alert", "stop_and_check"})
"""Alerts with another action (a gate's "review": a near match to an authorised plate) wait in
the operators' queue and buzz no phone."""


def mask_plate(plate: str) -> str:
    """A plate as it may appear in INFO logs: personal data, so only its first two characters."""
    return plate[:2] + "*" * max(0, len(plate) - 2)


class Publisher:
    """Everything the engine tells the broker."""

    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        *,
        topics: contract.Topics,
        signer: contract.Signer,
        store: Store,
        started_at: datetime,
        mqtt: Callable[[], MqttLink],
        in_db: Callable[..., Awaitable[Any]],
        spawn: Callable[..., asyncio.Task[Any]],
        health: Callable[[], dict[str, Any]],
        stats: Callable[[], Awaitable[dict[str, Any]]],
        withdraw_stale: Callable[[datetime], int],
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.topics = topics
        self.signer = signer
        self.store = store
        self.started_at = started_at
        self._mqtt = mqtt
        self.in_db = in_db
        """Runs a store call on the engine's database thread."""
        self._spawn = spawn
        self._health = health
        self._stats = stats
        self._withdraw_stale = withdraw_stale
        self.in_flight: set[str] = set()
        """The transits being published: the outbox flush leaves them alone."""
        self._alerts_inflight: set[str] = set()
        """The alerts being published: the outbox flush leaves them alone."""
        self._raising: dict[str, asyncio.Task[Any]] = {}
        """Provisional raises in flight: an alert's confirmation or withdrawal waits for it."""
        self._health_sent: dict[str, Any] | None = None

    @property
    def mqtt(self) -> MqttLink:
        return self._mqtt()

    def status(self, state: str) -> dict[str, Any]:
        return contract.status_payload(
            state=state,  # type: ignore[arg-type]
            instance=self.settings.instance,
            api_url=self.settings.api.public_url,
            since=self.started_at,
        )

    def on_connected(self) -> None:
        self.mqtt.publish(
            self.topics.status, self.signer.encode(self.status("online")), retain=True
        )
        stations = contract.stations_payload(self.settings.stations)
        self.mqtt.publish(self.topics.stations, self.signer.encode(stations), retain=True)
        self.publish_health(force=True)
        self._spawn(self.flush_outbox(), name="outbox")

    def publish_health(self, *, force: bool = False) -> None:
        """Publish `<prefix>/health` (retained) when something changed, or when ``force``d."""
        if not self.mqtt.connected.is_set():
            return
        payload = self._health()
        comparable = {k: v for k, v in payload.items() if k != "time"}
        comparable["frigate"] = {k: v for k, v in payload["frigate"].items() if k != "last_stats"}
        if not force and comparable == self._health_sent:
            return
        changed = self._health_sent is not None and comparable != self._health_sent
        self._health_sent = comparable
        if changed:
            offline = [s for s, v in payload["stations"].items() if v["state"] == "offline"]
            _LOGGER.info(
                "Frigate %s; stations offline: %s",
                payload["frigate"]["state"],
                ", ".join(offline) or "none",
            )
        self.mqtt.publish(self.topics.health, self.signer.encode(payload), retain=True)

    def transit_payload(self, transit: Transit) -> dict[str, Any]:
        station = self.settings.station(transit.station_id)
        return contract.transit_payload(transit, station.name if station else None)

    def publish_soon(self, transit: Transit, settled: list[Settled], received: float) -> None:
        """Publish a stored transit without waiting for the broker: while it is away the outbox
        publishes it once it is back, and nobody (reconciliation least) waits meanwhile."""
        if not self.mqtt.connected.is_set():
            self.metrics.inc("transits_held_for_broker")
            return
        # Marked in flight now, so that an outbox flush before the task runs skips them.
        self.in_flight.add(transit.id)
        self._alerts_inflight.update(item.alert.id for item in settled)
        self._spawn(
            self.publish_transit(transit, settled=settled, received=received),
            name=f"publish-{transit.id}",
        )

    async def publish_transit(
        self,
        transit: Transit,
        *,
        republish: bool = False,
        settled: list[Settled] | None = None,
        received: float | None = None,
    ) -> None:
        """Publish a stored transit, then what it did to its vehicle's alerts (raised,
        confirmed, withdrawn; ``settled`` None: the outbox publishes those)."""
        transit_payload = self.transit_payload(transit)
        payload = self.signer.encode(transit_payload)
        self.in_flight.add(transit.id)
        settled = settled or []
        self._alerts_inflight.update(item.alert.id for item in settled)
        try:
            delivered = self.mqtt.publish(self.topics.transit, payload, qos=contract.QOS_TRANSIT)
            if await self.in_db(self.store.is_newest_transit, transit):
                station = transit.station_id
                self.mqtt.publish(self.topics.station_last(station), payload, retain=True)
                # No crop: an empty retained message clears the previous vehicle's crop.
                self.mqtt.publish(
                    self.topics.station_crop(station), transit.crop_jpeg or b"", retain=True
                )
            await delivered
            if received is not None:
                self.metrics.observe_latency(time.monotonic() - received)
            await self.in_db(self.store.mark_published, transit.id)
            self.metrics.inc("transits_republished" if republish else "transits_published")
            for item in settled:
                await self._publish_alert(item.alert, transit_payload)
        finally:
            self.in_flight.discard(transit.id)
            for item in settled:
                self._alerts_inflight.discard(item.alert.id)

    def alert_raised(self, alert: Alert, transit: Transit | None = None) -> None:
        """Raise a stored alert on the broker now (provisional: ``transit`` is the vehicle's
        reads so far; else its stored transit is read), not waiting; the outbox has it if the
        broker is away."""
        if not self.mqtt.connected.is_set():
            return
        self._alerts_inflight.add(alert.id)
        payload = self.transit_payload(transit) if transit is not None else None
        task = self._spawn(self._publish_alert(alert, payload), name=f"alert-{alert.id}")
        self._raising[alert.id] = task
        task.add_done_callback(lambda _t: self._raising.pop(alert.id, None))

    def alert_settled(self, alert: Alert) -> None:
        """Publish what became of an alert its transit did not settle (withdrawn: the vehicle
        came to no transit), not waiting; the outbox has it if the broker is away."""
        if self.mqtt.connected.is_set():
            self._spawn(self._publish_alert(alert, None), name=f"alert-{alert.id}")

    def alert_changed(self, alert: Alert, change: str, by: str | None = None) -> None:
        """Tell the broker what became of an alert (a handling step; best effort, QoS 1)."""
        if self.mqtt.connected.is_set():
            self.mqtt.publish(
                self.topics.alert,
                self.signer.encode(self._change_payload(alert, change, by or alert.handled_by)),
                qos=contract.QOS_TRANSIT,
            )

    async def _publish_alert(self, alert: Alert, transit_payload: dict[str, Any] | None) -> None:
        """Publish what the broker has not acknowledged of an alert: its raise
        (``hotlist_match``, with its current status) or, raised before, its confirmation or
        withdrawal (``alert``); marked published once the broker has it. A withdrawn alert never
        raised, and a review flag (a gate's near match), are marked without a message."""
        self._alerts_inflight.add(alert.id)
        try:
            raising = self._raising.get(alert.id)
            if raising is not None and raising is not asyncio.current_task():
                await asyncio.wait([raising])  # the provisional raise goes first
            # As stored now: what the broker has of it may have changed since it was read.
            alert = await self.in_db(self._current, alert)
            if alert.published == alert.status:
                return
            quiet = alert.action not in PUBLISHED_ACTIONS or (
                alert.published is None and alert.status == "withdrawn"
            )
            if not quiet:
                if alert.published is None:
                    if transit_payload is None:
                        transit_payload = await self._stored_transit_payload(alert.transit_id)
                    if transit_payload is None:
                        return  # a provisional alert of a vehicle not stored yet: its end will
                    payload = await self._raise_payload(alert, transit_payload)
                    topic = self.topics.hotlist_match
                else:
                    payload = self._change_payload(alert, alert.status, None)
                    topic = self.topics.alert
                await self.mqtt.publish(
                    topic, self.signer.encode(payload), qos=contract.QOS_TRANSIT
                )
                raised = topic == self.topics.hotlist_match
                self.metrics.inc("alerts_published" if raised else "alert_changes_published")
                _LOGGER.info(
                    "alert %s (%s) at %s: %s %s, priority %d",
                    alert.id[:8],
                    alert.kind,
                    alert.station_id,
                    mask_plate(alert.plate),
                    alert.status,
                    alert.priority,
                )
            await self.in_db(self._mark_published, alert.id, alert.status)
        finally:
            self._alerts_inflight.discard(alert.id)

    def _current(self, alert: Alert) -> Alert:
        with self.store.engine.begin() as connection:
            return ledger.find(connection, alert.id) or alert

    def _mark_published(self, id_: str, status: str) -> None:
        with self.store.engine.begin() as connection:
            ledger.mark_published(connection, id_, status)

    async def _stored_transit_payload(self, transit_id: str) -> dict[str, Any] | None:
        transit = await self.in_db(self.store.transit, transit_id)
        return self.transit_payload(transit) if transit is not None else None

    async def _raise_payload(self, alert: Alert, transit_payload: dict[str, Any]) -> dict[str, Any]:
        related = (
            await self._stored_transit_payload(alert.related_transit_id)
            if alert.related_transit_id
            else None
        )
        return contract.hotlist_match_payload(
            transit_payload,
            alert_id=alert.id,
            status="provisional" if alert.status == "provisional" else "confirmed",
            alert_kind=alert.kind,  # type: ignore[arg-type]
            list_id=alert.list_id,
            list_name=alert.list_name,
            entry_plate=alert.entry_plate,
            read_plate=alert.read_plate,
            score=alert.score,
            match="fuzzy" if alert.match == "fuzzy" else "exact",
            action="stop_and_check" if alert.action == "stop_and_check" else "alert",
            priority=alert.priority,
            reason=alert.reason,
            related_transit=related,
        )

    @staticmethod
    def _change_payload(alert: Alert, change: str, by: str | None) -> dict[str, Any]:
        return contract.alert_update_payload(
            alert_id=alert.id,
            alert_kind=alert.kind,  # type: ignore[arg-type]
            status=alert.status,  # type: ignore[arg-type]
            state=alert.state,  # type: ignore[arg-type]
            change=change,  # type: ignore[arg-type]
            transit_id=alert.transit_id,
            station_id=alert.station_id,
            list_id=alert.list_id,
            priority=alert.priority,
            time=datetime.now(UTC),
            plate=alert.plate if change == "confirmed" else None,
            reason=alert.reject_reason
            if change == "rejected"
            else (alert.note if change == "withdrawn" else None),
            outcome=alert.outcome if change == "closed" else None,
            by=by,
        )

    async def flush_outbox(self) -> None:
        """Publish what was stored but never acknowledged (crash, or broker away), a page at a
        time until nothing is left or the broker goes away again."""
        while self.mqtt.connected.is_set():
            pending = await self.in_db(self.store.unpublished, OUTBOX_PAGE)
            waiting = [t for t in pending if t.id not in self.in_flight]
            if waiting:
                _LOGGER.info("publishing %d stored transits not delivered yet", len(waiting))
            await asyncio.gather(*(self.publish_transit(t, republish=True) for t in waiting))
            if len(pending) < OUTBOX_PAGE or not waiting:
                break
        await self._flush_alerts()

    async def _flush_alerts(self) -> None:
        """Publish what the broker has not acknowledged of the alerts, after their transits;
        first the provisional alerts of vehicles long gone without a transit are withdrawn."""
        await self.in_db(self._withdraw_stale, datetime.now(UTC))
        pending = await self.in_db(self._unpublished_alerts)
        waiting = [a for a in pending if a.id not in self._alerts_inflight]
        if waiting:
            _LOGGER.info("publishing %d alert changes not delivered yet", len(waiting))
        for alert in waiting:
            await self._publish_alert(alert, None)

    def _unpublished_alerts(self) -> list[Alert]:
        with self.store.engine.begin() as connection:
            return ledger.unpublished(connection, self.store.worker, OUTBOX_PAGE)

    async def publish_stats(self) -> None:
        payload = await self._stats()
        self.mqtt.publish(self.topics.stats, self.signer.encode(payload), retain=True)

    def publish_hotlists(self, payload: dict[str, Any]) -> None:
        """The hotlists' change notice (`HotlistWatch` decides when), retained."""
        self.mqtt.publish(self.topics.hotlists, self.signer.encode(payload), retain=True)

    def clear_retained(self, report: privacy.PurgeReport) -> None:
        """Clear the retained ``last`` and ``crop`` of the stations whose newest transit a purge
        removed (`privacy.clear_retained`)."""
        privacy.clear_retained(self.mqtt, self.topics, report.cleared_stations)
