"""The events the engine tracks: what it knows of one until it ends (`EventState`) and the one
owner of them all (`EventTracker`), which the other stages ask."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Final

from rufina_alpr.config import Settings
from rufina_alpr.frigate import (
    EventError,
    EventKey,
    FrigateEvent,
    LprUpdate,
    parse_event,
    parse_tracked_object_update,
)
from rufina_alpr.intake import valid_event_id
from rufina_alpr.metrics import Metrics
from rufina_alpr.mqtt import Message
from rufina_alpr.reads import Box, PlateRead
from rufina_alpr.stations import Station

if TYPE_CHECKING:
    from rufina_alpr.engine.reads import ReadScheduler

_LOGGER = logging.getLogger(__name__)

LPR_LABEL: Final = "license_plate"
"""The label of Frigate's dedicated LPR events (no vehicle class is known for them)."""
MAX_LIVE_EVENTS: Final = 2000
"""Events tracked at once (a town's busiest minute is a few dozen): past it, the oldest one that
never showed an image is dropped, so forged `new` messages cannot grow memory without bound."""
FINISHED_REMEMBERED: Final = 4096
MAX_SNAPSHOTS: Final = 16
"""Snapshot times kept per event (a vehicle that stays in view keeps taking better ones)."""


@dataclass(slots=True)
class EventState:
    """What the engine knows of one Frigate event until it ends."""

    event: FrigateEvent
    station: Station
    first_seen: float = field(default_factory=time.monotonic)
    reads: list[PlateRead] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    reads_scheduled: int = 0
    reads_running: int = 0
    last_read_at: float = 0.0
    last_snapshot_time: float | None = None
    snapshots: dict[float, Box | None] = field(default_factory=dict)
    """The event's snapshots so far, oldest first (Frigate's time: the vehicle's box in detect
    pixels), at most `MAX_SNAPSHOTS`: their record frames are read at its end."""
    recorded: set[float] = field(default_factory=set)
    """The snapshot times whose record frame was asked for."""
    record_reads: list[PlateRead] = field(default_factory=list)
    """Reads of record-stream frames. Where there are any, they stand for the event: the
    snapshots' reads are of the same moments at the detect stream's fraction of the pixels."""
    newer: FrigateEvent | None = None
    """The newest snapshot that came while this event's read ran: read next, the others never
    (under load the `end` read takes the final snapshot anyway)."""
    failures: list[str] = field(default_factory=list)
    finalizing: bool = False
    lpr: LprUpdate | None = None
    """Frigate's latest plate for this object (`tracked_object_update` type ``lpr``)."""
    dedicated: bool = False
    """Known only from LPR updates (a dedicated LPR camera): no `end` will come."""
    quiet_timer: asyncio.TimerHandle | None = None
    confirmed: bool = False
    """Frigate's own record (``GET /api/events/<id>``) is this camera's and label's: its plate
    replaces the one MQTT brought. Unconfirmed, Frigate's plate counts only where the engine's
    own OCR agrees with it (`verification`)."""
    store_retries: int = 0
    alert_checking: bool = False
    """An in-view read is being matched against the hotlists (`Alerter`)."""
    alerted: bool = False
    """A provisional alert was raised for the vehicle while in view."""

    @property
    def unseen(self) -> bool:
        """Nothing of the event was ever seen but messages: no image asked for, no plate."""
        return self.reads_scheduled == 0 and self.lpr is None and not self.finalizing

    @property
    def recording_read(self) -> bool:
        """The last read took the record frame of ``last_snapshot_time`` (else the snapshot)."""
        return self.last_snapshot_time is not None and self.last_snapshot_time in self.recorded

    def note_snapshot(self, event: FrigateEvent) -> None:
        """Keep the time and box of the message's snapshot (the newest `MAX_SNAPSHOTS`)."""
        if event.has_snapshot and event.snapshot_time is not None:
            self.snapshots[event.snapshot_time] = event.snapshot_box or event.box
            while len(self.snapshots) > MAX_SNAPSHOTS:
                del self.snapshots[next(iter(self.snapshots))]

    @property
    def fused_reads(self) -> list[PlateRead]:
        """The reads that stand for the event: its record frames' where any read a plate."""
        return list(self.record_reads or self.reads)

    def cancel_timer(self) -> None:
        """Stop waiting for a dedicated LPR event's quiet time."""
        if self.quiet_timer is not None:
            self.quiet_timer.cancel()


