"""The API the operator panel adds: live transits (Server-Sent Events), crops in one audited
batch, the station map, the caller, and the system's health in one call.

Live transits come from the store, not from MQTT: one poller per engine (running only while
someone watches) asks every second for the transits stored since its cursor, so a panel on any
engine worker sees the transits of every worker sharing a PostgreSQL store, and a transit shows
once it is stored (before it is published, as the outbox works). The same store call asks for the
alerts raised, settled (confirmed or withdrawn) or handled since the cursor: each goes out as an
``alert`` event (as ``GET /api/v1/alerts`` gives it), so the panel keeps its queue current
without asking the audited list again. Opening the stream returns plates, so it needs a
``reason`` and is written to the audit log, once per stream.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from aiohttp import web

from rufina_alpr import __version__, contract
from rufina_alpr.alerts import Alert
from rufina_alpr.alerts.book import AlertBook
from rufina_alpr.alerts.payloads import alert_json
from rufina_alpr.api.audit import justified
from rufina_alpr.api.auth import PRINCIPAL_KEY, requires
from rufina_alpr.api.context import CONTEXT_KEY, ApiContext
from rufina_alpr.api.params import bad_request
from rufina_alpr.frigate import FrigateError
from rufina_alpr.store.search import crops_of, latest_transits, recent_transit_ids, transits_by_id
from rufina_alpr.transits import Transit

_LOGGER = logging.getLogger("rufina_alpr.web.live")  # log lines keep web/live.py's logger name

POLL_INTERVAL: Final = 1.0
HEARTBEAT: Final = 15.0
# A transit is stored when its Frigate event ends; its time is the event's start.
LOOKBACK: Final = timedelta(hours=1)
# Writers' clocks differ a little (several workers): look back past the cursor, dedupe by id.
OVERLAP: Final = timedelta(seconds=30)
BACKLOG: Final = 50
MAX_BATCH: Final = 200
MAX_RECENT: Final = 5000
"""Transits stored within the overlap that one poll looks at: 30 s at 150 vehicles/s."""
MAX_CROPS: Final = 100
# A transit id as the engine makes them (UUIDs); docs/openapi.yaml describes the same.
TRANSIT_ID: Final = re.compile(r"[A-Za-z0-9-]{1,36}")
QUEUE_SIZE: Final = 500
MAX_ALERTS: Final = 500
"""Alerts changed within one poll's window that it sends (the rest: the next poll's)."""


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """An ``alert`` event for the streams; a transit goes to them as its payload (a dict)."""

    alert: dict[str, Any]


Item = dict[str, Any] | AlertEvent


def _data_url(jpeg: bytes | None) -> str | None:
    return None if jpeg is None else "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()


def live_payload(context: ApiContext, transit: Transit) -> dict[str, Any]:
    """The transit as the contract has it, plus its crop inline (the stream is audited once)."""
    return {**context.transit_payload(transit), "crop": _data_url(transit.crop_jpeg)}


def live_alert(context: ApiContext, alert: Alert) -> dict[str, Any]:
    """An alert as ``GET /api/v1/alerts`` gives it."""
    station = context.settings.station(alert.station_id)
    return alert_json(alert, station.name if station else None)


def _alert_version(alert: Alert) -> tuple[str, str, str, datetime | None, datetime | None]:
    """What the panel sees change: an alert is sent again when one of these changes."""
    return (alert.id, alert.status, alert.state, alert.settled_at, alert.handled_at)


def _changes(
    context: ApiContext, after: datetime, since: datetime
) -> tuple[list[tuple[str, datetime]], list[Alert]]:
    """One store call: the transits stored after ``after`` (within ``since``), and the alerts
    raised, settled or handled from ``after`` on."""
    recent = recent_transit_ids(context.store, created_after=after, since=since, limit=MAX_RECENT)
    changed = AlertBook(context.store).changed_since(after, limit=MAX_ALERTS)
    return recent, changed


# ----------------------------------------------------------------------- the feed
class LiveFeed:
    """One poller of the store fanning new transits out to every open stream."""

    def __init__(self, context: ApiContext, interval: float = POLL_INTERVAL) -> None:
        self._context = context
        self._interval = interval
        self._queues: set[asyncio.Queue[Item | None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._cursor = datetime.now(UTC) - OVERLAP
        self._seen: dict[str, datetime] = {}
        self._alerts_seen: dict[tuple[Any, ...], datetime] = {}
        self.closed = False

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[Item | None]]:
        queue: asyncio.Queue[Item | None] = asyncio.Queue(QUEUE_SIZE)
        self._queues.add(queue)
        if self._task is None or self._task.done():
            self._cursor = datetime.now(UTC) - OVERLAP
            self._task = asyncio.get_running_loop().create_task(self._run(), name="live-feed")
        try:
            yield queue
        finally:
            self._queues.discard(queue)

    async def close(self) -> None:
        self.closed = True
        for queue in list(self._queues):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(None)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while self._queues and not self.closed:
            try:
                await self.poll()
            except Exception:  # the next round tries again
                _LOGGER.exception("live feed: the store query failed")
            await asyncio.sleep(self._interval)

    def _send(self, event: Item) -> None:
        for queue in list(self._queues):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:  # a stalled reader: it is dropped
                self._queues.discard(queue)

    async def poll(self) -> None:
        context = self._context
        now = datetime.now(UTC)
        after = self._cursor - OVERLAP
        recent, changed = await context.run(_changes, context, after, now - LOOKBACK)
        # Alerts first: a panel then knows a hit transit's alert when the transit comes.
        for alert in changed:
            version = _alert_version(alert)
            if version not in self._alerts_seen:
                self._alerts_seen[version] = now
                self._send(AlertEvent(live_alert(context, alert)))
        fresh = [transit_id for transit_id, _stored in recent if transit_id not in self._seen]
        for start in range(0, len(fresh), MAX_BATCH):
            batch = fresh[start : start + MAX_BATCH]
            for transit in await context.run(transits_by_id, context.store, batch):
                self._seen[transit.id] = now
                self._send(live_payload(context, transit))
        # Past a full page (over 150 vehicles/s), the next poll starts where this one stopped.
        self._cursor = recent[-1][1] + OVERLAP if len(recent) == MAX_RECENT else now
        horizon = now - 4 * OVERLAP
        self._seen = {k: v for k, v in self._seen.items() if v >= horizon}
        self._alerts_seen = {k: v for k, v in self._alerts_seen.items() if v >= horizon}


LIVE_KEY: Final[web.AppKey[LiveFeed]] = web.AppKey("live", LiveFeed)


def _sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


@requires("operator")
async def live(request: web.Request) -> web.StreamResponse:
    """The newest transits, then (``Accept: text/event-stream``) every new one as it is stored,
    and every alert raised, settled or handled (``alert`` events)."""
    context = request.app[CONTEXT_KEY]
    asked = justified(request)
    params = asked.params
    backlog = params.integer("backlog", 20, 0, BACKLOG)
    assert backlog is not None
    streaming = "text/event-stream" in request.headers.get("Accept", "")
    feed = request.app[LIVE_KEY]
    await asked.record(
        "live",
        {"stream": streaming, "backlog": backlog},
        results=None,
    )
    if not streaming:
        rows = await context.run(latest_transits, context.store, backlog)
        return web.json_response({"transits": [live_payload(context, t) for t in rows]})
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache, no-store",
            # Proxies (nginx, the Supervisor's ingress) must not buffer the stream.
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    async with feed.subscribe() as queue:
        rows = await context.run(latest_transits, context.store, backlog)
        backlog_body = {"transits": [live_payload(context, t) for t in rows]}
        await response.write(_sse("backlog", backlog_body))
        try:
            while not feed.closed:
                try:
                    item = await asyncio.wait_for(queue.get(), HEARTBEAT)
                except TimeoutError:
                    await response.write(b": keep-alive\n\n")
                    continue
                if item is None:
                    break
                if isinstance(item, AlertEvent):
                    await response.write(_sse("alert", item.alert))
                else:
                    await response.write(_sse("transit", item))
        except (ConnectionResetError, ConnectionError):
            pass
    return response


@requires("operator")
async def crops_batch(request: web.Request) -> web.Response:
    """Crops of several transits at once (``id`` repeated), one audit entry for all."""
    context = request.app[CONTEXT_KEY]
    asked = justified(request)
    given = request.query.getall("id", [])
    if not given:
        raise bad_request("'id': give at least one transit id")
    if len(given) > MAX_CROPS or not all(TRANSIT_ID.fullmatch(i) for i in given):
        raise bad_request(
            f"'id': 1 to {MAX_CROPS} transit ids (letters, digits and dashes, at most 36), repeated"
        )
    ids = list(dict.fromkeys(given))
    found = await context.run(crops_of, context.store, ids)
    await asked.record(
        "transit_crops",
        {"transit_ids": ids},
        results=len(found),
    )
    return web.json_response({"crops": {key: _data_url(value) for key, value in found.items()}})


@requires("viewer")
async def stations(request: web.Request) -> web.Response:
    """The stations, with their kind, locality and coordinates, and the map's tile server."""
    context = request.app[CONTEXT_KEY]
    return web.json_response(
        {
            "stations": [
                {
                    "id": s.id,
                    "name": s.name,
                    "kind": s.kind,
                    "camera": s.camera,
                    "direction": s.direction,
                    "locality": s.locality,
                    "road": s.road,
                    "latitude": s.latitude,
                    "longitude": s.longitude,
                }
                for s in context.settings.stations
            ],
            # The map tile server the admin named (None: the panel's offline drawing only).
            "map": {
                "tiles": context.settings.panel.map_tiles,
                "attribution": context.settings.panel.map_attribution,
            },
        }
    )


