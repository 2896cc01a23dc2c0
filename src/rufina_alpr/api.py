"""The engine's HTTP API (aiohttp), described by ``docs/openapi.yaml`` (served by the engine).

Every route but ``/api/health`` and ``/api/openapi.yaml`` needs ``Authorization: Bearer <token>``:
the built-in admin token (``api.token``) or a named user's (``api.users``), compared in constant
time and never logged. Roles, least to most: viewer (statistics), operator (searches, routes,
hotlists, holds, evidence), admin (audit log, purge, settings). Every request that returns plates
needs a ``reason`` (and takes a ``case_number``) and is written to the audit log before the
response goes out. A delegate's token (``delegate: true``: Home Assistant's) may name the person it
acts for in ``X-Rufina-Acting-User``; the audit log records both. Errors are JSON:
``{"error": code, "message": text}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import hmac
import io
import json
import logging
import re
import time
import unicodedata
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from pathlib import Path
from resource import RLIM_INFINITY, RLIMIT_NOFILE, getrlimit
from typing import TYPE_CHECKING, Any, Final, TypeVar
from urllib.parse import unquote

import voluptuous as vol
import yaml
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from rufina_alpr import __version__, contract, evidence, privacy, tracking, traffic
from rufina_alpr.api_queries import PatternError, TransitQuery, plate_pattern, search_transits
from rufina_alpr.config import ROLES
from rufina_alpr.csv_cells import safe_mapping
from rufina_alpr.hotlist import (
    ACTIONS,
    KINDS,
    HotlistAlreadyListed,
    HotlistConflict,
    HotlistEntry,
    HotlistError,
    HotlistInfo,
    HotlistNotFound,
    Hotlists,
)
from rufina_alpr.metrics import COUNTER_NAMES
from rufina_alpr.web import setup as setup_panel
from rufina_alpr.web.ingress import ingress_identity

if TYPE_CHECKING:
    from rufina_alpr.service import Engine

_LOGGER = logging.getLogger(__name__)

ENGINE_KEY: Final[web.AppKey[Engine]] = web.AppKey("engine")
# The wheel carries docs/openapi.yaml inside the package; a checkout (editable install) has docs/.
_PACKAGED_OPENAPI: Final = Path(__file__).resolve().parent / "openapi.yaml"
OPENAPI_PATH: Final = (
    _PACKAGED_OPENAPI
    if _PACKAGED_OPENAPI.is_file()
    else Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
)
OPENAPI_KEY: Final[web.AppKey[Path]] = web.AppKey("openapi", Path)
HOTLISTS_KEY: Final[web.AppKey[Hotlists]] = web.AppKey("hotlists", Hotlists)
# (method, route pattern) -> the query parameters the description gives that operation.
QUERY_NAMES_KEY: Final[web.AppKey[dict[tuple[str, str], frozenset[str]]]] = web.AppKey(
    "query_names", dict
)
_HTTP_METHODS: Final = ("get", "post", "put", "patch", "delete")
MAX_IMPORT_BYTES: Final = 4 * 1024 * 1024
# A request body's default bound (every JSON body); a route takes more with `max_body`.
MAX_JSON_BYTES: Final = 1024 * 1024
# A JSON body over this is parsed on a worker thread, not on the event loop.
JSON_ON_LOOP_BYTES: Final = 64 * 1024
PUBLIC_PATHS: Final = frozenset({"/api/health", "/api/openapi.yaml"})
MAX_REJECTED_LISTED: Final = 100
"""Refused lines an import answer lists (it counts them all)."""
MAX_PAGE: Final = 500  # the default of `api.max_page`
MAX_REASON: Final = 500
MIN_REASON: Final = 3
MAX_CASE_NUMBER: Final = 64
EARLIEST: Final = datetime(2000, 1, 1, tzinfo=UTC)
LATEST: Final = datetime(2200, 1, 1, tzinfo=UTC)
ROLE_RANK: Final = {role: rank for rank, role in enumerate(ROLES)}
ADMIN_NAME: Final = "admin"
ACTING_USER_HEADER: Final = "X-Rufina-Acting-User"
MAX_ACTING_USER: Final = 120  # characters, decoded: the audit log's `acting_user`
MAX_AUTHOR: Final = 120  # characters: the store's created_by and added_by
# As urllib.parse.quote(text, safe="") writes it: unreserved characters and %XX, nothing else.
_PERCENT_ENCODED: Final = re.compile(r"(?:[A-Za-z0-9._~-]|%[0-9A-Fa-f]{2})+")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
H = TypeVar("H", bound=Handler)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Timeouts:
    """How slow a client may be, in seconds: every open connection holds a file descriptor.

    ``idle``: aiohttp's keep-alive timer, which runs from the connection (or the last response)
    until a request's headers are complete, so it bounds half-sent headers too; longer than
    aiohttp clients' own 15 s, so they close idle connections first. ``body``: reading a body.
    ``lingering``: reading what is left of a body the API did not wait for, before closing.
    """

    idle: float = 30.0
    body: float = 30.0
    lingering: float = 2.0


TIMEOUTS_KEY: Final[web.AppKey[Timeouts]] = web.AppKey("timeouts", Timeouts)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the token's user (or Home Assistant's, through ingress) and its role; a
    ``delegate`` token may act for a person (``acting_user``, from X-Rufina-Acting-User)."""

    name: str
    role: str
    delegate: bool = False
    acting_user: str | None = None

    @property
    def who(self) -> str:
        """Who did it, where the engine records an author (hotlists, holds, evidence): the person
        and the token, "Comandante Bianchi via agente.rossi", within `MAX_AUTHOR` characters (a
        long name is cut, the token's user kept)."""
        if self.acting_user is None:
            return self.name
        via = f" via {self.name}"
        person = self.acting_user
        if len(person) + len(via) > MAX_AUTHOR:
            person = person[: max(MAX_AUTHOR - len(via) - 1, 0)] + "…"
        return (person + via)[:MAX_AUTHOR]


PRINCIPAL_KEY: Final[web.RequestKey[Principal]] = web.RequestKey("principal", Principal)
# The matched route's pattern, for logs: never the path itself (it may hold a plate).
ROUTE_PATTERN_KEY: Final[web.RequestKey[str]] = web.RequestKey("route_pattern", str)


