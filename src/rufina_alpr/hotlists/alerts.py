"""A transit's hotlist matches in the store: recording them (with the alert cooldown) in the
transaction that stores the transit, and finding the alerts the broker has not acknowledged."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from rufina_alpr.hotlists.models import (
    MAX_REASON,
    HotlistMatch,
    PendingAlert,
    match_from_row,
    with_record,
)
from rufina_alpr.store import hotlist_entries, hotlist_matches, hotlists, transits


def record_matches(
    connection: Connection,
    transit_id: str,
    station_id: str,
    moment: datetime,
    matches: Sequence[HotlistMatch],
    *,
    cooldown: float,
) -> list[HotlistMatch]:
    """Store a transit's matches (``moment`` in UTC); return those that must alert now (with
    their ``record_id``): not on an allow-list, and no alert for the same entry plate at the
    same station within ``cooldown`` seconds. The transit is new in the same transaction
    (`Store.record_outcome`), so it has no matches yet."""
    window = timedelta(seconds=cooldown)
    alerts: list[HotlistMatch] = []
    for match in matches:
        alerted = match.alerts and not connection.scalar(
            sa.select(sa.func.count())
            .select_from(hotlist_matches)
            .where(
                hotlist_matches.c.entry_plate == match.entry_plate,
                hotlist_matches.c.station_id == station_id,
                hotlist_matches.c.alerted.is_(True),
                hotlist_matches.c.transit_id != transit_id,
                hotlist_matches.c.time > moment - window,
                hotlist_matches.c.time < moment + window,
            )
        )
        inserted = connection.execute(
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
                alerted=alerted,
                published_at=None,
            )
        )
        if alerted:
            key = inserted.inserted_primary_key
            alerts.append(with_record(match, key[0] if key else None))
    return alerts


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


def pending(
    connection: Connection,
    *,
    transit_id: str | None = None,
    worker: str | None = None,
    limit: int = 500,
) -> list[PendingAlert]:
    """Alerts the broker has not acknowledged, oldest first: of one transit, or of one worker's
    transits."""
    query = matches_query().where(
        hotlist_matches.c.alerted.is_(True), hotlist_matches.c.published_at.is_(None)
    )
    if transit_id is not None:
        query = query.where(hotlist_matches.c.transit_id == transit_id)
    if worker is not None:
        query = query.where(
            hotlist_matches.c.transit_id.in_(
                sa.select(transits.c.id).where(transits.c.worker == worker)
            )
        )
    rows = connection.execute(query.limit(limit)).all()
    return [PendingAlert(row.transit_id, match_from_row(row._mapping)) for row in rows]
