"""Traffic counts and rollups on a generated day (SQLite, PostgreSQL) against the ground truth."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from rufina_alpr import contract, traffic
from rufina_alpr.store import Store, traffic_counts, traffic_unique
from tests.engine.traffic_day import ROME, TrafficDay, generate_day, insert_day, store_on


@pytest.fixture(scope="module")
def day() -> TrafficDay:
    return generate_day(seed=11, scale=0.5)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, day: TrafficDay
) -> Iterator[Store]:
    server = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    with store_on(request.param, tmp_path_factory.mktemp("traffic"), server) as opened:
        insert_day(opened, day, with_crops=False)
        yield opened


def expected_counts(
    day: TrafficDay, period: traffic.Period, by: tuple[str, ...]
) -> list[tuple[str, datetime, str | None, str | None, int]]:
    """Bucketed from the generator's passages with plain arithmetic on local wall-clock time."""
    found: Counter[tuple[str, datetime, str | None, str | None]] = Counter()
    for passage in day.passages:
        local = passage.time.astimezone(ROME)
        if period == "1d":
            bucket = datetime(local.year, local.month, local.day, tzinfo=ROME)
        elif period == "1h":
            bucket = datetime(local.year, local.month, local.day, local.hour, tzinfo=ROME)
        else:
            minute = local.minute // 15 * 15
            bucket = datetime(local.year, local.month, local.day, local.hour, minute, tzinfo=ROME)
        found[
            (
                passage.station_id,
                bucket,
                passage.vehicle if "vehicle" in by else None,
                passage.direction if "direction" in by else None,
            )
        ] += 1
    return sorted(
        ((*key, count) for key, count in found.items()),
        key=lambda r: (r[0], r[1], r[2] or "", r[3] or ""),
    )


def as_tuples(
    rows: list[traffic.TrafficCount],
) -> list[tuple[str, datetime, str | None, str | None, int]]:
    return [(r.station_id, r.start, r.vehicle, r.direction, r.count) for r in rows]


@pytest.mark.parametrize("period", ["15m", "1h", "1d"])
@pytest.mark.parametrize("by", [("vehicle", "direction"), ("vehicle",), ()])
def test_counts_per_station_period_class_and_direction(
    store: Store, day: TrafficDay, period: traffic.Period, by: tuple[traffic.Grouping, ...]
) -> None:
    expected = expected_counts(day, period, by)
    live = traffic.counts(store, period=period, start=day.start, end=day.end, by=by, tz=ROME)
    assert as_tuples(live) == expected
    assert {r.station_id for r in live} == {s.id for s in day.registry.stations}  # all 34
    # Rolled up half-way, then completely: the same answer, and rolling up again changes nothing.
    traffic.rollup(store, day.at(13, 7), tz=ROME)
    assert (
        as_tuples(
            traffic.counts(store, period=period, start=day.start, end=day.end, by=by, tz=ROME)
        )
        == expected
    )
    traffic.rollup(store, day.end + timedelta(hours=2), tz=ROME)
    traffic.rollup(store, day.end + timedelta(hours=2), tz=ROME)
    traffic.rollup(store, day.at(9), tz=ROME)  # never goes back
    assert (
        as_tuples(
            traffic.counts(store, period=period, start=day.start, end=day.end, by=by, tz=ROME)
        )
        == expected
    )
    with store.engine.connect() as connection:
        total = connection.scalar(
            sa.select(sa.func.sum(traffic_counts.c.count)).where(traffic_counts.c.period == period)
        )
    assert total == len(day.passages)


def test_counts_of_context_stations_and_filters(store: Store, day: TrafficDay) -> None:
    rows = traffic.counts(
        store,
        period="1d",
        start=day.at(10, 20),  # widened to whole days
        end=day.at(10, 21),
        stations=["scuole", "cimitero"],
        by=("direction",),
        tz=ROME,
    )
    expected = Counter(
        (p.station_id, p.direction) for p in day.passages if p.station_id in {"scuole", "cimitero"}
    )
    assert {(r.station_id, r.direction): r.count for r in rows} == dict(expected)
    assert {r.direction for r in rows if r.station_id == "scuole"} == {"inbound", "outbound"}
    assert {r.direction for r in rows if r.station_id == "cimitero"} == {None}
    with pytest.raises(ValueError, match="period"):
        traffic.counts(store, period="5m", start=day.start, end=day.end)  # type: ignore[arg-type]