class EventTracker:
    """The only owner of the live events (`live`) and of the recently finished ones: turns
    `frigate/events`, `tracked_object_update` and `reviews` messages into event states, offers
    their images to the `ReadScheduler`, and hands an ended event to ``finish`` (the
    `Finalizer`) and a context camera's vehicle to ``count``."""

    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        scheduler: ReadScheduler,
        *,
        finish: Callable[[EventState, Message | None], None],
        count: Callable[[Station, FrigateEvent, Message], None],
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.scheduler = scheduler
        self._finish = finish
        self._count = count
        self.live: dict[EventKey, EventState] = {}
        self._finished_order: deque[EventKey] = deque(maxlen=FINISHED_REMEMBERED)
        self._finished: set[EventKey] = set()
        """Recently finished events: a late message of one of them is not a new event."""

    def on_event(self, message: Message) -> bool:
        """A `frigate/events` message; True when the `Finalizer` acknowledges it once stored."""
        self.metrics.inc("events_received")
        try:
            event = parse_event(message.payload)
        except EventError as err:
            self.metrics.inc("events_malformed")
            _LOGGER.warning("ignored a malformed Frigate event message: %s", err)
            return False
        station = self.settings.station_for_camera(event.camera)
        if station is None:
            self.metrics.inc("events_unknown_camera")
            _LOGGER.debug("ignored event %s from unknown camera %s", event.id, event.camera)
            return False
        if event.label not in self.settings.recognition.labels or event.false_positive:
            self.metrics.inc("events_ignored_label")
            _LOGGER.debug("ignored %s event %s on %s", event.label, event.id, station.id)
            return False
        if not station.reads_plates:
            if event.type != "end":
                return False
            self._count(station, event, message)
            return True
        state = self.live.get(event.key)
        if state is None:
            if not self._room_for_event():
                return False
            state = self.live[event.key] = EventState(event, station)
        elif state.finalizing:
            self.metrics.inc("events_duplicate")
            return False
        if state.dedicated:  # its LPR update came first: a normal event after all
            state.dedicated = False
            state.cancel_timer()
        state.event = event
        if event.type == "end":
            state.finalizing = True
            self._finish(state, message)
            return True
        self.scheduler.offer(state, event)
        return False

    def on_lpr_update(self, payload: bytes) -> None:
        """Frigate's plate for an object, joined to its event by id; for an unknown id (a
        dedicated LPR camera, or an event whose first messages were lost) a pending event."""
        try:
            update = parse_tracked_object_update(payload)
        except EventError as err:
            self.metrics.inc("lpr_updates_malformed")
            _LOGGER.warning("ignored a malformed tracked_object_update: %s", err)
            return
        if update is None:
            return  # description, face, classification
        self.metrics.inc("lpr_updates_received")
        station = self.settings.station_for_camera(update.camera)
        if station is None or not station.reads_plates:
            return
        state = self.live.get(update.key)
        if state is None:
            if update.key in self._finished or not self._room_for_event():
                return
            event = dedicated_event(update)
            state = self.live[update.key] = EventState(event, station, dedicated=True)
            self.metrics.inc("lpr_events")
        if state.finalizing:
            return
        state.lpr = update
        if state.dedicated:
            state.cancel_timer()
            state.quiet_timer = asyncio.get_running_loop().call_later(
                self.settings.frigate.lpr_event_quiet, self.finish_dedicated, update.key
            )

    def on_review(self, payload: bytes) -> None:
        """A review's ``end`` completes the dedicated LPR events it lists."""
        try:
            message = json.loads(payload)
            after = message["after"]
            kind = message["type"]
            camera = after["camera"]
            detections = after["data"]["detections"]
        except (ValueError, KeyError, TypeError):
            self.metrics.inc("reviews_malformed")
            return
        if kind != "end" or not isinstance(camera, str) or not isinstance(detections, list):
            return
        for event_id in detections:
            if isinstance(event_id, str) and valid_event_id(event_id):
                self.finish_dedicated((camera, event_id))

    def finish_dedicated(self, key: EventKey) -> None:
        """A dedicated LPR camera's event is complete (review ended, or quiet long enough)."""
        state = self.live.get(key)
        if state is None or state.finalizing or not state.dedicated:
            return
        state.cancel_timer()
        state.finalizing = True
        now = time.time()
        state.event = dataclasses.replace(state.event, type="end", end_time=now, frame_time=now)
        self._finish(state, None)

    def _room_for_event(self) -> bool:
        """Whether one more event may be tracked: at `MAX_LIVE_EVENTS` the oldest event nothing
        was seen of but messages makes room (dropped, counted), else the new one is refused."""
        if len(self.live) < MAX_LIVE_EVENTS:
            return True
        oldest = next((key for key, s in self.live.items() if s.unseen), None)
        if oldest is None:
            self.metrics.inc("events_refused_full")
            return False
        self.live.pop(oldest).cancel_timer()
        self.scheduler.discard(oldest)
        self.metrics.inc("events_dropped_unseen")
        return True

    def expire(self, now: float, timeout: float) -> None:
        """Events with no `end` after ``timeout`` seconds: those seen only as messages are
        dropped (nothing to count or store), the others end with what they have."""
        for key, state in list(self.live.items()):
            if state.finalizing or now - state.first_seen <= timeout:
                continue
            if state.unseen:
                self.live.pop(key, None)
                self.scheduler.discard(key)
                self.metrics.inc("events_expired_unseen")
                continue
            state.finalizing = True
            self.metrics.inc("events_expired")
            self._finish(state, None)

    def finished(self, key: EventKey) -> bool:
        """Whether the event's outcome was settled lately (its late messages are not new)."""
        return key in self._finished

    def forget(self, key: EventKey) -> None:
        """An event's outcome is stored (or it has none): no longer live, remembered."""
        self.live.pop(key, None)
        if key not in self._finished:
            if len(self._finished_order) == self._finished_order.maxlen:
                self._finished.discard(self._finished_order[0])
            self._finished_order.append(key)
            self._finished.add(key)

    def resume(self, event: FrigateEvent, station: Station) -> EventState | None:
        """The state for an ended event Frigate's API listed (its MQTT `end` was lost), confirmed
        and finalizing; None when it is being finalized already. A live state keeps what MQTT
        gave (its reads, its precise box)."""
        state = self.live.get(event.key)
        if state is None:
            state = self.live[event.key] = EventState(event, station)
        else:
            if state.finalizing:
                return None
            state.cancel_timer()
            state.dedicated = False
            previous = state.event
            state.event = dataclasses.replace(
                event,
                box=previous.box,
                snapshot_box=previous.snapshot_box,
                snapshot_time=previous.snapshot_time or event.snapshot_time,
                relative_box=None if previous.box else event.relative_box,
            )
        state.confirmed = True  # Frigate's API listed it: its own record
        state.finalizing = True
        return state

    def stop(self) -> list[asyncio.Task[None]]:
        """Cancel the quiet timers; the reads still running, for the engine to wait for."""
        for state in self.live.values():
            state.cancel_timer()
        return [task for state in self.live.values() for task in state.tasks]


def event_time(event: FrigateEvent, timezone: tzinfo) -> datetime:
    """When the vehicle passed, as its transit says: its snapshot's time, else its start."""
    return datetime.fromtimestamp(event.snapshot_time or event.start_time, tz=timezone)


def dedicated_event(update: LprUpdate) -> FrigateEvent:
    """The event of a dedicated LPR camera's first plate update (no `frigate/events` come)."""
    return FrigateEvent(
        type="update",
        id=update.id,
        camera=update.camera,
        label=LPR_LABEL,
        frame_time=update.timestamp,
        start_time=update.timestamp,
        end_time=None,
        top_score=update.score or 0.0,
        has_snapshot=True,
        box=None,
        snapshot_box=None,
        snapshot_time=update.timestamp,
        snapshot_score=None,
        current_zones=(),
        entered_zones=(),
        recognized_plate=None,
        sub_label=update.name,
        false_positive=False,
        new_snapshot=True,
        source="lpr",
    )
