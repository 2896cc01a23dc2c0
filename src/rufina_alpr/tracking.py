"""Vehicle tracking: a plate's history and route, travel times, station-to-station and loitering
queries, and plate searches with wildcards.

Every function takes a `Store` and is synchronous (the service runs it on its database thread).
Plates are compared in their normalised form (`normalize_plate`). Time windows are half-open,
``start <= time < end``. These functions return personal data: the caller audits them
(`rufina_alpr.privacy.Audit`).
"""

from __future__ import annotations

import math
import re
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import sqlalchemy as sa

from rufina_alpr.errors import RufinaError
from rufina_alpr.plate_formats import normalize_plate
from rufina_alpr.store import Store, transit_from_row, transits
from rufina_alpr.transits import Transit

# A search pattern: plate characters plus the wildcards ``*`` (any run) and ``?`` (one character).
PATTERN: Final = re.compile(r"[A-Z0-9*?]{1,16}")
LIKE_ESCAPE: Final = "\\"


class PatternError(RufinaError, ValueError):
    """A search pattern with characters a plate cannot have, or too long."""


@dataclass(frozen=True, slots=True)
class Journey:
    """Consecutive transits of one plate with no gap longer than the journey gap."""

    plate: str
    transits: tuple[Transit, ...]

    @property
    def start(self) -> datetime:
        return self.transits[0].time

    @property
    def end(self) -> datetime:
        return self.transits[-1].time

    @property
    def stations(self) -> tuple[str, ...]:
        return tuple(t.station_id for t in self.transits)


@dataclass(frozen=True, slots=True)
class TravelTime:
    """Travel time from one station to the next within journeys, in seconds.

    ``median`` is the statistical median; ``p90`` the nearest-rank 90th percentile.
    """

    from_station: str
    to_station: str
    count: int
    median: float
    p90: float


@dataclass(frozen=True, slots=True)
class SeenThen:
    """A plate seen at station A (``first``) and then at station B (``then``) within the limit."""

    plate: str
    first: Transit
    then: Transit

    @property
    def elapsed(self) -> timedelta:
        return self.then.time - self.first.time


@dataclass(frozen=True, slots=True)
class Loiterer:
    """A plate seen ``count`` times at a station within one window (``first`` to ``last``)."""

    plate: str
    count: int
    first: datetime
    last: datetime
    transit_ids: tuple[str, ...]


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _window(query: Any, start: datetime | None, end: datetime | None) -> Any:
    if start is not None:
        query = query.where(transits.c.time >= _utc(start))
    if end is not None:
        query = query.where(transits.c.time < _utc(end))
    return query


def _fetch(store: Store, query: Any) -> list[Transit]:
    with store.engine.connect() as connection:
        return [transit_from_row(row._mapping) for row in connection.execute(query)]


def plate_history(
    store: Store, plate: str, start: datetime | None = None, end: datetime | None = None
) -> list[Transit]:
    """Every transit of one plate in the window, oldest first (without crops)."""
    query = sa.select(transits).where(transits.c.plate == normalize_plate(plate))
    query = _window(query, start, end).order_by(transits.c.time, transits.c.id)
    return _fetch(store, query)


def split_journeys(history: Sequence[Transit], journey_gap: timedelta) -> list[Journey]:
    """Split one plate's ordered transits where the gap between two exceeds ``journey_gap``."""
    journeys: list[Journey] = []
    current: list[Transit] = []
    for transit in history:
        if current and transit.time - current[-1].time > journey_gap:
            journeys.append(Journey(current[0].plate, tuple(current)))
            current = []
        current.append(transit)
    if current:
        journeys.append(Journey(current[0].plate, tuple(current)))
    return journeys


def route(
    store: Store,
    plate: str,
    start: datetime | None = None,
    end: datetime | None = None,
    journey_gap: timedelta = timedelta(minutes=30),
) -> list[Journey]:
    """A vehicle's route: its ordered transits, split into journeys on gaps > ``journey_gap``."""
    return split_journeys(plate_history(store, plate, start, end), journey_gap)


def _percentile(ordered: Sequence[float], share: float) -> float:
    """Nearest-rank percentile of sorted values."""
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def travel_times(
    store: Store,
    start: datetime,
    end: datetime,
    journey_gap: timedelta = timedelta(minutes=30),
    *,
    stations: Iterable[str] | None = None,
) -> list[TravelTime]:
    """Travel times between consecutive transits of a journey at two different stations.

    Only pairs with both transits in the window count; ``stations`` keeps the pairs whose two
    stations are both in it. Sorted by station pair.
    """
    query = sa.select(transits.c.plate, transits.c.station_id, transits.c.time)
    query = _window(query, start, end).order_by(transits.c.plate, transits.c.time)
    durations: dict[tuple[str, str], list[float]] = defaultdict(list)
    wanted = set(stations) if stations is not None else None
    previous: tuple[str, str, datetime] | None = None
    with store.engine.connect() as connection:
        for plate, station_id, stored_time in connection.execute(query):
            moment = _utc(stored_time)
            if previous is not None and previous[0] == plate:
                gap = (moment - previous[2]).total_seconds()
                if (
                    previous[1] != station_id
                    and gap <= journey_gap.total_seconds()
                    and (wanted is None or {previous[1], station_id} <= wanted)
                ):
                    durations[(previous[1], station_id)].append(gap)
            previous = (plate, station_id, moment)
    result = []
    for (origin, destination), values in sorted(durations.items()):
        values.sort()
        result.append(
            TravelTime(
                from_station=origin,
                to_station=destination,
                count=len(values),
                median=float(statistics.median(values)),
                p90=float(_percentile(values, 0.9)),
            )
        )
    return result