def test_unique_vehicles_per_day_survive_the_rollup(store: Store, day: TrafficDay) -> None:
    per_station: dict[str, set[str]] = {}
    for record in day.transits:
        per_station.setdefault(record.station_id, set()).add(record.plate)
    expected = {station: len(plates) for station, plates in per_station.items()}
    expected[traffic.NETWORK] = len({r.plate for r in day.transits})
    following = day.day + timedelta(days=1)

    def got() -> dict[str, int]:
        rows = traffic.unique_vehicles(store, start=day.day, end=following, tz=ROME)
        assert {r.day for r in rows} == {day.day}
        return {r.station_id: r.vehicles for r in rows}

    assert got() == expected
    traffic.rollup(store, day.at(18), tz=ROME)  # the day is not complete: still counted live
    with store.engine.connect() as connection:
        assert connection.scalar(sa.select(sa.func.count()).select_from(traffic_unique)) == 0
    assert got() == expected
    report = traffic.rollup(store, day.end + timedelta(minutes=5), tz=ROME)
    assert report.days == 1
    with store.engine.connect() as connection:
        stored = dict(
            connection.execute(
                sa.select(traffic_unique.c.station_id, traffic_unique.c.vehicles)
            ).all()
        )
    assert stored == expected
    assert got() == expected
    network = traffic.unique_vehicles(store, start=day.day, end=following, stations=["*"], tz=ROME)
    assert [(u.station_id, u.vehicles) for u in network] == [("*", expected["*"])]


def test_csv_export(store: Store, day: TrafficDay) -> None:
    rows = traffic.counts(store, period="1h", start=day.start, end=day.end, tz=ROME)
    text = traffic.to_csv(rows)
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert list(parsed[0]) == list(traffic.CSV_FIELDS)
    assert len(parsed) == len(rows)
    assert sum(int(r["count"]) for r in parsed) == len(day.passages)
    assert datetime.fromisoformat(parsed[0]["start"]).utcoffset() == timedelta(hours=1)


def test_stats_fields_extend_the_stats_payload(store: Store, day: TrafficDay) -> None:
    now = day.at(23, 30)
    fields = traffic.stats_fields(store, now, tz=ROME)
    assert fields["vehicles_today"] == len(day.passages)
    assert fields["unique_vehicles_yesterday"] == 0
    scuole = fields["stations"]["scuole"]
    assert scuole["vehicles_today"] == sum(1 for p in day.passages if p.station_id == "scuole")
    assert sum(scuole["vehicles_today_by_direction"].values()) == scuole["vehicles_today"]
    tomorrow = traffic.stats_fields(store, now + timedelta(hours=2), tz=ROME)
    assert tomorrow["unique_vehicles_yesterday"] == len({r.plate for r in day.transits})
    payload = {
        "v": contract.CONTRACT_VERSION,
        "time": contract.iso_time(now),
        "transits_today": len(day.transits),
        "queue": 0,
        "counters": {},
        "stations": {
            station: {"transits_today": 0, "vehicles_last_hour": 0, **entry}
            for station, entry in fields["stations"].items()
        },
        "vehicles_today": fields["vehicles_today"],
        "unique_vehicles_yesterday": fields["unique_vehicles_yesterday"],
        "retention_days": 7,
    }
    contract.validate("stats", payload)
    text = contract.encode(payload).decode()
    assert not any(r.plate in text for r in day.transits)


def test_bucket_edges_in_local_time() -> None:
    moment = datetime(2026, 3, 29, 1, 59, tzinfo=UTC)  # 03:59 CEST, the day the clocks go forward
    assert traffic.bucket_start(moment, "1d", ROME) == datetime(2026, 3, 29, tzinfo=ROME)
    assert traffic.bucket_start(moment, "1h", ROME).hour == 3
    assert traffic.bucket_start(moment, "15m", ROME).minute == 45
    day_start = datetime(2026, 3, 29, tzinfo=ROME)
    following = traffic.next_bucket(day_start, "1d", ROME)
    assert following.astimezone(UTC) - day_start.astimezone(UTC) == timedelta(hours=23)
