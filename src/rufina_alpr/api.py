"""The engine's HTTP API (aiohttp): health, engine info, recent transits, metrics.

Every route but ``/api/health`` needs ``Authorization: Bearer <token>``; tokens are compared in
constant time and never logged.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Final

from aiohttp import web

from rufina_alpr import __version__, contract

if TYPE_CHECKING:
    from rufina_alpr.service import Engine

_LOGGER = logging.getLogger(__name__)

ENGINE_KEY: Final[web.AppKey[Engine]] = web.AppKey("engine")
PUBLIC_PATHS: Final = frozenset({"/api/health"})
MAX_PAGE: Final = 500

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, error: str, message: str) -> web.Response:
    return web.json_response({"error": error, "message": message}, status=status)


@web.middleware
async def _auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path in PUBLIC_PATHS:
        return await handler(request)
    expected = request.app[ENGINE_KEY].settings.api.token
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), expected.encode()):
        return _error(401, "unauthorized", "a valid bearer token is required")
    return await handler(request)


async def health(request: web.Request) -> web.Response:
    engine = request.app[ENGINE_KEY]
    return web.json_response(
        {"status": "ok", "mqtt": engine.mqtt.connected.is_set(), "queue": engine.queue_length}
    )


async def info(request: web.Request) -> web.Response:
    engine = request.app[ENGINE_KEY]
    return web.json_response(
        {
            "instance": engine.settings.instance,
            "engine_version": __version__,
            "contract_version": contract.CONTRACT_VERSION,
            "stations": len(engine.settings.stations),
            "detector": engine.recognizer.info.detector,
            "ocr": engine.recognizer.info.ocr,
        }
    )


async def transits(request: web.Request) -> web.Response:
    engine = request.app[ENGINE_KEY]
    try:
        limit = int(request.query.get("limit", "50"))
    except ValueError:
        return _error(400, "bad_request", "limit must be an integer")
    if not 1 <= limit <= MAX_PAGE:
        return _error(400, "bad_request", f"limit must be between 1 and {MAX_PAGE}")
    rows = await engine.in_db(lambda: engine.store.transits(limit=limit))
    return web.json_response({"transits": [engine.transit_payload(t) for t in rows]})


async def stats(request: web.Request) -> web.Response:
    return web.json_response(await request.app[ENGINE_KEY].stats_payload())


def create_app(engine: Engine) -> web.Application:
    app = web.Application(middlewares=[_auth], client_max_size=1024 * 1024)
    app[ENGINE_KEY] = engine
    app.add_routes(
        [
            web.get("/api/health", health),
            web.get("/api/v1/info", info),
            web.get("/api/v1/transits", transits),
            web.get("/api/v1/stats", stats),
        ]
    )
    return app


async def start_api(engine: Engine) -> web.AppRunner:
    runner = web.AppRunner(create_app(engine), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, engine.settings.api.host, engine.settings.api.port)
    await site.start()
    _LOGGER.info("HTTP API on %s:%d", engine.settings.api.host, engine.settings.api.port)
    return runner
