"""Data subjects' requests (GDPR art. 15 access, art. 17 erasure), for admins: the register with
its deadlines, the subject's copy as a ZIP, the erasure, an extension, a refusal.

What returns plates needs a ``reason`` and is audited; every change is audited, by request id:
an erasure's audit entry never names the plate it erased.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from typing import Any

import voluptuous as vol
from aiohttp import web

from rufina_alpr import privacy
from rufina_alpr.api.audit import audit, justified
from rufina_alpr.api.auth import PRINCIPAL_KEY, requires
from rufina_alpr.api.context import CONTEXT_KEY
from rufina_alpr.api.params import (
    MAX_REASON,
    MIN_REASON,
    ApiError,
    aware_time,
    bad_request,
    iso,
    json_body,
    not_found,
    row_id,
)
from rufina_alpr.privacy import access_copy, subject
from rufina_alpr.privacy import requests as register
from rufina_alpr.privacy.requests import SubjectRequest


def _sane(value: str) -> str:
    """As the description's text pattern: not blank, no control character."""
    if not value.strip() or any(ord(ch) < 32 for ch in value):
        raise vol.Invalid("must not be blank nor contain control characters")
    return value.strip()


_NOTE = vol.All(str, vol.Length(min=MIN_REASON, max=register.MAX_NOTE), _sane)

CREATE_BODY = vol.Schema(
    {
        vol.Required("kind"): vol.In(register.KINDS),
        vol.Required("plate"): vol.All(str, vol.Length(min=2, max=16)),
        vol.Required("requester"): vol.All(str, vol.Length(min=1, max=register.MAX_REQUESTER)),
        vol.Optional("reference"): vol.Any(
            None, vol.All(str, vol.Length(max=register.MAX_REFERENCE))
        ),
        vol.Optional("received_at"): vol.Any(None, aware_time),
        vol.Optional("note"): vol.Any(None, vol.All(str, vol.Length(max=register.MAX_NOTE))),
    }
)
NOTE_BODY = vol.Schema({vol.Required("note"): _NOTE})
ERASE_BODY = vol.Schema(
    {vol.Required("reason"): vol.All(str, vol.Length(min=MIN_REASON, max=MAX_REASON), _sane)}
)

HOTLIST_NOTE = (
    "The plate is on the hotlist entries listed here: they are not in the subject's ZIP. "
    "Disclosing them is the controller's decision (art. 23 GDPR, d.lgs. 51/2018); the cover "
    "letter has a placeholder for it."
)


def request_json(found: SubjectRequest, now: datetime) -> dict[str, Any]:
    return {
        "id": found.id,
        "kind": found.kind,
        "plate": found.plate,
        "requester": found.requester,
        "reference": found.reference,
        "received_at": iso(found.received_at),
        "due_at": iso(found.due_at),
        "status": found.status,
        "days_left": found.days_left(now),
        "overdue": found.overdue(now),
        "extended": found.extended,
        "created_by": found.created_by,
        "created_at": iso(found.created_at),
        "handled_by": found.handled_by,
        "handled_at": iso(found.handled_at) if found.handled_at else None,
        "note": found.note,
        "result": found.result,
    }


def _refused(err: register.RequestError) -> ApiError:
    if isinstance(err, register.RequestNotFound):
        return not_found("no such request")
    if isinstance(err, register.RequestStateError | register.ReceivedLaterError):
        return ApiError(409, "conflict", str(err))
    return bad_request(str(err))


async def _one(request: web.Request, request_id: int) -> SubjectRequest:
    context = request.app[CONTEXT_KEY]
    found = await context.run(lambda: register.get(context.store, request_id))
    if found is None:
        raise not_found("no such request")
    return found


@requires("admin")
async def requests_index(request: web.Request) -> web.Response:
    """The register, the earliest deadline first, with how many are open, due soon, overdue."""
    context = request.app[CONTEXT_KEY]
    asked = justified(request)
    status = asked.params.choice("status", register.STATUSES, None)
    now = datetime.now(UTC)
    found, due = await context.run(
        lambda: (
            register.listing(context.store, status=status),
            register.due_summary(context.store, now),
        )
    )
    await asked.record("subject_requests", {"status": status}, results=len(found))
    return web.json_response(
        {
            "requests": [request_json(r, now) for r in found],
            "open": due.open,
            "due_soon": due.due_soon,
            "overdue": due.overdue,
        }
    )


@requires("admin")
async def request_create(request: web.Request) -> web.Response:
    context = request.app[CONTEXT_KEY]
    body = await json_body(request, CREATE_BODY)
    who = request[PRINCIPAL_KEY].who
    try:
        created = await context.run(
            lambda: register.create(
                context.store,
                body["kind"],
                body["plate"],
                body["requester"],
                who,
                reference=body.get("reference"),
                received_at=body.get("received_at"),
                note=body.get("note"),
            )
        )
    except register.RequestError as err:
        raise _refused(err) from None
    await audit(
        request,
        "subject_request",
        {"request": created.id, "kind": created.kind},
        results=1,
        reason=created.reference,
    )
    await context.privacy_changed()  # the health's requests due, at once
    return web.json_response(request_json(created, datetime.now(UTC)), status=201)


