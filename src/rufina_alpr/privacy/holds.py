"""Investigation holds: transits kept past retention for a case, until the hold is released."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from rufina_alpr.errors import RufinaError
from rufina_alpr.store import Store, held_transits, transits
from rufina_alpr.store import holds as holds_table
from rufina_alpr.store.schema import utc


class UnknownTransitError(RufinaError, ValueError):
    """A hold names transits the store does not have (never stored, or already purged)."""

    def __init__(self, missing: int) -> None:
        super().__init__(f"{missing} of the transits to hold do not exist (or were purged)")
        self.missing = missing


@dataclass(frozen=True, slots=True)
class Hold:
    id: int
    case_number: str
    reason: str
    created_by: str
    created_at: datetime
    released_at: datetime | None
    transit_ids: tuple[str, ...]

    @property
    def active(self) -> bool:
        return self.released_at is None


def _hold_from(row: Any, transit_ids: Iterable[str]) -> Hold:
    return Hold(
        id=int(row.id),
        case_number=row.case_number,
        reason=row.reason,
        created_by=row.created_by,
        created_at=utc(row.created_at),
        released_at=utc(row.released_at) if row.released_at is not None else None,
        transit_ids=tuple(sorted(transit_ids)),
    )


def hold(
    store: Store,
    transit_ids: Iterable[str],
    case_number: str,
    reason: str,
    created_by: str,
    *,
    now: datetime | None = None,
) -> Hold:
    """Keep these transits past retention for an investigation, until the hold is released.

    Raises `UnknownTransitError` when one of them does not exist, ValueError on an empty list or
    a missing case number or reason.
    """
    wanted = sorted(set(transit_ids))
    if not wanted:
        raise ValueError("a hold needs at least one transit")
    if not case_number.strip() or not reason.strip():
        raise ValueError("a hold needs a case number and a reason")
    with store.engine.begin() as connection:
        found = set(connection.scalars(sa.select(transits.c.id).where(transits.c.id.in_(wanted))))
        if len(found) != len(wanted):
            raise UnknownTransitError(len(wanted) - len(found))
        created = utc(now or datetime.now(UTC))
        hold_id = connection.execute(
            holds_table.insert()
            .values(
                case_number=case_number.strip(),
                reason=reason.strip(),
                created_by=created_by,
                created_at=created,
                released_at=None,
            )
            .returning(holds_table.c.id)
        ).scalar_one()
        connection.execute(
            held_transits.insert(), [{"hold_id": hold_id, "transit_id": t} for t in wanted]
        )
        row = connection.execute(sa.select(holds_table).where(holds_table.c.id == hold_id)).one()
    return _hold_from(row, wanted)


def release(store: Store, hold_id: int, *, now: datetime | None = None) -> Hold | None:
    """End a hold (its transits fall under the retention again); None when there is no such
    hold. Releasing a released hold changes nothing."""
    with store.engine.begin() as connection:
        connection.execute(
            holds_table.update()
            .where(holds_table.c.id == hold_id, holds_table.c.released_at.is_(None))
            .values(released_at=utc(now or datetime.now(UTC)))
        )
    found = holds(store, hold_ids=[hold_id])
    return found[0] if found else None


def holds(
    store: Store,
    *,
    active_only: bool = False,
    case_number: str | None = None,
    hold_ids: Iterable[int] | None = None,
) -> list[Hold]:
    """Holds, newest first, with the ids of their (still stored) transits."""
    query = sa.select(holds_table).order_by(holds_table.c.id.desc())
    if active_only:
        query = query.where(holds_table.c.released_at.is_(None))
    if case_number is not None:
        query = query.where(holds_table.c.case_number == case_number)
    if hold_ids is not None:
        query = query.where(holds_table.c.id.in_(list(hold_ids)))
    with store.engine.connect() as connection:
        rows = list(connection.execute(query))
        links: dict[int, list[str]] = {}
        if rows:
            for hold_id, transit_id in connection.execute(
                sa.select(held_transits.c.hold_id, held_transits.c.transit_id).where(
                    held_transits.c.hold_id.in_([r.id for r in rows])
                )
            ):
                links.setdefault(int(hold_id), []).append(transit_id)
    return [_hold_from(row, links.get(int(row.id), ())) for row in rows]
