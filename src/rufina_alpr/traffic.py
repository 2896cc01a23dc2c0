"""Traffic monitoring: vehicle counts per station per 15 minutes, hour or day, per vehicle class and
direction, and unique vehicles per day, for plate-reading and context stations alike.

Counts come from ``passages`` (every vehicle event, read or not). `rollup` adds the passages up to a
moment into ``traffic_counts`` and the unique plates of each complete day into ``traffic_unique``;
both hold numbers only (no plate, no hashed plate), so the statistics survive the retention purge.
A high-water mark per rollup (``traffic_rollup``) makes it idempotent: a passage is added once.
`counts` reads the rollups plus the live passages after the mark, so its answer does not depend on
when the rollup ran. Buckets are aligned in the given time zone (days start at local midnight);
use the engine's zone consistently.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any, Final, Literal

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from rufina_alpr.csv_cells import safe_row
from rufina_alpr.store import (
    Store,
    passages,
    traffic_counts,
    traffic_rollup,
    traffic_unique,
    transits,
)

Period = Literal["15m", "1h", "1d"]
PERIODS: Final[tuple[Period, ...]] = ("15m", "1h", "1d")
Grouping = Literal["vehicle", "direction"]
NETWORK: Final = "*"  # traffic_unique's station for the whole network
_COUNTS: Final = "counts"
_UNIQUE: Final = "unique"


@dataclass(frozen=True, slots=True)
class TrafficCount:
    """Vehicles at a station in one bucket; ``vehicle``/``direction`` None when not grouped by
    them (``direction`` is also None for vehicles of unknown direction)."""

    station_id: str
    period: Period
    start: datetime
    vehicle: str | None
    direction: str | None
    count: int


@dataclass(frozen=True, slots=True)
class UniqueCount:
    """Distinct plates at a station (``"*"``: anywhere in the network) on one local day."""

    station_id: str
    day: date
    vehicles: int


@dataclass(frozen=True, slots=True)
class RollupReport:
    passages: int
    count_rows: int
    days: int
    counts_until: datetime | None
    unique_until: datetime | None


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def bucket_start(moment: datetime, period: Period, tz: tzinfo = UTC) -> datetime:
    """The start of the bucket a moment falls in, in ``tz``."""
    local = _utc(moment).astimezone(tz)
    if period == "15m":
        return local.replace(minute=local.minute - local.minute % 15, second=0, microsecond=0)
    if period == "1h":
        return local.replace(minute=0, second=0, microsecond=0)
    return datetime.combine(local.date(), time(0), tz)


def next_bucket(start: datetime, period: Period, tz: tzinfo = UTC) -> datetime:
    """The start of the bucket after the one starting at ``start``."""
    if period == "1d":
        return datetime.combine(start.astimezone(tz).date() + timedelta(days=1), time(0), tz)
    step = timedelta(minutes=15) if period == "15m" else timedelta(hours=1)
    return (_utc(start) + step).astimezone(tz)


def _day_start(day: date, tz: tzinfo) -> datetime:
    return datetime.combine(day, time(0), tz)


def _mark(connection: Connection, name: str) -> datetime | None:
    found = connection.scalar(
        sa.select(traffic_rollup.c.until).where(traffic_rollup.c.name == name)
    )
    return _utc(found) if found is not None else None


def _set_mark(connection: Connection, name: str, until: datetime) -> None:
    _upsert(connection, traffic_rollup, [{"name": name, "until": until}], ["name"], add=None)


def _upsert(
    connection: Connection,
    table: sa.Table,
    rows: list[dict[str, Any]],
    keys: Sequence[str],
    *,
    add: str | None,
) -> None:
    """Insert rows; on a key conflict add column ``add`` to the stored one (None: replace)."""
    if not rows:
        return
    dialect = connection.dialect.name
    insert: Any
    if dialect == "postgresql":
        insert = postgresql.insert(table)
    elif dialect == "sqlite":
        insert = sqlite.insert(table)
    else:  # pragma: no cover - the store supports SQLite and PostgreSQL
        raise NotImplementedError(dialect)
    values = {c.name: insert.excluded[c.name] for c in table.columns if c.name not in keys}
    if add is not None:
        values[add] = table.c[add] + insert.excluded[add]
    statement = insert.on_conflict_do_update(index_elements=list(keys), set_=values)
    for chunk in range(0, len(rows), 2000):
        connection.execute(statement, rows[chunk : chunk + 2000])


def _passage_buckets(
    connection: Connection,
    since: datetime | None,
    until: datetime,
    tz: tzinfo,
    *,
    periods: Iterable[Period] = PERIODS,
    start: datetime | None = None,
    stations: Sequence[str] | None = None,
) -> tuple[dict[tuple[str, Period, datetime, str, str], int], int]:
    """Passages in [max(since, start), until) added up per station, bucket, class, direction."""
    query = sa.select(
        passages.c.station_id, passages.c.time, passages.c.vehicle, passages.c.direction
    ).where(passages.c.time < until)
    for lower in (since, start):
        if lower is not None:
            query = query.where(passages.c.time >= lower)
    if stations is not None:
        query = query.where(passages.c.station_id.in_(list(stations)))
    wanted = tuple(periods)
    buckets: dict[tuple[str, Period, datetime, str, str], int] = defaultdict(int)
    seen = 0
    result = connection.execute(query.execution_options(yield_per=20000))
    for station_id, moment, vehicle, direction in result:
        seen += 1
        for period in wanted:
            key = (station_id, period, bucket_start(moment, period, tz), vehicle, direction or "")
            buckets[key] += 1
    return buckets, seen


def _unique_for_days(
    connection: Connection, first: date, last: date, tz: tzinfo, stations: Sequence[str] | None
) -> list[UniqueCount]:
    """Distinct plates per station and network-wide for the local days first..last (inclusive)."""
    found = []
    day = first
    while day <= last:
        lower = _utc(_day_start(day, tz))
        upper = _utc(_day_start(day + timedelta(days=1), tz))
        window = sa.and_(transits.c.time >= lower, transits.c.time < upper)
        per_station = sa.select(
            transits.c.station_id, sa.func.count(sa.distinct(transits.c.plate))
        ).where(window)
        if stations is not None:
            per_station = per_station.where(transits.c.station_id.in_(list(stations)))
        for station_id, vehicles in connection.execute(per_station.group_by(transits.c.station_id)):
            found.append(UniqueCount(station_id, day, int(vehicles)))
        if stations is None or NETWORK in stations:
            network = connection.scalar(
                sa.select(sa.func.count(sa.distinct(transits.c.plate))).where(window)
            )
            if network:
                found.append(UniqueCount(NETWORK, day, int(network)))
        day += timedelta(days=1)
    return found


def rollup(store: Store, until: datetime, *, tz: tzinfo = UTC) -> RollupReport:
    """Add the passages before ``until`` to the count rollups, and the unique plates of every
    complete local day before ``until`` to the unique rollups. Idempotent; never goes back."""
    until = _utc(until)
    with store.engine.begin() as connection:
        if store.engine.dialect.name == "postgresql":
            # One rollup at a time across workers: the high-water mark is read, then moved.
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(7364190)"))
        since = _mark(connection, _COUNTS)
        count_rows = seen = 0
        if since is None or until > since:
            buckets, seen = _passage_buckets(connection, since, until, tz)
            rows = [
                {
                    "station_id": station_id,
                    "period": period,
                    "start": _utc(start),
                    "vehicle": vehicle,
                    "direction": direction,
                    "count": count,
                }
                for (station_id, period, start, vehicle, direction), count in buckets.items()
            ]
            _upsert(
                connection,
                traffic_counts,
                rows,
                ["station_id", "period", "start", "vehicle", "direction"],
                add="count",
            )
            count_rows = len(rows)
            _set_mark(connection, _COUNTS, until)
        counts_until = max(until, since) if since else until

        unique_since = _mark(connection, _UNIQUE)
        last_day = until.astimezone(tz).date() - timedelta(days=1)  # the last complete day
        if unique_since is None:
            earliest = connection.scalar(sa.select(sa.func.min(transits.c.time)))
            first_day = (
                _utc(earliest).astimezone(tz).date() if earliest else last_day + timedelta(1)
            )
        else:
            first_day = unique_since.astimezone(tz).date()
        days = 0
        if first_day <= last_day:
            counted = _unique_for_days(connection, first_day, last_day, tz, None)
            _upsert(
                connection,
                traffic_unique,
                [
                    {"station_id": u.station_id, "day": u.day, "vehicles": u.vehicles}
                    for u in counted
                ],
                ["station_id", "day"],
                add=None,
            )
            days = (last_day - first_day).days + 1
        new_unique = _utc(_day_start(last_day + timedelta(days=1), tz))
        if unique_since is None or new_unique > unique_since:
            _set_mark(connection, _UNIQUE, new_unique)
            unique_since = new_unique
    return RollupReport(seen, count_rows, days, counts_until, unique_since)


def counts(
    store: Store,
    *,
    period: Period = "1h",
    start: datetime,
    end: datetime,
    stations: Iterable[str] | None = None,
    by: Iterable[Grouping] = ("vehicle", "direction"),
    tz: tzinfo = UTC,
) -> list[TrafficCount]:
    """Vehicles per station and bucket in [start, end), widened to whole buckets; grouped by
    vehicle class and/or direction (``by``). Rollups plus the passages not rolled up yet.
    Sorted by station, bucket, class, direction; buckets without vehicles are left out."""
    if period not in PERIODS:
        raise ValueError(f"period must be one of {', '.join(PERIODS)}")
    grouping = set(by)
    if not grouping <= {"vehicle", "direction"}:
        raise ValueError("by may hold 'vehicle' and 'direction'")
    lower = _utc(bucket_start(start, period, tz))
    upper = _utc(bucket_start(end, period, tz))
    if upper < _utc(end):
        upper = _utc(next_bucket(upper, period, tz))
    wanted = sorted(set(stations)) if stations is not None else None
    totals: dict[tuple[str, datetime, str | None, str | None], int] = defaultdict(int)

    def add(station_id: str, bucket: datetime, vehicle: str, direction: str, count: int) -> None:
        key = (
            station_id,
            _utc(bucket),
            vehicle if "vehicle" in grouping else None,
            (direction or None) if "direction" in grouping else None,
        )
        totals[key] += count

    with store.engine.connect() as connection:
        mark = _mark(connection, _COUNTS)
        if mark is not None and mark > lower:
            query = sa.select(traffic_counts).where(
                traffic_counts.c.period == period,
                traffic_counts.c.start >= lower,
                traffic_counts.c.start < upper,
            )
            if wanted is not None:
                query = query.where(traffic_counts.c.station_id.in_(wanted))
            for row in connection.execute(query):
                m = row._mapping
                add(m["station_id"], m["start"], m["vehicle"], m["direction"], m["count"])
        buckets, _seen = _passage_buckets(
            connection, mark, upper, tz, periods=(period,), start=lower, stations=wanted
        )
        for (station_id, _period, bucket, vehicle, direction), count in buckets.items():
            add(station_id, bucket, vehicle, direction, count)
    return [
        TrafficCount(station_id, period, bucket.astimezone(tz), vehicle, direction, count)
        for (station_id, bucket, vehicle, direction), count in sorted(
            totals.items(),
            key=lambda item: (item[0][0], item[0][1], item[0][2] or "", item[0][3] or ""),
        )
    ]


def unique_vehicles(
    store: Store,
    *,
    start: date,
    end: date,
    stations: Iterable[str] | None = None,
    tz: tzinfo = UTC,
) -> list[UniqueCount]:
    """Distinct plates per station (and ``"*"``, the network) per local day in [start, end).

    Days before the unique rollup's mark come from ``traffic_unique``, later ones are counted from
    the transits. Sorted by day, then station."""
    wanted = sorted(set(stations)) if stations is not None else None
    found: list[UniqueCount] = []
    with store.engine.connect() as connection:
        mark = _mark(connection, _UNIQUE)
        first_live = mark.astimezone(tz).date() if mark is not None else start
        query = sa.select(traffic_unique).where(
            traffic_unique.c.day >= start, traffic_unique.c.day < min(end, first_live)
        )
        if wanted is not None:
            query = query.where(traffic_unique.c.station_id.in_(wanted))
        found += [UniqueCount(r.station_id, r.day, r.vehicles) for r in connection.execute(query)]
        live_from = max(start, first_live)
        if live_from < end:
            found += _unique_for_days(connection, live_from, end - timedelta(days=1), tz, wanted)
    found.sort(key=lambda u: (u.day, u.station_id))
    return found


CSV_FIELDS: Final = ("station", "period", "start", "vehicle", "direction", "count")


def to_csv(rows: Iterable[TrafficCount]) -> str:
    """Counts as CSV (RFC 4180, header row); times ISO 8601 with their zone, empty for None."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_FIELDS)
    for row in rows:
        writer.writerow(
            safe_row(
                [
                    row.station_id,
                    row.period,
                    row.start.isoformat(),
                    row.vehicle or "",
                    row.direction or "",
                    row.count,
                ]
            )
        )
    return buffer.getvalue()


