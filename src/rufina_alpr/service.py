"""The engine: Frigate events in, plate reads in a worker pool, one stored, published transit out.

Per Frigate event the engine reads the snapshot on `new` and on `update`s that bring a better frame
(at most `max_reads_per_event`, never more often than `min_update_interval`), reads once more on
`end` if the best frame changed, fuses all reads (with Frigate's own plate as one more), stores the
transit and only then publishes it. The `end` message is acknowledged to the broker once the
outcome is stored, so a crash before that makes the broker deliver it again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

import aiohttp
import numpy as np

from rufina_alpr import contract, privacy, traffic
from rufina_alpr.config import Settings
from rufina_alpr.frigate import EventError, FrigateClient, FrigateError, FrigateEvent, parse_event
from rufina_alpr.fusion import fuse
from rufina_alpr.hotlist import HotlistMatch, Hotlists, hotlist_summary
from rufina_alpr.metrics import Metrics
from rufina_alpr.mqtt import Message, MqttLink, Will
from rufina_alpr.plate_formats import normalize_plate
from rufina_alpr.reads import PlateRead
from rufina_alpr.recognizer import ImageError, Recognizer, decode_image
from rufina_alpr.stations import Station
from rufina_alpr.store import PASSAGE_COUNTED, PASSAGE_UNREAD, Store
from rufina_alpr.transits import Transit, transit_id

_LOGGER = logging.getLogger(__name__)
T = TypeVar("T")

HOUSEKEEPING_INTERVAL = 15.0
# Passages reach the store when their Frigate event ends: roll up only what is an hour old.
ROLLUP_LAG = timedelta(hours=1)
PLATE_TEXT = re.compile(r"[A-Z0-9]{1,12}")


@dataclass(slots=True)
class EventState:
    """What the engine knows of one Frigate event until it ends."""

    event: FrigateEvent
    station: Station
    first_seen: float = field(default_factory=time.monotonic)
    reads: list[PlateRead] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    reads_scheduled: int = 0
    last_read_at: float = 0.0
    last_snapshot_time: float | None = None
    failures: list[str] = field(default_factory=list)
    finalizing: bool = False


def mask_plate(plate: str) -> str:
    """A plate as it may appear in INFO logs: personal data, so only its first two characters."""
    return plate[:2] + "*" * max(0, len(plate) - 2)


class Engine:
    """Owns every connection: MQTT, Frigate's HTTP API, the store, the worker pool."""

    def __init__(self, settings: Settings, recognizer: Recognizer) -> None:
        self.settings = settings
        self.recognizer = recognizer
        self.metrics = Metrics()
        self.topics = contract.Topics(settings.mqtt.topic_prefix)
        self.started_at = datetime.now(settings.timezone)
        self.store = Store(
            settings.store_url, worker=f"{settings.instance}/{settings.mqtt.client_id}"
        )
        self.hotlists = Hotlists(
            self.store,
            timezone=settings.timezone,
            fuzzy_min_score=settings.hotlists.fuzzy_min_score,
            known_stations=[station.id for station in settings.stations],
        )
        self._events: dict[str, EventState] = {}
        self._inflight: set[str] = set()
        self._alerts_inflight: set[int] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._pool = ThreadPoolExecutor(
            settings.recognition.workers, thread_name_prefix="recognize"
        )
        self._db = ThreadPoolExecutor(1, thread_name_prefix="store")
        self._slots = asyncio.Semaphore(settings.recognition.queue_size)
        self._waiting = 0
        self._session: aiohttp.ClientSession | None = None
        self.frigate: FrigateClient | None = None
        events_topic = f"{settings.mqtt.frigate_prefix}/events"
        self._events_topic = events_topic
        subscription = (
            f"$share/{settings.mqtt.shared_group}/{events_topic}"
            if settings.mqtt.shared_group
            else events_topic
        )
        self.mqtt = MqttLink(
            host=settings.mqtt.host,
            port=settings.mqtt.port,
            client_id=settings.mqtt.client_id,
            username=settings.mqtt.username,
            password=settings.mqtt.password,
            keepalive=settings.mqtt.keepalive,
            will=Will(self.topics.status, contract.encode(self._status("offline"))),
            subscriptions=((subscription, 1),),
            on_message=self._on_message,
            on_connected=self._on_connected,
        )

    # ----------------------------------------------------------------- life cycle
    async def start(self) -> None:
        self._session = aiohttp.ClientSession()
        self.frigate = FrigateClient(
            self._session,
            self.settings.frigate.url,
            timeout=self.settings.frigate.timeout,
            retries=self.settings.frigate.retries,
        )
        await self.mqtt.start()
        self._spawn(self._housekeeping())
        lpr = sum(1 for s in self.settings.stations if s.reads_plates)
        _LOGGER.info(
            "engine started: %d stations (%d plate-reading), detector %s, %d workers",
            len(self.settings.stations),
            lpr,
            self.recognizer.info.detector,
            self.settings.recognition.workers,
        )

    async def stop(self, *, drain_timeout: float = 10.0) -> None:
        pending = [task for state in self._events.values() for task in state.tasks]
        pending += [task for task in self._tasks if task.get_name().startswith("finalize")]
        if pending:
            await asyncio.wait(pending, timeout=drain_timeout)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.mqtt.stop(final=(self.topics.status, contract.encode(self._status("offline"))))
        if self._session is not None:
            await self._session.close()
        self._pool.shutdown(wait=True, cancel_futures=True)
        await self.in_db(self.store.close)
        self._db.shutdown(wait=True)

    def _spawn(self, coroutine: Any, name: str | None = None) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _LOGGER.error("background task %s failed", task.get_name(), exc_info=task.exception())

    async def in_db(self, function: Callable[..., T], *args: Any) -> T:
        """Run a store call on the single database thread."""
        return await asyncio.get_running_loop().run_in_executor(self._db, function, *args)

    @property
    def queue_length(self) -> int:
        """Images waiting for a recognizer slot or being read."""
        return self._waiting

    def _status(self, state: str) -> dict[str, Any]:
        return contract.status_payload(
            state=state,  # type: ignore[arg-type]
            instance=self.settings.instance,
            api_url=self.settings.api.public_url,
            since=self.started_at,
        )

    def _on_connected(self) -> None:
        self.mqtt.publish(self.topics.status, contract.encode(self._status("online")), retain=True)
        stations = contract.stations_payload(self.settings.stations)
        self.mqtt.publish(self.topics.stations, contract.encode(stations), retain=True)
        self._spawn(self._flush_outbox(), name="outbox")

    # ----------------------------------------------------------------- incoming events
    def _on_message(self, message: Message) -> None:
        if message.topic != self._events_topic:
            self.mqtt.ack(message)
            return
        self.metrics.inc("events_received")
        try:
            event = parse_event(message.payload)
        except EventError as err:
            self.metrics.inc("events_malformed")
            _LOGGER.warning("ignored a malformed Frigate event message: %s", err)
            self.mqtt.ack(message)
            return
        station = self.settings.station_for_camera(event.camera)
        if station is None:
            self.metrics.inc("events_unknown_camera")
            _LOGGER.debug("ignored event %s from unknown camera %s", event.id, event.camera)
            self.mqtt.ack(message)
            return
        if event.label not in self.settings.recognition.labels or event.false_positive:
            self.metrics.inc("events_ignored_label")
            _LOGGER.debug("ignored %s event %s on %s", event.label, event.id, station.id)
            self.mqtt.ack(message)
            return
        if not station.reads_plates:
            if event.type == "end":
                self._spawn(self._count_passage(station, event, message), name="finalize-count")
            else:
                self.mqtt.ack(message)
            return
        state = self._events.get(event.id)
        if state is None:
            state = self._events[event.id] = EventState(event, station)
        elif state.finalizing:
            self.metrics.inc("events_duplicate")
            self.mqtt.ack(message)
            return
        state.event = event
        if event.type == "end":
            state.finalizing = True
            self._spawn(self._finalize(state, message), name=f"finalize-{event.id}")
            return
        if self._wants_read(state, event):
            self._schedule_read(state, event, essential=False)
        self.mqtt.ack(message)

    def _wants_read(self, state: EventState, event: FrigateEvent) -> bool:
        if not event.has_snapshot or event.snapshot_time is None:
            return False
        if event.snapshot_time == state.last_snapshot_time:
            return False
        budget = self.settings.recognition.max_reads_per_event - 1  # one is kept for `end`
        if state.reads_scheduled >= budget:
            return False
        interval = self.settings.recognition.min_update_interval
        return time.monotonic() - state.last_read_at >= interval or state.reads_scheduled == 0

    def _schedule_read(self, state: EventState, event: FrigateEvent, *, essential: bool) -> None:
        if not essential and self._waiting >= self.settings.recognition.queue_size:
            self.metrics.inc("reads_dropped")
            return
        state.reads_scheduled += 1
        state.last_read_at = time.monotonic()
        state.last_snapshot_time = event.snapshot_time
        state.tasks.append(asyncio.get_running_loop().create_task(self._read(state, event)))

    async def _read(self, state: EventState, event: FrigateEvent) -> None:
        assert self.frigate is not None
        self._waiting += 1
        try:
            async with self._slots:
                try:
                    data = await self.frigate.snapshot(
                        event.id,
                        quality=self.settings.frigate.snapshot_quality,
                        ended=event.type == "end",
                    )
                except FrigateError as err:
                    self.metrics.inc("images_failed")
                    state.failures.append(f"frigate: {err}")
                    _LOGGER.warning("snapshot of event %s not available: %s", event.id, err)
                    return
                self.metrics.inc("images_fetched")
                box = event.snapshot_box or event.box
                try:
                    reads = await asyncio.get_running_loop().run_in_executor(
                        self._pool, self._recognize, data, box, event.snapshot_time
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
                state.reads.extend(reads)
        finally:
            self._waiting -= 1

    def _recognize(
        self, data: bytes, box: tuple[int, int, int, int] | None, frame_time: float | None
    ) -> list[PlateRead]:
        image = decode_image(data, max_pixels=self.settings.recognition.max_image_pixels)
        return self.recognizer.read(image, vehicle_box=_clip_box(box, image), frame_time=frame_time)

    # ----------------------------------------------------------------- outcomes
    async def _finalize(self, state: EventState, message: Message | None) -> None:
        event, station = state.event, state.station
        received = time.monotonic()
        try:
            if await self.in_db(self.store.event_handled, event.id):
                self.metrics.inc("events_duplicate")
                return
            if event.has_snapshot and (
                state.reads_scheduled == 0 or event.snapshot_time != state.last_snapshot_time
            ):
                self._schedule_read(state, event, essential=True)
            await asyncio.gather(*state.tasks)
            transit, reads = self._transit(state)
            if transit is None:
                reason = "; ".join(dict.fromkeys(state.failures[-3:])) or (
                    "no plate read" if event.has_snapshot else "no snapshot"
                )
                await self._add_passage(station, event, PASSAGE_UNREAD, reason)
                self.metrics.inc("passages_unread")
                _LOGGER.info("event %s at %s recorded as unread: %s", event.id, station.id, reason)
                return
            stored, alerts = await self.in_db(self._store_transit, transit, reads)
            if stored is None:
                self.metrics.inc("events_duplicate")
                return
            transit = stored
            self.metrics.inc("transits_stored")
            if transit.hotlist is not None:
                self.metrics.inc("hotlist_matches")
            _LOGGER.info(
                "transit at %s: %s (%.2f, %d reads)",
                station.id,
                mask_plate(transit.plate),
                transit.confidence,
                transit.read_count,
            )
            if message is not None:
                self.mqtt.ack(message)
                message = None
            await self._publish_transit(transit, alerts=alerts)
            self.metrics.observe_latency(time.monotonic() - received)
        finally:
            if message is not None:
                self.mqtt.ack(message)
            self._events.pop(event.id, None)

    def _transit(self, state: EventState) -> tuple[Transit | None, list[PlateRead]]:
        event, station = state.event, state.station
        reads = list(state.reads)
        if event.recognized_plate is not None:
            plate = normalize_plate(event.recognized_plate.plate)
            score = event.recognized_plate.score or 0.8
            # Only what can be a plate (the contract's pattern): Frigate's API takes any text.
            if PLATE_TEXT.fullmatch(plate):
                reads.append(
                    PlateRead(text=plate, char_confidences=(score,) * len(plate), source="frigate")
                )
        fused = fuse(reads, low_confidence=self.settings.recognition.low_confidence)
        if fused is None:
            return None, reads
        transit = Transit(
            id=transit_id(event.id),
            event_id=event.id,
            station_id=station.id,
            camera=event.camera,
            time=self._event_time(event),
            vehicle=event.label,
            plate=fused.plate,
            display=fused.display,
            country=fused.country,
            format=fused.format,
            confidence=fused.confidence,
            low_confidence=fused.low_confidence,
            read_count=fused.read_count,
            alternatives=tuple((alt.plate, alt.score) for alt in fused.alternatives),
            direction=station.direction_of(event.entered_zones),
            frigate_plate=event.recognized_plate.plate if event.recognized_plate else None,
            crop_jpeg=fused.best_read.crop_jpeg,
        )
        return transit, reads

    def _store_transit(
        self, transit: Transit, reads: list[PlateRead]
    ) -> tuple[Transit | None, list[HotlistMatch] | None]:
        """On the database thread: match the hotlists, store the transit with its ``hotlist``
        summary, then record the matches. Returns the stored transit (None: a duplicate) and
        the alerts to publish (None: recording failed, `_publish_transit` tries again)."""
        try:
            matches = self.hotlists.match(
                transit.plate, transit.alternatives, transit.station_id, transit.time
            )
        except Exception as err:  # a hotlist failure must not lose the transit
            # Only this (database) thread touches this counter.
            self.metrics.inc("hotlist_errors")
            _LOGGER.error(
                "hotlist matching failed at %s: %s", transit.station_id, type(err).__name__
            )
            matches = []
        transit = dataclasses.replace(transit, hotlist=hotlist_summary(matches))
        if not self.store.add_transit(transit, reads):
            return None, []
        if not matches:
            return transit, []
        try:
            alerts = self.hotlists.record(
                transit.id,
                transit.station_id,
                transit.time,
                matches,
                self.settings.hotlists.cooldown,
            )
        except Exception as err:
            self.metrics.inc("hotlist_errors")
            _LOGGER.error(
                "hotlist matches not recorded at %s: %s", transit.station_id, type(err).__name__
            )
            return transit, None
        return transit, alerts

    def _recorded_alerts(self, transit: Transit) -> list[HotlistMatch]:
        """On the database thread: a stored transit's unpublished alerts, recording its matches
        first if that never happened (crash or failure right after the transit was stored)."""
        matches = self.hotlists.match(
            transit.plate, transit.alternatives, transit.station_id, transit.time
        )
        return self.hotlists.record(
            transit.id, transit.station_id, transit.time, matches, self.settings.hotlists.cooldown
        )

    def _event_time(self, event: FrigateEvent) -> datetime:
        moment = event.snapshot_time or event.start_time
        return datetime.fromtimestamp(moment, tz=self.settings.timezone)

    async def _add_passage(
        self, station: Station, event: FrigateEvent, status: str, reason: str | None = None
    ) -> bool:
        """Store a passage without a transit (unread or counted); False if already stored."""
        return await self.in_db(
            lambda: self.store.add_passage(
                event_id=event.id,
                station_id=station.id,
                camera=event.camera,
                time=self._event_time(event),
                vehicle=event.label,
                direction=station.direction_of(event.entered_zones),
                status=status,
                reason=reason,
            )
        )

    async def _count_passage(self, station: Station, event: FrigateEvent, message: Message) -> None:
        try:
            stored = await self._add_passage(station, event, PASSAGE_COUNTED)
            self.metrics.inc("passages_counted" if stored else "events_duplicate")
        finally:
            self.mqtt.ack(message)

    def transit_payload(self, transit: Transit) -> dict[str, Any]:
        station = self.settings.station(transit.station_id)
        return contract.transit_payload(transit, station.name if station else None)

    async def _publish_transit(
        self,
        transit: Transit,
        *,
        republish: bool = False,
        alerts: list[HotlistMatch] | None = None,
    ) -> None:
        """Publish a stored transit, then its hotlist alerts (``alerts`` None: from the store)."""
        transit_payload = self.transit_payload(transit)
        payload = contract.encode(transit_payload)
        self._inflight.add(transit.id)
        if alerts is not None:
            self._alerts_inflight.update(a.record_id for a in alerts if a.record_id is not None)
        try:
            delivered = self.mqtt.publish(self.topics.transit, payload, qos=contract.QOS_TRANSIT)
            self.mqtt.publish(self.topics.station_last(transit.station_id), payload, retain=True)
            # No crop: an empty retained message clears the previous vehicle's crop.
            self.mqtt.publish(
                self.topics.station_crop(transit.station_id), transit.crop_jpeg or b"", retain=True
            )
            await delivered
            await self.in_db(self.store.mark_published, transit.id)
            self.metrics.inc("transits_republished" if republish else "transits_published")
            if alerts is None and transit.hotlist is not None:
                alerts = await self.in_db(self._recorded_alerts, transit)
            if alerts:
                await self._publish_alerts(transit_payload, transit.station_id, alerts)
        finally:
            self._inflight.discard(transit.id)
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
                self.topics.hotlist_match, contract.encode(payload), qos=contract.QOS_TRANSIT
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

    async def _flush_outbox(self) -> None:
        """Publish what was stored but never acknowledged (crash, or broker away too long)."""
        pending = await self.in_db(self.store.unpublished, 500)
        waiting = [t for t in pending if t.id not in self._inflight]
        if waiting:
            _LOGGER.info("publishing %d stored transits that were not delivered yet", len(waiting))
        await asyncio.gather(*(self._publish_transit(t, republish=True) for t in waiting))
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

    # ----------------------------------------------------------------- periodic work
    async def _housekeeping(self) -> None:
        next_stats = next_purge = 0.0
        while True:
            now = time.monotonic()
            if now >= next_purge:
                await self._retention()
                next_purge = now + self.settings.privacy.purge_interval
            timeout = self.settings.recognition.event_timeout
            for state in list(self._events.values()):
                if not state.finalizing and now - state.first_seen > timeout:
                    state.finalizing = True
                    self.metrics.inc("events_expired")
                    self._spawn(self._finalize(state, None), name=f"finalize-{state.event.id}")
            if now >= next_stats and self.mqtt.connected.is_set():
                await self.publish_stats()
                next_stats = now + self.settings.stats_interval
            await asyncio.sleep(HOUSEKEEPING_INTERVAL if self.settings.stats_interval > 15 else 1)

    async def _retention(self) -> None:
        """Roll the traffic up to an hour ago, then purge what is past retention."""
        now = datetime.now(self.settings.timezone)
        tz = self.settings.timezone
        retention = timedelta(days=self.settings.privacy.retention_days)
        try:
            await self.in_db(lambda: traffic.rollup(self.store, now - ROLLUP_LAG, tz=tz))
            audit = timedelta(days=self.settings.privacy.audit_retention_days)
            await self.in_db(
                lambda: privacy.purge(
                    self.store, now, retention, _LOGGER, tz=tz, audit_retention=audit
                )
            )
        except Exception:  # the next round tries again; the engine keeps running
            self.metrics.inc("purge_failed")
            _LOGGER.exception("traffic rollup or retention purge failed")

    async def stats_payload(self) -> dict[str, Any]:
        now = datetime.now(self.settings.timezone)
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        per_station = await self.in_db(self.store.transits_per_station, midnight)
        last_hour = await self.in_db(self.store.station_counts, now - timedelta(hours=1))
        tz = self.settings.timezone
        today = await self.in_db(lambda: traffic.stats_fields(self.store, now, tz=tz))
        stations = {
            station.id: {
                "transits_today": per_station.get(station.id, 0),
                "vehicles_last_hour": sum(last_hour.get(station.id, {}).values()),
                "vehicles_last_hour_by_class": last_hour.get(station.id, {}),
                **today["stations"].get(station.id, traffic.NO_VEHICLES),
            }
            for station in self.settings.stations
        }
        return {
            "v": contract.CONTRACT_VERSION,
            "time": contract.iso_time(now),
            "transits_today": sum(per_station.values()),
            "queue": self.queue_length,
            "latency_ms": self.metrics.latency_ms(),
            "counters": self.metrics.snapshot(),
            "stations": stations,
            "vehicles_today": today["vehicles_today"],
            "unique_vehicles_yesterday": today["unique_vehicles_yesterday"],
            "retention_days": self.settings.privacy.retention_days,
        }

    async def publish_stats(self) -> None:
        payload = await self.stats_payload()
        self.mqtt.publish(self.topics.stats, contract.encode(payload), retain=True)


def _clip_box(
    box: tuple[int, int, int, int] | None, image: np.ndarray
) -> tuple[int, int, int, int] | None:
    """Frigate's box in image pixels, or None when it does not fit the image."""
    if box is None:
        return None
    height, width = image.shape[:2]
    x1, y1, x2, y2 = max(0, box[0]), max(0, box[1]), min(width, box[2]), min(height, box[3])
    return (x1, y1, x2, y2) if x2 - x1 > 8 and y2 - y1 > 8 else None
