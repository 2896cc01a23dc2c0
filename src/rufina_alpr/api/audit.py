"""The audit log: ``audit()`` records who asked what, why and how many results before a
response with plates goes out. ``justified(request)`` is the preamble of every handler that
returns plates (its parameters, then the ``reason`` it must give) and its ``record`` the audit
entry with that justification; pages of results and the audited page of a query.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web

from rufina_alpr import contract, privacy
from rufina_alpr.api.auth import PRINCIPAL_KEY
from rufina_alpr.api.context import CONTEXT_KEY
from rufina_alpr.api.params import Params, T, iso

_LOGGER = logging.getLogger("rufina_alpr.api")  # log lines keep api.py's logger name


async def audit(
    request: web.Request,
    action: str,
    query: Mapping[str, Any],
    *,
    results: int | None,
    reason: str | None,
    case_number: str | None = None,
) -> None:
    """Append to the audit log (before the caller answers): who (and for whom), role, when, what,
    why, how many."""
    context = request.app[CONTEXT_KEY]
    principal = request[PRINCIPAL_KEY]
    log = privacy.Audit(context.store)
    await context.run(
        lambda: log.record(
            principal.name,
            principal.role,
            action,
            jsonable(query),
            acting_user=principal.acting_user,
            reason=reason,
            case_number=case_number,
            results=results,
        )
    )
    _LOGGER.info("audit: %s by %s (%s), %s results", action, principal.who, principal.role, results)


def jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime):
        return contract.iso_time(value)
    return value


@dataclass(frozen=True, slots=True)
class Justified:
    """A request that returns plates: its query parameters and the justification it must give
    (``reason``, optional ``case_number``), read before anything else; ``record`` writes its
    audit entry with that justification, before the answer goes out."""

    request: web.Request
    params: Params
    reason: str
    case_number: str | None

    async def record(self, action: str, query: Mapping[str, Any], *, results: int | None) -> None:
        await audit(
            self.request,
            action,
            query,
            results=results,
            reason=self.reason,
            case_number=self.case_number,
        )


def justified(request: web.Request) -> Justified:
    """The preamble of every handler that returns plates: a 400 without a valid ``reason``."""
    params = Params(request)
    reason, case_number = params.justification()
    return Justified(request, params, reason, case_number)


async def audited_results(
    asked: Justified,
    action: str,
    query: dict[str, Any],
    found: Sequence[T],
    serialize: Callable[[T], dict[str, Any]],
    *,
    page: tuple[int, int],
    window: tuple[datetime, datetime],
) -> web.Response:
    """One page of a query that returns plates, audited (query, page, total) before it is sent;
    the answer says the window it covers (`time_window` may have cut it)."""
    limit, offset = page
    await asked.record(action, {**query, "limit": limit, "offset": offset}, results=len(found))
    items = [serialize(item) for item in found[offset : offset + limit + 1]]
    body = page_body(items, limit, offset, "results")
    body["total"] = len(found)
    body["since"], body["until"] = (iso(moment) for moment in window)
    return web.json_response(body)


def page_body(items: list[Any], limit: int, offset: int, key: str) -> dict[str, Any]:
    more = len(items) > limit
    return {
        key: items[:limit],
        "limit": limit,
        "offset": offset,
        "next_offset": offset + limit if more else None,
    }