@requires("viewer")
async def whoami(request: web.Request) -> web.Response:
    principal = request[PRINCIPAL_KEY]
    return web.json_response(
        {
            "name": principal.name,
            "role": principal.role,
            "ingress": principal.name.startswith("ha:"),
        }
    )


FRIGATE_TIMEOUT: Final = 3.0


async def _frigate_version(context: ApiContext) -> tuple[bool, str | None, str | None]:
    frigate = context.frigate()
    if frigate is None:
        return False, None, "not connected"
    try:
        version = await asyncio.wait_for(frigate.version(), FRIGATE_TIMEOUT)
    except FrigateError as err:  # what failed (method, path, status): no secret in it
        return False, None, str(err)[:200]
    except TimeoutError:
        return False, None, f"no answer within {FRIGATE_TIMEOUT:g} s"
    return True, version, None


@requires("viewer")
async def system(request: web.Request) -> web.Response:
    """Engine, broker and Frigate status, queue and latency: the panel's system page."""
    context = request.app[CONTEXT_KEY]
    reachable, version, problem = await _frigate_version(context)
    stats = await context.stats_payload()
    now = datetime.now(context.settings.timezone)
    return web.json_response(
        {
            "engine": {
                "instance": context.settings.instance,
                "version": __version__,
                "contract_version": contract.CONTRACT_VERSION,
                "started_at": contract.iso_time(context.started_at),
                "uptime": round((now - context.started_at).total_seconds(), 1),
                "detector": context.recognizer.info.detector,
                "ocr": context.recognizer.info.ocr,
                "workers": context.settings.recognition.workers,
                "queue_size": context.settings.recognition.queue_size,
                "store": "postgresql"
                if context.settings.store_url.startswith("postgres")
                else "sqlite",
                "retention_days": context.settings.privacy.retention_days,
            },
            "broker": {
                "connected": context.mqtt.connected.is_set(),
                "host": context.settings.mqtt.host,
                "port": context.settings.mqtt.port,
            },
            "frigate": {
                "reachable": reachable,
                "version": version,
                "error": problem,
                "url": context.settings.frigate.url,
            },
            "queue": context.queue_length(),
            "latency_ms": stats["latency_ms"],
            "counters": stats["counters"],
            "transits_today": stats["transits_today"],
            "vehicles_today": stats["vehicles_today"],
            "stations": len(context.settings.stations),
            # Each station's camera, the offline ones first (the health's, with since when).
            "cameras": context.camera_health(),
            # Each plate-reading station's read quality, from the stats computed above.
            "read_quality": {
                station: counts["read_quality"]
                for station, counts in stats["stations"].items()
                if "read_quality" in counts
            },
        }
    )


def routes() -> list[web.RouteDef]:
    return [
        web.get("/api/v1/live", live),
        web.get("/api/v1/crops", crops_batch),
        web.get("/api/v1/stations", stations),
        web.get("/api/v1/me", whoami),
        web.get("/api/v1/system", system),
    ]


def setup(app: web.Application, context: ApiContext) -> None:
    app[LIVE_KEY] = LiveFeed(context)

    async def stop(app: web.Application) -> None:
        await app[LIVE_KEY].close()

    app.on_shutdown.append(stop)
    app.add_routes(routes())
