"""The API's application and server: ``create_app`` adds every resource module's ``routes()``
(then the operator panel's), ``start_api`` serves it; the access log and aiohttp's server log
without paths or request text, and the listening socket's connection limit.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from http import HTTPStatus
from pathlib import Path
from resource import RLIM_INFINITY, RLIMIT_NOFILE, getrlimit
from typing import TYPE_CHECKING, Any, Final

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from rufina_alpr.api import (
    admin,
    alerts,
    holds,
    hotlists,
    live,
    panel,
    privacy_pack,
    subject_requests,
    system,
    tracking,
    traffic,
    transits,
)
from rufina_alpr.api.auth import auth_middleware
from rufina_alpr.api.context import (
    CONTEXT_KEY,
    HOTLISTS_KEY,
    OPENAPI_KEY,
    OPENAPI_PATH,
    QUERY_NAMES_KEY,
    ROUTE_PATTERN_KEY,
    TIMEOUTS_KEY,
    ApiContext,
    Timeouts,
)
from rufina_alpr.api.params import MAX_IMPORT_BYTES, described_query_names
from rufina_alpr.hotlists import Hotlists

if TYPE_CHECKING:
    from rufina_alpr.api.context import Engine

_LOGGER = logging.getLogger("rufina_alpr.api")  # log lines keep api.py's logger name

RESOURCES: Final = (
    system,
    transits,
    tracking,
    traffic,
    holds,
    hotlists,
    alerts,
    admin,
    subject_requests,
    privacy_pack,
)
"""The API's resource modules, in the order their routes are added (the panel's come after)."""


def routes() -> list[web.RouteDef]:
    return [route for module in RESOURCES for route in module.routes()]


DEFAULT_TIMEOUTS: Final = Timeouts()


def create_app(
    engine: Engine, *, openapi_path: Path = OPENAPI_PATH, timeouts: Timeouts = DEFAULT_TIMEOUTS
) -> web.Application:
    # The largest body any route takes; the middleware holds each route to its own (max_body).
    app = web.Application(middlewares=[auth_middleware], client_max_size=MAX_IMPORT_BYTES)
    context = ApiContext.of(engine)
    app[CONTEXT_KEY] = context
    app[TIMEOUTS_KEY] = timeouts
    app[OPENAPI_KEY] = openapi_path
    app[QUERY_NAMES_KEY] = described_query_names(openapi_path)
    # The engine's own (it matches every transit), else one over the same store.
    existing = getattr(engine, "hotlists", None)
    app[HOTLISTS_KEY] = (
        existing
        if isinstance(existing, Hotlists)
        else Hotlists(
            context.store,
            timezone=context.settings.timezone,
            fuzzy_min_score=context.settings.hotlists.fuzzy_min_score,
            known_stations=[station.id for station in context.settings.stations],
        )
    )
    app.add_routes(routes())
    # The operator panel (/panel/) and its calls (live.py).
    app.add_routes(panel.routes())
    live.setup(app, context)
    return app


class AccessLogger(AbstractAccessLogger):
    """Access lines with the route's pattern, never the path or query (plates, reasons)."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        # Set by the middleware; a request aiohttp refused before routing (a line too long, a
        # malformed header) has none.
        pattern = request.get(ROUTE_PATTERN_KEY, "(not routed)")
        self.logger.info("%s %s %d %.1f ms", request.method, pattern, response.status, time * 1000)


class _WithoutRequestText(logging.Filter):
    """aiohttp logs a request it cannot parse with the exception, whose message quotes the
    request line (a plate, a reason, a token in a query): keep only the exception's kind."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[0] is not None:
            record.msg = f"{record.msg}: %s"
            record.args = (
                *(record.args if isinstance(record.args, tuple) else ()),
                record.exc_info[0].__name__,
            )
            record.exc_info = None
            record.exc_text = None
        return True


HTTP_SERVER_LOGGER: Final = logging.getLogger("rufina_alpr.http")


HTTP_SERVER_LOGGER.addFilter(_WithoutRequestText())


def server_options(timeouts: Timeouts = DEFAULT_TIMEOUTS) -> dict[str, Any]:
    """aiohttp server settings: the access and error logs without paths, and the timeouts."""
    return {
        "access_log_class": AccessLogger,
        "logger": HTTP_SERVER_LOGGER,
        "keepalive_timeout": timeouts.idle,
        "lingering_time": timeouts.lingering,
    }


FD_RESERVE_MIN: Final = 128
"""Descriptors kept for the rest of the engine (Frigate's HTTP pool, the broker, the store, logs,
models, threads): a quarter of the file limit, at least this many."""

MIN_CONNECTIONS: Final = 8

ACCEPT_BATCH_RANGE: Final = (8, 128)
"""The least and the most sockets asyncio accepts in one go (the listening backlog)."""

ACCEPT_BATCHES_IN_FLIGHT: Final = 3
"""A refused socket holds its descriptor until the third loop pass after its accept (the accept
task, ``connection_made``, the close), and each pass may accept a new batch."""

DEFAULT_CONNECTIONS_CEILING: Final = 4096


def _file_limit() -> int | None:
    soft, _ = getrlimit(RLIMIT_NOFILE)
    return None if soft == RLIM_INFINITY else soft


def accept_batch() -> int:
    """The listening backlog, which is also how many sockets asyncio accepts in one go before any
    of them reaches `ApiSite._protocol`: an eighth of the file limit, within
    `ACCEPT_BATCH_RANGE`, so the batches in flight fit in a low limit too."""
    least, most = ACCEPT_BATCH_RANGE
    soft = _file_limit()
    return most if soft is None else max(least, min(most, soft // 8))


def default_max_connections() -> int:
    """The API's connection cap when `api.max_connections` is not set: the process's file limit
    (RLIMIT_NOFILE, soft) less a reserve, so slow clients cannot take the descriptors Frigate's
    fetches and the broker need (1,100 slow clients did), and less the accept batches in flight:
    the sockets asyncio accepts are refused only after each holds a descriptor for a few loop
    passes (with one batch kept, 320 clients under a limit of 256 still ran it out)."""
    soft = _file_limit()
    if soft is None:
        return DEFAULT_CONNECTIONS_CEILING
    reserve = max(FD_RESERVE_MIN, soft // 4) + ACCEPT_BATCHES_IN_FLIGHT * accept_batch()
    return max(MIN_CONNECTIONS, min(DEFAULT_CONNECTIONS_CEILING, soft - reserve))


class _ApiRequestHandler(web.RequestHandler):
    """aiohttp's connection handler, with refusals that never quote the request, and counted
    against the site's cap."""

    def __init__(self, site: ApiSite, manager: web.Server, **options: Any) -> None:
        super().__init__(manager, **options)
        self._site = site
        self._counted = True

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._counted:  # once: the descriptor is closed
            self._counted = False
            self._site.open_connections -= 1
        super().connection_lost(exc)

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        # aiohttp's parser errors quote the offending bytes ("Invalid header value char:
        # b'Authorization: Bearer <token>...'") and answer them back: the status line only.
        if status != 500:
            message = f"{status} {HTTPStatus(status).phrase}"
        return super().handle_error(request, status, exc, message)