class ApiError(Exception):
    """A request the API refuses; becomes ``{"error": code, "message": message}``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def bad_request(message: str) -> ApiError:
    return ApiError(400, "bad_request", message)


def not_found(message: str) -> ApiError:
    return ApiError(404, "not_found", message)


def _error(status: int, error: str, message: str) -> web.Response:
    return web.json_response({"error": error, "message": message}, status=status)


def requires(role: str) -> Callable[[H], H]:
    """The least role a handler needs (checked by the middleware on the matched route)."""
    if role not in ROLE_RANK:
        raise ValueError(f"unknown role {role!r}")

    def mark(handler: H) -> H:
        handler.min_role = role  # type: ignore[attr-defined]
        return handler

    return mark


def max_body(limit: int) -> Callable[[H], H]:
    """The most bytes a handler's request body may have (default `MAX_JSON_BYTES`), checked by
    the middleware, on the Content-Length and on the bytes received, before the handler runs."""

    def mark(handler: H) -> H:
        handler.max_body = limit  # type: ignore[attr-defined]
        return handler

    return mark


def _size(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MiB" if limit % (1024 * 1024) == 0 else f"{limit} bytes"


async def _bounded_body(request: web.Request, limit: int) -> web.Request:
    """The request, its body read (at most ``limit`` bytes), for the handler.

    A Content-Length over the limit is refused before any byte is read; a body without one
    (chunked) is refused as soon as it passes the limit. aiohttp then reads and drops what is
    left for `Timeouts.lingering` at most, so the client sees the answer, and closes.
    """
    too_large = ApiError(413, "payload_too_large", f"the body is at most {_size(limit)}")
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    bounded = request.clone(client_max_size=limit)  # aiohttp's read() stops past the limit
    try:
        await bounded.read()
    except web.HTTPRequestEntityTooLarge:
        raise too_large from None
    return bounded


def authenticate(engine: Engine, header: str) -> Principal | None:
    """The principal a bearer header names, or None. Every token is compared (constant time)."""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    # aiohttp hands non-ASCII header bytes over as surrogates: back to the bytes that were sent.
    given = token.encode("utf-8", "surrogateescape")
    found: Principal | None = None
    if hmac.compare_digest(given, engine.settings.api.token.encode()):
        found = Principal(ADMIN_NAME, "admin", engine.settings.api.delegate)
    for user in engine.settings.api.users:
        if hmac.compare_digest(given, user.token.encode()) and found is None:
            found = Principal(user.name, user.role, user.delegate)
    return found


def acting_for(principal: Principal, request: web.Request) -> Principal:
    """The principal with the person X-Rufina-Acting-User names, when it does.

    Only a delegate's token may send it (403 ``not_a_delegate``: nothing of the request happens);
    its value is one UTF-8 text percent-encoded as ``urllib.parse.quote(text, safe="")`` writes
    it, 1 to `MAX_ACTING_USER` characters decoded, none a control character (400
    ``bad_acting_user``): the audit log and the engine's log name it.
    """
    given = request.headers.getall(ACTING_USER_HEADER, [])
    if not given:
        return principal
    if not principal.delegate:
        raise ApiError(
            403,
            "not_a_delegate",
            f"this token may not act for another person ({ACTING_USER_HEADER})",
        )
    refused = ApiError(
        400,
        "bad_acting_user",
        f"{ACTING_USER_HEADER} must be one name of 1 to {MAX_ACTING_USER} characters, UTF-8 "
        "percent-encoded, without control characters",
    )
    if len(given) != 1 or not _PERCENT_ENCODED.fullmatch(given[0]):
        raise refused
    try:
        person = unquote(given[0], errors="strict")
    except UnicodeDecodeError:
        raise refused from None
    if len(person) > MAX_ACTING_USER or any(unicodedata.category(c) == "Cc" for c in person):
        raise refused
    return replace(principal, acting_user=person)


@web.middleware
async def _middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    route = request.match_info.route.resource
    request[ROUTE_PATTERN_KEY] = route.canonical if route is not None else "(no route)"
    try:
        public = getattr(request.match_info.route.handler, "public", False)
        if request.path not in PUBLIC_PATHS and not public:
            engine = request.app[ENGINE_KEY]
            principal = authenticate(engine, request.headers.get("Authorization", ""))
            if principal is None and "Authorization" not in request.headers:
                ingress = ingress_identity(engine.settings.api.ingress, request)
                principal = Principal(*ingress) if ingress else None
            if principal is None:
                return _error(401, "unauthorized", "a valid bearer token is required")
            needed: str | None = getattr(request.match_info.route.handler, "min_role", None)
            if needed is not None and ROLE_RANK[principal.role] < ROLE_RANK[needed]:
                return _error(
                    403,
                    "forbidden",
                    f"this request needs the {needed} role (you are {principal.role})",
                )
            request[PRINCIPAL_KEY] = acting_for(principal, request)
            if request.can_read_body:
                limit = getattr(request.match_info.route.handler, "max_body", MAX_JSON_BYTES)
                try:  # read here, under a deadline: a half-sent body must not hold the socket
                    async with asyncio.timeout(request.app[TIMEOUTS_KEY].body):
                        request = await _bounded_body(request, limit)
                except TimeoutError:
                    response = _error(408, "request_timeout", "the body came too slowly")
                    response.force_close()
                    return response
        _refuse_unknown_query(request)
        return await handler(request)
    except ApiError as err:
        return _error(err.status, err.code, err.message)
    except web.HTTPException as err:
        if err.status < 400:
            raise
        codes = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
        return _error(err.status, codes.get(err.status, "bad_request"), err.reason)
    except Exception as err:
        # Only the kind at ERROR: a message or traceback may hold a token, a plate or a reason.
        where = request[ROUTE_PATTERN_KEY]
        _LOGGER.error("%s %s failed: %s", request.method, where, type(err).__name__)
        _LOGGER.debug("%s %s failed", request.method, where, exc_info=True)
        return _error(500, "internal_error", "the request failed")


# ----------------------------------------------------------------------- parameters
def described_query_names(path: Path) -> dict[tuple[str, str], frozenset[str]]:
    """Every described operation's query parameter names, from the OpenAPI description (the
    path's and the operation's own, references resolved): anything else in a query is a 400."""
    if not path.is_file():
        return {}
    document = yaml.safe_load(path.read_text())
    shared = document.get("components", {}).get("parameters", {})

    def names(parameters: Iterable[Mapping[str, Any]]) -> set[str]:
        found: set[str] = set()
        for given in parameters:
            ref = given.get("$ref")
            parameter = shared[ref.rsplit("/", 1)[-1]] if isinstance(ref, str) else given
            if parameter.get("in") == "query":
                found.add(str(parameter["name"]))
        return found

    described: dict[tuple[str, str], frozenset[str]] = {}
    for route, item in document.get("paths", {}).items():
        common = names(item.get("parameters", []))
        for method, operation in item.items():
            if method in _HTTP_METHODS:
                own = names(operation.get("parameters", []))
                described[(method.upper(), route)] = frozenset(common | own)
    return described


_PARAMETER_NAME: Final = re.compile(r"[a-z][a-z0-9_]{0,31}")


def _refuse_unknown_query(request: web.Request) -> None:
    resource = request.match_info.route.resource
    if resource is None or not request.query:
        return
    allowed = request.app[QUERY_NAMES_KEY].get((request.method, resource.canonical))
    if allowed is None:  # not an operation of the description (HEAD, the panel's files)
        return
    unknown = sorted(set(request.query) - allowed)
    if unknown:
        # Only names that look like one: a token pasted as a name must not come back.
        shown = [repr(n) if _PARAMETER_NAME.fullmatch(n) else "(not a name)" for n in unknown[:5]]
        raise bad_request(f"unknown query parameter(s): {', '.join(shown)}")


def _text_value(name: str, value: str, min_length: int, max_length: int) -> str:
    """A text parameter as the description has it: its length as sent, no control character,
    not blank (a blank value is a mistake, not an absent parameter); surrounding spaces off."""
    if not min_length <= len(value) <= max_length:
        raise bad_request(f"'{name}' must be {min_length} to {max_length} characters long")
    if any(ord(ch) < 32 for ch in value):
        raise bad_request(f"'{name}' must not contain control characters")
    if not value.strip():
        raise bad_request(f"'{name}' must not be blank")
    return value.strip()


# As docs/openapi.yaml's `stations` parameter (`maxItems`).
MAX_STATION_PARAMS: Final = 64


class Params:
    """Query parameters, parsed strictly: a bad value is a 400 that names the parameter."""

    def __init__(self, request: web.Request) -> None:
        self._query = request.query
        self._engine = request.app[ENGINE_KEY]

    def text(
        self, name: str, *, required: bool = False, max_length: int = 200, min_length: int = 1
    ) -> str | None:
        value = self._query.get(name)
        if value is None:
            if required:
                raise bad_request(f"'{name}' is required")
            return None
        return _text_value(name, value, min_length, max_length)

    def integer(self, name: str, default: int | None, low: int, high: int) -> int | None:
        raw = self._query.get(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise bad_request(f"'{name}' must be an integer") from None
        if not low <= value <= high:
            raise bad_request(f"'{name}' must be between {low} and {high}")
        return value

    def number(self, name: str, default: float | None, low: float, high: float) -> float | None:
        raw = self._query.get(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise bad_request(f"'{name}' must be a number") from None
        if not low <= value <= high:  # also refuses NaN
            raise bad_request(f"'{name}' must be between {low:g} and {high:g}")
        return value

    def time(self, name: str) -> datetime | None:
        """ISO 8601; without a zone, the engine's time zone. Clamped to the years 2000 to 2199
        (the store's): a window reaching past them is the same window, not an error."""
        raw = self._query.get(name)
        if raw is None:
            return None
        try:
            value = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
        except ValueError:
            raise bad_request(f"'{name}' must be an ISO 8601 date and time") from None
        if value.tzinfo is None:
            value = value.replace(tzinfo=self._engine.settings.timezone)
        try:
            value = value.astimezone(UTC)
        except (OverflowError, ValueError):  # within a day of year 1 or 9999
            return EARLIEST if value.year < EARLIEST.year else LATEST
        return min(max(value, EARLIEST), LATEST)

    def time_range(self) -> tuple[datetime | None, datetime | None]:
        """[since, until); a `since` after `until` is the empty window at `since` (an answer with
        nothing in it, as in SQL, rather than a refusal OpenAPI could not describe)."""
        since, until = self.time("since"), self.time("until")
        if since is not None and until is not None and since > until:
            until = since
        return since, until

    def choice(self, name: str, choices: Iterable[str], default: str | None) -> str | None:
        options = tuple(choices)
        value = self._query.get(name)
        if value is None:
            return default
        if value not in options:
            raise bad_request(f"'{name}' must be one of: {', '.join(options)}")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        value = self._query.get(name)
        if value is None:
            return default
        if value.lower() in ("1", "true", "yes"):
            return True
        if value.lower() in ("0", "false", "no"):
            return False
        raise bad_request(f"'{name}' must be true or false")

    def station(self, name: str, *, required: bool = False) -> str | None:
        value = self.text(name, required=required, max_length=64)
        if value is not None and self._engine.settings.station(value) is None:
            raise not_found(f"'{name}': unknown station")
        return value

    def stations(self, name: str = "station") -> list[str]:
        """Repeated (``station=a&station=b``) or comma-separated; none empty, every one known."""
        given = self._query.getall(name, [])
        values = [part.strip() for raw in given for part in raw.split(",")]
        if len(given) > MAX_STATION_PARAMS or not all(values):
            raise bad_request(f"'{name}': 1 to {MAX_STATION_PARAMS} station ids, none empty")
        for value in values:
            if self._engine.settings.station(value) is None:
                raise not_found(f"'{name}': unknown station")
        return list(dict.fromkeys(values))

    def page(self) -> tuple[int, int]:
        top = self._engine.settings.api.max_page
        limit = self.integer("limit", min(50, top), 1, top)
        offset = self.integer("offset", 0, 0, 1_000_000)
        assert limit is not None and offset is not None
        return limit, offset

    def justification(self) -> tuple[str, str | None]:
        """The ``reason`` every plate-returning request needs, and the optional case number."""
        raw = self._query.get("reason", "")
        if not raw.strip():
            raise ApiError(
                400, "reason_required", "this request returns plates: give a 'reason' for it"
            )
        reason = _text_value("reason", raw, MIN_REASON, MAX_REASON)
        case_number = self.text("case_number", max_length=MAX_CASE_NUMBER)
        return reason, case_number


# ----------------------------------------------------------------------- audit
async def audit(
    request: web.Request,
    action: str,
    query: Mapping[str, Any],
    *,
    results: int | None,
    reason: str | None,
    case_number: str | None = None,
) -> None:
    """Append to the audit log (before the caller answers): who (and for whom), role, when, what,
    why, how many."""
    engine = request.app[ENGINE_KEY]
    principal = request[PRINCIPAL_KEY]
    log = privacy.Audit(engine.store)
    await engine.in_db(
        lambda: log.record(
            principal.name,
            principal.role,
            action,
            _jsonable(query),
            acting_user=principal.acting_user,
            reason=reason,
            case_number=case_number,
            results=results,
        )
    )
    _LOGGER.info("audit: %s by %s (%s), %s results", action, principal.who, principal.role, results)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return contract.iso_time(value)
    return value


async def _audited_results(
    request: web.Request,
    action: str,
    query: dict[str, Any],
    found: Sequence[T],
    serialize: Callable[[T], dict[str, Any]],
    *,
    page: tuple[int, int],
    justification: tuple[str, str | None],
    window: tuple[datetime, datetime],
) -> web.Response:
    """One page of a query that returns plates, audited (query, page, total) before it is sent;
    the answer says the window it covers (`_window` may have cut it)."""
    limit, offset = page
    reason, case_number = justification
    await audit(
        request,
        action,
        {**query, "limit": limit, "offset": offset},
        results=len(found),
        reason=reason,
        case_number=case_number,
    )
    items = [serialize(item) for item in found[offset : offset + limit + 1]]
    body = _page_body(items, limit, offset, "results")
    body["total"] = len(found)
    body["since"], body["until"] = (_iso(moment) for moment in window)
    return web.json_response(body)


def _page_body(items: list[Any], limit: int, offset: int, key: str) -> dict[str, Any]:
    more = len(items) > limit
    return {
        key: items[:limit],
        "limit": limit,
        "offset": offset,
        "next_offset": offset + limit if more else None,
    }


# ----------------------------------------------------------------------- public
async def health(request: web.Request) -> web.Response:
    """Liveness, and whether vehicles become transits: ``degraded`` while the store fails, the
    broker is away or Frigate's API does not answer.

    Still 200 then: the add-on's watchdog restarts on anything else, which mends none of them.
    """
    engine = request.app[ENGINE_KEY]
    store = engine.store_health()
    mqtt = engine.mqtt.connected.is_set()
    frigate = engine.frigate is None or engine.frigate.reachable is not False
    return web.json_response(
        {
            "status": "ok" if store["state"] == "ok" and mqtt and frigate else "degraded",
            "mqtt": mqtt,
            "frigate": frigate,
            "queue": engine.queue_length,
            "store": store,
        }
    )


async def openapi(request: web.Request) -> web.Response:
    path = request.app[OPENAPI_KEY]
    if not path.is_file():
        raise not_found("the OpenAPI description is not installed with this engine")
    return web.Response(body=path.read_bytes(), content_type="application/yaml")


# ----------------------------------------------------------------------- viewer
@requires("viewer")
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
            "role": request[PRINCIPAL_KEY].role,
            # Whether this token may act for others (X-Rufina-Acting-User): HA's must.
            "delegate": request[PRINCIPAL_KEY].delegate,
        }
    )


