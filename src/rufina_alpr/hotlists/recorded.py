"""A transit's hotlist matches in the store: recorded in the transaction that stores the transit,
each marked whether it is the match its vehicle's alert was raised or confirmed for."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from rufina_alpr.hotlists.models import MAX_REASON, HotlistMatch
from rufina_alpr.store import hotlist_entries, hotlist_matches, hotlists


def record_matches(
    connection: Connection,
    transit_id: str,
    station_id: str,
    moment: datetime,
    matches: Sequence[HotlistMatch],
    *,
    alerted_entry: int | None,
) -> None:
    """Store a transit's matches (``moment`` in UTC); the one of entry ``alerted_entry`` is the
    alert's (`rufina_alpr.alerts`). The transit is new in the same transaction
    (`Store.record_outcome`), so it has no matches yet."""
    for match in matches:
        connection.execute(
            hotlist_matches.insert().values(
                transit_id=transit_id,
                list_id=match.list_id,
                entry_id=match.entry_id,
                entry_plate=match.entry_plate,
                read_plate=match.read_plate[:16],
                score=match.score,
                match=match.match,
                action=match.action,
                priority=match.priority,
                reason=(match.reason or "")[:MAX_REASON] or None,
                station_id=station_id,
                time=moment,
                alerted=alerted_entry is not None and match.entry_id == alerted_entry,
                published_at=None,
            )
        )


def matches_query() -> sa.Select[Any]:
    """Recorded matches with their list's name and kind and their entry's notes, in order."""
    return (
        sa.select(
            hotlist_matches,
            hotlists.c.name.label("list_name"),
            hotlists.c.kind.label("list_kind"),
            hotlist_entries.c.notes.label("notes"),
        )
        .select_from(
            hotlist_matches.outerjoin(
                hotlists, hotlists.c.id == hotlist_matches.c.list_id
            ).outerjoin(hotlist_entries, hotlist_entries.c.id == hotlist_matches.c.entry_id)
        )
        .order_by(hotlist_matches.c.id)
    )
