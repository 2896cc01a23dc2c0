"""Alerts: the queue, one alert with its handling, the steps (acknowledge, accept, reject, close),
the evidence frame and the hits report (CSV).

Listing alerts, one alert, its frame and the report return plates: each needs a ``reason`` and
is audited. Each step is audited too (who, for whom, what) and told to the broker
(``<prefix>/alert``), so phones and panels see an alert another operator took.
"""

from __future__ import annotations

from typing import Any

import voluptuous as vol
from aiohttp import web

from rufina_alpr.alerts import (
    KINDS,
    OUTCOMES,
    REJECT_REASONS,
    STATES,
    STEPS,
    Alert,
    AlertError,
    AlertNotFound,
    AlertStepRefused,
)
from rufina_alpr.alerts.book import AlertBook
from rufina_alpr.alerts.payloads import alert_json
from rufina_alpr.api.audit import audit, justified
from rufina_alpr.api.auth import PRINCIPAL_KEY, requires
from rufina_alpr.api.context import CONTEXT_KEY, ApiContext
from rufina_alpr.api.params import (
    ApiError,
    bad_request,
    csv_response,
    csv_text,
    json_body,
    not_found,
)

STEP_BODY = vol.Schema(
    {
        vol.Required("step"): vol.In(STEPS),
        vol.Optional("reason"): vol.Any(None, vol.In(REJECT_REASONS)),
        vol.Optional("outcome"): vol.Any(None, vol.In(OUTCOMES)),
        vol.Optional("note"): vol.Any(None, vol.All(str, vol.Length(max=500))),
    }
)

REPORT_FIELDS = (
    "alert_id",
    "kind",
    "status",
    "state",
    "time",
    "station",
    "station_name",
    "plate",
    "list",
    "list_name",
    "priority",
    "entry_plate",
    "read_plate",
    "score",
    "match",
    "reject_reason",
    "outcome",
    "handled_by",
    "handled_at",
    "note",
    "transit_id",
    "evidence_sha256",
)
MAX_REPORT = 100_000


def _station_name(context: ApiContext, station_id: str) -> str | None:
    station = context.settings.station(station_id)
    return station.name if station else None


def _alert_id(request: web.Request) -> str:
    value = request.match_info["alert_id"]
    if not 1 <= len(value) <= 36:
        raise not_found("no such alert")
    return value


@requires("operator")
async def alerts_list(request: web.Request) -> web.Response:
    """The alerts, most urgent first then newest; ``open`` (default true): the queue."""
    context = request.app[CONTEXT_KEY]
    asked = justified(request)
    params = asked.params
    since, until = params.time_range()
    open_only = params.boolean("open", True)
    station = params.station("station")
    list_id = params.text("list", max_length=64)
    kind = params.choice("kind", KINDS, None)
    state = params.choice("state", STATES, None)
    limit = params.integer("limit", 200, 1, 1000) or 200
    book = AlertBook(context.store)
    found = await context.run(
        lambda: book.listing(
            open_only=open_only,
            station_id=station,
            list_id=list_id,
            kind=kind,
            state=state,
            since=since,
            until=until,
            limit=limit,
        ),
    )
    await asked.record(
        "alerts",
        {
            "open": open_only,
            "station": station,
            "list": list_id,
            "kind": kind,
            "state": state,
            "since": since,
            "until": until,
        },
        results=len(found),
    )
    return web.json_response(
        {"alerts": [alert_json(a, _station_name(context, a.station_id)) for a in found]}
    )


@requires("operator")
async def alert_one(request: web.Request) -> web.Response:
    context = request.app[CONTEXT_KEY]
    asked = justified(request)
    id_ = _alert_id(request)
    found = await context.run(AlertBook(context.store).find, id_)
    await asked.record("alert", {"alert_id": id_}, results=int(found is not None))
    if found is None:
        raise not_found("no such alert")
    return web.json_response(alert_json(found, _station_name(context, found.station_id)))


@requires("operator")
async def alert_step(request: web.Request) -> web.Response:
    """One step of an alert's handling, by the caller (and the person a delegate acts for)."""
    context = request.app[CONTEXT_KEY]
    principal = request[PRINCIPAL_KEY]
    id_ = _alert_id(request)
    body = await json_body(request, STEP_BODY)
    step = body["step"]
    try:
        book = AlertBook(context.store)
        alert = await context.run(
            lambda: book.step(
                id_,
                step,
                actor=principal.name,
                acting_user=principal.acting_user,
                reason=body.get("reason"),
                outcome=body.get("outcome"),
                note=body.get("note"),
            ),
        )
    except AlertNotFound:
        raise not_found("no such alert") from None
    except AlertStepRefused as err:
        raise ApiError(409, "step_refused", str(err)) from None
    except AlertError as err:
        raise bad_request(str(err)) from None
    await audit(
        request,
        f"alert_{step}",
        {
            "alert_id": id_,
            "reason": body.get("reason"),
            "outcome": body.get("outcome"),
        },
        results=1,
        reason=body.get("note"),
    )
    context.alert_changed(alert, alert.state)
    return web.json_response(alert_json(alert, _station_name(context, alert.station_id)))


@requires("operator")
async def alert_frame(request: web.Request) -> web.Response:
    """The full frame kept when the alert was raised; its SHA-256 at capture in a header."""
    context = request.app[CONTEXT_KEY]
    asked = justified(request)
    id_ = _alert_id(request)
    found = await context.run(AlertBook(context.store).frame, id_)
    await asked.record("alert_frame", {"alert_id": id_}, results=int(found is not None))
    if found is None:
        raise not_found("no evidence frame for that alert")
    jpeg, digest, source, _captured = found
    return web.Response(
        body=jpeg,
        content_type="image/jpeg",
        headers={"X-Evidence-SHA256": digest, "X-Evidence-Source": source},
    )


@requires("operator")
async def alerts_report(request: web.Request) -> web.Response:
    """The hits report: every alert in a period (by list, station, outcome), as CSV."""
    context = request.app[CONTEXT_KEY]
    asked = justified(request)
    params = asked.params
    since, until = params.time_range()
    station = params.station("station")
    list_id = params.text("list", max_length=64)
    kind = params.choice("kind", KINDS, None)
    outcome = params.choice("outcome", OUTCOMES, None)
    book = AlertBook(context.store)
    found = await context.run(
        lambda: book.listing(
            station_id=station,
            list_id=list_id,
            kind=kind,
            outcome=outcome,
            since=since,
            until=until,
            limit=MAX_REPORT,
        ),
    )
    rows = [
        _report_row(a, _station_name(context, a.station_id))
        for a in sorted(found, key=lambda a: a.time)
    ]
    await asked.record(
        "alerts_report",
        {
            "station": station,
            "list": list_id,
            "kind": kind,
            "outcome": outcome,
            "since": since,
            "until": until,
        },
        results=len(rows),
    )
    return csv_response(csv_text(rows, REPORT_FIELDS), "alerts.csv")


def _report_row(alert: Alert, station_name: str | None) -> dict[str, Any]:
    """The API's alert (the report's columns are a part of it) with its id as ``alert_id``."""
    return {**alert_json(alert, station_name), "alert_id": alert.id}


def routes() -> list[web.RouteDef]:
    return [
        web.get("/api/v1/alerts", alerts_list),
        web.get("/api/v1/alerts/report.csv", alerts_report),
        web.get("/api/v1/alerts/{alert_id}", alert_one),
        web.get("/api/v1/alerts/{alert_id}/frame", alert_frame),
        web.post("/api/v1/alerts/{alert_id}/steps", alert_step),
    ]
