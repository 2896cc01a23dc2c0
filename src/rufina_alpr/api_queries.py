"""Store queries of the HTTP API that no domain module answers: the transit search.

Plate patterns take ``*`` (any run of characters) and ``?`` (one character) and are matched on the
normalised plate (upper case, no spaces, dashes or dots), so ``AB1*`` and ``??123??`` work.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import sqlalchemy as sa

from rufina_alpr.plate_formats import normalize_plate
from rufina_alpr.store import Store, _transit_from_row, transits
from rufina_alpr.transits import Transit

PATTERN: Final = re.compile(r"[A-Z0-9*?]{1,16}")


class PatternError(ValueError):
    """A plate pattern with characters a plate cannot have."""


def plate_pattern(text: str) -> str:
    """The normalised pattern, or PatternError."""
    pattern = normalize_plate(text)
    if not PATTERN.fullmatch(pattern):
        raise PatternError("a plate pattern has 1 to 16 letters, digits and the wildcards * and ?")
    return pattern


def plate_condition(pattern: str) -> sa.ColumnElement[bool]:
    if "*" not in pattern and "?" not in pattern:
        return transits.c.plate == pattern
    # Only A-Z 0-9 * ? get here: no LIKE metacharacter needs escaping.
    return transits.c.plate.like(pattern.replace("*", "%").replace("?", "_"))


@dataclass(frozen=True, slots=True)
class TransitQuery:
    plate: str | None = None
    stations: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    vehicle: str | None = None
    direction: str | None = None


def _select(query: TransitQuery) -> sa.Select[tuple[object, ...]]:
    select = sa.select(transits)
    if query.plate is not None:
        select = select.where(plate_condition(query.plate))
    if query.stations:
        select = select.where(transits.c.station_id.in_(query.stations))
    if query.since is not None:
        select = select.where(transits.c.time >= query.since)
    if query.until is not None:
        select = select.where(transits.c.time <= query.until)
    if query.vehicle is not None:
        select = select.where(transits.c.vehicle == query.vehicle)
    if query.direction is not None:
        select = select.where(transits.c.direction == query.direction)
    return select


def search_transits(store: Store, query: TransitQuery, *, limit: int, offset: int) -> list[Transit]:
    """Matching transits, newest first, without crops (``limit`` rows from ``offset``)."""
    select = (
        _select(query).order_by(transits.c.time.desc(), transits.c.id).limit(limit).offset(offset)
    )
    with store.engine.connect() as connection:
        return [_transit_from_row(row._mapping) for row in connection.execute(select)]
