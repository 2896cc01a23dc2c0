"""Legal holds: create, list and release holds that keep transits past retention."""

from __future__ import annotations

from typing import Any

import voluptuous as vol
from aiohttp import web

from rufina_alpr import privacy, tracking
from rufina_alpr.api.audit import audit
from rufina_alpr.api.auth import PRINCIPAL_KEY, requires
from rufina_alpr.api.context import CONTEXT_KEY
from rufina_alpr.api.params import (
    MAX_CASE_NUMBER,
    MAX_PLATE_TEXT,
    MAX_REASON,
    MIN_REASON,
    Params,
    aware_time,
    bad_request,
    iso,
    json_body,
    not_found,
    plate_text,
    row_id,
)


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
        vol.Optional("since"): aware_time,
        vol.Optional("until"): aware_time,
    }
)


def _hold_json(hold: privacy.Hold) -> dict[str, Any]:
    return {
        "id": hold.id,
        "case_number": hold.case_number,
        "reason": hold.reason,
        "created_by": hold.created_by,
        "created_at": iso(hold.created_at),
        "released_at": iso(hold.released_at) if hold.released_at else None,
        "active": hold.active,
        "transit_ids": list(hold.transit_ids),
    }


@requires("operator")
async def hold_create(request: web.Request) -> web.Response:
    """Keep transits past retention for an investigation: by ids, or every transit of a plate
    in a window."""
    context = request.app[CONTEXT_KEY]
    body = await json_body(request, HOLD_BODY)
    principal = request[PRINCIPAL_KEY]
    ids: list[str] = list(body.get("transit_ids", []))
    plate: str | None = None
    if "plate" in body:
        plate = plate_text("plate", body["plate"])
        if "*" in plate or "?" in plate:
            raise bad_request("'plate': a hold names one plate, without wildcards")
        since, until = body.get("since"), body.get("until")
        history = await context.run(
            lambda: tracking.plate_history(context.store, plate or "", since, until)
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
        hold = await context.run(
            lambda: privacy.hold(
                context.store, ids, body["case_number"], body["reason"], principal.who
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
    context = request.app[CONTEXT_KEY]
    params = Params(request)
    active = params.boolean("active", default=False)
    case = params.text("case_number", max_length=MAX_CASE_NUMBER)
    found = await context.run(
        lambda: privacy.holds(context.store, active_only=active, case_number=case)
    )
    return web.json_response({"holds": [_hold_json(h) for h in found]})


@requires("operator")
async def hold_release(request: web.Request) -> web.Response:
    context = request.app[CONTEXT_KEY]
    params = Params(request)
    reason = params.text("reason", max_length=MAX_REASON)
    hold_id = row_id(request, "hold_id", "hold")
    released = await context.run(lambda: privacy.release(context.store, hold_id))
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


def routes() -> list[web.RouteDef]:
    return [
        web.get("/api/v1/holds", holds_index),
        web.post("/api/v1/holds", hold_create),
        web.post("/api/v1/holds/{hold_id}/release", hold_release),
    ]