def seen_then(
    store: Store,
    station_a: str,
    station_b: str,
    *,
    start: datetime,
    end: datetime,
    within: timedelta,
) -> list[SeenThen]:
    """Vehicles seen at ``station_a`` and then at ``station_b`` at most ``within`` later.

    Both transits lie in the window. For each transit at A, the first later transit of the same
    plate at B; one result per transit at A, in the order of the A transits.
    """
    at_a = _fetch(
        store,
        _window(sa.select(transits).where(transits.c.station_id == station_a), start, end).order_by(
            transits.c.time, transits.c.id
        ),
    )
    if not at_a:
        return []
    at_b: dict[str, list[Transit]] = defaultdict(list)
    query = sa.select(transits).where(transits.c.station_id == station_b)
    query = _window(query, start, end).order_by(transits.c.time, transits.c.id)
    for transit in _fetch(store, query):
        at_b[transit.plate].append(transit)
    found = []
    for first in at_a:
        then = next(
            (b for b in at_b.get(first.plate, ()) if first.time < b.time <= first.time + within),
            None,
        )
        if then is not None:
            found.append(SeenThen(first.plate, first, then))
    return found


def loitering(
    store: Store,
    station: str | None,
    *,
    min_count: int,
    window: timedelta,
    start: datetime,
    end: datetime,
) -> list[Loiterer]:
    """Plates seen at least ``min_count`` times within ``window`` at a station (None: anywhere).

    For each such plate, its busiest window (most transits; the earliest on a tie). Sorted by
    count (descending), then plate.
    """
    query = sa.select(transits.c.plate, transits.c.time, transits.c.id)
    if station is not None:
        query = query.where(transits.c.station_id == station)
    query = _window(query, start, end).order_by(transits.c.plate, transits.c.time, transits.c.id)
    by_plate: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    with store.engine.connect() as connection:
        for plate, moment, transit_id in connection.execute(query):
            by_plate[plate].append((_utc(moment), transit_id))
    found = []
    for plate, seen in by_plate.items():
        if len(seen) < min_count:
            continue
        best: tuple[int, int] = (0, 0)  # (count, index of the window's first transit)
        last = 0
        for first in range(len(seen)):
            last = max(last, first)
            while last + 1 < len(seen) and seen[last + 1][0] - seen[first][0] <= window:
                last += 1
            if last - first + 1 > best[0]:
                best = (last - first + 1, first)
        count, first = best
        if count >= min_count:
            chosen = seen[first : first + count]
            found.append(
                Loiterer(
                    plate=plate,
                    count=count,
                    first=chosen[0][0],
                    last=chosen[-1][0],
                    transit_ids=tuple(t for _, t in chosen),
                )
            )
    found.sort(key=lambda item: (-item.count, item.plate))
    return found


def normalize_pattern(pattern: str) -> str:
    """A search pattern in plate form (``ab-1*`` -> ``AB1*``); PatternError when it is not one."""
    text = normalize_plate(pattern)
    if not PATTERN.fullmatch(text) or not text.strip("*"):
        raise PatternError(
            "a plate pattern has 1-16 letters, digits and wildcards (* any run, ? one character)"
            " and at least one character that is not *"
        )
    return text


def like_pattern(pattern: str) -> str:
    """The SQL LIKE form of a normalised pattern (``%`` and ``_`` escaped with a backslash)."""
    escaped = (
        pattern.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2)
        .replace("%", LIKE_ESCAPE + "%")
        .replace("_", LIKE_ESCAPE + "_")
    )
    return escaped.replace("*", "%").replace("?", "_")


def literal_prefix(pattern: str) -> str:
    """The characters before the first wildcard: what a B-tree index can seek to."""
    match = re.match(r"[^*?]*", pattern)
    return match.group(0) if match else ""


def search(
    store: Store,
    pattern: str,
    *,
    stations: Iterable[str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    vehicle: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Transit]:
    """Transits whose plate matches a pattern with wildcards (``AB1*``, ``??123??``), newest first.

    A pattern without wildcards is an exact plate. A literal prefix (``AB1*``) is an index range
    on both databases; a leading wildcard scans the window (narrow it with ``start``/``end``).
    """
    text = normalize_pattern(pattern)
    column = transits.c.plate
    if "*" not in text and "?" not in text:
        condition: Any = column == text
    else:
        condition = column.like(like_pattern(text), escape=LIKE_ESCAPE)
        prefix = literal_prefix(text)
        if prefix and store.engine.dialect.name == "sqlite":
            # SQLite's LIKE is case-insensitive, so it cannot seek a binary index by itself: the
            # equivalent range on the (plate, time) index does (plates are stored uppercase).
            upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
            condition = sa.and_(column >= prefix, column < upper, condition)
    query = sa.select(transits).where(condition)
    if stations is not None:
        query = query.where(transits.c.station_id.in_(list(stations)))
    if vehicle is not None:
        query = query.where(transits.c.vehicle == vehicle)
    query = _window(query, start, end)
    query = query.order_by(transits.c.time.desc(), transits.c.id).limit(limit).offset(offset)
    return _fetch(store, query)
