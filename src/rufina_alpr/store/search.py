"""The store's queries for the HTTP API that no domain module answers as such: the transit
search, and the operator panel's live transits and crops.

With a plate pattern (``*`` any run of characters, ``?`` one character, matched on the normalised
plate) the search is `tracking.search`; without one, the same filters and order over every
transit. Every function is synchronous: callers run it on the database thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from rufina_alpr import tracking
from rufina_alpr.store.schema import crops, transits, utc
from rufina_alpr.store.transits import Store, transit_from_row
from rufina_alpr.transits import Transit


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
        return [transit_from_row(row._mapping) for row in connection.execute(select)]


def recent_transit_ids(
    store: Store, *, created_after: datetime, since: datetime, limit: int
) -> list[tuple[str, datetime]]:
    """Ids and storing times of the transits of ``since`` or later stored after
    ``created_after``, in storing order, at most ``limit``: cheap, so the overlap the live feed
    re-reads costs no crops, and no batch limit can hide newer transits behind ones already sent
    (at 10 vehicles/s the panel fell 11 s behind that way)."""
    query = (
        sa.select(transits.c.id, transits.c.created_at)
        .where(transits.c.time >= utc(since))
        .where(transits.c.created_at > utc(created_after))
        .order_by(transits.c.created_at, transits.c.id)
        .limit(limit)
    )
    with store.engine.connect() as connection:
        return [(row.id, utc(row.created_at)) for row in connection.execute(query)]


def transits_by_id(store: Store, ids: list[str]) -> list[Transit]:
    """These transits (with crops), in the order given."""
    query = (
        sa.select(transits, crops.c.jpeg)
        .select_from(transits.outerjoin(crops, crops.c.transit_id == transits.c.id))
        .where(transits.c.id.in_(ids))
    )
    with store.engine.connect() as connection:
        found = {row.id: transit_from_row(row._mapping) for row in connection.execute(query)}
    return [found[i] for i in ids if i in found]


def latest_transits(store: Store, limit: int) -> list[Transit]:
    """The newest transits (with crops), newest first."""
    query = (
        sa.select(transits, crops.c.jpeg)
        .select_from(transits.outerjoin(crops, crops.c.transit_id == transits.c.id))
        .order_by(transits.c.time.desc(), transits.c.id)
        .limit(limit)
    )
    with store.engine.connect() as connection:
        return [transit_from_row(row._mapping) for row in connection.execute(query)]


def crops_of(store: Store, ids: list[str]) -> dict[str, bytes]:
    """The crops of these transits that have one, by transit id."""
    query = sa.select(crops.c.transit_id, crops.c.jpeg).where(crops.c.transit_id.in_(ids))
    with store.engine.connect() as connection:
        return {row.transit_id: row.jpeg for row in connection.execute(query)}
