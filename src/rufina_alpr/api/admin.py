"""Administration: the effective settings (tokens withheld), a retention purge now, and the
audit log (admin role).
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import datetime
from typing import Any

from aiohttp import web

from rufina_alpr import contract, privacy
from rufina_alpr.api.audit import audit, justified, page_body
from rufina_alpr.api.auth import requires
from rufina_alpr.api.context import CONTEXT_KEY
from rufina_alpr.api.params import MAX_CASE_NUMBER, MAX_REASON, Params, iso

_LOGGER = logging.getLogger("rufina_alpr.api")  # log lines keep api.py's logger name


@requires("admin")
async def purge_now(request: web.Request) -> web.Response:
    """Run the retention purge now, each kind at its own age (traffic rolled up first; held
    transits and the evidence of hits still kept stay)."""
    context = request.app[CONTEXT_KEY]
    params = Params(request)
    reason = params.text("reason", max_length=MAX_REASON)
    tz = context.settings.timezone
    retention = context.settings.privacy.retention
    now = datetime.now(tz)
    report = await context.run(lambda: privacy.purge(context.store, now, retention, _LOGGER, tz=tz))
    privacy.clear_retained(context.mqtt, context.topics, report.cleared_stations)
    body = {
        **report.counts(),
        "held": report.held,
        "kept_for_hits": report.kept_for_hits,
        "rolled_up_passages": report.rolled_up_passages,
        "cutoffs": {kind: iso(moment) for kind, moment in report.cutoffs.items()},
    }
    await audit(request, "purge", body, results=report.transits, reason=reason)
    return web.json_response(body)


@requires("admin")
async def settings_view(request: web.Request) -> web.Response:
    """The effective settings without secrets."""
    s = request.app[CONTEXT_KEY].settings
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
                # Days per kind of data (transits, reads, crops, frames, hits, audit).
                "retention": asdict(s.privacy.retention),
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
    context = request.app[CONTEXT_KEY]
    asked = justified(request)
    params = asked.params
    actor = params.text("actor", max_length=120)
    action = params.text("action", max_length=48)
    case = params.text("case", max_length=MAX_CASE_NUMBER)
    since, until = params.time_range()
    limit, offset = params.page()
    log = privacy.Audit(context.store)
    entries = await context.run(
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
    await asked.record(
        "audit_log",
        {**query, "limit": limit, "offset": offset},
        results=min(len(rows), limit),
    )
    return web.json_response(page_body(rows, limit, offset, "entries"))


def routes() -> list[web.RouteDef]:
    return [
        web.get("/api/v1/audit", audit_view),
        web.get("/api/v1/settings", settings_view),
        web.post("/api/v1/purge", purge_now),
    ]
