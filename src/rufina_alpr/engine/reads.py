"""The read scheduler: which snapshots of an event are read, when, and on which worker.

`ReadScheduler` owns the recognition workers (the thread pool, the slots, the count of images
waiting), the read budget of an event and its minimum interval, the reads deferred while the
workers are busy, the image fetch from Frigate (record frame, clean copy, snapshot, thumbnail)
and the recognition itself; `drain` waits for an event's reads before its outcome is fused.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np

from rufina_alpr.config import Settings
from rufina_alpr.engine.events import EventState
from rufina_alpr.frigate import EventKey, FrigateClient, FrigateError, FrigateEvent
from rufina_alpr.metrics import Metrics
from rufina_alpr.reads import Box, PlateRead
from rufina_alpr.recognizer import ImageError, PlateReader, decode_image
from rufina_alpr.verification import UNREACHABLE

# The engine's logger: the scheduler's lines read as they did before the split.
_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EventImage:
    """An image of an event, the vehicle's box and the size of the frame that box is in (None:
    the image's own; a recording frame is in record pixels, Frigate's box in detect pixels)."""

    data: bytes
    box: Box | None
    frame_size: tuple[int, int] | None
    recorded: bool = False
    """A record-stream frame (else a detect-stream snapshot)."""


class ReadScheduler:
    """Schedules and runs the plate reads of the events the engine tracks."""

    def __init__(
        self,
        settings: Settings,
        recognizer: PlateReader,
        metrics: Metrics,
        *,
        frigate: Callable[[], FrigateClient | None],
        live: Callable[[EventKey], EventState | None],
        read_done: Callable[[EventState], None] = lambda _state: None,
    ) -> None:
        self.settings = settings
        self.recognizer = recognizer
        self.metrics = metrics
        self._frigate = frigate
        self._live = live
        """A live event's state (`EventTracker`): a deferred read starts only for one still live."""
        self._read_done = read_done
        """Told of each read that found a plate (the `Alerter`'s in-view alerts)."""
        self._pool = ThreadPoolExecutor(
            settings.recognition.workers, thread_name_prefix="recognize"
        )
        self._slots = asyncio.Semaphore(settings.recognition.queue_size)
        self._waiting = 0
        self._deferred: dict[EventKey, tuple[EventState, FrigateEvent]] = {}
        """Optional reads refused while the workers were busy, by event, oldest first."""
        self._detect_sizes: dict[str, tuple[int, int]] = {}
        self._config_loaded_at: float | None = None

    @property
    def queue_length(self) -> int:
        """Images waiting for a recognizer slot or being read."""
        return self._waiting

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def discard(self, key: EventKey) -> None:
        """The event is gone (dropped or expired unseen): its deferred read with it."""
        self._deferred.pop(key, None)

    def offer(self, state: EventState, event: FrigateEvent) -> bool:
        """An optional read of a `new`/`update` snapshot: started now (True), kept to be read
        later, or not wanted (False).

        Reads of these snapshots run only while a worker would otherwise be idle: under load
        each vehicle then costs one inference, and an `end` never queues behind another
        vehicle's optional read. One that comes while the vehicle's own read runs is read
        next; one refused because the workers are busy waits (the newest snapshot of each
        vehicle, oldest vehicle first) for a worker to come free before `end`.
        """
        state.note_snapshot(event)
        if not event.has_snapshot or event.snapshot_time is None:
            return False
        if event.snapshot_time == state.last_snapshot_time:
            return False
        budget = self.settings.recognition.max_reads_per_event - 1  # one is kept for `end`
        if state.reads_scheduled >= budget:
            return False
        if state.reads_running:
            if state.newer is not None:
                self.metrics.inc("reads_skipped_busy")  # replaced by a newer snapshot
            state.newer = event
            return False
        interval = self.settings.recognition.min_update_interval
        if state.reads_scheduled and time.monotonic() - state.last_read_at < interval:
            return False
        if self._waiting >= self.settings.recognition.queue_size:
            self.metrics.inc("reads_dropped")
            return False
        if self._busy():
            if state.event.key in self._deferred:
                self.metrics.inc("reads_skipped_busy")  # replaced by a newer snapshot
            self._deferred[state.event.key] = (state, event)  # keeps its place in line
            return False
        self.start(state, event)
        return True

    def ending(self, key: EventKey) -> None:
        """The event's `end` came: its deferred read, if any, is skipped (the end read decides)."""
        if self._deferred.pop(key, None) is not None:
            self.metrics.inc("reads_skipped_busy")

    def read_end(self, state: EventState) -> None:
        """The `end` read: once more if the best frame changed (or none was read yet, or its
        record frame is wanted and was not taken); with record frames wanted, those of the
        snapshots before the final one too (`recording_frames` in all), read only from the
        recording: a vehicle's best frames, fused, read more plates right than its last alone
        (approaching vehicles, `openalpr-us-dev`: 3 frames 100 of 113, the last 93)."""
        event = state.event
        state.note_snapshot(event)
        if not event.has_snapshot:
            return
        recording = self.recording_due(event) is not None
        if (
            state.reads_scheduled == 0
            or event.snapshot_time != state.last_snapshot_time
            or (recording and not state.recording_read)
        ):
            self.start(state, event)
        if not recording:
            return
        earlier = [t for t in reversed(state.snapshots) if t != event.snapshot_time]
        for moment in earlier[: self.settings.frigate.recording_frames - 1]:
            if moment not in state.recorded:
                frame = replace(event, snapshot_time=moment, snapshot_box=state.snapshots[moment])
                # Only the record frame: the clean copy and snapshot.jpg are the final moment's.
                self._launch(state, frame, self.recording_due(frame) or 0.0, record_only=True)

    async def drain(self, state: EventState) -> None:
        """Wait for every read of the event."""
        await asyncio.gather(*state.tasks)

    def start(self, state: EventState, event: FrigateEvent) -> None:
        due = self.recording_due(event)
        # During the event the frame's segment is not recorded yet: that read takes the
        # snapshot, and the `end` read waits for the segment (which delays the transit).
        wait = due if due is not None and (due == 0 or event.type == "end") else None
        if due and wait is None:
            self.metrics.inc("images_recording_not_yet")
        state.last_read_at = time.monotonic()
        state.last_snapshot_time = event.snapshot_time
        self._launch(state, event, wait)

    def _launch(
        self,
        state: EventState,
        event: FrigateEvent,
        recording_wait: float | None,
        *,
        record_only: bool = False,
    ) -> None:
        """Start one read of the event's snapshot moment (`_read`), counted on its state."""
        state.reads_scheduled += 1
        state.reads_running += 1
        if recording_wait is not None and event.snapshot_time is not None:
            state.recorded.add(event.snapshot_time)
        read = self._read(state, event, recording_wait, record_only=record_only)
        state.tasks.append(asyncio.get_running_loop().create_task(read))

    def _busy(self) -> bool:
        return self._waiting >= max(1, self.settings.recognition.workers - 1)

    def _read_deferred(self) -> None:
        """A worker came free: start the oldest vehicle's deferred read, if any is still useful.
        One at a time: `_waiting` counts a read only once its task runs."""
        while self._deferred and not self._busy():
            key = next(iter(self._deferred))
            state, event = self._deferred.pop(key)
            live = self._live(key) is state and not state.finalizing
            if live and self.offer(state, event):
                return

    def recording_due(self, event: FrigateEvent) -> float | None:
        """Seconds until the record stream's frame at the snapshot time can exist (0: now), or
        None when no record frame is wanted (another ``image_source``, or no snapshot time, as
        for events from ``GET /api/events``). Counted on Frigate's clock, the message's own
        end or frame time, so the hosts' clocks need not agree."""
        if self.settings.frigate.image_source != "recording" or event.snapshot_time is None:
            return None
        now = event.end_time if event.end_time is not None else event.frame_time
        return max(0.0, event.snapshot_time + self.settings.frigate.recording_delay - now)

    async def _read(
        self,
        state: EventState,
        event: FrigateEvent,
        recording_wait: float | None,
        *,
        record_only: bool = False,
    ) -> None:
        """One read; ``recording_wait`` (None: no record frame) is how long to wait first for
        the record frame's segment; ``record_only``: no other image if it is missing."""
        if recording_wait:
            self.metrics.inc("images_recording_waited")
            _LOGGER.debug(
                "event %s: waiting %.1f s for its recording segment", event.id, recording_wait
            )
            await asyncio.sleep(recording_wait)
        self._waiting += 1
        try:
            async with self._slots:
                try:
                    image = await (
                        self._record_frame(event)
                        if record_only
                        else self._image(event, recording=recording_wait is not None)
                    )
                except FrigateError as err:
                    self.metrics.inc("images_failed")
                    state.failures.append(f"{UNREACHABLE if err.transient else 'frigate'}: {err}")
                    _LOGGER.warning("snapshot of event %s not available: %s", event.id, err)
                    return
                if image is None:  # no record frame, and nothing read in its place
                    return
                self.metrics.inc("images_fetched")
                try:
                    reads = await asyncio.get_running_loop().run_in_executor(
                        self._pool,
                        self.recognize,
                        image.data,
                        image.box,
                        event.snapshot_time,
                        image.frame_size,
                        event.relative_box,
                    )
                except ImageError as err:
                    self.metrics.inc("images_invalid")
                    state.failures.append(f"image: {err}")
                    _LOGGER.warning("snapshot of event %s unusable: %s", event.id, err)
                    return
                except Exception as err:  # a model failure must not take other events down
                    self.metrics.inc("reads_failed")
                    state.failures.append(f"recognizer: {err}")
                    _LOGGER.exception("plate recognition failed on event %s", event.id)
                    return
                self.metrics.inc("reads_done")
                (state.record_reads if image.recorded else state.reads).extend(reads)
                if reads:
                    self._read_done(state)
        finally:
            self._waiting -= 1
            state.reads_running -= 1
            newer, state.newer = state.newer, None
            if newer is not None and state.finalizing:
                self.metrics.inc("reads_skipped_busy")  # its `end` came first: the end read decides
            started = newer is not None and not state.finalizing and self.offer(state, newer)
            if not started:  # the worker is free for another vehicle's deferred read
                self._read_deferred()

    async def _image(self, event: FrigateEvent, *, recording: bool) -> EventImage:
        """The best image Frigate has of the event: the record-stream frame at the snapshot
        time when ``recording`` (detect box scaled), the clean copy of an ended event (unless
        ``image_source`` is ``snapshot``), snapshot.jpg; each falls back to the ones after it,
        and a dedicated LPR event to its thumbnail at last."""
        frigate = self._frigate()
        assert frigate is not None
        source = self.settings.frigate.image_source
        box = event.snapshot_box or event.box
        ended = event.type == "end"
        quality = self.settings.frigate.snapshot_quality
        if recording and (record := await self._record_frame(event)) is not None:
            return record
        if source != "snapshot" and ended:
            clean = await frigate.clean_snapshot(event.id)
            if clean is not None:
                self.metrics.inc("images_clean")
                return EventImage(clean, box, None)
            self.metrics.inc("images_clean_missing")
        try:
            data = await frigate.rendered_snapshot(event.id, quality=quality)
        except FrigateError as err:
            if event.source != "lpr" or err.status is None:
                raise
            data = await frigate.thumbnail(event.id)
        self.metrics.inc("images_snapshot")
        return EventImage(data, box, None)

    async def _record_frame(self, event: FrigateEvent) -> EventImage | None:
        """The record-stream frame at the event's snapshot time, the detect box with it; None
        when Frigate has none, or when the box cannot be scaled (detect size unknown)."""
        frigate = self._frigate()
        assert frigate is not None
        box = event.snapshot_box or event.box
        if event.snapshot_time is None:
            return None
        size = await self._detect_size(event.camera)
        if size is None and box is not None:
            return None
        try:
            data = await frigate.recording_frame(event.camera, event.snapshot_time)
        except FrigateError as err:
            self.metrics.inc("images_recording_failed")
            _LOGGER.debug("no recording frame for %s: %s", event.id, err)
            return None
        self.metrics.inc("images_recording")
        return EventImage(data, box, size, recorded=True)

    async def _detect_size(self, camera: str) -> tuple[int, int] | None:
        """The camera's detect resolution from Frigate's effective config (asked at most once a
        minute while unknown): boxes are in detect pixels, recordings in record pixels."""
        if camera in self._detect_sizes:
            return self._detect_sizes[camera]
        now = time.monotonic()
        if self._config_loaded_at is not None and now - self._config_loaded_at < 60:
            return None
        self._config_loaded_at = now
        frigate = self._frigate()
        assert frigate is not None
        try:
            config = await frigate.config()
        except (FrigateError, ValueError) as err:
            _LOGGER.warning("Frigate's config is not available: %s", err)
            return None
        for name, camera_config in (config.get("cameras") or {}).items():
            detect = camera_config.get("detect") if isinstance(camera_config, dict) else None
            if isinstance(detect, dict):
                width, height = detect.get("width"), detect.get("height")
                if isinstance(width, int) and isinstance(height, int) and width > 0 < height:
                    self._detect_sizes[name] = (width, height)
        return self._detect_sizes.get(camera)

    def recognize(
        self,
        data: bytes,
        box: Box | None,
        frame_time: float | None,
        frame_size: tuple[int, int] | None = None,
        relative_box: tuple[float, float, float, float] | None = None,
    ) -> list[PlateRead]:
        image = decode_image(data, max_pixels=self.settings.recognition.max_image_pixels)
        height, width = image.shape[:2]
        if box is not None and frame_size is not None:
            sx, sy = width / frame_size[0], height / frame_size[1]
            box = (round(box[0] * sx), round(box[1] * sy), round(box[2] * sx), round(box[3] * sy))
        elif box is None and relative_box is not None:
            x, y, w, h = relative_box
            box = (
                round(x * width),
                round(y * height),
                round((x + w) * width),
                round((y + h) * height),
            )
        return self.recognizer.read(image, vehicle_box=clip_box(box, image), frame_time=frame_time)


def clip_box(box: Box | None, image: np.ndarray) -> Box | None:
    """Frigate's box in image pixels, or None when it does not fit the image."""
    if box is None:
        return None
    height, width = image.shape[:2]
    x1, y1, x2, y2 = max(0, box[0]), max(0, box[1]), min(width, box[2]), min(height, box[3])
    return (x1, y1, x2, y2) if x2 - x1 > 8 and y2 - y1 > 8 else None