@requires("viewer")
async def contract_key(request: web.Request) -> web.Response:
    """The MQTT contract's version and signing key: consumers verify the engine's messages with
    it (docs/mqtt.md, Signatures). Viewer: Home Assistant may hold a viewer token; whoever holds
    it could sign messages, so API tokens are given to trusted consumers only."""
    engine = request.app[ENGINE_KEY]
    _LOGGER.info("MQTT signing key read by %s", request[PRINCIPAL_KEY].who)
    return web.json_response(
        {
            "contract_version": contract.CONTRACT_VERSION,
            "signature": "hmac-sha256",
            "key_id": engine.signer.kid,
            "signing_key": engine.signer.key,
        },
        headers={"Cache-Control": "no-store"},
    )


@requires("viewer")
async def stats(request: web.Request) -> web.Response:
    return web.json_response(await request.app[ENGINE_KEY].stats_payload())


_COUNTER_HELP: Final = {
    "events_received": "Frigate event messages received",
    "transits_stored": "Transits stored",
    "transits_published": "Transits published on MQTT",
}


def prometheus_text(engine: Engine) -> str:
    """The engine's counters and latency in Prometheus' text exposition format (no plates)."""
    lines: list[str] = []
    counters = engine.metrics.snapshot()
    for name in sorted(set(COUNTER_NAMES) | set(counters)):
        metric = f"rufina_alpr_{name}_total"
        helptext = _COUNTER_HELP.get(name, name.replace("_", " ").capitalize())
        lines += [
            f"# HELP {metric} {helptext}.",
            f"# TYPE {metric} counter",
            f"{metric} {counters.get(name, 0)}",
        ]
    latency = engine.metrics.latency_ms()
    lines += [
        "# HELP rufina_alpr_read_latency_seconds Plate read latency (recent window).",
        "# TYPE rufina_alpr_read_latency_seconds summary",
    ]
    for quantile, key in (("0.5", "p50"), ("0.95", "p95")):
        value = latency[key]
        shown = "NaN" if value is None else repr(round(value / 1000, 6))
        lines.append(f'rufina_alpr_read_latency_seconds{{quantile="{quantile}"}} {shown}')
    lines += [
        "# HELP rufina_alpr_queue_length Images waiting for or in recognition.",
        "# TYPE rufina_alpr_queue_length gauge",
        f"rufina_alpr_queue_length {engine.queue_length}",
        "# HELP rufina_alpr_mqtt_connected 1 when the engine is connected to the broker.",
        "# TYPE rufina_alpr_mqtt_connected gauge",
        f"rufina_alpr_mqtt_connected {int(engine.mqtt.connected.is_set())}",
        "# HELP rufina_alpr_stations Configured stations.",
        "# TYPE rufina_alpr_stations gauge",
        f"rufina_alpr_stations {len(engine.settings.stations)}",
        "# HELP rufina_alpr_info Engine version.",
        "# TYPE rufina_alpr_info gauge",
        f'rufina_alpr_info{{version="{_label(__version__)}",'
        f'instance="{_label(engine.settings.instance)}"}} 1',
    ]
    return "\n".join(lines) + "\n"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@requires("viewer")
