"""The engine's HTTP API (aiohttp), described by ``docs/openapi.yaml`` (served by the engine).

Every route but ``/api/health`` and ``/api/openapi.yaml`` needs ``Authorization: Bearer <token>``:
the built-in admin token (``api.token``) or a named user's (``api.users``), compared in constant
time and never logged. Roles, least to most: viewer (statistics), operator (searches, routes,
hotlists, holds, evidence), admin (audit log, purge, settings). Every request that returns plates
needs a ``reason`` (and takes a ``case_number``) and is written to the audit log before the
response goes out. Errors are JSON: ``{"error": code, "message": text}``.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

import sqlalchemy as sa
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from rufina_alpr import __version__, contract, evidence
from rufina_alpr.api_queries import PatternError, TransitQuery, plate_pattern, search_transits
from rufina_alpr.config import ROLES
from rufina_alpr.metrics import COUNTER_NAMES
from rufina_alpr.store import audit_log

if TYPE_CHECKING:
    from rufina_alpr.service import Engine

_LOGGER = logging.getLogger(__name__)

ENGINE_KEY: Final[web.AppKey[Engine]] = web.AppKey("engine")
OPENAPI_PATH: Final = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
OPENAPI_KEY: Final[web.AppKey[Path]] = web.AppKey("openapi", Path)
PUBLIC_PATHS: Final = frozenset({"/api/health", "/api/openapi.yaml"})
MAX_PAGE: Final = 500  # the default of `api.max_page`
MAX_REASON: Final = 500
MIN_REASON: Final = 3
MAX_CASE_NUMBER: Final = 64
ROLE_RANK: Final = {role: rank for rank, role in enumerate(ROLES)}
ADMIN_NAME: Final = "admin"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
H = TypeVar("H", bound=Handler)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling."""

    name: str
    role: str


PRINCIPAL_KEY: Final[web.RequestKey[Principal]] = web.RequestKey("principal", Principal)


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


def authenticate(engine: Engine, header: str) -> Principal | None:
    """The principal a bearer header names, or None. Every token is compared (constant time)."""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    given = token.encode()
    found: Principal | None = None
    if hmac.compare_digest(given, engine.settings.api.token.encode()):
        found = Principal(ADMIN_NAME, "admin")
    for user in engine.settings.api.users:
        if hmac.compare_digest(given, user.token.encode()) and found is None:
            found = Principal(user.name, user.role)
    return found


@web.middleware
async def _middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        if request.path not in PUBLIC_PATHS:
            principal = authenticate(
                request.app[ENGINE_KEY], request.headers.get("Authorization", "")
            )
            if principal is None:
                return _error(401, "unauthorized", "a valid bearer token is required")
            needed: str | None = getattr(request.match_info.route.handler, "min_role", None)
            if needed is not None and ROLE_RANK[principal.role] < ROLE_RANK[needed]:
                return _error(
                    403,
                    "forbidden",
                    f"this request needs the {needed} role (you are {principal.role})",
                )
            request[PRINCIPAL_KEY] = principal
        return await handler(request)
    except ApiError as err:
        return _error(err.status, err.code, err.message)
    except web.HTTPException as err:
        if err.status < 400:
            raise
        codes = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
        return _error(err.status, codes.get(err.status, "bad_request"), err.reason)


