"""The publisher: the only code that publishes on the broker.

`Publisher` sends the engine's status (and builds the offline one for the last will), the stations,
the health (when it changed, or forced), the stats, each stored transit (QoS 1) with its station's
retained ``last`` and ``crop``, the hotlist alerts, the outbox of what was stored but never
delivered (on each connection), and clears the retained messages a retention purge removed. It
tracks which transits and alerts are in flight so that the outbox never sends one twice at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from rufina_alpr import contract, privacy
from rufina_alpr.config import Settings
from rufina_alpr.hotlists import HotlistMatch, Hotlists
from rufina_alpr.metrics import Metrics
from rufina_alpr.mqtt import MqttLink
from rufina_alpr.store import Store
from rufina_alpr.transits import Transit

# The engine's logger: the publisher's lines read as they did before the split.
_LOGGER = logging.getLogger(__name__)

OUTBOX_PAGE = 500


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
        hotlists: Hotlists,
        started_at: datetime,
        mqtt: Callable[[], MqttLink],
        in_db: Callable[..., Awaitable[Any]],
        spawn: Callable[..., asyncio.Task[Any]],
        health: Callable[[], dict[str, Any]],
        stats: Callable[[], Awaitable[dict[str, Any]]],
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.topics = topics
        self.signer = signer
        self.store = store
        self.hotlists = hotlists
        self.started_at = started_at
        self._mqtt = mqtt
        self.in_db = in_db
        """Runs a store call on the engine's database thread."""
        self._spawn = spawn
        self._health = health
        self._stats = stats
        self.in_flight: set[str] = set()
        """The transits being published: the outbox flush leaves them alone."""
        self._alerts_inflight: set[int] = set()
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

    def publish_soon(self, transit: Transit, alerts: list[HotlistMatch], received: float) -> None:
        """Publish a stored transit without waiting for the broker: while it is away the outbox
        publishes it once it is back, and nobody (reconciliation least) waits meanwhile."""
        if not self.mqtt.connected.is_set():
            self.metrics.inc("transits_held_for_broker")
            return
        # Marked in flight now, so that an outbox flush before the task runs skips them.
        self.in_flight.add(transit.id)
        self._alerts_inflight.update(a.record_id for a in alerts if a.record_id is not None)
        self._spawn(
            self.publish_transit(transit, alerts=alerts, received=received),
            name=f"publish-{transit.id}",
        )

    async def publish_transit(
        self,
        transit: Transit,
        *,
        republish: bool = False,
        alerts: list[HotlistMatch] | None = None,
        received: float | None = None,
    ) -> None:
        """Publish a stored transit, then its hotlist alerts (``alerts`` None: from the store)."""
        transit_payload = self.transit_payload(transit)
        payload = self.signer.encode(transit_payload)
        self.in_flight.add(transit.id)
        if alerts is not None:
            self._alerts_inflight.update(a.record_id for a in alerts if a.record_id is not None)
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
            if alerts is None and transit.hotlist is not None:
                alerts = await self.in_db(self.hotlists.transit_alerts, transit.id)
            if alerts:
                await self._publish_alerts(transit_payload, transit.station_id, alerts)
        finally:
            self.in_flight.discard(transit.id)
            for alert in alerts or ():
                self._alerts_inflight.discard(alert.record_id or -1)

    async def _publish_alerts(
        self, transit_payload: dict[str, Any], station_id: str, alerts: list[HotlistMatch]
    ) -> None:
        """Publish hotlist alerts (QoS 1); each is marked published once the broker has it."""
        queued: list[tuple[HotlistMatch, asyncio.Future[None]]] = []
        for alert in alerts:
            if alert.action == "allow":
                continue
            self._alerts_inflight.add(alert.record_id or -1)
            payload = contract.hotlist_match_payload(
                transit_payload,
                list_id=alert.list_id,
                entry_plate=alert.entry_plate,
                read_plate=alert.read_plate,
                score=alert.score,
                match=alert.match,
                action="stop_and_check" if alert.action == "stop_and_check" else "alert",
                priority=alert.priority,
                reason=alert.reason,
            )
            delivered = self.mqtt.publish(
                self.topics.hotlist_match, self.signer.encode(payload), qos=contract.QOS_TRANSIT
            )
            queued.append((alert, delivered))
            self.metrics.inc("hotlist_alerts")
            _LOGGER.info(
                "hotlist %s at %s: %s (%s %.2f, %s)",
                alert.list_id,
                station_id,
                mask_plate(alert.entry_plate),
                alert.match,
                alert.score,
                alert.action,
            )
        try:
            for alert, delivered in queued:
                await delivered
                if alert.record_id is not None:
                    await self.in_db(self.hotlists.mark_alert_published, alert.record_id)
                self.metrics.inc("hotlist_alerts_published")
        finally:
            for alert, _delivered in queued:
                self._alerts_inflight.discard(alert.record_id or -1)

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
        """Publish the hotlist alerts stored but never acknowledged, after their transits."""
        pending = await self.in_db(self.hotlists.pending_alerts, 500)
        waiting = [p for p in pending if p.match.record_id not in self._alerts_inflight]
        if waiting:
            _LOGGER.info("publishing %d stored hotlist alerts not delivered yet", len(waiting))
        for item in waiting:
            transit = await self.in_db(self.store.transit, item.transit_id)
            if transit is not None:
                await self._publish_alerts(
                    self.transit_payload(transit), transit.station_id, [item.match]
                )

    async def publish_stats(self) -> None:
        payload = await self._stats()
        self.mqtt.publish(self.topics.stats, self.signer.encode(payload), retain=True)

    def clear_retained(self, report: privacy.PurgeReport) -> None:
        """Clear the retained ``last`` and ``crop`` of the stations whose newest transit a purge
        removed (`privacy.clear_retained`)."""
        privacy.clear_retained(self.mqtt, self.topics, report)