async def metrics(request: web.Request) -> web.Response:
    response = web.Response(text=prometheus_text(request.app[ENGINE_KEY]))
    response.content_type = "text/plain"
    response.charset = "utf-8"
    response.headers["Content-Type"] = "text/plain; version=0.0.4; charset=utf-8"
    return response


# ----------------------------------------------------------------------- operator: transits
VEHICLES: Final = ("car", "motorcycle", "bus", "truck", "bicycle", "van", "vehicle")


# A plate or pattern as sent (docs/openapi.yaml has the same): ASCII letters, digits and the
# wildcards, with the spaces, dashes and dots people type; at least one character besides `*`.
PLATE_TEXT: Final = re.compile(r"[ .\-]*(?:\*[ .\-]*)*[A-Za-z0-9?][A-Za-z0-9*? .\-]*")
MAX_PLATE_TEXT: Final = 16


def _plate_text(name: str, raw: str) -> str:
    """The normalised pattern of a plate as sent, or a 400."""
    if len(raw) > MAX_PLATE_TEXT or not PLATE_TEXT.fullmatch(raw):
        raise bad_request(
            f"'{name}': a plate or pattern is at most {MAX_PLATE_TEXT} letters, digits, wildcards"
            " (* any run, ? one character), spaces, dashes and dots, with one character besides *"
        )
    try:
        return plate_pattern(raw)
    except PatternError as err:
        raise bad_request(f"'{name}': {err}") from None


def _plate_param(params: Params, name: str, *, required: bool) -> str | None:
    raw = params.text(name, required=required, max_length=MAX_PLATE_TEXT)
    if raw is None:
        return None
    return _plate_text(name, raw)


def _transit_query(params: Params) -> TransitQuery:
    since, until = params.time_range()
    return TransitQuery(
        plate=_plate_param(params, "plate", required=False),
        stations=tuple(params.stations("station")),
        since=since,
        until=until,
        vehicle=params.text("vehicle", max_length=32),
    )


def _query_record(query: TransitQuery) -> dict[str, Any]:
    return {
        "plate": query.plate,
        "stations": list(query.stations) or None,
        "since": query.since,
        "until": query.until,
        "vehicle": query.vehicle,
    }


@requires("operator")
async def transits(request: web.Request) -> web.Response:
    """Transit search: plate pattern (* and ?), stations, time range, vehicle class, paging."""
    engine = request.app[ENGINE_KEY]
    params = Params(request)
    reason, case_number = params.justification()
    query = _transit_query(params)
    limit, offset = params.page()
    rows = await engine.in_db(
        lambda: search_transits(engine.store, query, limit=limit + 1, offset=offset)
    )
    await audit(
        request,
        "search",
        {**_query_record(query), "limit": limit, "offset": offset},
        results=min(len(rows), limit),
        reason=reason,
        case_number=case_number,
    )
    payloads = [engine.transit_payload(t) for t in rows]
    return web.json_response(_page_body(payloads, limit, offset, "transits"))


def _transit_id(request: web.Request) -> str:
    value = request.match_info["transit_id"]
    if not 1 <= len(value) <= 36:
        raise not_found("no such transit")
    return value


@requires("operator")
async def transit(request: web.Request) -> web.Response:
    engine = request.app[ENGINE_KEY]
    params = Params(request)
    reason, case_number = params.justification()
    transit_id = _transit_id(request)
    found = await engine.in_db(engine.store.transit, transit_id)
    await audit(
        request,
        "transit",
        {"transit_id": transit_id},
        results=int(found is not None),
        reason=reason,
        case_number=case_number,
    )
    if found is None:
        raise not_found("no such transit")
    return web.json_response(engine.transit_payload(found))


@requires("operator")
async def transit_crop(request: web.Request) -> web.Response:
    engine = request.app[ENGINE_KEY]
    params = Params(request)
    reason, case_number = params.justification()
    transit_id = _transit_id(request)
    found = await engine.in_db(engine.store.transit, transit_id)
    await audit(
        request,
        "transit_crop",
        {"transit_id": transit_id},
        results=int(found is not None and found.crop_jpeg is not None),
        reason=reason,
        case_number=case_number,
    )
    if found is None:
        raise not_found("no such transit")
    if found.crop_jpeg is None:
        raise not_found("this transit has no crop")
    return web.Response(body=found.crop_jpeg, content_type="image/jpeg")


