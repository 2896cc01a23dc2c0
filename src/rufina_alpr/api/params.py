"""Errors and request input: ``ApiError``, query parameters parsed strictly (``Params``),
unknown query names refused, time windows, plate texts, JSON bodies, CSV answers.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final, TypeVar

import voluptuous as vol
import yaml
from aiohttp import web

from rufina_alpr import contract
from rufina_alpr.api.context import CONTEXT_KEY, QUERY_NAMES_KEY, H
from rufina_alpr.csv_cells import safe_mapping
from rufina_alpr.errors import RufinaError
from rufina_alpr.tracking import PatternError, normalize_pattern

_HTTP_METHODS: Final = ("get", "post", "put", "patch", "delete")

MAX_IMPORT_BYTES: Final = 4 * 1024 * 1024

# A request body's default bound (every JSON body); a route takes more with `max_body`.
MAX_JSON_BYTES: Final = 1024 * 1024

# A JSON body over this is parsed on a worker thread, not on the event loop.
JSON_ON_LOOP_BYTES: Final = 64 * 1024

MAX_PAGE: Final = 500  # the default of `api.max_page`

MAX_REASON: Final = 500

MIN_REASON: Final = 3

MAX_CASE_NUMBER: Final = 64

EARLIEST: Final = datetime(2000, 1, 1, tzinfo=UTC)

LATEST: Final = datetime(2200, 1, 1, tzinfo=UTC)

MAX_AUTHOR: Final = 120  # characters: the store's created_by and added_by

T = TypeVar("T")


class ApiError(RufinaError):
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


def row_id(request: web.Request, name: str, what: str) -> int:
    """A numeric row id from the path (``{name}``): anything not a positive 63-bit integer is
    "no such ``what``" (404), as an id that does not exist would be."""
    try:
        value = int(request.match_info[name])
    except ValueError:
        raise not_found(f"no such {what}") from None
    if not 1 <= value <= 2**62:
        raise not_found(f"no such {what}")
    return value


def error_response(status: int, error: str, message: str) -> web.Response:
    return web.json_response({"error": error, "message": message}, status=status)


def max_body(limit: int) -> Callable[[H], H]:
    """The most bytes a handler's request body may have (default `MAX_JSON_BYTES`), checked by
    the middleware, on the Content-Length and on the bytes received, before the handler runs."""

    def mark(handler: H) -> H:
        handler.max_body = limit  # type: ignore[attr-defined]
        return handler

    return mark


def _size(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MiB" if limit % (1024 * 1024) == 0 else f"{limit} bytes"


async def bounded_body(request: web.Request, limit: int) -> web.Request:
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


def refuse_unknown_query(request: web.Request) -> None:
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
        self._context = request.app[CONTEXT_KEY]

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
            value = value.replace(tzinfo=self._context.settings.timezone)
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
        if value is not None and self._context.settings.station(value) is None:
            raise not_found(f"'{name}': unknown station")
        return value

    def stations(self, name: str = "station") -> list[str]:
        """Repeated (``station=a&station=b``) or comma-separated; none empty, every one known."""
        given = self._query.getall(name, [])
        values = [part.strip() for raw in given for part in raw.split(",")]
        if len(given) > MAX_STATION_PARAMS or not all(values):
            raise bad_request(f"'{name}': 1 to {MAX_STATION_PARAMS} station ids, none empty")
        for value in values:
            if self._context.settings.station(value) is None:
                raise not_found(f"'{name}': unknown station")
        return list(dict.fromkeys(values))

    def page(self) -> tuple[int, int]:
        top = self._context.settings.api.max_page
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


VEHICLES: Final = ("car", "motorcycle", "bus", "truck", "bicycle", "van", "vehicle")

# A plate or pattern as sent (docs/openapi.yaml has the same): ASCII letters, digits and the
# wildcards, with the spaces, dashes and dots people type; at least one character besides `*`.
PLATE_TEXT: Final = re.compile(r"[ .\-]*(?:\*[ .\-]*)*[A-Za-z0-9?][A-Za-z0-9*? .\-]*")

MAX_PLATE_TEXT: Final = 16


def plate_text(name: str, raw: str) -> str:
    """The normalised pattern of a plate as sent, or a 400."""
    if len(raw) > MAX_PLATE_TEXT or not PLATE_TEXT.fullmatch(raw):
        raise bad_request(
            f"'{name}': a plate or pattern is at most {MAX_PLATE_TEXT} letters, digits, wildcards"
            " (* any run, ? one character), spaces, dashes and dots, with one character besides *"
        )
    try:
        return normalize_pattern(raw)
    except PatternError as err:
        raise bad_request(f"'{name}': {err}") from None


def plate_param(params: Params, name: str, *, required: bool) -> str | None:
    raw = params.text(name, required=required, max_length=MAX_PLATE_TEXT)
    if raw is None:
        return None
    return plate_text(name, raw)


MAX_WINDOW_DAYS: Final = 366.0


def iso(moment: datetime) -> str:
    return contract.iso_time(moment)


def seconds_param(params: Params, name: str, default: float, high: float) -> timedelta:
    value = params.number(name, default, 1, high)
    assert value is not None
    return timedelta(seconds=value)


def _last_day(until: datetime) -> datetime:
    return until - timedelta(days=1)


def time_window(
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


def csv_text(rows: list[dict[str, Any]], fields: tuple[str, ...]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(safe_mapping(row) for row in rows)
    return out.getvalue()


def csv_response(text: str, name: str) -> web.Response:
    return web.Response(
        text=text,
        content_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
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


def aware_time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise vol.Invalid("expected an ISO 8601 date and time")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise vol.Invalid("expected an ISO 8601 date and time") from None
    if moment.tzinfo is None:
        raise vol.Invalid("the date and time needs a zone offset")
    return moment
