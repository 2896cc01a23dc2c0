"""Transits: search, one transit (with its corrections), correcting its plate, its crop, and
evidence packages (one transit or a search).

A correction (``PATCH``) keeps the plate as read (``original_plate``), records who corrected it
and why (`store.corrections`, the audit log), and matches the corrected plate against the
hotlists again at the transit's station and time: a match that alerts raises a confirmed hotlist
alert (cooldown permitting) in the correction's transaction, told to the broker after it.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Final

import voluptuous as vol
from aiohttp import web

from rufina_alpr import evidence
from rufina_alpr.api.audit import Justified, audit, jsonable, justified, page_body
from rufina_alpr.api.auth import PRINCIPAL_KEY, requires
from rufina_alpr.api.context import CONTEXT_KEY, HOTLISTS_KEY
from rufina_alpr.api.params import (
    MAX_REASON,
    MIN_REASON,
    Params,
    bad_request,
    json_body,
    not_found,
    plate_param,
)
from rufina_alpr.corrections import correct_read, with_corrections
from rufina_alpr.plate_formats import normalize_plate
from rufina_alpr.store.corrections import CorrectionError, TransitNotFound
from rufina_alpr.store.search import TransitQuery, search_transits

# As docs/openapi.yaml's TransitCorrection: 2 to 12 ASCII letters or digits, with the spaces,
# dashes and dots people type; a reason of 3 to 500 characters, no control character, not blank
# (JavaScript's \s, the description's pattern, is what blank means).
_CORRECTED_PLATE: Final = re.compile(r"[ .\-]*(?:[A-Za-z0-9][ .\-]*){2,12}")
_JS_SPACE: Final = (
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)


def _corrected_plate(value: Any) -> str:
    if not isinstance(value, str) or not 2 <= len(value) <= 20:
        raise vol.Invalid("a plate is 2 to 20 characters")
    if not _CORRECTED_PLATE.fullmatch(value):
        raise vol.Invalid("2 to 12 letters or digits, with spaces, dashes and dots")
    return normalize_plate(value)


def _correction_reason(value: Any) -> str:
    if not isinstance(value, str) or not MIN_REASON <= len(value) <= MAX_REASON:
        raise vol.Invalid(f"the reason is {MIN_REASON} to {MAX_REASON} characters")
    if any(ord(ch) < 32 for ch in value):
        raise vol.Invalid("the reason must not contain control characters")
    reason = value.strip(_JS_SPACE)
    if not reason:
        raise vol.Invalid("the reason must not be blank")
    return reason


CORRECTION_BODY: Final = vol.Schema(
    {
        vol.Required("plate"): _corrected_plate,
        vol.Required("reason"): _correction_reason,
    }
)


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
    """One transit with its corrections (``original_plate``: the plate as read, when corrected)."""
    context = request.app[CONTEXT_KEY]
    asked = justified(request)
    transit_id = _transit_id(request)
    try:
        found, corrections = await context.run(with_corrections, context.store, transit_id)
    except TransitNotFound:
        found, corrections = None, []
    await asked.record(
        "transit",
        {"transit_id": transit_id},
        results=int(found is not None),
    )
    if found is None:
        raise not_found("no such transit")
    body = context.transit_payload(found)
    body["corrections"] = [c.as_json() for c in corrections]
    return web.json_response(body)


@requires("operator")
async def transit_correct(request: web.Request) -> web.Response:
    """Correct a transit's plate (``{"plate", "reason"}``): audited, matched again."""
    context = request.app[CONTEXT_KEY]
    principal = request[PRINCIPAL_KEY]
    transit_id = _transit_id(request)
    body = await json_body(request, CORRECTION_BODY)
    hotlists = request.app[HOTLISTS_KEY]
    try:
        done = await context.run(
            lambda: correct_read(
                context.store,
                hotlists,
                transit_id,
                body["plate"],
                body["reason"],
                actor=principal.name,
                acting_user=principal.acting_user,
                cooldown=context.settings.hotlists.cooldown,
            )
        )
    except TransitNotFound:
        raise not_found("no such transit") from None
    except CorrectionError as err:
        raise bad_request(str(err)) from None
    await audit(
        request,
        "transit_correct",
        {
            "transit_id": transit_id,
            "plate": done.transit.plate,
            "previous_plate": done.previous_plate,
        },
        results=1,
        reason=body["reason"],
    )
    if done.alert is not None:
        context.alert_raised(done.alert)
    answer = context.transit_payload(done.transit)
    answer["corrections"] = [c.as_json() for c in done.corrections]
    answer["alert"] = done.alert.id if done.alert is not None else None
    return web.json_response(answer)


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
        web.patch("/api/v1/transits/{transit_id}", transit_correct),
        web.get("/api/v1/transits/{transit_id}/crop", transit_crop),
        web.get("/api/v1/transits/{transit_id}/evidence", transit_evidence),
        web.get("/api/v1/evidence", search_evidence),
    ]
