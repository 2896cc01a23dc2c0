"""Tracking queries on a generated day of traffic, on SQLite and PostgreSQL, checked against the
generator's ground truth (expected answers computed here from the records, not from the store)."""

from __future__ import annotations

import fnmatch
import itertools
import math
import statistics
from collections import defaultdict
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from rufina_alpr import tracking
from rufina_alpr.store import Store
from tests.engine.traffic_day import TrafficDay, TransitRecord, generate_day, insert_day, store_on

GAP = timedelta(minutes=30)


@pytest.fixture(scope="module")
def day() -> TrafficDay:
    return generate_day(seed=6)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, day: TrafficDay
) -> Iterator[Store]:
    server = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    with store_on(request.param, tmp_path_factory.mktemp("tracking"), server) as opened:
        insert_day(opened, day, with_crops=False)
        yield opened


def by_plate(day: TrafficDay) -> dict[str, list[TransitRecord]]:
    found: dict[str, list[TransitRecord]] = defaultdict(list)
    for record in sorted(day.transits, key=lambda t: (t.time, t.id)):
        found[record.plate].append(record)
    return found


def test_plate_history_is_every_transit_of_the_plate_in_order(
    store: Store, day: TrafficDay
) -> None:
    plates = by_plate(day)
    for plate in (day.loiterer, *day.hotlisted, *list(plates)[::97]):
        got = tracking.plate_history(store, plate, day.start, day.end)
        assert [t.id for t in got] == [r.id for r in plates[plate]]
    # Lower case and spaces are normalised; the window is half-open.
    loiterer = plates[day.loiterer]
    got = tracking.plate_history(
        store,
        day.loiterer.lower()[:2] + " " + day.loiterer[2:],
        loiterer[1].time,
        loiterer[-1].time,
    )
    assert [t.id for t in got] == [r.id for r in loiterer[1:-1]]


def expected_journeys(records: list[TransitRecord]) -> list[list[str]]:
    journeys: list[list[str]] = []
    for index, record in enumerate(records):
        if index == 0 or record.time - records[index - 1].time > GAP:
            journeys.append([])
        journeys[-1].append(record.id)
    return journeys


def test_route_splits_journeys_on_gaps(store: Store, day: TrafficDay) -> None:
    plates = by_plate(day)
    sample = [p for p in plates if day.kinds.get(p) in {"delivery", "commuter", "loiterer"}][::7]
    assert len(sample) > 40
    for plate in sample:
        journeys = tracking.route(store, plate, day.start, day.end, GAP)
        assert [[t.id for t in j.transits] for j in journeys] == expected_journeys(plates[plate])
    # A commuter read right at every station: one journey in, one journey back.
    misread_plates = set(day.misreads.values())
    commuter = next(
        p
        for p in plates
        if day.kinds.get(p) == "commuter" and p not in misread_plates and len(plates[p]) >= 4
    )
    journeys = tracking.route(store, commuter, day.start, day.end, GAP)
    assert len(journeys) == 2
    assert journeys[0].end < journeys[1].start
    assert {s.endswith("_in") for s in journeys[0].stations} == {True}
    assert {s.endswith("_out") for s in journeys[1].stations} == {True}


def test_travel_times_between_station_pairs(store: Store, day: TrafficDay) -> None:
    durations: dict[tuple[str, str], list[float]] = defaultdict(list)
    for records in by_plate(day).values():
        for before, after in itertools.pairwise(records):
            gap = (after.time - before.time).total_seconds()
            if before.station_id != after.station_id and gap <= GAP.total_seconds():
                durations[(before.station_id, after.station_id)].append(gap)
    got = tracking.travel_times(store, day.start, day.end, GAP)
    assert [(t.from_station, t.to_station) for t in got] == sorted(durations)
    for item in got:
        values = sorted(durations[(item.from_station, item.to_station)])
        assert item.count == len(values)
        assert item.median == pytest.approx(statistics.median(values))
        assert item.p90 == pytest.approx(values[math.ceil(0.9 * len(values)) - 1])
    pomino = next(t for t in got if (t.from_station, t.to_station) == ("pomino_in", "via_roma_in"))
    assert 13 * 60 <= pomino.median <= 16 * 60  # 6 + 3 + 4 minutes of road, plus stops


def test_seen_at_pomino_then_in_rufina_at_night(store: Store, day: TrafficDay) -> None:
    found = tracking.seen_then(
        store,
        "pomino_in",
        "via_roma_in",
        start=day.at(2),
        end=day.at(4),
        within=timedelta(hours=1),
    )
    assert tuple(f.plate for f in found) == day.night_pomino_rufina
    for item in found:
        assert item.first.station_id == "pomino_in"
        assert item.then.station_id == "via_roma_in"
        assert timedelta(0) < item.elapsed <= timedelta(hours=1)


