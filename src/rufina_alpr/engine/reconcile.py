"""Catching up with Frigate (`Reconciler`): Frigate publishes with QoS 0, so the ended events
whose messages were lost are found in ``GET /api/events``; the vehicles left unread while its
API did not answer are read again once it does."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from rufina_alpr.config import Settings
from rufina_alpr.engine.events import LPR_LABEL, EventState, EventTracker
from rufina_alpr.engine.outcomes import Finalizer
from rufina_alpr.frigate import (
    EventError,
    FrigateClient,
    FrigateError,
    FrigateEvent,
    event_from_api,
)
from rufina_alpr.metrics import Metrics
from rufina_alpr.stations import Station
from rufina_alpr.store import PASSAGE_COUNTED
from rufina_alpr.store.database import Database
from rufina_alpr.verification import UNREACHABLE

_LOGGER = logging.getLogger(__name__)


class Reconciler:
    """Finds the events MQTT lost and the reads Frigate's outages left undone."""

    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        *,
        db: Database,
        tracker: EventTracker,
        finalizer: Finalizer,
        frigate: Callable[[], FrigateClient | None],
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.db = db
        self.tracker = tracker
        self.finalizer = finalizer
        self._frigate = frigate
        self._reconcile_lock = asyncio.Lock()
        self._reread_lock = asyncio.Lock()

    @property
    def frigate(self) -> FrigateClient:
        client = self._frigate()
        assert client is not None, "the engine is not started"
        return client

    async def run(self, connected: asyncio.Event) -> None:
        """Reconcile once connected at start-up, then every ``reconcile_interval`` seconds."""
        interval = self.settings.frigate.reconcile_interval
        await connected.wait()
        while True:
            try:
                await self.reconcile()
                if self.frigate.reachable:
                    await self.reread_unreachable()
            except Exception:  # the next round tries again
                self.metrics.inc("reconcile_failed")
                _LOGGER.exception("reconciliation with Frigate's events failed")
            if interval <= 0:
                return
            await asyncio.sleep(interval)

    async def reconcile(self, lookback: float | None = None) -> int:
        """Process the ended vehicle events of ``GET /api/events`` that have no outcome yet
        (their MQTT messages were lost: Frigate publishes with QoS 0). Exactly once: an event
        being handled is skipped, and the store refuses a second outcome. Returns how many."""
        since = time.time() - (lookback or self.settings.frigate.reconcile_lookback)
        labels = (*self.settings.recognition.labels, LPR_LABEL)
        recovered = 0
        async with self._reconcile_lock:
            for station in self.settings.stations:
                try:
                    items = await self.frigate.events(
                        camera=station.camera, after=since, labels=labels
                    )
                except FrigateError as err:
                    self.metrics.inc("reconcile_failed")
                    if err.transient:  # one line for the round, not one per camera
                        _LOGGER.warning("reconciliation waits for Frigate's API: %s", err)
                        break
                    _LOGGER.warning("cannot list Frigate's events of %s: %s", station.camera, err)
                    continue
                for item in items:
                    try:
                        event = event_from_api(item)
                    except EventError as err:
                        self.metrics.inc("events_malformed")
                        _LOGGER.debug("ignored an event of GET /api/events: %s", err)
                        continue
                    if await self._recover(station, event):
                        recovered += 1
        if recovered:
            _LOGGER.info("reconciliation recovered %d events missed on MQTT", recovered)
        return recovered

    def _wanted(self, station: Station, event: FrigateEvent) -> bool:
        """Whether an event of Frigate's list is an ended vehicle of this station."""
        if event.end_time is None or event.false_positive or event.camera != station.camera:
            return False
        if event.label == LPR_LABEL:
            return station.reads_plates
        return event.label in self.settings.recognition.labels

    async def _recover(self, station: Station, event: FrigateEvent) -> bool:
        if not self._wanted(station, event):
            return False
        if event.key not in self.tracker.live and (
            self.tracker.finished(event.key)
            or await self.db.run(self.db.store.event_handled, event.camera, event.id)
        ):
            return False
        state = self.tracker.resume(event, station)  # MQTT may have brought it meanwhile
        if state is None:
            return False
        self.metrics.inc("events_reconciled")
        if not station.reads_plates:
            try:
                stored = await self.finalizer.add_passage(station, event, PASSAGE_COUNTED)
                self.metrics.inc("passages_counted" if stored else "events_duplicate")
            finally:
                self.tracker.live.pop(event.key, None)
            return stored
        await self.finalizer.finalize(state, None)
        return True

    async def reread_unreachable(self) -> int:
        """Read again the vehicles left unread because Frigate's API did not answer, now that it
        does (their snapshots outlive the outage: Frigate keeps them as long as our retention,
        `frigate-config`). Each is Frigate's own record, so confirmed. Returns how many."""
        if self._reread_lock.locked():
            return 0
        async with self._reread_lock:
            since = datetime.now(self.settings.timezone) - timedelta(
                days=self.settings.privacy.retention_days
            )
            pending = await self.db.run(self.db.store.unread_passages, UNREACHABLE, since)
            done = 0
            for camera, event_id, station_id in pending:
                station = self.settings.station(station_id)
                if (
                    station is None
                    or not station.reads_plates
                    or (camera, event_id) in self.tracker.live
                ):
                    continue
                try:
                    record = await self.frigate.event(event_id)
                except FrigateError as err:
                    if err.transient:
                        break  # away again: the next time it answers
                    record = None
                if record is None or record.camera != camera or record.end_time is None:
                    reason = "not in Frigate's events any more"
                    await self.db.run(self.db.store.set_unread_reason, camera, event_id, reason)
                    continue
                state = self.tracker.live[record.key] = EventState(record, station, confirmed=True)
                state.finalizing = True
                self.metrics.inc("passages_reread")
                await self.finalizer.finalize(state, None)
                done += 1
        if done:
            _LOGGER.info("read again %d vehicles left unread while Frigate was away", done)
        return done
