"""Read quality per plate-reading station (issue 26 point 4): the last hour's share read against
the station's own normal, on a real store (SQLite, PostgreSQL), and the `stats` payload's block."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import jsonschema
import pytest

from rufina_alpr import contract
from rufina_alpr.config import settings_from_mapping
from rufina_alpr.engine.app import Engine
from rufina_alpr.read_quality import (
    MIN_VEHICLES,
    REASONS,
    ReadCounts,
    ReadQualityWatch,
    judge,
    read_counts,
)
from rufina_alpr.store import PASSAGE_COUNTED, PASSAGE_READ, PASSAGE_UNREAD, Store
from tests.engine.traffic_day import store_on

from .conftest import TEST_STATIONS

NOW = datetime(2026, 11, 25, 22, 30, tzinfo=UTC)
_IDS = itertools.count()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    server = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    with store_on(request.param, tmp_path, server) as opened:
        yield opened


def add(
    store: Store,
    station: str,
    time: datetime,
    count: int,
    *,
    status: str = PASSAGE_READ,
    reason: str | None = None,
) -> None:
    """``count`` vehicle events at ``station``, spread over the minute after ``time``."""
    for n in range(count):
        event = f"{next(_IDS)}.0-rq"
        assert store.add_passage(
            event_id=event,
            station_id=station,
            camera=f"cam_{station}",
            time=time + timedelta(seconds=n * 60 / count),
            vehicle="car",
            direction=None,
            status=status,
            reason=reason,
        )


def add_week(store: Store, station: str, read: int, unread: int) -> None:
    """A normal week before ``NOW``'s hour: ``read`` and ``unread`` vehicles spread over days."""
    for day in range(1, 7):
        moment = NOW - timedelta(days=day, hours=3)
        add(store, station, moment, read // 6)
        add(store, station, moment, unread // 6, status=PASSAGE_UNREAD, reason="no plate read")


def test_read_counts_by_station_and_reason_code(store: Store) -> None:
    """One grouped query: vehicles in the window per station, the unread by reason code (the
    engine's wording of each reason, joined failures by their first)."""
    since = NOW - timedelta(hours=1)
    add(store, "st_pomino", since, 6)
    add(store, "st_pomino", since, 2, status=PASSAGE_COUNTED)  # an authorised vehicle: read
    add(store, "st_pomino", since, 3, status=PASSAGE_UNREAD, reason="no plate read")
    add(store, "st_pomino", since, 1, status=PASSAGE_UNREAD, reason="no snapshot")
    add(
        store,
        "st_pomino",
        since,
        2,
        status=PASSAGE_UNREAD,
        reason="frigate unreachable: timeout after 5 s",
    )
    add(store, "st_pomino", since, 1, status=PASSAGE_UNREAD, reason="frigate: 404 Not Found")
    add(
        store,
        "st_pomino",
        since,
        1,
        status=PASSAGE_UNREAD,
        reason="image: truncated; recognizer: boom",
    )
    add(store, "st_pomino", since, 1, status=PASSAGE_UNREAD, reason="recognizer: model failed")
    add(
        store,
        "st_pomino",
        since,
        1,
        status=PASSAGE_UNREAD,
        reason="not in Frigate's events any more",
    )
    add(
        store,
        "st_pomino",
        since,
        1,
        status=PASSAGE_UNREAD,
        reason="Frigate still tracks the object",
    )
    add(store, "st_pomino", since, 1, status=PASSAGE_UNREAD, reason=None)
    add(store, "st_roma", since, 4)
    add(
        store,
        "st_roma",
        since - timedelta(minutes=2),
        9,
        status=PASSAGE_UNREAD,
        reason="no plate read",
    )
    add(
        store, "st_roma", NOW, 5, status=PASSAGE_UNREAD, reason="no plate read"
    )  # the window ends before now

    counts = read_counts(store, since, NOW)

    assert counts["st_roma"] == ReadCounts(vehicles=4, unread=0, reasons={})
    pomino = counts["st_pomino"]
    assert pomino.vehicles == 20
    assert pomino.unread == 12
    assert dict(pomino.reasons) == {
        "no_plate": 3,
        "no_snapshot": 1,
        "frigate_unreachable": 2,
        "frigate_error": 1,
        "image_unusable": 1,
        "recognizer_failed": 1,
        "not_in_frigate": 1,
        "other": 2,
    }
    assert set(pomino.reasons) == set(REASONS)
    assert pomino.share == pytest.approx(8 / 20)
    assert pomino.commonest_reason == "no_plate"
    assert ReadCounts().share is None and ReadCounts().commonest_reason is None
    # A tie goes to the first code in REASONS.
    assert ReadCounts(4, 4, {"no_plate": 2, "frigate_error": 2}).commonest_reason == "frigate_error"


@pytest.mark.parametrize(
    ("was_low", "vehicles", "read", "normal", "low"),
    [
        (False, 40, 36, None, False),  # no normal: never low
        (True, 40, 0, None, False),
        (False, MIN_VEHICLES - 1, 0, 0.9, False),  # too few vehicles: as it was
        (True, MIN_VEHICLES - 1, MIN_VEHICLES - 1, 0.9, True),
        (False, 0, 0, 0.9, False),
        (True, 0, 0, 0.9, True),
        (False, 100, 62, 0.9, True),  # under 70 % of 90 %
        (False, 100, 63, 0.9, False),
        (False, 100, 70, 0.9, False),  # between the marks: not raised...
        (True, 100, 70, 0.9, True),  # ...and not cleared
        (True, 100, 77, 0.9, False),  # back over 85 % of 90 %
    ],
)
def test_judge_has_hysteresis(
    was_low: bool, vehicles: int, read: int, normal: float | None, low: bool
) -> None:
    assert judge(was_low, ReadCounts(vehicles, vehicles - read), normal) is low


def test_watch_raises_keeps_and_clears_against_the_station_own_normal(store: Store) -> None:
    """A station that reads 90 % in a normal week and 50 % this hour is low; it stays low at
    70 % (between the marks) and clears at 80 %. A station reading 60 % all week long, a quiet
    one and a new one (no normal) are never low."""
    add_week(store, "st_pomino", read=900, unread=102)
    add_week(store, "st_roma", read=600, unread=396)
    watch = ReadQualityWatch()
    stations = ("st_pomino", "st_roma", "st_new")

    def hour(moment: datetime, station: str, read: int, unread: int) -> None:
        add(store, station, moment - timedelta(minutes=30), read)
        add(
            store,
            station,
            moment - timedelta(minutes=30),
            unread,
            status=PASSAGE_UNREAD,
            reason="no plate read",
        )

    hour(NOW, "st_pomino", read=15, unread=15)
    hour(NOW, "st_roma", read=18, unread=12)
    hour(NOW, "st_new", read=0, unread=30)
    first = watch.measure(store, NOW, stations)
    pomino = first["st_pomino"].payload()
    assert pomino == {
        "vehicles": 30,
        "read": 15,
        "share": 0.5,
        "commonest_unread_reason": "no_plate",
        "unread_by_reason": {"no_plate": 15},
        "normal_share": pytest.approx(0.898, abs=0.001),
        "low": True,
    }
    assert first["st_roma"].low is False
    assert first["st_roma"].normal_share == pytest.approx(0.6, abs=0.005)
    assert first["st_new"].normal_share is None and first["st_new"].low is False

    later = NOW + timedelta(hours=1)
    hour(later, "st_pomino", read=21, unread=9)  # 70 %: still low
    assert watch.measure(store, later, stations)["st_pomino"].low is True
    quiet = later + timedelta(hours=1)
    hour(quiet, "st_pomino", read=5, unread=0)  # too few to say it recovered
    assert watch.measure(store, quiet, stations)["st_pomino"].low is True
    recovered = quiet + timedelta(hours=1)
    hour(recovered, "st_pomino", read=24, unread=6)  # 80 %: cleared
    result = watch.measure(store, recovered, stations)["st_pomino"]
    assert result.low is False
    assert result.normal_share is not None and result.normal_share < 0.898  # hourly refresh


async def test_stats_payload_carries_read_quality_of_plate_reading_stations(
    tmp_path: Path,
) -> None:
    """Each plate-reading station's block is in the payload and valid against the schema; a
    context station has none."""
    settings = settings_from_mapping(
        {
            "data_dir": str(tmp_path),
            "api": {"token": "read-quality-test-token-0123"},
            "stations": [
                {"id": s.id, "name": s.name, "camera": s.camera, "kind": s.kind}
                for s in TEST_STATIONS
            ],
        }
    )
    engine = Engine(settings, cast(Any, None))
    try:
        recently = datetime.now(UTC) - timedelta(minutes=5)

        def passages() -> None:
            add(engine.store, "st_pomino", recently, 3)
            add(engine.store, "st_pomino", recently, 1, status=PASSAGE_UNREAD, reason="no snapshot")

        await engine.db.run(passages)
        payload = await engine.housekeeping.stats_payload()
    finally:
        await engine.stop(drain_timeout=0)
    contract.validate("stats", payload)
    stations = payload["stations"]
    assert stations["st_pomino"]["read_quality"] == {
        "vehicles": 4,
        "read": 3,
        "share": 0.75,
        "commonest_unread_reason": "no_snapshot",
        "unread_by_reason": {"no_snapshot": 1},
        "normal_share": None,
        "low": False,
    }
    assert stations["st_roma"]["read_quality"]["share"] is None
    assert "read_quality" not in stations["st_piazza"]
    pomino = stations["st_pomino"]
    broken = {**pomino["read_quality"], "commonest_unread_reason": "dirty"}
    with pytest.raises(jsonschema.ValidationError, match="'dirty'"):
        contract.validate(
            "stats", {**payload, "stations": {"st_pomino": {**pomino, "read_quality": broken}}}
        )