@requires("admin")
async def request_one(request: web.Request) -> web.Response:
    asked = justified(request)
    request_id = row_id(request, "request_id", "request")
    context = request.app[CONTEXT_KEY]
    found = await context.run(lambda: register.get(context.store, request_id))
    await asked.record("subject_request_read", {"request": request_id}, results=int(bool(found)))
    if found is None:
        raise not_found("no such request")
    return web.json_response(request_json(found, datetime.now(UTC)))


@requires("admin")
async def request_access_zip(request: web.Request) -> web.Response:
    """The subject's copy; the first download answers the request (fulfilled, by whom)."""
    context = request.app[CONTEXT_KEY]
    asked = justified(request)
    found = await _one(request, row_id(request, "request_id", "request"))
    if found.kind != "access" or found.status == "refused":
        raise ApiError(
            409, "conflict", f"request {found.id} is an {found.kind} request, {found.status}"
        )
    now = datetime.now(UTC)
    settings = context.settings
    names = {station.id: station.name for station in settings.stations}
    data = await context.run(lambda: subject.gather(context.store, found.plate))
    archive = await asyncio.to_thread(
        access_copy.access_zip, data, settings.privacy, found, now, station_names=names
    )
    await asked.record("subject_access", {"request": found.id}, results=len(data.transits))
    if found.open:
        result = {
            "files": data.counts(),
            "hotlist_entries": list(data.hotlist_entries),
            "hotlist_entries_in_zip": False,
            "note": HOTLIST_NOTE if data.hotlist_entries else None,
        }
        who = request[PRINCIPAL_KEY].who
        # A download at the same time may have answered it: that one sent the same copy.
        with contextlib.suppress(register.RequestStateError):
            await context.run(
                lambda: register.fulfil(context.store, found.id, who, result, now=now)
            )
        await context.privacy_changed()
    return web.Response(
        body=archive,
        content_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="access-request-{found.id}.zip"'},
    )


@requires("admin")
async def request_erase(request: web.Request) -> web.Response:
    """Erase the plate's data (except what a hold or an alert being handled keeps), clear the
    retained MQTT messages that showed it, and answer the request."""
    context = request.app[CONTEXT_KEY]
    body = await json_body(request, ERASE_BODY)
    found = await _one(request, row_id(request, "request_id", "request"))
    if found.kind != "erasure" or not found.open:
        raise ApiError(
            409, "conflict", f"request {found.id} is an {found.kind} request, {found.status}"
        )
    erased = await context.run(lambda: subject.erase(context.store, found.plate))
    privacy.clear_retained(context.mqtt, context.topics, erased.cleared_stations)
    who = request[PRINCIPAL_KEY].who
    try:
        answered = await context.run(
            lambda: register.fulfil(context.store, found.id, who, erased.as_json())
        )
    except register.RequestError as err:
        raise _refused(err) from None
    finally:
        # The erasure happened whatever became of the register: audited by request, never plate.
        await audit(
            request,
            "subject_erasure",
            {"request": found.id, "kept_by_holds": [h.id for h in erased.held]},
            results=erased.transits,
            reason=body["reason"],
        )
    await context.privacy_changed()
    return web.json_response(request_json(answered, datetime.now(UTC)))


async def _note_step(request: web.Request, step: str) -> web.Response:
    context = request.app[CONTEXT_KEY]
    body = await json_body(request, NOTE_BODY)
    request_id = row_id(request, "request_id", "request")
    who = request[PRINCIPAL_KEY].who
    try:
        changed = await context.run(
            lambda: (
                register.extend(context.store, request_id, body["note"])
                if step == "extend"
                else register.refuse(context.store, request_id, body["note"], who)
            )
        )
    except register.RequestError as err:
        raise _refused(err) from None
    await audit(
        request, f"subject_request_{step}", {"request": request_id}, results=1, reason=body["note"]
    )
    await context.privacy_changed()
    return web.json_response(request_json(changed, datetime.now(UTC)))


@requires("admin")
async def request_extend(request: web.Request) -> web.Response:
    """Two more months, once (art. 12(3)), for the reason given."""
    return await _note_step(request, "extend")


@requires("admin")
async def request_refuse(request: web.Request) -> web.Response:
    """Refuse the request for the reason given (art. 12(4))."""
    return await _note_step(request, "refuse")


def routes() -> list[web.RouteDef]:
    base = "/api/v1/privacy/requests"
    return [
        web.get(base, requests_index),
        web.post(base, request_create),
        web.get(base + "/{request_id}", request_one),
        web.get(base + "/{request_id}/access.zip", request_access_zip),
        web.post(base + "/{request_id}/erase", request_erase),
        web.post(base + "/{request_id}/extend", request_extend),
        web.post(base + "/{request_id}/refuse", request_refuse),
    ]
