"""Alerts while the vehicle is in view (`Alerter`), and the evidence frame of each alert.

Frigate sends `end` at least 5 s after a vehicle's last sighting (Frigate 0.17.2), often far
more for a slow or stopped car: a patrol down the road needs the alert before that. So every
read of a vehicle Frigate still tracks is fused with the vehicle's reads so far and, when that is
sure enough of the plate (`hotlists.in_view_min_confidence`), matches a hotlist and Frigate's own
record says the event is this camera's, the alert is raised at once, marked provisional; the
vehicle's transit confirms or withdraws it at its end (`engine.outcomes.record_transit`). One
alert per vehicle: its id derives from the transit's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Final

from rufina_alpr.alerts import Alert, alert_id, ledger
from rufina_alpr.config import Settings
from rufina_alpr.engine.events import EventState, event_time
from rufina_alpr.engine.publisher import Publisher
from rufina_alpr.frigate import FrigateClient, FrigateError, FrigateEvent
from rufina_alpr.fusion import fuse
from rufina_alpr.hotlists import Hotlists
from rufina_alpr.metrics import Metrics
from rufina_alpr.store import StoreError
from rufina_alpr.store.database import Database
from rufina_alpr.transits import Transit, transit_id
from rufina_alpr.verification import verify_event

_LOGGER = logging.getLogger(__name__)

NO_TRANSIT: Final = "the vehicle came to no transit"


class Alerter:
    """Raises provisional alerts on in-view reads and keeps each alert's full frame."""

    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        *,
        db: Database,
        hotlists: Hotlists,
        publisher: Publisher,
        frigate: Callable[[], FrigateClient | None],
        spawn: Callable[..., object],
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.db = db
        self.hotlists = hotlists
        self.publisher = publisher
        self._frigate = frigate
        self._spawn = spawn

    def read_done(self, state: EventState) -> None:
        """A read of the event finished: while Frigate still tracks the vehicle, raise its
        alert if its reads so far are sure of a plate on a hotlist."""
        options = self.settings.hotlists
        if not options.in_view or state.finalizing or state.alert_checking or state.alerted:
            return
        fused = fuse(state.fused_reads, low_confidence=self.settings.recognition.low_confidence)
        if fused is None or fused.low_confidence:
            return
        if fused.confidence < options.in_view_min_confidence:
            return
        event, station = state.event, state.station
        transit = Transit.of_fused(
            fused,
            event_id=event.id,
            station_id=station.id,
            camera=event.camera,
            time=event_time(event, self.settings.timezone),
            vehicle=event.label,
            direction=station.direction_of(event.entered_zones),
        )
        state.alert_checking = True
        self._spawn(self._raise(state, transit), f"in-view-{event.id}")

    async def _raise(self, state: EventState, transit: Transit) -> None:
        try:
            if not await self._frigate_tracks(state):
                return
            alert = await self.db.write(lambda: self._raise_in_store(transit))
        except StoreError:
            return  # the transit will settle it at the vehicle's end
        finally:
            state.alert_checking = False
        if alert is None:
            return
        state.alerted = True
        self.metrics.inc("alerts_provisional")
        self.publisher.alert_raised(alert, transit)
        self.capture(alert, state.event)

    async def _frigate_tracks(self, state: EventState) -> bool:
        """Whether Frigate's own record of the event is this camera's and label's: anyone who
        may publish on ``frigate/#`` can name another camera's real event, whose images would
        then raise an alert at the wrong station (the `end` is checked the same way). Unanswered,
        no alert in view: the transit raises it at the end."""
        frigate = self._frigate()
        if frigate is None:
            return False
        event = state.event
        answer = await verify_event(
            frigate.event, event.camera, event.id, labels={event.label}, ended=False, wait=False
        )
        if answer.verdict != "confirmed":
            self.metrics.inc("alerts_in_view_unverified")
            _LOGGER.debug("event %s: no alert in view (%s)", event.id, answer.reason)
            return False
        return True

    def _raise_in_store(self, transit: Transit) -> Alert | None:
        """On the database thread: the read's best alerting match raised provisional (None: no
        match, the vehicle has its alert already, or the cooldown holds it back)."""
        matches = self.hotlists.match(
            transit.plate, transit.alternatives, transit.station_id, transit.time
        )
        best = next((match for match in matches if match.alerts), None)
        if best is None:
            return None
        store = self.db.store
        now = datetime.now(UTC)
        alert = ledger.hotlist_alert(
            transit, best, status="provisional", worker=store.worker, now=now
        )
        with store.engine.begin() as connection:
            return ledger.raise_alert(connection, alert, cooldown=self.settings.hotlists.cooldown)

    async def withdraw(self, state: EventState, reason: str) -> None:
        """The vehicle came to no transit: its provisional alert, if any, is withdrawn."""
        if not state.alerted:
            return
        event = state.event
        id_ = alert_id(transit_id(event.camera, event.id), "hotlist")
        now = datetime.now(UTC)

        def withdraw() -> Alert | None:
            with self.db.store.engine.begin() as connection:
                return ledger.withdraw(connection, id_, reason, now=now)

        try:
            alert = await self.db.write(withdraw)
        except StoreError:
            return  # the sweep at the next connection withdraws it
        if alert is not None:
            self.metrics.inc("alerts_withdrawn")
            self.publisher.alert_settled(alert)

    def withdraw_stale(self, now: datetime) -> int:
        """On the database thread: withdraw this worker's provisional alerts whose vehicle's
        event is long over with no transit (the engine stopped meanwhile); their withdrawal
        goes out with the outbox."""
        before = now - timedelta(seconds=2 * self.settings.recognition.event_timeout)
        with self.db.store.engine.begin() as connection:
            stale = ledger.stale_provisional(connection, self.db.store.worker, before)
            for id_ in stale:
                ledger.withdraw(connection, id_, NO_TRANSIT, now=now)
        return len(stale)

    def capture(self, alert: Alert, event: FrigateEvent) -> None:
        """Keep Frigate's full frame of the alert's vehicle, in a task of its own."""
        if self.settings.hotlists.evidence_frames:
            self._spawn(self._capture(alert, event), f"evidence-{alert.id}")

    async def _capture(self, alert: Alert, event: FrigateEvent) -> None:
        """The record frame at the snapshot time (with ``image_source: recording``, once its
        segment exists), else the clean copy of an ended event, else snapshot.jpg (clean while
        the event is in progress); its SHA-256 is computed as it is stored. Best effort."""
        frigate = self._frigate()
        if frigate is None:
            return
        frame: tuple[bytes, str] | None = None
        try:
            if (
                self.settings.frigate.image_source == "recording"
                and event.type == "end"
                and event.snapshot_time is not None
            ):
                try:
                    frame = (
                        await frigate.recording_frame(event.camera, event.snapshot_time),
                        "recording",
                    )
                except FrigateError:
                    frame = None
            if frame is None and event.type == "end":
                clean = await frigate.clean_snapshot(event.id)
                frame = (clean, "clean") if clean is not None else None
            if frame is None:
                frame = (await frigate.rendered_snapshot(event.id, quality=95), "snapshot")
        except FrigateError as err:
            self.metrics.inc("evidence_frames_failed")
            _LOGGER.warning("no evidence frame for alert %s: %s", alert.id[:8], err)
            return
        data, source = frame
        now = datetime.now(UTC)

        def keep() -> str:
            with self.db.store.engine.begin() as connection:
                return ledger.keep_frame(connection, alert.id, data, source, now=now)

        try:
            await self.db.write(keep)
        except StoreError:
            self.metrics.inc("evidence_frames_failed")
            return
        self.metrics.inc("evidence_frames")
