"""Store queries of the HTTP API that no domain module answers as such: the transit search.

With a plate pattern (``*`` any run of characters, ``?`` one character, matched on the normalised
plate) it is `tracking.search`; without one, the same filters and order over every transit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from rufina_alpr import tracking
from rufina_alpr.store import Store, _transit_from_row, transits
from rufina_alpr.transits import Transit

PatternError = tracking.PatternError


def plate_pattern(text: str) -> str:
    """The normalised pattern, or PatternError."""
    return tracking.normalize_pattern(text)


@dataclass(frozen=True, slots=True)
class TransitQuery:
    plate: str | None = None
    stations: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    vehicle: str | None = None


def search_transits(store: Store, query: TransitQuery, *, limit: int, offset: int) -> list[Transit]:
    """Matching transits in [since, until), newest first, without crops."""
    if query.plate is not None:
        return tracking.search(
            store,
            query.plate,
            stations=query.stations or None,
            start=query.since,
            end=query.until,
            vehicle=query.vehicle,
            limit=limit,
            offset=offset,
        )
    select = sa.select(transits)
    if query.stations:
        select = select.where(transits.c.station_id.in_(query.stations))
    if query.since is not None:
        select = select.where(transits.c.time >= query.since)
    if query.until is not None:
        select = select.where(transits.c.time < query.until)
    if query.vehicle is not None:
        select = select.where(transits.c.vehicle == query.vehicle)
    select = select.order_by(transits.c.time.desc(), transits.c.id).limit(limit).offset(offset)
    with store.engine.connect() as connection:
        return [_transit_from_row(row._mapping) for row in connection.execute(select)]