async def _evidence_response(
    request: web.Request,
    *,
    transit_ids: list[str],
    query: dict[str, Any],
    reason: str,
    case_number: str | None,
    action: str,
) -> web.Response:
    engine = request.app[ENGINE_KEY]
    principal = request[PRINCIPAL_KEY]
    items = await engine.in_db(
        evidence.load_items, engine.store, transit_ids, engine.transit_payload
    )
    await audit(request, action, query, results=len(items), reason=reason, case_number=case_number)
    if not items and action == "evidence_transit":
        raise not_found("no such transit")
    now = datetime.now(engine.settings.timezone)
    body = evidence.build_zip(
        items,
        generated_at=now,
        generated_by=principal.who,
        reason=reason,
        case_number=case_number,
        query=_jsonable(query),
        frigate_url=engine.settings.frigate.url,
    )
    name = f"rufina-alpr-evidence-{now:%Y%m%d-%H%M%S}.zip"
    return web.Response(
        body=body,
        content_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@requires("operator")
async def transit_evidence(request: web.Request) -> web.Response:
    params = Params(request)
    reason, case_number = params.justification()
    transit_id = _transit_id(request)
    return await _evidence_response(
        request,
        transit_ids=[transit_id],
        query={"transit_id": transit_id},
        reason=reason,
        case_number=case_number,
        action="evidence_transit",
    )


@requires("operator")
async def search_evidence(request: web.Request) -> web.Response:
    """Evidence for a search result (at most `max_page` transits, newest first)."""
    engine = request.app[ENGINE_KEY]
    params = Params(request)
    reason, case_number = params.justification()
    query = _transit_query(params)
    if query.since is None or query.until is None:  # required: no export without a period
        raise bad_request("an evidence export needs 'since' and 'until': the period it covers")
    limit, offset = params.page()
    rows = await engine.in_db(
        lambda: search_transits(engine.store, query, limit=limit, offset=offset)
    )
    record = {**_query_record(query), "limit": limit, "offset": offset}
    return await _evidence_response(
        request,
        transit_ids=[t.id for t in rows],
        query=record,
        reason=reason,
        case_number=case_number,
        action="evidence_search",
    )


# ----------------------------------------------------------------------- operator: tracking
MAX_WINDOW_DAYS: Final = 366.0


def _iso(moment: datetime) -> str:
    return contract.iso_time(moment)


def _seconds(params: Params, name: str, default: float, high: float) -> timedelta:
    value = params.number(name, default, 1, high)
    assert value is not None
    return timedelta(seconds=value)


def _last_day(until: datetime) -> datetime:
    return until - timedelta(days=1)


def _window(
    params: Params,
    *,
    longest_days: float = MAX_WINDOW_DAYS,
    default_since: Callable[[datetime], datetime] = _last_day,
) -> tuple[datetime, datetime]:
    """[since, until): `until` by default now, `since` by default `default_since(until)`. A window
    longer than `longest_days` is cut to its last `longest_days` (the answer's `since` says where
    it begins), so every window the description allows is answered, in bounded work; a `since`
    after `until` is an empty window."""
    since, until = params.time_range()
    until = until or datetime.now(UTC)
    since = max(since or default_since(until), until - timedelta(days=longest_days))
    return since, max(since, until)


@requires("operator")
async def vehicle_route(request: web.Request) -> web.Response:
    """A plate's journeys (transits split on gaps longer than `journey_gap`) and legs."""
    engine = request.app[ENGINE_KEY]
    params = Params(request)
    reason, case_number = params.justification()
    plate = _plate_param(params, "plate", required=True)
    assert plate is not None
    if "*" in plate or "?" in plate:
        raise bad_request("'plate': a route is for one plate, without wildcards")
    since, until = params.time_range()
    gap = _seconds(params, "journey_gap", engine.settings.tracking.journey_gap, 7 * 86400)
    journeys = await engine.in_db(
        lambda: tracking.route(engine.store, plate, since, until, journey_gap=gap)
    )
    count = sum(len(j.transits) for j in journeys)
    await audit(
        request,
        "route",
        {"plate": plate, "since": since, "until": until, "journey_gap": gap.total_seconds()},
        results=count,
        reason=reason,
        case_number=case_number,
    )
    body = {
        "plate": plate,
        "journey_gap": gap.total_seconds(),
        "transits": count,
        "journeys": [
            {
                "start": _iso(journey.start),
                "end": _iso(journey.end),
                "duration": (journey.end - journey.start).total_seconds(),
                "stations": list(journey.stations),
                "legs": [
                    {
                        "from_station": a.station_id,
                        "to_station": b.station_id,
                        "seconds": (b.time - a.time).total_seconds(),
                    }
                    for a, b in zip(journey.transits, journey.transits[1:], strict=False)
                ],
                "transits": [engine.transit_payload(t) for t in journey.transits],
            }
            for journey in journeys
        ],
    }
    return web.json_response(body)


@requires("operator")
async def seen_then(request: web.Request) -> web.Response:
    """Vehicles seen at station A and then at station B within `within` seconds."""
    engine = request.app[ENGINE_KEY]
    params = Params(request)
    reason, case_number = params.justification()
    station_a = params.station("from_station", required=True)
    station_b = params.station("to_station", required=True)
    assert station_a is not None and station_b is not None
    within = _seconds(params, "within", 3600, 7 * 86400)
    since, until = _window(params)
    limit, offset = params.page()
    found = await engine.in_db(
        lambda: tracking.seen_then(
            engine.store, station_a, station_b, start=since, end=until, within=within
        )
    )
    return await _audited_results(
        request,
        "seen_then",
        {
            "from_station": station_a,
            "to_station": station_b,
            "within": within.total_seconds(),
            "since": since,
            "until": until,
        },
        found,
        lambda item: {
            "plate": item.plate,
            "elapsed": item.elapsed.total_seconds(),
            "first": engine.transit_payload(item.first),
            "then": engine.transit_payload(item.then),
        },
        page=(limit, offset),
        justification=(reason, case_number),
        window=(since, until),
    )


@requires("operator")
async def loitering(request: web.Request) -> web.Response:
    """Plates seen at least `min_count` times within `window` seconds (at a station or anywhere)."""
    engine = request.app[ENGINE_KEY]
    params = Params(request)
    reason, case_number = params.justification()
    station = params.station("station")
    min_count = params.integer("min_count", 3, 2, 10_000)
    assert min_count is not None
    window = _seconds(params, "window", 3600, 31 * 86400)
    since, until = _window(params)
    limit, offset = params.page()
    found = await engine.in_db(
        lambda: tracking.loitering(
            engine.store, station, min_count=min_count, window=window, start=since, end=until
        )
    )
    return await _audited_results(
        request,
        "loitering",
        {
            "station": station,
            "min_count": min_count,
            "window": window.total_seconds(),
            "since": since,
            "until": until,
        },
        found,
        lambda item: {
            "plate": item.plate,
            "count": item.count,
            "first": _iso(item.first),
            "last": _iso(item.last),
            "transit_ids": list(item.transit_ids),
        },
        page=(limit, offset),
        justification=(reason, case_number),
        window=(since, until),
    )


def _csv(rows: list[dict[str, Any]], fields: tuple[str, ...]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(safe_mapping(row) for row in rows)
    return out.getvalue()


def _csv_response(text: str, name: str) -> web.Response:
    return web.Response(
        text=text,
        content_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


TRAVEL_FIELDS: Final = ("from_station", "to_station", "count", "median", "p90")


@requires("viewer")
async def travel_times(request: web.Request) -> web.Response:
    """Travel times (median, p90, seconds) between consecutive stations of journeys: no plates."""
    engine = request.app[ENGINE_KEY]
    params = Params(request)
    since, until = _window(params)
    stations = params.stations("station")
    gap = _seconds(params, "journey_gap", engine.settings.tracking.journey_gap, 7 * 86400)
    fmt = params.choice("format", ("json", "csv"), "json")
    pairs = await engine.in_db(
        lambda: tracking.travel_times(engine.store, since, until, gap, stations=stations or None)
    )
    rows = [
        {
            "from_station": p.from_station,
            "to_station": p.to_station,
            "count": p.count,
            "median": round(p.median, 1),
            "p90": round(p.p90, 1),
        }
        for p in pairs
    ]
    if fmt == "csv":
        return _csv_response(_csv(rows, TRAVEL_FIELDS), "travel-times.csv")
    return web.json_response(
        {
            "since": _iso(since),
            "until": _iso(until),
            "journey_gap": gap.total_seconds(),
            "pairs": rows,
        }
    )


async def json_body(request: web.Request, schema: vol.Schema) -> dict[str, Any]:
    """The JSON object body, validated; a 400 that names the field otherwise."""
    if request.content_type != "application/json":
        raise ApiError(415, "unsupported_media_type", "the body must be application/json")
    try:
        text = await request.text()  # not UTF-8: a ValueError too
        # A large body is parsed on a worker thread: 8 MB of JSON held the event loop 3 s.
        body = (
            json.loads(text)
            if len(text) <= JSON_ON_LOOP_BYTES
            else await asyncio.to_thread(json.loads, text)
        )
    except ValueError:
        raise bad_request("the body is not valid JSON") from None
    except RecursionError:
        raise bad_request("the body is nested too deeply") from None
    if not isinstance(body, dict):
        raise bad_request("the body must be a JSON object")
    try:
        valid: dict[str, Any] = schema(body)
    except vol.MultipleInvalid as err:
        where = ".".join(str(p) for p in err.path) or "body"
        raise bad_request(f"'{where}': {err.msg}") from None
    return valid


def _aware_time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise vol.Invalid("expected an ISO 8601 date and time")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise vol.Invalid("expected an ISO 8601 date and time") from None
    if moment.tzinfo is None:
        raise vol.Invalid("the date and time needs a zone offset")
    return moment


# ----------------------------------------------------------------------- viewer: traffic
# The longest window per bucket size (bounded answers: 34 stations x buckets x classes).
TRAFFIC_MAX_DAYS: Final = {"15m": 31, "1h": 92, "1d": 732}
UNIQUE_MAX_DAYS: Final = 732


# The groupings as sent (docs/openapi.yaml has the same pattern).
TRAFFIC_BY: Final = re.compile(r" *(?:none|(?:vehicle|direction)(?: *, *(?:vehicle|direction))*) *")


@requires("viewer")
async def traffic_counts(request: web.Request) -> web.Response:
    """Vehicles per station and 15 min / hour / day bucket, by class and direction (no plates)."""
    engine = request.app[ENGINE_KEY]
    tz = engine.settings.timezone
    params = Params(request)
    period = params.choice("period", traffic.PERIODS, "1h")
    assert period is not None
    stations = params.stations("station")
    raw_by = params.text("by", max_length=32)
    by: tuple[str, ...] = ("vehicle", "direction")
    if raw_by is not None:
        if not TRAFFIC_BY.fullmatch(request.query.get("by", "")):
            raise bad_request("'by' is a comma-separated list of vehicle and direction, or none")
        by = tuple(part.strip() for part in raw_by.split(","))
        if by == ("none",):
            by = ()
    fmt = params.choice("format", ("json", "csv"), "json")
    since, until = _window(
        params,
        longest_days=TRAFFIC_MAX_DAYS[period],
        default_since=lambda end: traffic.bucket_start(end, "1d", tz),
    )
    rows = await engine.in_db(
        lambda: traffic.counts(
            engine.store,
            period=period,  # type: ignore[arg-type]
            start=since,
            end=until,
            stations=stations or None,
            by=by,  # type: ignore[arg-type]
            tz=tz,
        )
    )
    if fmt == "csv":
        return _csv_response(traffic.to_csv(rows), f"traffic-{period}.csv")
    return web.json_response(
        {
            "period": period,
            "since": _iso(since),
            "until": _iso(until),
            "by": list(by),
            "counts": [
                {
                    "station": row.station_id,
                    "start": _iso(row.start),
                    "vehicle": row.vehicle,
                    "direction": row.direction,
                    "count": row.count,
                }
                for row in rows
            ],
        }
    )


@requires("viewer")
async def traffic_unique(request: web.Request) -> web.Response:
    """Distinct vehicles per station (``*``: the network) per local day; counts only."""
    engine = request.app[ENGINE_KEY]
    tz = engine.settings.timezone
    params = Params(request)
    stations = params.stations("station")
    since, until = _window(
        params, longest_days=UNIQUE_MAX_DAYS, default_since=lambda end: end - timedelta(days=7)
    )
    first = since.astimezone(tz).date()
    last = until.astimezone(tz).date() + timedelta(days=1) if until > since else first
    wanted = [*stations, traffic.NETWORK] if stations else None
    rows = await engine.in_db(
        lambda: traffic.unique_vehicles(engine.store, start=first, end=last, stations=wanted, tz=tz)
    )
    return web.json_response(
        {
            "since": _iso(since),
            "until": _iso(until),
            "days": [
                {"station": row.station_id, "day": row.day.isoformat(), "vehicles": row.vehicles}
                for row in rows
            ],
        }
    )


# ----------------------------------------------------------------------- operator: holds
def _not_blank(value: str) -> str:
    if not value.strip():
        raise vol.Invalid("must not be blank")
    return value.strip()


HOLD_BODY = vol.Schema(
    {
        # Lengths as sent, as for query parameters; then not blank, surrounding spaces off.
        vol.Required("case_number"): vol.All(str, vol.Length(min=1, max=64), _not_blank),
        vol.Required("reason"): vol.All(str, vol.Length(min=MIN_REASON, max=500), _not_blank),
        vol.Optional("transit_ids"): vol.All(
            [vol.All(str, vol.Length(min=1, max=36))], vol.Length(min=1, max=10_000)
        ),
        vol.Optional("plate"): vol.All(str, vol.Length(min=2, max=MAX_PLATE_TEXT)),
        vol.Optional("since"): _aware_time,
        vol.Optional("until"): _aware_time,
    }
)


def _hold_json(hold: privacy.Hold) -> dict[str, Any]:
    return {
        "id": hold.id,
        "case_number": hold.case_number,
        "reason": hold.reason,
        "created_by": hold.created_by,
        "created_at": _iso(hold.created_at),
        "released_at": _iso(hold.released_at) if hold.released_at else None,
        "active": hold.active,
        "transit_ids": list(hold.transit_ids),
    }


@requires("operator")
async def hold_create(request: web.Request) -> web.Response:
    """Keep transits past retention for an investigation: by ids, or every transit of a plate
    in a window."""
    engine = request.app[ENGINE_KEY]
    body = await json_body(request, HOLD_BODY)
    principal = request[PRINCIPAL_KEY]
    ids: list[str] = list(body.get("transit_ids", []))
    plate: str | None = None
    if "plate" in body:
        plate = _plate_text("plate", body["plate"])
        if "*" in plate or "?" in plate:
            raise bad_request("'plate': a hold names one plate, without wildcards")
        since, until = body.get("since"), body.get("until")
        history = await engine.in_db(
            lambda: tracking.plate_history(engine.store, plate or "", since, until)
        )
        # A plate lookup, like a search: audited whether or not it finds transits to hold.
        await audit(
            request,
            "hold_search",
            {"plate": plate, "since": since, "until": until},
            results=len(history),
            reason=body["reason"],
            case_number=body["case_number"],
        )
        ids += [t.id for t in history]
    elif not ids:
        raise bad_request("give 'transit_ids' or a 'plate' (with 'since' and 'until')")
    if not ids:
        raise not_found("no transit of that plate in that window")
    try:
        hold = await engine.in_db(
            lambda: privacy.hold(
                engine.store, ids, body["case_number"], body["reason"], principal.who
            )
        )
    except privacy.UnknownTransitError as err:
        raise not_found(str(err)) from None
    except ValueError as err:
        raise bad_request(str(err)) from None
    await audit(
        request,
        "hold",
        {"hold": hold.id, "plate": plate, "transits": len(hold.transit_ids)},
        results=len(hold.transit_ids),
        reason=body["reason"],
        case_number=body["case_number"],
    )
    return web.json_response(_hold_json(hold), status=201)


@requires("operator")
async def holds_index(request: web.Request) -> web.Response:
    engine = request.app[ENGINE_KEY]
    params = Params(request)
    active = params.boolean("active", default=False)
    case = params.text("case_number", max_length=MAX_CASE_NUMBER)
    found = await engine.in_db(
        lambda: privacy.holds(engine.store, active_only=active, case_number=case)
    )
    return web.json_response({"holds": [_hold_json(h) for h in found]})


@requires("operator")
async def hold_release(request: web.Request) -> web.Response:
    engine = request.app[ENGINE_KEY]
    params = Params(request)
    reason = params.text("reason", max_length=MAX_REASON)
    try:
        hold_id = int(request.match_info["hold_id"])
    except ValueError:
        raise not_found("no such hold") from None
    if not 1 <= hold_id <= 2**62:
        raise not_found("no such hold")
    released = await engine.in_db(lambda: privacy.release(engine.store, hold_id))
    if released is None:
        raise not_found("no such hold")
    await audit(
        request,
        "hold_release",
        {"hold": hold_id},
        results=len(released.transit_ids),
        reason=reason,
        case_number=released.case_number,
    )
    return web.json_response(_hold_json(released))


# ----------------------------------------------------------------------- operator: hotlists
_TEXT = vol.All(str, vol.Length(min=1, max=500))


def _whole(value: Any) -> int:
    """A JSON integer: ``3`` or ``3.0`` (JSON Schema's integer), never a boolean."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise vol.Invalid("not a whole number")


_PRIORITY = vol.All(_whole, vol.Range(min=1, max=9))
CREATE_LIST = vol.Schema(
    {
        vol.Required("id"): vol.All(str, vol.Match(r"^[a-z0-9][a-z0-9_-]{0,63}$")),
        vol.Required("name"): vol.All(str, vol.Length(min=1, max=120)),
        vol.Required("kind"): vol.In(KINDS),
        vol.Optional("action"): vol.Any(None, vol.In(ACTIONS)),
        vol.Optional("priority"): vol.Any(None, _PRIORITY),
        vol.Optional("description"): vol.Any(None, _TEXT),
    }
)
ADD_ENTRY = vol.Schema(
    {
        vol.Required("plate"): vol.All(str, vol.Length(min=2, max=20)),
        vol.Required("reason"): _TEXT,
        vol.Optional("priority"): vol.Any(None, _PRIORITY),
        vol.Optional("expires_at"): vol.Any(None, _aware_time),
        vol.Optional("notes"): vol.Any(None, vol.All(str, vol.Length(max=2000))),
        vol.Optional("stations"): vol.Any(
            None, vol.All([vol.All(str, vol.Length(min=1, max=64))], vol.Length(max=64))
        ),
        vol.Optional("from_hour"): vol.Any(None, vol.All(_whole, vol.Range(min=0, max=23))),
        vol.Optional("to_hour"): vol.Any(None, vol.All(_whole, vol.Range(min=0, max=24))),
        # A plate already on the list is refused (409) unless this is true.
        vol.Optional("replace", default=False): bool,
    }
)


def hotlists_of(request: web.Request) -> Hotlists:
    return request.app[HOTLISTS_KEY]


def _list_json(info: HotlistInfo) -> dict[str, Any]:
    return {
        "id": info.id,
        "name": info.name,
        "kind": info.kind,
        "action": info.action,
        "priority": info.priority,
        "description": info.description,
        "created_by": info.created_by,
        "created_at": contract.iso_time(info.created_at),
        "entries": info.entries,
        "expired": info.expired,
    }


def _entry_json(entry: HotlistEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "list": entry.list_id,
        "plate": entry.plate,
        "reason": entry.reason,
        "priority": entry.priority,
        "expires_at": contract.iso_time(entry.expires_at) if entry.expires_at else None,
        "notes": entry.notes,
        "stations": list(entry.stations) if entry.stations is not None else None,
        "from_hour": entry.from_hour,
        "to_hour": entry.to_hour,
        "added_by": entry.added_by,
        "added_at": contract.iso_time(entry.added_at),
    }


@contextlib.contextmanager
def _hotlist_errors() -> Iterator[None]:
    """The hotlists' refusals as API errors."""
    try:
        yield
    except HotlistNotFound as err:
        raise not_found(str(err)) from None
    except HotlistConflict as err:
        raise ApiError(409, "conflict", str(err)) from None
    except HotlistError as err:
        raise bad_request(str(err)) from None


async def _hotlist_call(request: web.Request, function: Callable[[], T]) -> T:
    with _hotlist_errors():
        return await request.app[ENGINE_KEY].in_db(function)


def _list_id(request: web.Request) -> str:
    return request.match_info["list_id"]


@requires("operator")
async def hotlists_index(request: web.Request) -> web.Response:
    """Every list with its entry counts (no plates)."""
    lists = await _hotlist_call(request, hotlists_of(request).lists)
    return web.json_response({"hotlists": [_list_json(info) for info in lists]})


@requires("operator")
async def hotlist_create(request: web.Request) -> web.Response:
    body = await json_body(request, CREATE_LIST)
    principal = request[PRINCIPAL_KEY]
    info = await _hotlist_call(
        request,
        lambda: hotlists_of(request).create_list(
            body["id"],
            body["name"],
            body["kind"],
            action=body.get("action"),
            priority=body.get("priority"),
            description=body.get("description"),
            created_by=principal.who,
        ),
    )
    await audit(request, "hotlist_create", body, results=1, reason=body.get("description"))
    return web.json_response(_list_json(info), status=201)


@requires("operator")
async def hotlist_get(request: web.Request) -> web.Response:
    list_id = _list_id(request)
    info = await _hotlist_call(request, lambda: hotlists_of(request).get_list(list_id))
    return web.json_response(_list_json(info))


@requires("operator")
async def hotlist_delete(request: web.Request) -> web.Response:
    params = Params(request)
    reason = params.text("reason", max_length=MAX_REASON)
    list_id = _list_id(request)
    deleted = await _hotlist_call(request, lambda: hotlists_of(request).delete_list(list_id))
    if not deleted:
        raise not_found(f"no list {list_id}")
    await audit(request, "hotlist_delete", {"list": list_id}, results=1, reason=reason)
    return web.Response(status=204)


@requires("operator")
async def hotlist_entries(request: web.Request) -> web.Response:
    params = Params(request)
    reason, case_number = params.justification()
    include_expired = params.boolean("include_expired", default=False)
    limit, offset = params.page()
    list_id = _list_id(request)
    entries = await _hotlist_call(
        request,
        lambda: hotlists_of(request).entries(list_id, include_expired=include_expired),
    )
    page = entries[offset : offset + limit + 1]
    await audit(
        request,
        "hotlist_entries",
        {"list": list_id, "include_expired": include_expired, "limit": limit, "offset": offset},
        results=min(len(page), limit),
        reason=reason,
        case_number=case_number,
    )
    return web.json_response(_page_body([_entry_json(e) for e in page], limit, offset, "entries"))


@requires("operator")
async def hotlist_add(request: web.Request) -> web.Response:
    list_id = _list_id(request)
    body = await json_body(request, ADD_ENTRY)
    principal = request[PRINCIPAL_KEY]
    engine = request.app[ENGINE_KEY]
    if any(
        name.strip() and engine.settings.station(name.strip()) is None
        for name in body.get("stations") or ()
    ):  # as for the query parameters: a station that does not exist is not found
        raise not_found("'stations': unknown station")
    with _hotlist_errors():
        try:
            change = await engine.in_db(
                lambda: hotlists_of(request).put_entry(
                    list_id,
                    body["plate"],
                    body["reason"],
                    priority=body.get("priority"),
                    expires_at=body.get("expires_at"),
                    notes=body.get("notes"),
                    stations=body.get("stations"),
                    from_hour=body.get("from_hour"),
                    to_hour=body.get("to_hour"),
                    added_by=principal.who,
                    replace=body["replace"],
                )
            )
        except HotlistAlreadyListed as err:
            raise ApiError(409, "conflict", f'{err}; send "replace": true to replace it') from None
    entry = change.entry
    query: dict[str, Any] = {
        "list": list_id,
        "plate": entry.plate,
        "expires_at": body.get("expires_at"),
        "replace": body["replace"],
    }
    if change.replaced is not None:  # the old entry's reason and author stay in the audit log
        query["replaced"] = {
            key: value
            for key, value in _entry_json(change.replaced).items()
            if key not in ("id", "list", "plate")
        }
    await audit(request, "hotlist_add", query, results=1, reason=body["reason"])
    return web.json_response(_entry_json(entry), status=201)


@requires("operator")
async def hotlist_remove(request: web.Request) -> web.Response:
    params = Params(request)
    reason = params.text("reason", max_length=MAX_REASON)
    list_id, plate = _list_id(request), request.match_info["plate"]
    removed = await _hotlist_call(
        request, lambda: hotlists_of(request).remove_entry(list_id, plate)
    )
    await audit(
        request,
        "hotlist_remove",
        {"list": list_id, "plate": plate},
        results=int(removed),
        reason=reason,
    )
    if not removed:
        raise not_found("that plate is not on the list")
    return web.Response(status=204)


@requires("operator")
@max_body(MAX_IMPORT_BYTES)  # held by the middleware, chunked bodies too
async def hotlist_import(request: web.Request) -> web.Response:
    params = Params(request)
    replace = params.boolean("replace", default=False)
    fmt = params.choice("format", ("auto", "csv", "scntt"), "auto")
    reason = params.text("reason", max_length=MAX_REASON)
    list_id = _list_id(request)
    raw = await request.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = raw.decode("cp1252")
        except UnicodeDecodeError:
            raise bad_request("the CSV must be UTF-8 or Windows-1252 text") from None
    principal = request[PRINCIPAL_KEY]
    engine = request.app[ENGINE_KEY]
    with _hotlist_errors():
        # Parsed on a worker thread, written in short steps on the store thread: transits are
        # stored between them.
        job = await asyncio.to_thread(
            lambda: hotlists_of(request).prepare_import(
                list_id,
                text,
                added_by=principal.who,
                replace=replace,
                format=fmt,  # type: ignore[arg-type]
            )
        )
        with contextlib.closing(job.steps()) as steps:
            for step in steps:
                await engine.in_db(step)
    report = job.report
    body = {
        "list": report.list_id,
        "format": report.format,
        "added": report.added,
        "updated": report.updated,
        "removed": report.removed,
        # The first lines refused and how many in all: a 4 MiB file of one bad line repeated
        # answered 16 MB.
        "rejected": [
            {"line": r.line, "reason": r.reason} for r in report.rejected[:MAX_REJECTED_LISTED]
        ],
        "rejected_count": len(report.rejected),
    }
    await audit(
        request,
        "hotlist_import",
        {"list": list_id, "format": report.format, "replace": replace},
        results=report.added + report.updated,
        reason=reason,
    )
    return web.json_response(body)


@requires("operator")
async def hotlist_export(request: web.Request) -> web.Response:
    params = Params(request)
    reason, case_number = params.justification()
    list_id = _list_id(request)
    text = await _hotlist_call(request, lambda: hotlists_of(request).export_csv(list_id))
    await audit(
        request,
        "hotlist_export",
        {"list": list_id},
        results=max(0, text.count("\n") - 1),
        reason=reason,
        case_number=case_number,
    )
    return web.Response(
        text=text,
        content_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="hotlist-{list_id}.csv"'},
    )


# ----------------------------------------------------------------------- admin
@requires("admin")
async def purge_now(request: web.Request) -> web.Response:
    """Run the retention purge now (traffic rolled up first; held transits kept)."""
    engine = request.app[ENGINE_KEY]
    params = Params(request)
    reason = params.text("reason", max_length=MAX_REASON)
    tz = engine.settings.timezone
    retention = timedelta(days=engine.settings.privacy.retention_days)
    audit_retention = timedelta(days=engine.settings.privacy.audit_retention_days)
    now = datetime.now(tz)
    report = await engine.in_db(
        lambda: privacy.purge(
            engine.store, now, retention, _LOGGER, tz=tz, audit_retention=audit_retention
        )
    )
    privacy.clear_retained(engine.mqtt, engine.topics, report)
    body = {
        "cutoff": _iso(report.cutoff),
        "transits": report.transits,
        "crops": report.crops,
        "reads": report.reads,
        "hotlist_matches": report.hotlist_matches,
        "passages": report.passages,
        "held": report.held,
        "audit_entries": report.audit_entries,
        "rolled_up_passages": report.rolled_up_passages,
    }
    await audit(request, "purge", body, results=report.transits, reason=reason)
    return web.json_response(body)


@requires("admin")
async def settings_view(request: web.Request) -> web.Response:
    """The effective settings without secrets."""
    s = request.app[ENGINE_KEY].settings
    return web.json_response(
        {
            "instance": s.instance,
            "timezone": str(s.timezone),
            "mqtt": {
                "host": s.mqtt.host,
                "port": s.mqtt.port,
                "topic_prefix": s.mqtt.topic_prefix,
                "frigate_prefix": s.mqtt.frigate_prefix,
                "shared_group": s.mqtt.shared_group,
            },
            "frigate": {"url": s.frigate.url},
            "api": {
                "host": s.api.host,
                "port": s.api.port,
                "public_url": s.api.public_url,
                "max_page": s.api.max_page,
                "delegate": s.api.delegate,
                "users": [
                    {"name": u.name, "role": u.role, "delegate": u.delegate} for u in s.api.users
                ],
            },
            "privacy": {
                "retention_days": s.privacy.retention_days,
                "audit_retention_days": s.privacy.audit_retention_days,
                "purge_interval": s.privacy.purge_interval,
            },
            "hotlists": {
                "cooldown": s.hotlists.cooldown,
                "fuzzy_min_score": s.hotlists.fuzzy_min_score,
            },
            "tracking": {"journey_gap": s.tracking.journey_gap},
            "stations": len(s.stations),
            "store": "postgresql" if s.store_url.startswith("postgres") else "sqlite",
        }
    )


def _audit_json(entry: privacy.AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "time": contract.iso_time(entry.time),
        "actor": entry.actor,
        "acting_user": entry.acting_user,
        "role": entry.role,
        "action": entry.action,
        "query": entry.query,
        "reason": entry.reason,
        "case_number": entry.case_number,
        "results": entry.results,
    }


@requires("admin")
async def audit_view(request: web.Request) -> web.Response:
    engine = request.app[ENGINE_KEY]
    params = Params(request)
    reason, case_number = params.justification()
    actor = params.text("actor", max_length=120)
    action = params.text("action", max_length=48)
    case = params.text("case", max_length=MAX_CASE_NUMBER)
    since, until = params.time_range()
    limit, offset = params.page()
    log = privacy.Audit(engine.store)
    entries = await engine.in_db(
        lambda: log.entries(
            actor=actor,
            action=action,
            case_number=case,
            start=since,
            end=until,
            limit=limit + 1,
            offset=offset,
        )
    )
    rows = [_audit_json(entry) for entry in entries]
    query = {"actor": actor, "action": action, "case": case, "since": since, "until": until}
    await audit(
        request,
        "audit_log",
        {**query, "limit": limit, "offset": offset},
        results=min(len(rows), limit),
        reason=reason,
        case_number=case_number,
    )
    return web.json_response(_page_body(rows, limit, offset, "entries"))


# ----------------------------------------------------------------------- the app
def routes() -> list[web.RouteDef]:
    return [
        web.get("/api/health", health),
        web.get("/api/openapi.yaml", openapi),
        web.get("/metrics", metrics),
        web.get("/api/v1/info", info),
        web.get("/api/v1/contract", contract_key),
        web.get("/api/v1/stats", stats),
        web.get("/api/v1/transits", transits),
        web.get("/api/v1/transits/{transit_id}", transit),
        web.get("/api/v1/transits/{transit_id}/crop", transit_crop),
        web.get("/api/v1/transits/{transit_id}/evidence", transit_evidence),
        web.get("/api/v1/evidence", search_evidence),
        web.get("/api/v1/route", vehicle_route),
        web.get("/api/v1/queries/seen-then", seen_then),
        web.get("/api/v1/queries/loitering", loitering),
        web.get("/api/v1/travel-times", travel_times),
        web.get("/api/v1/traffic", traffic_counts),
        web.get("/api/v1/traffic/unique", traffic_unique),
        web.get("/api/v1/holds", holds_index),
        web.post("/api/v1/holds", hold_create),
        web.post("/api/v1/holds/{hold_id}/release", hold_release),
        web.get("/api/v1/hotlists", hotlists_index),
        web.post("/api/v1/hotlists", hotlist_create),
        web.get("/api/v1/hotlists/{list_id}", hotlist_get),
        web.delete("/api/v1/hotlists/{list_id}", hotlist_delete),
        web.get("/api/v1/hotlists/{list_id}/entries", hotlist_entries),
        web.post("/api/v1/hotlists/{list_id}/entries", hotlist_add),
        web.delete("/api/v1/hotlists/{list_id}/entries/{plate}", hotlist_remove),
        web.post("/api/v1/hotlists/{list_id}/import", hotlist_import),
        web.get("/api/v1/hotlists/{list_id}/export", hotlist_export),
        web.get("/api/v1/audit", audit_view),
        web.get("/api/v1/settings", settings_view),
        web.post("/api/v1/purge", purge_now),
    ]


def create_app(
    engine: Engine, *, openapi_path: Path = OPENAPI_PATH, timeouts: Timeouts = Timeouts()
) -> web.Application:
    # The largest body any route takes; the middleware holds each route to its own (max_body).
    app = web.Application(middlewares=[_middleware], client_max_size=MAX_IMPORT_BYTES)
    app[ENGINE_KEY] = engine
    app[TIMEOUTS_KEY] = timeouts
    app[OPENAPI_KEY] = openapi_path
    app[QUERY_NAMES_KEY] = described_query_names(openapi_path)
    # The engine's own (it matches every transit), else one over the same store.
    existing = getattr(engine, "hotlists", None)
    app[HOTLISTS_KEY] = (
        existing
        if isinstance(existing, Hotlists)
        else Hotlists(
            engine.store,
            timezone=engine.settings.timezone,
            fuzzy_min_score=engine.settings.hotlists.fuzzy_min_score,
            known_stations=[station.id for station in engine.settings.stations],
        )
    )
    app.add_routes(routes())
    setup_panel(app, engine)  # the operator panel (/panel/) and its calls (web/live.py)
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


def server_options(timeouts: Timeouts = Timeouts()) -> dict[str, Any]:
    """aiohttp server settings: the access and error logs without paths, and the timeouts."""
    return {
        "access_log_class": AccessLogger,
        "logger": HTTP_SERVER_LOGGER,
        "keepalive_timeout": timeouts.idle,
        "lingering_time": timeouts.lingering,
    }


# ----------------------------------------------------------------------- connections
FD_RESERVE_MIN: Final = 128
"""Descriptors kept for the rest of the engine (Frigate's HTTP pool, the broker, the store, logs,
models, threads): a quarter of the file limit, at least this many."""
MIN_CONNECTIONS: Final = 8
DEFAULT_CONNECTIONS_CEILING: Final = 4096


def default_max_connections() -> int:
    """The API's connection cap when `api.max_connections` is not set: the process's file limit
    (RLIMIT_NOFILE, soft) less a reserve, so slow clients cannot take the descriptors Frigate's
    fetches and the broker need (1,100 slow clients did)."""
    soft, _ = getrlimit(RLIMIT_NOFILE)
    if soft == RLIM_INFINITY:
        return DEFAULT_CONNECTIONS_CEILING
    reserve = max(FD_RESERVE_MIN, soft // 4)
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
        backlog: int = 128,
    ) -> None:
        super().__init__(runner, backlog=backlog)
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


async def start_api(engine: Engine, *, timeouts: Timeouts = Timeouts()) -> web.AppRunner:
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
