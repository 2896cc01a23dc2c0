"""Impossible journeys (`rufina_alpr.journeys`) on a real store, SQLite and PostgreSQL: the
distance rule, measured travel times overriding it, what is never judged, and the cache of
measured times (one query per refresh, not one per transit)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from rufina_alpr.alerts import Alert, alert_id
from rufina_alpr.alerts.ledger import raise_alert
from rufina_alpr.config import TrackingSettings
from rufina_alpr.journeys import Fastest, JourneyCheck, distance_km, measured_fastest
from rufina_alpr.stations import Station
from rufina_alpr.store import Store
from rufina_alpr.transits import Transit, transit_id

from .factories import a_transit

T0 = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
NOW = T0 + timedelta(minutes=5)
KM_PER_DEGREE = 111.19508  # of latitude, on the haversine's sphere (6371.0088 km)
# Two stations 10 km apart (fastest plausible at 130 km/h: 277 s), and two without coordinates.
A = Station(id="st_a", name="A", camera="cam_a", kind="lpr", latitude=45.0, longitude=9.0)
B = Station(
    id="st_b",
    name="B",
    camera="cam_b",
    kind="lpr",
    latitude=45.0 + 10 / KM_PER_DEGREE,
    longitude=9.0,
)
C = Station(id="st_c", name="C", camera="cam_c", kind="lpr")
D = Station(id="st_d", name="D", camera="cam_d", kind="lpr")
E = Station(id="st_e", name="E", camera="cam_e", kind="lpr")
STATIONS = [A, B, C, D, E]
PAIRS = [("st_a", "st_b"), ("st_c", "st_e"), ("st_c", "st_d")]
SETTINGS = TrackingSettings()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'journeys.db'}"
    else:
        url = request.getfixturevalue("fresh_postgres_url")
    opened = Store(url, worker="rufina/worker-1")
    yield opened
    opened.close()


def sighting(
    event_id: str,
    station: Station,
    moment: datetime,
    *,
    plate: str = "AB123CD",
    low_confidence: bool = False,
) -> Transit:
    return a_transit(
        station.camera, event_id, moment, plate, station=station.id, read_count=3,
        confidence=0.6 if low_confidence else 0.93, low_confidence=low_confidence,
    )  # fmt: skip


def add(store: Store, *transits: Transit) -> None:
    for transit in transits:
        assert store.add_transit(transit, [])


def check(
    store: Store, journeys: JourneyCheck, transit: Transit, *, now: datetime = NOW
) -> Alert | None:
    """Store the transit and check it in the same transaction, as the engine does."""
    return store.record_outcome(
        transit,
        [],
        then=lambda connection: journeys.check(connection, transit, worker="w1", now=now),
    )


def measured(
    store: Store,
    first: Station,
    then: Station,
    seconds: list[float],
    *,
    ending: datetime | None = None,
    tag: str = "m",
) -> None:
    """One measured journey per duration, each of its own plate: over the days before T0, or
    ending a minute apart up to ``ending``."""
    for index, duration in enumerate(seconds):
        if ending is None:
            start = T0 - timedelta(days=1 + index % 10, hours=index)
        else:
            start = ending - timedelta(minutes=index, seconds=duration)
        plate = f"{tag.upper()}{index:03d}XX"
        add(
            store,
            sighting(f"{tag}{index}a", first, start, plate=plate),
            sighting(f"{tag}{index}b", then, start + timedelta(seconds=duration), plate=plate),
        )


def leg(
    store: Store,
    journeys: JourneyCheck,
    first: Station,
    then: Station,
    *,
    after: float,
    plate: str,
    now: datetime = NOW,
) -> Alert | None:
    """A plate seen at ``first`` at T0 and then at ``then``: what checking the second says."""
    add(store, sighting(f"{plate}-1", first, T0, plate=plate))
    seen = sighting(f"{plate}-2", then, T0 + timedelta(seconds=after), plate=plate)
    return check(store, journeys, seen, now=now)


def test_the_distance_between_the_stations_is_the_haversines() -> None:
    assert distance_km(A, B) == pytest.approx(10.0, abs=0.001)
    assert distance_km(A, C) is None


def test_a_plate_at_two_stations_sooner_than_the_drive_raises_an_alert(store: Store) -> None:
    journeys = JourneyCheck(STATIONS, SETTINGS)
    first = sighting("e1", A, T0)
    add(store, first)
    then = sighting("e2", B, T0 + timedelta(seconds=60))
    alert = check(store, journeys, then)
    assert alert is not None
    assert alert.id == alert_id(then.id, "impossible_journey")
    assert (alert.kind, alert.status, alert.action, alert.match) == (
        "impossible_journey",
        "confirmed",
        "alert",
        "exact",
    )
    assert alert.transit_id == then.id
    assert alert.related_transit_id == first.id
    assert alert.station_id == "st_b"
    assert alert.priority == SETTINGS.journey_priority
    assert (alert.read_plate, alert.score, alert.worker, alert.raised_at) == (
        "AB123CD",
        0.93,
        "w1",
        NOW,
    )
    assert alert.reason == (
        "seen at st_a 12:00:00 UTC, 10.0 km away, 60 s earlier"
        " (here 12:01:00 UTC; fastest plausible 277 s at 130 km/h)"
    )


def test_the_reason_gives_the_operators_local_times(store: Store) -> None:
    journeys = JourneyCheck(STATIONS, SETTINGS, timezone=ZoneInfo("Europe/Rome"))
    alert = leg(store, journeys, A, B, after=60, plate="PR111RR")
    assert alert is not None
    assert alert.reason is not None
    assert alert.reason.startswith("seen at st_a 13:00:00 CET, 10.0 km away, 60 s earlier")
    assert "(here 13:01:00 CET;" in alert.reason


def test_the_drive_at_the_configured_speed_is_the_limit(store: Store) -> None:
    def seen_after(seconds: float, plate: str, journeys: JourneyCheck) -> Alert | None:
        add(store, sighting(f"{plate}a", A, T0, plate=plate))
        then = sighting(f"{plate}b", B, T0 + timedelta(seconds=seconds), plate=plate)
        return check(store, journeys, then)

    journeys = JourneyCheck(STATIONS, SETTINGS)
    # 10 km at 130 km/h: 276.9 s.
    assert seen_after(270, "PA111AA", journeys) is not None
    assert seen_after(280, "PA222AA", journeys) is None
    slow = JourneyCheck(STATIONS, dataclasses.replace(SETTINGS, journey_speed_kmh=50))
    # 10 km at 50 km/h: 720 s.
    assert seen_after(700, "PA333AA", slow) is not None
    assert seen_after(730, "PA444AA", slow) is None


def test_twenty_minutes_apart_is_no_alert(store: Store) -> None:
    journeys = JourneyCheck(STATIONS, SETTINGS)
    add(store, sighting("e1", A, T0))
    assert check(store, journeys, sighting("e2", B, T0 + timedelta(minutes=20))) is None


def test_a_sighting_stored_later_by_another_worker_counts_too(store: Store) -> None:
    journeys = JourneyCheck(STATIONS, SETTINGS)
    later = sighting("e2", B, T0 + timedelta(seconds=40))
    add(store, later)
    earlier = sighting("e1", A, T0)
    alert = check(store, journeys, earlier)
    assert alert is not None
    assert alert.related_transit_id == later.id
    assert alert.transit_id == earlier.id
    assert alert.reason is not None and "40 s later" in alert.reason


def test_only_the_nearest_sighting_either_side_is_judged(store: Store) -> None:
    """A at 12:05, B at 12:08, B again at 12:09: A 12:05 -> B 12:09 (240 s) is under the
    limit, but the car's leg from A was the 12:08 transit's, and at 12:09 it is still at B."""
    journeys = JourneyCheck(STATIONS, SETTINGS)
    add(store, sighting("e1", A, T0 + timedelta(minutes=5)))
    add(store, sighting("e2", B, T0 + timedelta(minutes=8)))
    assert check(store, journeys, sighting("e3", B, T0 + timedelta(minutes=9))) is None
    # Without the 12:08 transit between, the same 240 s is an alert.
    add(store, sighting("e4", A, T0 + timedelta(minutes=5), plate="ZZ999ZZ"))
    alert = check(store, journeys, sighting("e5", B, T0 + timedelta(minutes=9), plate="ZZ999ZZ"))
    assert alert is not None
    assert alert.related_transit_id == transit_id("cam_a", "e4")


def test_measured_journeys_say_a_fast_drive_is_normal(store: Store) -> None:
    """The road is faster than the distance rule allows (say a bypass at 160 km/h): six
    measured journeys of 200-240 s make 100 s (half the lowest of so few) the limit."""
    measured(store, A, B, [200, 210, 220, 230, 240, 235])
    journeys = JourneyCheck(STATIONS, SETTINGS)
    # The distance rule would alert (150 s < 277 s); the measurements say it is normal.
    assert leg(store, journeys, A, B, after=150, plate="PB111BB") is None
    alert = leg(store, journeys, A, B, after=90, plate="PB222BB")
    assert alert is not None
    assert alert.reason is not None
    assert "fastest plausible 100 s, from 6 measured journeys" in alert.reason


def test_measured_journeys_catch_what_the_distance_would_not(store: Store) -> None:
    """A winding road: 10 km as the crow flies but never under 20 minutes by car."""
    measured(store, B, A, [1200, 1300, 1250, 1400, 1500])
    journeys = JourneyCheck(STATIONS, SETTINGS)
    # 400 s passes the distance rule (277 s) but is under half the fastest measured (600 s);
    # the measurements were B -> A and count for A -> B too.
    alert = leg(store, journeys, A, B, after=400, plate="PC111CC")
    assert alert is not None
    assert alert.reason is not None and "fastest plausible 600 s" in alert.reason
    assert leg(store, journeys, A, B, after=620, plate="PC222CC") is None


def test_the_judged_transit_is_not_its_own_measurement(store: Store) -> None:
    """Four measured journeys of 20 minutes: the judged A -> B in 100 s would be the fifth
    (journey_min_samples) and the fastest, and make itself plausible (limit 50 s)."""
    measured(store, A, B, [1200, 1300, 1250, 1400])
    journeys = JourneyCheck(STATIONS, SETTINGS)
    alert = leg(store, journeys, A, B, after=100, plate="PJ111JJ")
    assert alert is not None
    assert alert.reason is not None and "277 s at 130 km/h" in alert.reason


def test_too_few_measured_journeys_leave_the_distance_rule(store: Store) -> None:
    measured(store, A, B, [1200, 1300, 1250, 1400])  # 4 < journey_min_samples
    fewer = JourneyCheck(STATIONS, dataclasses.replace(SETTINGS, journey_min_samples=4))
    journeys = JourneyCheck(STATIONS, SETTINGS)
    with store.engine.connect() as connection:
        by_measure = fewer.fastest(connection, "st_a", "st_b", now=NOW)
        by_distance = journeys.fastest(connection, "st_b", "st_a", now=NOW)
    assert by_measure is not None and (by_measure.seconds, by_measure.samples) == (600.0, 4)
    assert by_distance is not None and by_distance.samples == 0
    assert by_distance.seconds == pytest.approx(276.9, abs=0.1)
    # 400 s: too soon by the four measurements, but they are too few to count.
    assert leg(store, journeys, A, B, after=400, plate="PD111DD") is None


def test_measured_journeys_need_no_coordinates(store: Store) -> None:
    journeys = JourneyCheck(STATIONS, SETTINGS)
    # No coordinates, no measurements: nothing to judge by, however close in time.
    assert leg(store, journeys, C, D, after=1, plate="PE111EE") is None
    measured(store, C, E, [300, 310, 320, 330, 340])
    journeys = JourneyCheck(STATIONS, SETTINGS)
    alert = leg(store, journeys, C, E, after=30, plate="PE222EE")
    assert alert is not None
    assert alert.reason is not None
    assert "away" not in alert.reason
    assert "fastest plausible 150 s, from 5 measured journeys" in alert.reason


def test_an_outlier_among_the_measured_journeys_does_not_lower_the_limit() -> None:
    """A clone among twenty measured journeys (5 s) is the nearest-rank 10th percentile's
    first value left out: the limit is half the second fastest."""
    durations = [5.0, *[300.0 + 10 * i for i in range(19)]]
    assert measured_fastest(durations) == 150.0
    assert measured_fastest([400.0, 300.0, 500.0, 600.0, 700.0]) == 150.0


def test_low_confidence_sightings_are_not_judged(store: Store) -> None:
    journeys = JourneyCheck(STATIONS, SETTINGS)
    add(store, sighting("e1", A, T0))
    shaky = sighting("e2", B, T0 + timedelta(seconds=60), low_confidence=True)
    assert check(store, journeys, shaky) is None
    add(store, sighting("e3", A, T0, plate="XY987ZW", low_confidence=True))
    assert (
        check(store, journeys, sighting("e4", B, T0 + timedelta(seconds=60), plate="XY987ZW"))
        is None
    )


def test_short_plates_and_one_station_are_not_judged(store: Store) -> None:
    journeys = JourneyCheck(STATIONS, SETTINGS)
    add(store, sighting("e1", A, T0, plate="AB12"))
    assert (
        check(store, journeys, sighting("e2", B, T0 + timedelta(seconds=5), plate="AB12")) is None
    )
    add(store, sighting("e3", A, T0))
    assert check(store, journeys, sighting("e4", A, T0 + timedelta(seconds=5))) is None


def test_disabled_is_never_an_alert(store: Store) -> None:
    journeys = JourneyCheck(STATIONS, dataclasses.replace(SETTINGS, impossible_journey=False))
    add(store, sighting("e1", A, T0))
    assert check(store, journeys, sighting("e2", B, T0 + timedelta(seconds=10))) is None


def test_the_measured_times_are_cached_and_refreshed_every_ten_minutes(store: Store) -> None:
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    def refresh_queries() -> int:
        # The refresh is the only query on transits without a plate condition.
        return sum(
            1
            for s in statements
            if s.lstrip().upper().startswith("SELECT")
            and "FROM transits" in s
            and "plate =" not in s
        )

    journeys = JourneyCheck(STATIONS, SETTINGS)
    plates = [f"PL{index:03d}AA" for index in range(5)]
    add(store, *(sighting(f"a{index}", A, T0, plate=plate) for index, plate in enumerate(plates)))
    sa.event.listen(store.engine, "before_cursor_execute", count)
    try:
        # Five checks within ten minutes: one refresh.
        for index in range(5):
            seen = sighting(f"c{index}", B, T0 + timedelta(seconds=60), plate=plates[index])
            assert check(store, journeys, seen, now=NOW + timedelta(minutes=index)) is not None
        assert journeys.refreshes == 1
        assert refresh_queries() == 1
        # Measurements stored now (C and E have no coordinates) are not seen until the next
        # refresh, ten minutes after the last one; then one query brings them in.
        measured(store, C, E, [300, 310, 320, 330, 340], ending=NOW, tag="r")
        with store.engine.connect() as connection:
            assert (
                journeys.fastest(connection, "st_c", "st_e", now=NOW + timedelta(minutes=9)) is None
            )
            assert refresh_queries() == 1
            fastest = journeys.fastest(connection, "st_e", "st_c", now=NOW + timedelta(minutes=10))
        assert fastest is not None and (fastest.seconds, fastest.samples) == (150.0, 5)
        assert journeys.refreshes == 2
        assert refresh_queries() == 2
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", count)


def test_a_refresh_reads_the_recent_hours_and_agrees_with_a_full_load(store: Store) -> None:
    measured(store, A, B, [1200, 1300, 1250, 1400, 1500])  # days before T0
    journeys = JourneyCheck(STATIONS, SETTINGS)
    with store.engine.connect() as connection:
        journeys.refresh(connection, NOW)
    # New legs: faster A-B ones ending after the refresh, C-E ones ending within `LATE` before
    # it, and C-D ones of days ago stored only now (too late to be measured but by a full load).
    measured(store, B, A, [700, 800, 900], ending=NOW + timedelta(minutes=20), tag="n")
    measured(store, C, E, [100, 110, 120, 130, 140], ending=NOW - timedelta(minutes=50), tag="l")
    measured(store, C, D, [400, 410, 420, 430, 440], tag="o")
    later = NOW + timedelta(minutes=30)
    full = JourneyCheck(STATIONS, SETTINGS)
    with store.engine.connect() as connection:
        journeys.refresh(connection, later)
        full.refresh(connection, later)
        got = {(a, b): journeys.fastest(connection, a, b, now=later) for a, b in PAIRS}
        want = {(a, b): full.fastest(connection, a, b, now=later) for a, b in PAIRS}
    assert got[("st_a", "st_b")] == want[("st_a", "st_b")] == Fastest(350.0, 8, distance_km(A, B))
    assert got[("st_c", "st_e")] == want[("st_c", "st_e")] == Fastest(50.0, 5)
    assert got[("st_c", "st_d")] is None
    assert want[("st_c", "st_d")] == Fastest(200.0, 5)


def test_legs_that_raised_the_alert_are_no_measurement(store: Store) -> None:
    """Five clones A -> B in 30 s, each alerted: they must not make 30 s normal."""
    journeys = JourneyCheck(STATIONS, SETTINGS)
    for index in range(5):
        alert = leg(store, journeys, A, B, after=30, plate=f"PK{index}11KK")
        assert alert is not None
        with store.engine.begin() as connection:
            assert raise_alert(connection, alert, cooldown=0) is not None
    fresh = JourneyCheck(STATIONS, SETTINGS)
    with store.engine.connect() as connection:
        fastest = fresh.fastest(connection, "st_a", "st_b", now=NOW)
    assert fastest is not None and fastest.samples == 0


def test_measured_journeys_older_than_the_window_are_forgotten(store: Store) -> None:
    measured(store, A, B, [1200, 1300, 1250, 1400, 1500])  # within ten days of T0
    journeys = JourneyCheck(STATIONS, SETTINGS)
    with store.engine.connect() as connection:
        recent = journeys.fastest(connection, "st_a", "st_b", now=NOW)
        # Fifteen days on (a replayed old event), the measurements are out of the window.
        later = journeys.fastest(connection, "st_a", "st_b", now=NOW + timedelta(days=15))
    assert recent is not None and (recent.seconds, recent.samples) == (600.0, 5)
    assert later is not None and later.samples == 0
    assert journeys.refreshes == 2