# ----------------------------------------------------------------------- parameters
class Params:
    """Query parameters, parsed strictly: a bad value is a 400 that names the parameter."""

    def __init__(self, request: web.Request) -> None:
        self._query = request.query
        self._engine = request.app[ENGINE_KEY]

    def text(
        self, name: str, *, required: bool = False, max_length: int = 200, min_length: int = 1
    ) -> str | None:
        value = self._query.get(name)
        if value is None or value.strip() == "":
            if required:
                raise bad_request(f"'{name}' is required")
            return None
        value = value.strip()
        if not min_length <= len(value) <= max_length:
            raise bad_request(f"'{name}' must be {min_length} to {max_length} characters long")
        if any(ord(ch) < 32 for ch in value):
            raise bad_request(f"'{name}' must not contain control characters")
        return value

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
        """ISO 8601; without a zone, the engine's time zone."""
        raw = self._query.get(name)
        if raw is None or raw == "":
            return None
        try:
            value = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
        except ValueError:
            raise bad_request(f"'{name}' must be an ISO 8601 date and time") from None
        if value.tzinfo is None:
            value = value.replace(tzinfo=self._engine.settings.timezone)
        try:
            return value.astimezone(UTC)
        except (OverflowError, ValueError):
            raise bad_request(f"'{name}' is out of range") from None

    def time_range(
        self, *, default_days: float | None = None
    ) -> tuple[datetime | None, datetime | None]:
        since, until = self.time("since"), self.time("until")
        if since is not None and until is not None and since > until:
            raise bad_request("'since' must not be after 'until'")
        if since is None and default_days is not None:
            since = (until or datetime.now(UTC)) - timedelta(days=default_days)
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
            raise bad_request(f"'{name}': unknown station")
        return value

    def stations(self, name: str = "station") -> list[str]:
        """Repeated (``station=a&station=b``) or comma-separated; every one must exist."""
        values = [
            part.strip()
            for raw in self._query.getall(name, [])
            for part in raw.split(",")
            if part.strip()
        ]
        if len(values) > len(self._engine.settings.stations):
            raise bad_request(f"'{name}': too many stations")
        for value in values:
            if self._engine.settings.station(value) is None:
                raise bad_request(f"'{name}': unknown station")
        return list(dict.fromkeys(values))

    def page(self) -> tuple[int, int]:
        top = self._engine.settings.api.max_page
        limit = self.integer("limit", min(50, top), 1, top)
        offset = self.integer("offset", 0, 0, 1_000_000)
        assert limit is not None and offset is not None
        return limit, offset

    def justification(self) -> tuple[str, str | None]:
        """The ``reason`` every plate-returning request needs, and the optional case number."""
        reason = self._query.get("reason", "").strip()
        if not reason:
            raise ApiError(
                400, "reason_required", "this request returns plates: give a 'reason' for it"
            )
        if not MIN_REASON <= len(reason) <= MAX_REASON:
            raise bad_request(f"'reason' must be {MIN_REASON} to {MAX_REASON} characters long")
        if any(ord(ch) < 32 for ch in reason):
            raise bad_request("'reason' must not contain control characters")
        case_number = self.text("case_number", max_length=MAX_CASE_NUMBER)
        return reason, case_number


# ----------------------------------------------------------------------- audit
def _write_audit(engine: Engine, row: dict[str, Any]) -> None:
    with engine.store.engine.begin() as connection:
        connection.execute(audit_log.insert().values(row))