NO_VEHICLES: Final[dict[str, Any]] = {
    "vehicles_today": 0,
    "vehicles_today_by_class": {},
    "vehicles_today_by_direction": {},
}


def stats_fields(store: Store, now: datetime, *, tz: tzinfo = UTC) -> dict[str, Any]:
    """The traffic part of the retained ``stats`` payload: today's vehicles per station (all
    stations, plate-reading or not) by class and direction, and yesterday's unique vehicles."""
    midnight = bucket_start(now, "1d", tz)
    today = counts(store, period="1d", start=midnight, end=midnight + timedelta(hours=1), tz=tz)
    stations: dict[str, dict[str, Any]] = {}
    for row in today:
        entry = stations.setdefault(
            row.station_id,
            {"vehicles_today": 0, "vehicles_today_by_class": {}, "vehicles_today_by_direction": {}},
        )
        entry["vehicles_today"] += row.count
        by_class = entry["vehicles_today_by_class"]
        by_class[row.vehicle or ""] = by_class.get(row.vehicle or "", 0) + row.count
        direction = row.direction or "unknown"
        by_direction = entry["vehicles_today_by_direction"]
        by_direction[direction] = by_direction.get(direction, 0) + row.count
    yesterday = midnight.date() - timedelta(days=1)
    unique = unique_vehicles(store, start=yesterday, end=midnight.date(), stations=[NETWORK], tz=tz)
    return {
        "vehicles_today": sum(e["vehicles_today"] for e in stations.values()),
        "unique_vehicles_yesterday": unique[0].vehicles if unique else 0,
        "stations": stations,
    }