def test_seen_then_over_the_day(store: Store, day: TrafficDay) -> None:
    within = timedelta(minutes=20)
    plates = by_plate(day)
    expected = []
    for record in sorted(day.transits, key=lambda t: (t.time, t.id)):
        if record.station_id != "ss67_contea_in":
            continue
        then = next(
            (
                r
                for r in plates[record.plate]
                if r.station_id == "via_roma_in" and record.time < r.time <= record.time + within
            ),
            None,
        )
        if then is not None:
            expected.append((record.id, then.id))
    got = tracking.seen_then(
        store, "ss67_contea_in", "via_roma_in", start=day.start, end=day.end, within=within
    )
    assert [(f.first.id, f.then.id) for f in got] == expected
    assert len(expected) > 100


def brute_force_loiterers(
    records: list[TransitRecord], station: str | None, min_count: int, window: timedelta
) -> dict[str, int]:
    seen: dict[str, list[TransitRecord]] = defaultdict(list)
    for record in records:
        if station is None or record.station_id == station:
            seen[record.plate].append(record)
    found = {}
    for plate, items in seen.items():
        best = max(sum(1 for b in items if a.time <= b.time <= a.time + window) for a in items)
        if best >= min_count:
            found[plate] = best
    return found


@pytest.mark.parametrize(
    ("station", "min_count", "window"),
    [("via_roma_in", 4, timedelta(hours=2)), (None, 8, timedelta(hours=3)), ("municipio", 2, GAP)],
)
def test_loitering(
    store: Store, day: TrafficDay, station: str | None, min_count: int, window: timedelta
) -> None:
    expected = brute_force_loiterers(day.transits, station, min_count, window)
    got = tracking.loitering(
        store, station, min_count=min_count, window=window, start=day.start, end=day.end
    )
    assert {item.plate: item.count for item in got} == expected
    if station != "municipio":  # a context camera: no transits, nobody
        assert day.loiterer in expected
    for item in got:
        assert item.last - item.first <= window
        assert len(item.transit_ids) == item.count


@pytest.mark.parametrize("shape", ["prefix", "middle", "exact", "suffix"])
def test_wildcard_search(store: Store, day: TrafficDay, shape: str) -> None:
    plate = day.loiterer
    pattern = {
        "prefix": plate[:3] + "*",
        "middle": "??" + plate[2:5] + "??",
        "exact": plate,
        "suffix": "*" + plate[-3:],
    }[shape]
    expected = sorted(
        (r for r in day.transits if fnmatch.fnmatchcase(r.plate, pattern)),
        key=lambda r: (-r.time.timestamp(), r.id),
    )
    got = tracking.search(store, pattern.lower(), limit=1000)
    assert [t.id for t in got] == [r.id for r in expected]
    assert len(expected) >= 8


def test_search_filters_and_pages(store: Store, day: TrafficDay) -> None:
    stations = ["via_roma_in", "via_roma_out"]
    expected = sorted(
        (
            r
            for r in day.transits
            if fnmatch.fnmatchcase(r.plate, "?*")
            and r.station_id in stations
            and r.vehicle == "truck"
            and day.at(8) <= r.time < day.at(18)
        ),
        key=lambda r: (-r.time.timestamp(), r.id),
    )
    assert len(expected) > 20
    pages = [
        tracking.search(
            store,
            "?*",
            stations=stations,
            vehicle="truck",
            start=day.at(8),
            end=day.at(18),
            limit=10,
            offset=offset,
        )
        for offset in range(0, len(expected) + 10, 10)
    ]
    assert [t.id for page in pages for t in page] == [r.id for r in expected]


def test_search_patterns_are_safe(store: Store, day: TrafficDay) -> None:
    for bad in ("AB%", "A_1", "*", "**", "", "AB'; DROP TABLE transits; --", "A" * 17):
        with pytest.raises(tracking.PatternError):
            tracking.search(store, bad)
    assert tracking.like_pattern("AB*1?") == "AB%1_"
    assert tracking.like_pattern("A%B_C") == "A\\%B\\_C"
    assert tracking.literal_prefix("AB1*2?") == "AB1"
    assert tracking.search(store, "ZZZZZZZ?") == []


def test_prefix_search_uses_an_index_on_sqlite(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'plan.db'}", worker="plan")
    with store.engine.connect() as connection:
        plan = connection.execute(
            sa.text(
                "EXPLAIN QUERY PLAN SELECT * FROM transits WHERE plate >= 'AB1' AND plate < 'AB2'"
                " AND plate LIKE 'AB1%' ESCAPE '\\' ORDER BY time DESC LIMIT 100"
            )
        ).all()
    store.close()
    assert any("ix_transits_plate_time" in str(row) for row in plan), plan