async def audit(
    request: web.Request,
    action: str,
    query: Mapping[str, Any],
    *,
    results: int | None,
    reason: str | None,
    case_number: str | None = None,
) -> None:
    """Append to the audit log (before the caller answers): who, role, when, what, why, how many."""
    engine = request.app[ENGINE_KEY]
    principal = request[PRINCIPAL_KEY]
    row = {
        "time": datetime.now(UTC),
        "actor": principal.name,
        "role": principal.role,
        "action": action,
        "query": _jsonable(query),
        "reason": reason,
        "case_number": case_number,
        "results": results,
    }
    await engine.in_db(_write_audit, engine, row)
    _LOGGER.info(
        "audit: %s by %s (%s), %s results", action, principal.name, principal.role, results
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return contract.iso_time(value)
    return value


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
    engine = request.app[ENGINE_KEY]
    return web.json_response(
        {"status": "ok", "mqtt": engine.mqtt.connected.is_set(), "queue": engine.queue_length}
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
        }
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


def _plate_param(params: Params, name: str, *, required: bool) -> str | None:
    raw = params.text(name, required=required, max_length=32)
    if raw is None:
        return None
    try:
        return plate_pattern(raw)
    except PatternError as err:
        raise bad_request(f"'{name}': {err}") from None


def _transit_query(params: Params) -> TransitQuery:
    since, until = params.time_range()
    return TransitQuery(
        plate=_plate_param(params, "plate", required=False),
        stations=tuple(params.stations("station")),
        since=since,
        until=until,
        vehicle=params.text("vehicle", max_length=32),
        direction=params.text("direction", max_length=32),
    )


def _query_record(query: TransitQuery) -> dict[str, Any]:
    return {
        "plate": query.plate,
        "stations": list(query.stations) or None,
        "since": query.since,
        "until": query.until,
        "vehicle": query.vehicle,
        "direction": query.direction,
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
        generated_by=principal.name,
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
    if query == TransitQuery():
        raise bad_request("an evidence export needs at least one search criterion")
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


# ----------------------------------------------------------------------- admin
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
                "users": [{"name": u.name, "role": u.role} for u in s.api.users],
            },
            "privacy": {
                "retention_days": s.privacy.retention_days,
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


def _audit_rows(
    engine: Engine,
    *,
    actor: str | None,
    action: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    offset: int,
) -> list[dict[str, Any]]:
    query = sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(limit + 1).offset(offset)
    if actor is not None:
        query = query.where(audit_log.c.actor == actor)
    if action is not None:
        query = query.where(audit_log.c.action == action)
    if since is not None:
        query = query.where(audit_log.c.time >= since)
    if until is not None:
        query = query.where(audit_log.c.time <= until)
    with engine.store.engine.connect() as connection:
        rows = connection.execute(query).all()
    return [
        {
            "id": row.id,
            "time": contract.iso_time(
                row.time.replace(tzinfo=UTC) if row.time.tzinfo is None else row.time
            ),
            "actor": row.actor,
            "role": row.role,
            "action": row.action,
            "query": row.query,
            "reason": row.reason,
            "case_number": row.case_number,
            "results": row.results,
        }
        for row in rows
    ]


@requires("admin")
async def audit_view(request: web.Request) -> web.Response:
    engine = request.app[ENGINE_KEY]
    params = Params(request)
    reason, case_number = params.justification()
    actor = params.text("actor", max_length=120)
    action = params.text("action", max_length=48)
    since, until = params.time_range()
    limit, offset = params.page()
    rows = await engine.in_db(
        lambda: _audit_rows(
            engine,
            actor=actor,
            action=action,
            since=since,
            until=until,
            limit=limit,
            offset=offset,
        )
    )
    query = {"actor": actor, "action": action, "since": since, "until": until}
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
        web.get("/api/v1/stats", stats),
        web.get("/api/v1/transits", transits),
        web.get("/api/v1/transits/{transit_id}", transit),
        web.get("/api/v1/transits/{transit_id}/crop", transit_crop),
        web.get("/api/v1/transits/{transit_id}/evidence", transit_evidence),
        web.get("/api/v1/evidence", search_evidence),
        web.get("/api/v1/audit", audit_view),
        web.get("/api/v1/settings", settings_view),
    ]


def create_app(engine: Engine, *, openapi_path: Path = OPENAPI_PATH) -> web.Application:
    app = web.Application(middlewares=[_middleware], client_max_size=8 * 1024 * 1024)
    app[ENGINE_KEY] = engine
    app[OPENAPI_KEY] = openapi_path
    app.add_routes(routes())
    return app


class AccessLogger(AbstractAccessLogger):
    """Access lines with the route's pattern, never the path or query (plates, reasons)."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        resource = request.match_info.route.resource if isinstance(request, web.Request) else None
        pattern = resource.canonical if resource is not None else "(no route)"
        self.logger.info("%s %s %d %.1f ms", request.method, pattern, response.status, time * 1000)


async def start_api(engine: Engine) -> web.AppRunner:
    runner = web.AppRunner(create_app(engine), access_log_class=AccessLogger)
    await runner.setup()
    site = web.TCPSite(runner, engine.settings.api.host, engine.settings.api.port)
    await site.start()
    _LOGGER.info("HTTP API on %s:%d", engine.settings.api.host, engine.settings.api.port)
    return runner
