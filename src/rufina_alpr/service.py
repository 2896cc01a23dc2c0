"""The engine: Frigate events in, plate reads in a worker pool, one stored, published transit out.

Per Frigate event the engine reads the snapshot on `new` and on `update`s that bring a better frame
(at most `max_reads_per_event`, never more often than `min_update_interval`), reads once more on
`end` if the best frame changed, fuses all reads (with Frigate's own plate as one more), stores the
transit and only then publishes it. The `end` message is acknowledged to the broker once the
outcome is stored, so a crash before that makes the broker deliver it again.

Frigate's own plate reads (`frigate/tracked_object_update` type ``lpr``, joined by event id, or
``recognized_license_plate`` on the event) are one more read in fusion. Dedicated LPR cameras
publish no `frigate/events`: their events are known from those updates alone and complete on the
review's ``end`` (or after a quiet time). Frigate publishes with QoS 0, so the engine reconciles
with ``GET /api/events`` at start-up and periodically. It also watches Frigate's health
(``frigate/available``, camera status, ``frigate/stats`` freshness) and publishes each station's
state on ``<prefix>/health``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import re
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any, TypeVar

import aiohttp
from sqlalchemy.exc import SQLAlchemyError

from rufina_alpr import contract, privacy, traffic, verification
from rufina_alpr.config import Settings
from rufina_alpr.engine.events import EventState
from rufina_alpr.engine.health import HealthMonitor, short_text
from rufina_alpr.engine.publisher import Publisher, mask_plate
from rufina_alpr.engine.reads import ReadScheduler
from rufina_alpr.errors import RufinaError
from rufina_alpr.frigate import (
    EventError,
    EventKey,
    FrigateClient,
    FrigateError,
    FrigateEvent,
    PlateGuess,
    event_from_api,
    parse_event,
    parse_tracked_object_update,
    ssl_context,
)
from rufina_alpr.fusion import fuse
from rufina_alpr.hotlists import HotlistMatch, Hotlists, hotlist_summary
from rufina_alpr.intake import IntakeError, check_payload, plausible_times, valid_event_id
from rufina_alpr.metrics import Metrics
from rufina_alpr.mqtt import Message, MqttLink, Will
from rufina_alpr.plate_formats import normalize_plate
from rufina_alpr.reads import PlateRead
from rufina_alpr.recognizer import Recognizer
from rufina_alpr.stations import Station
from rufina_alpr.store import PASSAGE_COUNTED, PASSAGE_UNREAD, Store
from rufina_alpr.transits import Transit
from rufina_alpr.verification import UNREACHABLE, Verification, verify_event

_LOGGER = logging.getLogger(__name__)
T = TypeVar("T")

HOUSEKEEPING_INTERVAL = 15.0
STORE_RETRY = (1.0, 30.0)
"""Seconds before an outcome the store refused is stored again: first, and at most (doubling)."""
# Passages reach the store when their Frigate event ends: roll up only what is an hour old.
ROLLUP_LAG = timedelta(hours=1)
PLATE_TEXT = re.compile(r"[A-Z0-9]{1,12}")
# Frigate's dedicated LPR events carry this label (no vehicle class is known for them).
LPR_LABEL = "license_plate"
MAX_LIVE_EVENTS = 2000
"""Events tracked at once (a town's busiest minute is a few dozen): past it, the oldest one that
never showed an image is dropped, so forged `new` messages cannot grow memory without bound."""
VERIFICATIONS = 8
"""Questions to Frigate's API about events (`verification`) at once."""


class StoreFailure(RufinaError, RuntimeError):
    """The store refused a write or a read (disk full, database away): the message that brought
    the outcome stays unacknowledged and the outcome is stored again later."""


class Engine:
    """Owns every connection (MQTT, Frigate's HTTP API, the store) and wires the stages of
    `rufina_alpr.engine`: `ReadScheduler` (the worker pool), `HealthMonitor`, `Publisher`."""

    def __init__(self, settings: Settings, recognizer: Recognizer) -> None:
        self.settings = settings
        self.recognizer = recognizer
        self.metrics = Metrics()
        self.topics = contract.Topics(settings.mqtt.topic_prefix)
        self.started_at = datetime.now(settings.timezone)
        self.store = Store(
            settings.store_url,
            worker=f"{settings.instance}/{settings.mqtt.client_id}",
            metrics=self.metrics,
        )
        self.signer = contract.Signer(self.store.signing_key())
        self.hotlists = Hotlists(
            self.store,
            timezone=settings.timezone,
            fuzzy_min_score=settings.hotlists.fuzzy_min_score,
            known_stations=[station.id for station in settings.stations],
        )
        self._events: dict[EventKey, EventState] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._db = ThreadPoolExecutor(1, thread_name_prefix="store")
        self._session: aiohttp.ClientSession | None = None
        self.frigate: FrigateClient | None = None
        self.scheduler = ReadScheduler(
            settings, recognizer, self.metrics, frigate=lambda: self.frigate, events=self._events
        )
        frigate_prefix = settings.mqtt.frigate_prefix
        self._frigate_prefix = frigate_prefix
        events_topic = f"{frigate_prefix}/events"
        self._events_topic = events_topic
        self._lpr_topic = f"{frigate_prefix}/tracked_object_update"
        self._reviews_topic = f"{frigate_prefix}/reviews"
        self._available_topic = f"{frigate_prefix}/available"
        self._stats_topic = f"{frigate_prefix}/stats"

        def shared(topic: str) -> str:
            group = settings.mqtt.shared_group
            return f"$share/{group}/{topic}" if group else topic

        # Work is shared among workers; every worker watches Frigate's health itself.
        subscriptions = (
            (shared(events_topic), 1),
            (shared(self._lpr_topic), 1),
            (shared(self._reviews_topic), 1),
            (self._available_topic, 1),
            (self._stats_topic, 0),
            (f"{frigate_prefix}/+/status/+", 1),
        )
        self.health = HealthMonitor(
            settings, self.metrics, frigate=lambda: self.frigate, publish=self._publish_health
        )
        self._reconcile_lock = asyncio.Lock()
        self._reread_lock = asyncio.Lock()
        self._verifying = asyncio.Semaphore(VERIFICATIONS)
        self._finished_order: deque[EventKey] = deque(maxlen=4096)
        self._finished: set[EventKey] = set()
        """Recently finished events: a late message of one of them is not a new event."""
        self.publisher = Publisher(
            settings,
            self.metrics,
            topics=self.topics,
            signer=self.signer,
            store=self.store,
            hotlists=self.hotlists,
            started_at=self.started_at,
            mqtt=lambda: self.mqtt,
            in_db=self.in_db,
            spawn=self._spawn,
            health=self.health_payload,
            stats=self.stats_payload,
        )
        self.mqtt = MqttLink(
            host=settings.mqtt.host,
            port=settings.mqtt.port,
            client_id=settings.mqtt.client_id,
            username=settings.mqtt.username,
            password=settings.mqtt.password,
            keepalive=settings.mqtt.keepalive,
            will=Will(self.topics.status, self.signer.encode(self.publisher.status("offline"))),
            subscriptions=subscriptions,
            on_message=self._on_message,
            on_connected=self.publisher.on_connected,
        )

    # ----------------------------------------------------------------- life cycle
    async def start(self) -> None:
        self._session = aiohttp.ClientSession()
        frigate = self.settings.frigate
        self.frigate = FrigateClient(
            self._session,
            frigate.url,
            timeout=frigate.timeout,
            retries=frigate.retries,
            username=frigate.username,
            password=frigate.password,
            cookie_name=frigate.cookie_name,
            ssl=ssl_context(frigate.verify_tls, frigate.ca_file),
            max_image_bytes=frigate.max_image_bytes,
            count=self.metrics.inc,
            on_reachable=self._frigate_reachable,
        )
        await self.mqtt.start()
        self._spawn(self._housekeeping())
        self._spawn(self._reconcile_loop(), name="reconcile")
        lpr = sum(1 for s in self.settings.stations if s.reads_plates)
        _LOGGER.info(
            "engine started: %d stations (%d plate-reading), detector %s, %d workers",
            len(self.settings.stations),
            lpr,
            self.recognizer.info.detector,
            self.settings.recognition.workers,
        )

    async def stop(self, *, drain_timeout: float = 10.0) -> None:
        for state in self._events.values():
            if state.quiet_timer is not None:
                state.quiet_timer.cancel()
        pending = [task for state in self._events.values() for task in state.tasks]
        pending += [task for task in self._tasks if task.get_name().startswith("finalize")]
        if pending:
            await asyncio.wait(pending, timeout=drain_timeout)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.mqtt.stop(
            final=(self.topics.status, self.signer.encode(self.publisher.status("offline")))
        )
        if self._session is not None:
            await self._session.close()
        self.scheduler.shutdown()
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

    async def _in_store(self, function: Callable[..., T], *args: Any, writes: bool = True) -> T:
        """`in_db` for the calls an event's outcome depends on: a failure raises `StoreFailure`
        and shows in the health (`store_health`) until a later write succeeds (on a full disk
        reads still work: they would make the state flap)."""
        try:
            result = await self.in_db(function, *args)
        except (SQLAlchemyError, OSError) as err:  # not a bug of ours: those fail the task
            self.metrics.inc("store_failures")
            self.health.store_failed(type(err).__name__)
            raise StoreFailure(type(err).__name__) from err
        if writes:
            self.health.store_works()
        return result

    def store_health(self) -> dict[str, Any]:
        """The store's state for the health topic and ``/api/health``."""
        return self.health.store_health()

    @property
    def store_error(self) -> tuple[str, datetime] | None:
        """The kind of the store's last failure and since when (`HealthMonitor.store_error`)."""
        return self.health.store_error

    @store_error.setter
    def store_error(self, value: tuple[str, datetime] | None) -> None:
        self.health.store_error = value

    @property
    def frigate_available(self) -> str | None:
        """Frigate's last word on ``frigate/available`` (`HealthMonitor`)."""
        return self.health.frigate_available

    @property
    def frigate_version(self) -> str | None:
        """Frigate's version from its last stats (`HealthMonitor`)."""
        return self.health.frigate_version

    @property
    def _camera_roles(self) -> dict[str, dict[str, str]]:
        """The station cameras' role states (`HealthMonitor`; tests look at them)."""
        return self.health._camera_roles

    def _retry_later(self, state: EventState, message: Message | None) -> None:
        """Store the outcome of an event again after a back-off; its message stays unacked."""
        delay = _backoff(state.store_retries)
        state.store_retries += 1

        async def retry() -> None:
            await asyncio.sleep(delay)
            await self._finalize(state, message)

        self._spawn(retry(), name=f"store-retry-{state.event.id}")

    @property
    def queue_length(self) -> int:
        """Images waiting for a recognizer slot or being read."""
        return self.scheduler.queue_length

    # ----------------------------------------------------------------- incoming events
    def _on_message(self, message: Message) -> None:
        """Every message is acknowledged or dead-lettered, whatever its handler raises: one left
        unacknowledged is delivered again after each restart and, once the broker's in-flight
        window is full of such messages, no other event reaches the engine."""
        try:
            check_payload(message.payload, self.settings.mqtt.max_payload_bytes)
            handed_over = self._dispatch(message)
        except Exception as err:  # whatever it is, the message must not jam the intake
            self._dead_letter(message, err)
            return
        if not handed_over:
            self.mqtt.ack(message)

    def _dispatch(self, message: Message) -> bool:
        """Handle one message; True when its handler acknowledges it later (once stored)."""
        topic = message.topic
        if topic == self._events_topic:
            return self._on_event(message)
        if topic == self._lpr_topic:
            self._on_lpr_update(message.payload)
        elif topic == self._reviews_topic:
            self._on_review(message.payload)
        elif topic == self._available_topic:
            self.health.on_available(message.payload)
        elif topic == self._stats_topic:
            self.health.on_stats(message.payload)
        elif topic.startswith(f"{self._frigate_prefix}/") and "/status/" in topic:
            camera, _, role = topic[len(self._frigate_prefix) + 1 :].partition("/status/")
            self.health.on_camera_status(camera, role, short_text(message.payload))
        return False

    def _dead_letter(self, message: Message, err: Exception) -> None:
        """Count, log (topic, size and the kind of fault: never the payload, which may hold a
        plate) and acknowledge a message that could not be handled."""
        self.metrics.inc("messages_dead_lettered")
        reason = err.reason if isinstance(err, IntakeError) else type(err).__name__
        _LOGGER.warning(
            "dead-lettered a message on %s (%d bytes): %s",
            message.topic,
            len(message.payload),
            reason,
        )
        _LOGGER.debug("dead-lettered message's fault", exc_info=err)
        self.mqtt.ack(message)

    def _on_event(self, message: Message) -> bool:
        """A `frigate/events` message; True when a task acknowledges it once stored."""
        self.metrics.inc("events_received")
        try:
            event = parse_event(message.payload)
            if not valid_event_id(event.id):
                raise EventError("'id' is not a Frigate event id")
            if not plausible_times(
                event.start_time, event.end_time, event.frame_time, event.snapshot_time
            ):
                raise EventError("a time is outside 1970-2100")
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
            self._spawn(self._count_passage(station, event, message), name="finalize-count")
            return True
        state = self._events.get(event.key)
        if state is None:
            if not self._room_for_event():
                return False
            state = self._events[event.key] = EventState(event, station)
        elif state.finalizing:
            self.metrics.inc("events_duplicate")
            return False
        if state.dedicated:  # its LPR update came first: a normal event after all
            state.dedicated = False
            if state.quiet_timer is not None:
                state.quiet_timer.cancel()
        state.event = event
        if event.type == "end":
            state.finalizing = True
            self._spawn(self._finalize(state, message), name=f"finalize-{event.id}")
            return True
        self.scheduler.offer(state, event)
        return False

    def _on_lpr_update(self, payload: bytes) -> None:
        """Frigate's plate for an object, joined to its event by id; for an unknown id (a
        dedicated LPR camera, or an event whose first messages were lost) a pending event."""
        try:
            update = parse_tracked_object_update(payload)
            if update is not None and not valid_event_id(update.id):
                raise EventError("'id' is not a Frigate event id")
            if update is not None and not plausible_times(update.timestamp):
                raise EventError("'timestamp' is outside 1970-2100")
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
        state = self._events.get(update.key)
        if state is None:
            if update.key in self._finished or not self._room_for_event():
                return
            event = FrigateEvent(
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
            state = self._events[update.key] = EventState(event, station, dedicated=True)
            self.metrics.inc("lpr_events")
        if state.finalizing:
            return
        state.lpr = update
        if state.dedicated:
            if state.quiet_timer is not None:
                state.quiet_timer.cancel()
            state.quiet_timer = asyncio.get_running_loop().call_later(
                self.settings.frigate.lpr_event_quiet, self._finish_dedicated, update.key
            )

    def _room_for_event(self) -> bool:
        """Whether one more event may be tracked: at `MAX_LIVE_EVENTS` the oldest event nothing
        was seen of but messages makes room (dropped, counted), else the new one is refused."""
        if len(self._events) < MAX_LIVE_EVENTS:
            return True
        oldest = next((key for key, s in self._events.items() if s.unseen), None)
        if oldest is None:
            self.metrics.inc("events_refused_full")
            return False
        dropped = self._events.pop(oldest)
        if dropped.quiet_timer is not None:
            dropped.quiet_timer.cancel()
        self.scheduler.discard(oldest)
        self.metrics.inc("events_dropped_unseen")
        return True

    def _finish_dedicated(self, key: EventKey) -> None:
        """A dedicated LPR camera's event is complete (review ended, or quiet long enough)."""
        state = self._events.get(key)
        if state is None or state.finalizing or not state.dedicated:
            return
        if state.quiet_timer is not None:
            state.quiet_timer.cancel()
        state.finalizing = True
        state.event = dataclasses.replace(
            state.event, type="end", end_time=time.time(), frame_time=time.time()
        )
        self._spawn(self._finalize(state, None), name=f"finalize-{key[1]}")

    def _on_review(self, payload: bytes) -> None:
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
                self._finish_dedicated((camera, event_id))

    # ----------------------------------------------------------------- Frigate's health
    def health_payload(self) -> dict[str, Any]:
        return self.health.payload()

    def _publish_health(self, *, force: bool = False) -> None:
        self.publisher.publish_health(force=force)

    def _frigate_reachable(self, answered: bool) -> None:
        """Frigate's API stopped answering, or answers (again, or for the first time since the
        start): shown in the health; the vehicles left unread meanwhile are read again (their
        snapshots are still there)."""
        if not answered:
            self.metrics.inc("frigate_unreachable")
            _LOGGER.warning("Frigate's API does not answer: vehicles wait to be read again")
        else:
            _LOGGER.info("Frigate's API answers")
            self._spawn(self.reread_unreachable(), name="reread")
        self._publish_health(force=True)

    def _recognize(self, *args: Any, **kwargs: Any) -> list[PlateRead]:
        """The scheduler's `ReadScheduler.recognize` (kept for tests that read an image)."""
        return self.scheduler.recognize(*args, **kwargs)

    # ----------------------------------------------------------------- outcomes
    async def _finalize(self, state: EventState, message: Message | None) -> None:
        """An event's outcome: its last read, Frigate's word that it is real and ended, fusion,
        the store, then (not awaited) the broker. An unread outcome stored earlier (Frigate was
        unreachable, or a forged `end` came first) is settled by this one."""
        event, station = state.event, state.station
        received = time.monotonic()
        self.scheduler.ending(event.key)  # its `end` came first: the end read decides
        retry = refused = False
        try:
            outcome = await self._in_store(
                self.store.event_outcome, event.camera, event.id, writes=False
            )
            if outcome is not None and outcome != PASSAGE_UNREAD:
                self.metrics.inc("events_duplicate")
                return
            settle = outcome == PASSAGE_UNREAD
            self.scheduler.read_end(state)
            verdict = None if state.confirmed else await self._verify(state)
            if verdict is not None and verdict.verdict == "refused":
                self._refuse(state, verdict)
                refused = True  # its message is acknowledged, the event is not forgotten
                return
            await self.scheduler.drain(state)
            if verdict is not None and verdict.verdict == "absent" and not state.reads:
                self.metrics.inc("events_not_in_frigate")
                _LOGGER.debug("event %s at %s: not in Frigate's events", event.id, station.id)
                return
            transit, reads, own_read = self._transit(state)
            if transit is None:
                reason = "; ".join(dict.fromkeys(state.failures[-3:])) or (
                    "no plate read" if event.has_snapshot else "no snapshot"
                )
                if not await self._add_passage(station, event, PASSAGE_UNREAD, reason, settle):
                    self.metrics.inc("events_duplicate")
                    return
                self.metrics.inc("passages_unread")
                _LOGGER.info("event %s at %s recorded as unread: %s", event.id, station.id, reason)
                return
            trusted = state.confirmed or own_read
            if not trusted:
                transit = self._unconfirmed(transit)
            stored, alerts = await self._in_store(
                self._store_transit, transit, reads, trusted, settle
            )
            if stored is None:
                self.metrics.inc("events_duplicate")
                return
            transit = stored
            self.metrics.inc("transits_stored")
            if settle:
                self.metrics.inc("passages_read_again")
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
            self.publisher.publish_soon(transit, alerts, received)
            if self.settings.frigate.write_back_plate or self.settings.frigate.write_back_sub_label:
                self._spawn(self._write_back(transit), name=f"write-back-{event.id}")
        except StoreFailure:
            retry = True
            _LOGGER.warning("event %s at %s not stored yet: trying again", event.id, station.id)
            self._retry_later(state, message)
        finally:
            if refused:
                if message is not None:
                    self.mqtt.ack(message)
            elif not retry:
                self._forget(event, message)

    async def _verify(self, state: EventState) -> Verification:
        """Frigate's record of the event (`verification`); confirmed, its plate is Frigate's
        word (the one MQTT brought may be forged) and the state is marked confirmed."""
        assert self.frigate is not None
        event = state.event
        dedicated = event.source == "lpr"
        ended = event.type == "end" and not dedicated
        async with self._verifying:
            answer = await verify_event(
                self.frigate.event,
                event.camera,
                event.id,
                labels={event.label},
                ended=ended,
                # Frigate's record lags its MQTT `end`, and exists once there is a snapshot.
                wait=dedicated or (ended and event.has_snapshot),
                delays=verification.ASK_AGAIN,
            )
        record = answer.event
        if answer.verdict == "confirmed" and record is not None:
            state.confirmed = True
            state.lpr = None
            state.event = dataclasses.replace(
                state.event,
                recognized_plate=record.recognized_plate,
                end_time=record.end_time if ended else state.event.end_time,
            )
        elif answer.verdict == "unverified":
            self.metrics.inc("events_unverified")
            state.failures.append(answer.reason)
        return answer

    def _refuse(self, state: EventState, answer: Verification) -> None:
        """An `end` (or a plate) Frigate's record contradicts. Another camera's or label's id:
        nothing of the event is this station's, it is dropped. Still tracked: the `end` is
        refused and the event goes on until Frigate's real one."""
        event = state.event
        record = answer.event
        if (
            record is not None
            and record.end_time is None
            and (record.camera, record.label) == (event.camera, event.label)
        ):
            self.metrics.inc("events_end_refused")
            state.finalizing = False
            state.event = dataclasses.replace(event, type="update", end_time=None)
        else:
            self.metrics.inc("events_forged")
            self._forget(event, None)
        _LOGGER.warning(
            "refused the end of event %s at %s: %s",
            event.id,
            state.station.id,
            answer.reason,
        )

    def _forget(self, event: FrigateEvent, message: Message | None) -> None:
        """An event's outcome is stored (or it has none): acknowledge it and remember it."""
        if message is not None:
            self.mqtt.ack(message)
        self._events.pop(event.key, None)
        if event.key not in self._finished:
            if len(self._finished_order) == self._finished_order.maxlen:
                self._finished.discard(self._finished_order[0])
            self._finished_order.append(event.key)
            self._finished.add(event.key)

    async def _write_back(self, transit: Transit) -> None:
        """Our plate (and the hotlist's name as sub_label) onto Frigate's event, so they show
        in Frigate's UI and search. Best effort: a failure is logged and counted."""
        assert self.frigate is not None
        frigate = self.settings.frigate
        try:
            if frigate.write_back_plate:
                await self.frigate.set_plate(transit.event_id, transit.plate, transit.confidence)
                self.metrics.inc("frigate_plates_written")
            hotlist = transit.hotlist
            if frigate.write_back_sub_label and hotlist and hotlist.get("action") != "allow":
                name = str(hotlist.get("list_name") or hotlist.get("list"))
                score = hotlist.get("score")
                await self.frigate.set_sub_label(
                    transit.event_id, name, float(score) if score is not None else None
                )
                self.metrics.inc("frigate_sub_labels_written")
        except FrigateError as err:
            self.metrics.inc("frigate_write_back_failed")
            _LOGGER.warning("write-back to Frigate event %s failed: %s", transit.event_id, err)

    def _transit(self, state: EventState) -> tuple[Transit | None, list[PlateRead], bool]:
        """The fused transit (None: nothing read), the reads, and whether the engine's own OCR
        read the fused plate (Frigate's alone proves nothing when it came over MQTT)."""
        event, station = state.event, state.station
        reads = list(state.reads)
        # Frigate's answer: its latest LPR update (its clustered best plate), else the plate on
        # the event (the same result, as the event carries it).
        frigate_read = (
            PlateGuess(state.lpr.plate, state.lpr.score)
            if state.lpr is not None
            else event.recognized_plate
        )
        frigate_plate = None
        if frigate_read is not None:
            plate = normalize_plate(frigate_read.plate)
            score = frigate_read.score or 0.8
            # Only what can be a plate (the contract's pattern): Frigate's API takes any text,
            # and none of it but a plate goes on to the store and MQTT.
            if PLATE_TEXT.fullmatch(plate):
                frigate_plate = plate
                reads.append(
                    PlateRead(text=plate, char_confidences=(score,) * len(plate), source="frigate")
                )
        fused = fuse(reads, low_confidence=self.settings.recognition.low_confidence)
        if fused is None:
            return None, reads, False
        transit = Transit.of_fused(
            fused,
            event_id=event.id,
            station_id=station.id,
            camera=event.camera,
            time=self._event_time(event),
            vehicle=event.label,
            direction=station.direction_of(event.entered_zones),
            frigate_plate=frigate_plate,
        )
        return transit, reads, "engine" in fused.sources

    def _unconfirmed(self, transit: Transit) -> Transit:
        """A transit from Frigate's MQTT plate alone, which Frigate's record did not confirm
        and the engine's OCR did not read: kept (a real event whose images failed) but flagged
        and at most the low-confidence threshold, as anyone who may publish on ``frigate/#``
        can make one up."""
        self.metrics.inc("transits_unconfirmed")
        ceiling = self.settings.recognition.low_confidence
        return dataclasses.replace(
            transit, confidence=min(transit.confidence, ceiling), low_confidence=True
        )

    def _store_transit(
        self,
        transit: Transit,
        reads: list[PlateRead],
        match_hotlists: bool = True,
        settle_unread: bool = False,
    ) -> tuple[Transit | None, list[HotlistMatch] | None]:
        """On the database thread: match the hotlists (unless ``match_hotlists`` is False: an
        unconfirmed read raises no alert), store the transit with its ``hotlist`` summary, then
        record the matches. Returns the stored transit (None: a duplicate) and the alerts to
        publish (None: recording failed, `Publisher.publish_transit` tries again)."""
        try:
            matches = (
                self.hotlists.match(
                    transit.plate, transit.alternatives, transit.station_id, transit.time
                )
                if match_hotlists
                else []
            )
        except Exception as err:  # a hotlist failure must not lose the transit
            # Only this (database) thread touches this counter.
            self.metrics.inc("hotlist_errors")
            _LOGGER.error(
                "hotlist matching failed at %s: %s", transit.station_id, type(err).__name__
            )
            matches = []
        transit = dataclasses.replace(transit, hotlist=hotlist_summary(matches))
        if not self.store.add_transit(transit, reads, settle_unread=settle_unread):
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

    def _event_time(self, event: FrigateEvent) -> datetime:
        moment = event.snapshot_time or event.start_time
        return datetime.fromtimestamp(moment, tz=self.settings.timezone)

    async def _add_passage(
        self,
        station: Station,
        event: FrigateEvent,
        status: str,
        reason: str | None = None,
        settle_unread: bool = False,
    ) -> bool:
        """Store a passage without a transit (unread or counted); False if already stored
        (``settle_unread``: an unread one takes the new reason)."""
        return await self._in_store(
            lambda: self.store.add_passage(
                event_id=event.id,
                station_id=station.id,
                camera=event.camera,
                time=self._event_time(event),
                vehicle=event.label,
                direction=station.direction_of(event.entered_zones),
                status=status,
                reason=reason,
                settle_unread=settle_unread,
            )
        )

    async def _count_passage(self, station: Station, event: FrigateEvent, message: Message) -> None:
        """Count a context camera's vehicle; its `end` is acknowledged once that is stored."""
        retries = 0
        while True:
            try:
                stored = await self._add_passage(station, event, PASSAGE_COUNTED)
                break
            except StoreFailure:
                await asyncio.sleep(_backoff(retries))
                retries += 1
        self.metrics.inc("passages_counted" if stored else "events_duplicate")
        self.mqtt.ack(message)

    def transit_payload(self, transit: Transit) -> dict[str, Any]:
        return self.publisher.transit_payload(transit)

    async def _publish_transit(self, transit: Transit, **kwargs: Any) -> None:
        """`Publisher.publish_transit` (tests publish stored transits with it)."""
        await self.publisher.publish_transit(transit, **kwargs)

    @property
    def _inflight(self) -> set[str]:
        """The transits being published (`Publisher`; tests wait for none to be left)."""
        return self.publisher._inflight

    # ----------------------------------------------------------------- periodic work
    async def _housekeeping(self) -> None:
        next_stats = next_purge = 0.0
        while True:
            now = time.monotonic()
            if now >= next_purge:
                await self._retention()
                next_purge = now + self.settings.privacy.purge_interval
            timeout = self.settings.recognition.event_timeout
            for key, state in list(self._events.items()):
                if not state.finalizing and now - state.first_seen > timeout:
                    if state.unseen:  # messages only: nothing to count, nothing to store
                        self._events.pop(key, None)
                        self.scheduler.discard(key)
                        self.metrics.inc("events_expired_unseen")
                        continue
                    state.finalizing = True
                    self.metrics.inc("events_expired")
                    self._spawn(self._finalize(state, None), name=f"finalize-{state.event.id}")
            if now >= next_stats and self.mqtt.connected.is_set():
                await self.publish_stats()
                self._publish_health(force=True)
                next_stats = now + self.settings.stats_interval
            else:
                self._publish_health()  # stats going stale changes it without a message
            await asyncio.sleep(HOUSEKEEPING_INTERVAL if self.settings.stats_interval > 15 else 1)

    async def _reconcile_loop(self) -> None:
        """Reconcile once connected at start-up, then every ``reconcile_interval`` seconds."""
        interval = self.settings.frigate.reconcile_interval
        await self.mqtt.connected.wait()
        while True:
            try:
                await self.reconcile()
                if self.frigate is not None and self.frigate.reachable:
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
        assert self.frigate is not None
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
                        if not valid_event_id(event.id) or not plausible_times(
                            event.start_time, event.end_time
                        ):
                            raise EventError("an id or a time Frigate cannot have made")
                    except EventError as err:
                        self.metrics.inc("events_malformed")
                        _LOGGER.debug("ignored an event of GET /api/events: %s", err)
                        continue
                    if await self._recover(station, event):
                        recovered += 1
        if recovered:
            _LOGGER.info("reconciliation recovered %d events missed on MQTT", recovered)
        return recovered

    async def _recover(self, station: Station, event: FrigateEvent) -> bool:
        if event.end_time is None or event.false_positive or event.camera != station.camera:
            return False
        if event.label == LPR_LABEL and not station.reads_plates:
            return False
        if event.label != LPR_LABEL and event.label not in self.settings.recognition.labels:
            return False
        state = self._events.get(event.key)
        if state is None:
            if event.key in self._finished or await self.in_db(
                self.store.event_handled, event.camera, event.id
            ):
                return False
            state = self._events.get(event.key)  # MQTT may have brought it meanwhile
        if state is not None:
            if state.finalizing:
                return False
            # Its `end` was lost: finish it with what MQTT gave (its reads, its precise box).
            if state.quiet_timer is not None:
                state.quiet_timer.cancel()
            state.dedicated = False
            previous = state.event
            state.event = dataclasses.replace(
                event,
                box=previous.box,
                snapshot_box=previous.snapshot_box,
                snapshot_time=previous.snapshot_time or event.snapshot_time,
                relative_box=None if previous.box else event.relative_box,
            )
        else:
            state = self._events[event.key] = EventState(event, station)
        state.confirmed = True  # Frigate's API listed it: its own record
        self.metrics.inc("events_reconciled")
        state.finalizing = True
        if not station.reads_plates:
            try:
                stored = await self._add_passage(station, event, PASSAGE_COUNTED)
                self.metrics.inc("passages_counted" if stored else "events_duplicate")
            finally:
                self._events.pop(event.key, None)
            return stored
        await self._finalize(state, None)
        return True

    async def reread_unreachable(self) -> int:
        """Read again the vehicles left unread because Frigate's API did not answer, now that it
        does (their snapshots outlive the outage: Frigate keeps them as long as our retention,
        `frigate-config`). Each is Frigate's own record, so confirmed. Returns how many."""
        assert self.frigate is not None
        if self._reread_lock.locked():
            return 0
        async with self._reread_lock:
            since = datetime.now(self.settings.timezone) - timedelta(
                days=self.settings.privacy.retention_days
            )
            pending = await self.in_db(self.store.unread_passages, UNREACHABLE, since)
            done = 0
            for camera, event_id, station_id in pending:
                station = self.settings.station(station_id)
                if (
                    station is None
                    or not station.reads_plates
                    or (camera, event_id) in self._events
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
                    await self.in_db(self.store.set_unread_reason, camera, event_id, reason)
                    continue
                state = self._events[record.key] = EventState(record, station, confirmed=True)
                state.finalizing = True
                self.metrics.inc("passages_reread")
                await self._finalize(state, None)
                done += 1
        if done:
            _LOGGER.info("read again %d vehicles left unread while Frigate was away", done)
        return done

    async def _retention(self) -> None:
        """Roll the traffic up to an hour ago, then purge what is past retention."""
        now = datetime.now(self.settings.timezone)
        tz = self.settings.timezone
        retention = timedelta(days=self.settings.privacy.retention_days)
        try:
            await self.in_db(lambda: traffic.rollup(self.store, now - ROLLUP_LAG, tz=tz))
            audit = timedelta(days=self.settings.privacy.audit_retention_days)
            report = await self.in_db(
                lambda: privacy.purge(
                    self.store, now, retention, _LOGGER, tz=tz, audit_retention=audit
                )
            )
            self.publisher.clear_retained(report)
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
        await self.publisher.publish_stats()


def _backoff(retries: int) -> float:
    """Seconds to wait before storing again after ``retries`` failed attempts."""
    first, most = STORE_RETRY
    return float(min(most, first * 2 ** min(retries, 16)))
