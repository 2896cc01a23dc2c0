"""Transits: search, one transit, its crop, and evidence packages (one transit or a search)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from rufina_alpr import evidence
from rufina_alpr.api.audit import Justified, jsonable, justified, page_body
from rufina_alpr.api.auth import PRINCIPAL_KEY, requires
from rufina_alpr.api.context import CONTEXT_KEY
from rufina_alpr.api.params import Params, bad_request, not_found, plate_param
from rufina_alpr.store.search import TransitQuery, search_transits


def _transit_query(params: Params) -> TransitQuery:
    since, until = params.time_range()
    return TransitQuery(
        plate=plate_param(params, "plate", required=False),
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
    context = request.app[CONTEXT_KEY]
    asked = justified(request)
    params = asked.params
    query = _transit_query(params)
    limit, offset = params.page()
    rows = await context.run(
        lambda: search_transits(context.store, query, limit=limit + 1, offset=offset)
    )
    await asked.record(
        "search",
        {**_query_record(query), "limit": limit, "offset": offset},
        results=min(len(rows), limit),
    )
    payloads = [context.transit_payload(t) for t in rows]
    return web.json_response(page_body(payloads, limit, offset, "transits"))


def _transit_id(request: web.Request) -> str:
    value = request.match_info["transit_id"]
    if not 1 <= len(value) <= 36:
        raise not_found("no such transit")
    return value


@requires("operator")
async def transit(request: web.Request) -> web.Response:
    context = request.app[CONTEXT_KEY]
    asked = justified(request)
    transit_id = _transit_id(request)
    found = await context.run(context.store.transit, transit_id)
    await asked.record(
        "transit",
        {"transit_id": transit_id},
        results=int(found is not None),
    )
    if found is None:
        raise not_found("no such transit")
    return web.json_response(context.transit_payload(found))


@requires("operator")
async def transit_crop(request: web.Request) -> web.Response:
    context = request.app[CONTEXT_KEY]
    asked = justified(request)
    transit_id = _transit_id(request)
    found = await context.run(context.store.transit, transit_id)
    await asked.record(
        "transit_crop",
        {"transit_id": transit_id},
        results=int(found is not None and found.crop_jpeg is not None),
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
    asked: Justified,
    action: str,
) -> web.Response:
    context = request.app[CONTEXT_KEY]
    principal = request[PRINCIPAL_KEY]
    items = await context.run(
        evidence.load_items, context.store, transit_ids, context.transit_payload
    )
    await asked.record(action, query, results=len(items))
    if not items and action == "evidence_transit":
        raise not_found("no such transit")
    now = datetime.now(context.settings.timezone)
    body = evidence.build_zip(
        items,
        generated_at=now,
        generated_by=principal.who,
        reason=asked.reason,
        case_number=asked.case_number,
        query=jsonable(query),
        frigate_url=context.settings.frigate.url,
    )
    name = f"rufina-alpr-evidence-{now:%Y%m%d-%H%M%S}.zip"
    return web.Response(
        body=body,
        content_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@requires("operator")
async def transit_evidence(request: web.Request) -> web.Response:
    asked = justified(request)
    transit_id = _transit_id(request)
    return await _evidence_response(
        request,
        transit_ids=[transit_id],
        query={"transit_id": transit_id},
        asked=asked,
        action="evidence_transit",
    )


@requires("operator")
async def search_evidence(request: web.Request) -> web.Response:
    """Evidence for a search result (at most `max_page` transits, newest first)."""
    context = request.app[CONTEXT_KEY]
    asked = justified(request)
    params = asked.params
    query = _transit_query(params)
    if query.since is None or query.until is None:  # required: no export without a period
        raise bad_request("an evidence export needs 'since' and 'until': the period it covers")
    limit, offset = params.page()
    rows = await context.run(
        lambda: search_transits(context.store, query, limit=limit, offset=offset)
    )
    record = {**_query_record(query), "limit": limit, "offset": offset}
    return await _evidence_response(
        request,
        transit_ids=[t.id for t in rows],
        query=record,
        asked=asked,
        action="evidence_search",
    )


def routes() -> list[web.RouteDef]:
    return [
        web.get("/api/v1/transits", transits),
        web.get("/api/v1/transits/{transit_id}", transit),
        web.get("/api/v1/transits/{transit_id}/crop", transit_crop),
        web.get("/api/v1/transits/{transit_id}/evidence", transit_evidence),
        web.get("/api/v1/evidence", search_evidence),
    ]
