"""The privacy pack for admins: its state against the configuration now, a new pack (recorded,
audited, downloaded as a ZIP), and one document as a printable page for the panel's viewer.

The pack is written from the settings, the hotlists' definitions and, when Frigate answers in
time, Frigate's own retention (``GET /api/config``), which the documents then state as checked.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any, Final

from aiohttp import web

from rufina_alpr.api.audit import audit
from rufina_alpr.api.auth import PRINCIPAL_KEY, requires
from rufina_alpr.api.context import CONTEXT_KEY, ApiContext
from rufina_alpr.api.params import Params, iso, not_found
from rufina_alpr.frigate import FrigateError
from rufina_alpr.privacy.pack import (
    DOCUMENT_IDS,
    DOCUMENTS,
    LANGS,
    FrigateObserved,
    Lang,
    PackInputs,
    build_pack,
    document,
    frigate_observed,
    list_definitions,
    pack_inputs,
    pack_status,
    pack_zip,
    record_pack,
    render,
    to_html,
)

_LOGGER = logging.getLogger("rufina_alpr.api")  # log lines keep api.py's logger name

FRIGATE_TIMEOUT: Final = 5.0
"""Seconds Frigate's configuration may take: without it the documents ask to check it."""


async def _frigate_retention(context: ApiContext) -> FrigateObserved | None:
    """Frigate's retention as its running configuration states it; None when it cannot say."""
    client = context.frigate()
    if client is None:
        return None
    try:
        async with asyncio.timeout(FRIGATE_TIMEOUT):
            config = await client.config()
    except (FrigateError, TimeoutError, ValueError) as err:
        _LOGGER.info("privacy pack: Frigate's configuration not read (%s)", type(err).__name__)
        return None
    return frigate_observed(config)


async def _inputs(context: ApiContext, *, frigate: bool) -> PackInputs:
    """The pack's facts now (with Frigate's retention when ``frigate``)."""
    lists = await context.run(lambda: list_definitions(context.store))
    observed = await _frigate_retention(context) if frigate else None
    return pack_inputs(context.settings, lists, frigate_observed=observed)


@requires("admin")
async def pack_state(request: web.Request) -> web.Response:
    """The last pack generated against the configuration now, and the documents' state."""
    context = request.app[CONTEXT_KEY]
    inputs = await _inputs(context, frigate=False)
    status = await context.run(lambda: pack_status(context.store, inputs))
    documents: list[dict[str, Any]] = [
        {
            "id": spec.id,
            "title": {lang: spec.title(lang) for lang in LANGS},
            "sections": list(spec.sections),
            "hash": spec.hash(inputs),
            "outdated": spec.id in status.outdated,
        }
        for spec in DOCUMENTS
    ]
    return web.json_response(
        {
            "state": status.state,
            "generated_at": iso(status.generated_at) if status.generated_at else None,
            "generated_by": status.generated_by,
            "outdated": list(status.outdated),
            "changed": list(status.changed),
            "documents": documents,
        }
    )


@requires("admin")
async def pack_generate(request: web.Request) -> web.Response:
    """Generate the pack now, record it (``privacy_packs``, the audit log) and send its ZIP."""
    context = request.app[CONTEXT_KEY]
    who = request[PRINCIPAL_KEY].who
    inputs = await _inputs(context, frigate=True)
    pack = await asyncio.to_thread(build_pack, inputs, generated_by=who)
    pack_id = await context.run(lambda: record_pack(context.store, pack))
    await context.privacy_changed()  # the health's privacy section says current at once
    await audit(
        request,
        "privacy_pack",
        {"pack": pack_id, "sections": pack.sections},
        results=len(DOCUMENTS),
        reason=None,
    )
    archive = await asyncio.to_thread(pack_zip, pack)
    name = f"rufina-privacy-pack-{pack.generated_at:%Y%m%d-%H%M}.zip"
    return web.Response(
        body=archive,
        content_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@requires("admin")
async def pack_document(request: web.Request) -> web.Response:
    """One document, as the configuration writes it now, as a printable HTML page."""
    context = request.app[CONTEXT_KEY]
    lang: Lang = "en" if Params(request).choice("lang", LANGS, "it") == "en" else "it"
    try:
        spec = document(request.match_info["doc"])
    except KeyError:
        raise not_found(f"no such document (one of: {', '.join(DOCUMENT_IDS)})") from None
    inputs = await _inputs(context, frigate=spec.states_frigate_reading)
    now = datetime.now(UTC)
    page = await asyncio.to_thread(
        lambda: to_html(render(spec, lang, inputs, now), title=spec.title(lang), lang=lang)
    )
    return web.Response(text=page, content_type="text/html", charset="utf-8")


def routes() -> list[web.RouteDef]:
    return [
        web.get("/api/v1/privacy/pack", pack_state),
        web.post("/api/v1/privacy/pack", pack_generate),
        web.get("/api/v1/privacy/pack/documents/{doc}", pack_document),
    ]
