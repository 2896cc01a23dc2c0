"""The engine (`Engine`): Frigate events in, plate reads in a worker pool, one stored, published
transit out. It owns the connections (MQTT, Frigate's HTTP API, the database) and the background
tasks, and wires the stages of `rufina_alpr.engine`, each the one owner of its part:

- `Dispatcher` (dispatch.py): Frigate's topics, acknowledgement or dead letter of each message;
- `EventTracker` (events.py): the live events, dedicated LPR cameras' events, expiry;
- `ReadScheduler` (reads.py): the worker pool, the read budget per event, Frigate's images;
- `Alerter` (alerting.py): alerts while the vehicle is in view, each alert's evidence frame;
- `Finalizer` (outcomes.py): fusion, one stored outcome per event (its alerts confirmed,
  withdrawn or raised), the `end`'s acknowledgement;
- `Publisher` (publisher.py): everything told to the broker, the outbox after a restart;
- `HealthMonitor` (health.py): Frigate's and the store's health;
- `Reconciler` (reconcile.py): events MQTT lost (Frigate publishes with QoS 0), reads left
  undone while Frigate's API was away;
- `Housekeeping` (housekeeping.py): expiry, traffic rollup, retention purge, stats.

The `end` message is acknowledged to the broker once the outcome is stored, so a crash before
that makes the broker deliver it again. `docs/architecture.md` draws one vehicle's path.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from datetime import datetime
from typing import Any, TypeVar

import aiohttp

from rufina_alpr import contract
from rufina_alpr.config import Settings
from rufina_alpr.engine.alerting import Alerter
from rufina_alpr.engine.dispatch import Dispatcher
from rufina_alpr.engine.events import EventState, EventTracker
from rufina_alpr.engine.health import HealthMonitor
from rufina_alpr.engine.hotlist_watch import HotlistWatch
from rufina_alpr.engine.housekeeping import Housekeeping
from rufina_alpr.engine.outcomes import Finalizer
from rufina_alpr.engine.privacy_watch import PrivacyWatch
from rufina_alpr.engine.publisher import Publisher
from rufina_alpr.engine.reads import ReadScheduler
from rufina_alpr.engine.reconcile import Reconciler
from rufina_alpr.frigate import EventKey, FrigateClient, FrigateEvent, ssl_context
from rufina_alpr.hotlists import Hotlists
from rufina_alpr.metrics import Metrics
from rufina_alpr.mqtt import Message, MqttLink, Will
from rufina_alpr.recognizer import PlateReader
from rufina_alpr.stations import Station
from rufina_alpr.store import Store
from rufina_alpr.store.database import Database

_LOGGER = logging.getLogger(__name__)
T = TypeVar("T")


class Engine:
    """Builds the stages, starts and stops them; the HTTP API reads through its attributes."""

    def __init__(self, settings: Settings, recognizer: PlateReader) -> None:
        self.settings = settings
        self.recognizer = recognizer
        self.metrics = metrics = Metrics()
        self.topics = contract.Topics(settings.mqtt.topic_prefix)
        self.started_at = datetime.now(settings.timezone)
        self.store = Store(
            settings.store_url,
            worker=f"{settings.instance}/{settings.mqtt.client_id}",
            metrics=metrics,
        )
        self.signer = contract.Signer(self.store.signing_key())
        self.hotlists = Hotlists(
            self.store,
            timezone=settings.timezone,
            fuzzy_min_score=settings.hotlists.fuzzy_min_score,
            known_stations=[station.id for station in settings.stations],
        )
        self._tasks: set[asyncio.Task[Any]] = set()
        self._session: aiohttp.ClientSession | None = None
        self.frigate: FrigateClient | None = None
        self.health = HealthMonitor(
            settings,
            metrics,
            frigate=lambda: self.frigate,
            publish=lambda force=False: self.publisher.publish_health(force=force),
        )
        self.db = Database(
            self.store,
            metrics=metrics,
            on_failure=self.health.store_failed,
            on_success=self.health.store_works,
        )
        self.scheduler = ReadScheduler(
            settings,
            recognizer,
            metrics,
            frigate=lambda: self.frigate,
            live=self._live,
            read_done=self._read_done,
        )
        self.publisher = Publisher(
            settings,
            metrics,
            topics=self.topics,
            signer=self.signer,
            store=self.store,
            started_at=self.started_at,
            mqtt=lambda: self.mqtt,
            in_db=self.db.run,
            spawn=self._spawn,
            health=self.health.payload,
            stats=self._stats,
            withdraw_stale=self._withdraw_stale,
        )
        self.privacy = PrivacyWatch(settings, self.db, changed=self.publisher.publish_health)
        self.health.privacy = lambda: self.privacy.state
        self.alerter = Alerter(
            settings,
            metrics,
            db=self.db,
            hotlists=self.hotlists,
            publisher=self.publisher,
            frigate=lambda: self.frigate,
            spawn=self._spawn,
        )
        self.tracker = EventTracker(
            settings,
            metrics,
            self.scheduler,
            finish=self._finish,
            count=self._count,
        )
        self.finalizer = Finalizer(
            settings,
            metrics,
            db=self.db,
            hotlists=self.hotlists,
            scheduler=self.scheduler,
            tracker=self.tracker,
            publisher=self.publisher,
            alerter=self.alerter,
            frigate=lambda: self.frigate,
            ack=self._ack,
            spawn=self._spawn,
        )
        self.reconciler = Reconciler(
            settings,
            metrics,
            db=self.db,
            tracker=self.tracker,
            finalizer=self.finalizer,
            frigate=lambda: self.frigate,
        )
        self.dispatcher = Dispatcher(
            settings,
            metrics,
            tracker=self.tracker,
            health=self.health,
            ack=self._ack,
        )
        self.mqtt = MqttLink(
            host=settings.mqtt.host,
            port=settings.mqtt.port,
            client_id=settings.mqtt.client_id,
            username=settings.mqtt.username,
            password=settings.mqtt.password,
            keepalive=settings.mqtt.keepalive,
            will=Will(self.topics.status, self.signer.encode(self.publisher.status("offline"))),
            subscriptions=self.dispatcher.subscriptions,
            on_message=self.dispatcher.on_message,
            on_connected=self._connected,
        )
        self.housekeeping = Housekeeping(
            settings,
            metrics,
            db=self.db,
            tracker=self.tracker,
            publisher=self.publisher,
            connected=self.mqtt.connected,
            queue_length=lambda: self.scheduler.queue_length,
            privacy=self.privacy,
        )
        self.hotlist_watch = HotlistWatch(
            self.hotlists,
            db=self.db,
            publisher=self.publisher,
            metrics=metrics,
            connected=self.mqtt.connected,
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
        self._spawn(self.housekeeping.run(), name="housekeeping")
        self._spawn(self.hotlist_watch.run(), name="hotlist-watch")
        self._spawn(self.reconciler.run(self.mqtt.connected), name="reconcile")
        lpr = sum(1 for s in self.settings.stations if s.reads_plates)
        _LOGGER.info(
            "engine started: %d stations (%d plate-reading), detector %s, %d workers",
            len(self.settings.stations),
            lpr,
            self.recognizer.info.detector,
            self.settings.recognition.workers,
        )

    async def stop(self, *, drain_timeout: float = 10.0) -> None:
        pending = self.tracker.stop()
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
        await self.db.close()

    def _spawn(
        self, coroutine: Coroutine[Any, Any, Any], name: str | None = None
    ) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _LOGGER.error("background task %s failed", task.get_name(), exc_info=task.exception())

    # The stages call each other in a circle (tracker -> finalizer -> tracker), so some are
    # handed these late-bound calls instead of an object that does not exist yet.
    def _live(self, key: EventKey) -> EventState | None:
        return self.tracker.live.get(key)

    def _withdraw_stale(self, now: datetime) -> int:
        return self.alerter.withdraw_stale(now)

    def _read_done(self, state: EventState) -> None:
        self.alerter.read_done(state)

    def _finish(self, state: EventState, message: Message | None) -> None:
        self.finalizer.start(state, message)

    def _count(self, station: Station, event: FrigateEvent, message: Message) -> None:
        self.finalizer.start_count(station, event, message)

    def _connected(self) -> None:
        self.publisher.on_connected()
        self.hotlist_watch.republish()

    def _ack(self, message: Message) -> None:
        self.mqtt.ack(message)

    async def _stats(self) -> dict[str, Any]:
        return await self.housekeeping.stats_payload()

    def _frigate_reachable(self, answered: bool) -> None:
        """Frigate's API stopped answering, or answers (again, or for the first time since the
        start): shown in the health; the vehicles left unread meanwhile are read again (their
        snapshots are still there)."""
        if not answered:
            self.metrics.inc("frigate_unreachable")
            _LOGGER.warning("Frigate's API does not answer: vehicles wait to be read again")
        else:
            _LOGGER.info("Frigate's API answers")
            self._spawn(self.reconciler.reread_unreachable(), name="reread")
        self.publisher.publish_health(force=True)