class _Refused(asyncio.Protocol):
    """A connection over the cap: closed as soon as it is accepted."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.close()


class ApiSite(web.BaseSite):
    """A TCP site that holds at most ``max_connections`` open: each holds a file descriptor
    until its timeouts (`Timeouts`) close it. One over the cap is closed at once and counted
    (``refused``), so a free slot, not a timeout, is what a new client waits for."""

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        *,
        max_connections: int,
        options: Mapping[str, Any],
        on_refused: Callable[[], None] = lambda: None,
        backlog: int | None = None,
    ) -> None:
        super().__init__(runner, backlog=accept_batch() if backlog is None else backlog)
        self._host, self._port = host, port
        self.max_connections = max_connections
        self.open_connections = 0
        self._options = dict(options)
        self._on_refused = on_refused
        self._listening: asyncio.Server | None = None

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    @property
    def port(self) -> int:
        """The bound port (the one asked for, or the one the system chose for 0)."""
        sockets = self._listening.sockets if self._listening is not None else ()
        return int(sockets[0].getsockname()[1]) if sockets else self._port

    def _protocol(self) -> asyncio.BaseProtocol:
        # Called for each accepted socket before its handler sees it: counted here, so sockets
        # accepted in one batch are all counted.
        server = self._runner.server
        if server is None or self.open_connections >= self.max_connections:
            self._on_refused()
            return _Refused()
        self.open_connections += 1
        return _ApiRequestHandler(self, server, loop=asyncio.get_running_loop(), **self._options)

    async def start(self) -> None:
        await super().start()
        self._server = self._listening = await asyncio.get_running_loop().create_server(
            self._protocol, self._host, self._port, backlog=self._backlog
        )


class AcceptErrorLimiter(logging.Filter):
    """asyncio logs each accept that fails for want of a descriptor (EMFILE), with a traceback,
    again every second while it lasts (the log grew 175 MB in 80 s): one line per ``interval``
    seconds, with how many were left out."""

    PREFIX: Final = "socket.accept() out of system resource"

    def __init__(self, interval: float = 60.0, clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self.interval = interval
        self._clock = clock
        self._last: float | None = None
        self.left_out = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith(self.PREFIX):
            return True
        now = self._clock()
        if self._last is not None and now - self._last < self.interval:
            self.left_out += 1
            return False
        error = record.exc_info[1] if record.exc_info else None
        record.msg = "%s (%s); %d more like it since the last such line, at most one per %g s"
        record.args = (
            self.PREFIX,
            error if error is not None else "?",
            self.left_out,
            self.interval,
        )
        record.exc_info = None
        record.exc_text = None
        self._last, self.left_out = now, 0
        return True


ACCEPT_ERRORS: Final = AcceptErrorLimiter()


async def start_api(engine: Engine, *, timeouts: Timeouts = DEFAULT_TIMEOUTS) -> web.AppRunner:
    options = server_options(timeouts)
    runner = web.AppRunner(create_app(engine, timeouts=timeouts), **options)
    await runner.setup()
    api = engine.settings.api
    cap = api.max_connections or default_max_connections()
    soft, _ = getrlimit(RLIMIT_NOFILE)
    if soft != RLIM_INFINITY and cap > soft - FD_RESERVE_MIN:
        _LOGGER.warning(
            "api.max_connections %d leaves fewer than %d of the %d file descriptors allowed "
            "for Frigate, the broker and the store",
            cap,
            FD_RESERVE_MIN,
            soft,
        )
    asyncio_logger = logging.getLogger("asyncio")
    if ACCEPT_ERRORS not in asyncio_logger.filters:
        asyncio_logger.addFilter(ACCEPT_ERRORS)
    engine.metrics.inc("api_connections_refused", 0)  # shown from the start, as zero
    site = ApiSite(
        runner,
        api.host,
        api.port,
        max_connections=cap,
        options={**options, "debug": False},
        on_refused=lambda: engine.metrics.inc("api_connections_refused"),
    )
    await site.start()
    _LOGGER.info("HTTP API on %s:%d, at most %d connections", api.host, site.port, cap)
    return runner
