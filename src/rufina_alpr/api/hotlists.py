"""Hotlists: the lists, their gates, their entries, CSV import and export."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any, Final

import voluptuous as vol
from aiohttp import web

from rufina_alpr import contract
from rufina_alpr.api.audit import audit, justified, page_body
from rufina_alpr.api.auth import PRINCIPAL_KEY, requires
from rufina_alpr.api.context import CONTEXT_KEY, HOTLISTS_KEY, Handler
from rufina_alpr.api.params import (
    MAX_IMPORT_BYTES,
    MAX_REASON,
    ApiError,
    Params,
    T,
    aware_time,
    bad_request,
    json_body,
    max_body,
    not_found,
)
from rufina_alpr.hotlists import (
    ACTIONS,
    KINDS,
    Gate,
    HotlistAlreadyListed,
    HotlistConflict,
    HotlistEntry,
    HotlistError,
    HotlistInfo,
    HotlistNotFound,
    Hotlists,
)
from rufina_alpr.plate_formats import written_form

MAX_REJECTED_LISTED: Final = 100
"""Refused lines an import answer lists (it counts them all)."""

_TEXT = vol.All(str, vol.Length(min=1, max=500))


def _whole(value: Any) -> int:
    """A JSON integer: ``3`` or ``3.0`` (JSON Schema's integer), never a boolean."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise vol.Invalid("not a whole number")


_PRIORITY = vol.All(_whole, vol.Range(min=1, max=9))
_STATIONS = vol.All([vol.All(str, vol.Length(min=1, max=64))], vol.Length(max=64))

# An authorised list's gate (docs/hotlists.md, "Gates"): days are ISO weekdays in order.
GATE = vol.Schema(
    {
        vol.Required("stations"): vol.All(_STATIONS, vol.Length(min=1)),
        vol.Optional("days"): vol.Any(None, vol.All(str, vol.Match(r"^(?=.)1?2?3?4?5?6?7?$"))),
        vol.Optional("from_hour"): vol.Any(None, vol.All(_whole, vol.Range(min=0, max=23))),
        vol.Optional("to_hour"): vol.Any(None, vol.All(_whole, vol.Range(min=0, max=24))),
        vol.Optional("keep_authorised", default=True): bool,
    }
)

CREATE_LIST = vol.Schema(
    {
        vol.Required("id"): vol.All(str, vol.Match(r"^[a-z0-9][a-z0-9_-]{0,63}$")),
        vol.Required("name"): vol.All(str, vol.Length(min=1, max=120)),
        vol.Required("kind"): vol.In(KINDS),
        vol.Optional("action"): vol.Any(None, vol.In(ACTIONS)),
        vol.Optional("priority"): vol.Any(None, _PRIORITY),
        vol.Optional("description"): vol.Any(None, _TEXT),
        vol.Optional("gate"): vol.Any(None, GATE),
    }
)

ADD_ENTRY = vol.Schema(
    {
        vol.Required("plate"): vol.All(str, vol.Length(min=2, max=20)),
        vol.Required("reason"): _TEXT,
        vol.Optional("priority"): vol.Any(None, _PRIORITY),
        vol.Optional("expires_at"): vol.Any(None, aware_time),
        vol.Optional("notes"): vol.Any(None, vol.All(str, vol.Length(max=2000))),
        vol.Optional("stations"): vol.Any(None, _STATIONS),
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
        "gate": _gate_json(info.gate) if info.gate is not None else None,
    }


def _gate_json(gate: Gate) -> dict[str, Any]:
    return {
        "stations": list(gate.stations),
        "days": gate.days,
        "from_hour": gate.from_hour,
        "to_hour": gate.to_hour,
        "keep_authorised": gate.keep_authorised,
    }


def _gate(request: web.Request, body: dict[str, Any] | None) -> Gate | None:
    """The validated body's gate; a station that does not exist is not found (as for entries)."""
    if body is None:
        return None
    context = request.app[CONTEXT_KEY]
    if any(s.strip() and context.settings.station(s.strip()) is None for s in body["stations"]):
        raise not_found("'gate.stations': unknown station")
    return Gate(
        stations=tuple(body["stations"]),
        days=body.get("days"),
        from_hour=body.get("from_hour"),
        to_hour=body.get("to_hour"),
        keep_authorised=body["keep_authorised"],
    )


def _entry_json(entry: HotlistEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "list": entry.list_id,
        "plate": entry.plate,
        "display": written_form(entry.plate),
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
        return await request.app[CONTEXT_KEY].run(function)


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
    gate = _gate(request, body.get("gate"))
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
            gate=gate,
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
async def hotlist_gate_set(request: web.Request) -> web.Response:
    """Make an authorised list a gate, or change its gate (audited with the gate)."""
    params = Params(request)
    reason = params.text("reason", max_length=MAX_REASON)
    list_id = _list_id(request)
    body = await json_body(request, GATE)
    gate = _gate(request, body)
    info = await _hotlist_call(request, lambda: hotlists_of(request).set_gate(list_id, gate))
    query = {"list": list_id, "gate": _gate_json(info.gate) if info.gate else None}
    await audit(request, "hotlist_gate_set", query, results=1, reason=reason)
    return web.json_response(_list_json(info))


@requires("operator")
async def hotlist_gate_clear(request: web.Request) -> web.Response:
    """Make a gate a plain allow-list again (audited with the gate it was)."""
    params = Params(request)
    reason = params.text("reason", max_length=MAX_REASON)
    list_id = _list_id(request)
    hotlist = hotlists_of(request)
    before = await _hotlist_call(request, lambda: hotlist.get_list(list_id))
    info = await _hotlist_call(request, lambda: hotlist.set_gate(list_id, None))
    query = {"list": list_id, "gate": _gate_json(before.gate) if before.gate else None}
    await audit(
        request, "hotlist_gate_clear", query, results=int(before.gate is not None), reason=reason
    )
    return web.json_response(_list_json(info))


@requires("operator")
async def hotlist_entries(request: web.Request) -> web.Response:
    asked = justified(request)
    params = asked.params
    include_expired = params.boolean("include_expired", default=False)
    limit, offset = params.page()
    list_id = _list_id(request)
    entries = await _hotlist_call(
        request,
        lambda: hotlists_of(request).entries(list_id, include_expired=include_expired),
    )
    page = entries[offset : offset + limit + 1]
    await asked.record(
        "hotlist_entries",
        {"list": list_id, "include_expired": include_expired, "limit": limit, "offset": offset},
        results=min(len(page), limit),
    )
    return web.json_response(page_body([_entry_json(e) for e in page], limit, offset, "entries"))


@requires("operator")
async def hotlist_add(request: web.Request) -> web.Response:
    list_id = _list_id(request)
    body = await json_body(request, ADD_ENTRY)
    principal = request[PRINCIPAL_KEY]
    context = request.app[CONTEXT_KEY]
    if any(
        name.strip() and context.settings.station(name.strip()) is None
        for name in body.get("stations") or ()
    ):  # as for the query parameters: a station that does not exist is not found
        raise not_found("'stations': unknown station")
    with _hotlist_errors():
        try:
            change = await context.run(
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
    context = request.app[CONTEXT_KEY]
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
                await context.run(step)
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
    asked = justified(request)
    list_id = _list_id(request)
    text = await _hotlist_call(request, lambda: hotlists_of(request).export_csv(list_id))
    await asked.record(
        "hotlist_export",
        {"list": list_id},
        results=max(0, text.count("\n") - 1),
    )
    return web.Response(
        text=text,
        content_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="hotlist-{list_id}.csv"'},
    )


def _noticed(handler: Handler) -> Handler:
    """A hotlist write: once it is done, failed or not (an import may stop halfway), the engine's
    change notice looks again (`HotlistWatch`, the one place that publishes it)."""

    @functools.wraps(handler)
    async def write(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        finally:
            request.app[CONTEXT_KEY].hotlists_changed()

    return write


def routes() -> list[web.RouteDef]:
    return [
        web.get("/api/v1/hotlists", hotlists_index),
        web.post("/api/v1/hotlists", _noticed(hotlist_create)),
        web.get("/api/v1/hotlists/{list_id}", hotlist_get),
        web.delete("/api/v1/hotlists/{list_id}", _noticed(hotlist_delete)),
        web.put("/api/v1/hotlists/{list_id}/gate", _noticed(hotlist_gate_set)),
        web.delete("/api/v1/hotlists/{list_id}/gate", _noticed(hotlist_gate_clear)),
        web.get("/api/v1/hotlists/{list_id}/entries", hotlist_entries),
        web.post("/api/v1/hotlists/{list_id}/entries", _noticed(hotlist_add)),
        web.delete("/api/v1/hotlists/{list_id}/entries/{plate}", _noticed(hotlist_remove)),
        web.post("/api/v1/hotlists/{list_id}/import", _noticed(hotlist_import)),
        web.get("/api/v1/hotlists/{list_id}/export", hotlist_export),
    ]
