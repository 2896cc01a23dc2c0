"""Retention purge, holds and the audit log on a generated day (SQLite and PostgreSQL)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from rufina_alpr import privacy, traffic
from rufina_alpr.alerts import ledger
from rufina_alpr.privacy.settings import Retention
from rufina_alpr.store import Store, crops, hotlist_matches, metadata, transits
from tests.engine.traffic_day import ROME, TrafficDay, generate_day, insert_day, store_on

RETENTION = timedelta(days=7)
KINDS = Retention()  # every kind 7 days (the audit log 365)


@pytest.fixture(scope="module")
def day() -> TrafficDay:
    return generate_day(seed=21, scale=0.4)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, day: TrafficDay
) -> Iterator[Store]:
    server = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    with store_on(request.param, tmp_path_factory.mktemp("privacy"), server) as opened:
        insert_day(opened, day)
        yield opened


def aggregates(store: Store, day: TrafficDay) -> list[object]:
    found: list[object] = []
    for period in traffic.PERIODS:
        found += traffic.counts(store, period=period, start=day.start, end=day.end, tz=ROME)
    found += traffic.unique_vehicles(store, start=day.day, end=day.day + timedelta(days=1), tz=ROME)
    return found


def every_stored_text(store: Store) -> str:
    """Every row of every table as text (binary columns decoded leniently)."""
    parts = []
    with store.engine.connect() as connection:
        for table in metadata.sorted_tables:
            for row in connection.execute(sa.select(table)):
                for value in row:
                    parts.append(
                        value.decode("latin-1") if isinstance(value, bytes) else str(value)
                    )
    return "\n".join(parts)


def add_matches(store: Store, day: TrafficDay) -> int:
    hotlisted = [t for t in day.transits if t.true_plate in day.hotlisted]
    with store.engine.begin() as connection:
        connection.execute(
            hotlist_matches.insert(),
            [
                {
                    "transit_id": t.id,
                    "list_id": day.hotlisted[t.true_plate],
                    "entry_plate": t.true_plate,
                    "read_plate": t.plate,
                    "score": 1.0 if t.plate == t.true_plate else 0.9,
                    "match": "exact" if t.plate == t.true_plate else "fuzzy",
                    "action": "alert",
                    "priority": 1,
                    "station_id": t.station_id,
                    "time": t.time,
                    "alerted": True,
                }
                for t in hotlisted
            ],
        )
        # Their alerts, each with its evidence frame (personal data too), rejected at once: their
        # retention runs from then.
        for t in hotlisted:
            now = t.time
            transit = store.transit(t.id)
            assert transit is not None
            alert = ledger.new_alert(
                transit, kind="hotlist", status="confirmed", worker="test", now=now,
                action="alert", priority=1, read_plate=t.plate, score=1.0,
                entry_plate=t.true_plate,
            )  # fmt: skip
            assert ledger.raise_alert(connection, alert, cooldown=0) is not None
            ledger.apply_step(connection, alert.id, "acknowledge", actor="t", acting_user=None,
                              now=now)  # fmt: skip
            ledger.apply_step(connection, alert.id, "reject", actor="t", acting_user=None,
                              reason="misread", now=now)  # fmt: skip
            ledger.keep_frame(connection, alert.id, f"frame of {t.plate}".encode(), "clean",
                              now=now)  # fmt: skip
    return len(hotlisted)


def test_purge_leaves_no_plate_and_the_same_aggregates(
    store: Store, day: TrafficDay, caplog: pytest.LogCaptureFixture
) -> None:
    matches = add_matches(store, day)
    stolen = next(p for p, kind in day.hotlisted.items() if kind == "stolen")
    held_ids = [t.id for t in day.transits if t.true_plate == stolen][:3]
    hold = privacy.hold(store, held_ids, "PM-2026/0147", "furto auto, denuncia 0312", "ispettore")
    before = aggregates(store, day)
    assert before

    # Before retention runs out nothing goes.
    early = privacy.purge(store, day.start + RETENTION, KINDS, tz=ROME)
    assert (early.transits, early.passages) == (0, 0)

    logger = logging.getLogger("rufina_alpr.test_purge")
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        report = privacy.purge(
            store, day.end + RETENTION + timedelta(minutes=1), KINDS, logger, tz=ROME
        )
    assert report.transits == len(day.transits) - len(held_ids)
    assert report.crops == report.reads == report.transits
    assert report.hotlist_matches == matches - sum(
        1 for t in day.transits if t.id in held_ids and t.true_plate in day.hotlisted
    )
    assert report.alerts == report.hotlist_matches  # one alert each, held ones kept
    assert report.passages == len(day.passages) - len(held_ids)
    assert report.held == len(held_ids)

    # One INFO line with counts, no plate at all in what was logged.
    lines = [r for r in caplog.records if r.name == logger.name]
    assert [r.levelno for r in lines] == [logging.INFO]
    assert f"{report.transits} transits" in lines[0].getMessage()
    logged = caplog.text
    assert not any(t.plate in logged or t.true_plate in logged for t in day.transits)

    # No plate left anywhere but in the held transits (and their crops, reads, matches).
    stored = every_stored_text(store)
    held_plates = {t.plate for t in day.transits if t.id in held_ids} | {stolen}
    leaked = {t.plate for t in day.transits if t.plate not in held_plates and t.plate in stored} | {
        t.true_plate
        for t in day.transits
        if t.true_plate not in held_plates and t.true_plate in stored
    }
    assert leaked == set()
    with store.engine.connect() as connection:
        assert sorted(connection.scalars(sa.select(transits.c.id))) == sorted(held_ids)
        assert sorted(connection.scalars(sa.select(crops.c.transit_id))) == sorted(held_ids)

    # The statistics are the same, from the rollups alone.
    assert aggregates(store, day) == before

    # The held transits survive with their case number, until the hold is released.
    [kept] = privacy.holds(store, active_only=True)
    assert (kept.case_number, kept.transit_ids) == ("PM-2026/0147", tuple(sorted(held_ids)))
    assert privacy.release(store, hold.id) is not None
    assert privacy.holds(store, active_only=True) == []
    again = privacy.purge(store, day.end + RETENTION + timedelta(hours=1), KINDS, tz=ROME)
    assert (again.transits, again.held) == (len(held_ids), 0)
    assert aggregates(store, day) == before
    assert stolen not in every_stored_text(store)
    [released] = privacy.holds(store)
    assert released.case_number == "PM-2026/0147"
    assert released.released_at is not None


def test_holds_need_known_transits_a_case_and_a_reason(store: Store, day: TrafficDay) -> None:
    some = [day.transits[0].id]
    with pytest.raises(privacy.UnknownTransitError):
        privacy.hold(store, [*some, "no-such-transit"], "PM-1", "reason", "ispettore")
    with pytest.raises(ValueError, match="case number"):
        privacy.hold(store, some, " ", "reason", "ispettore")
    with pytest.raises(ValueError, match="at least one"):
        privacy.hold(store, [], "PM-1", "reason", "ispettore")
    first = privacy.hold(store, some, "PM-1", "reason", "ispettore")
    second = privacy.hold(store, some, "PM-2", "another case", "commissario")
    assert [h.id for h in privacy.holds(store)] == [second.id, first.id]
    assert [h.case_number for h in privacy.holds(store, case_number="PM-1")] == ["PM-1"]
    assert privacy.release(store, 9999) is None
    released = privacy.release(store, first.id)
    assert released is not None
    assert released.released_at is not None
    assert privacy.release(store, first.id) == released  # releasing again changes nothing
    # Still held by the second case.
    report = privacy.purge(store, day.end + RETENTION * 2, KINDS, tz=ROME)
    assert report.held == 1


def test_audit_log_is_append_only_and_queryable(store: Store) -> None:
    audit = privacy.Audit(store)
    t0 = datetime(2026, 3, 12, 9, 0, tzinfo=UTC)
    first = audit.record(
        "mario",
        "operator",
        "search",
        {"pattern": "AB1*", "start": t0, "stations": ("pomino_in",)},
        reason="furto",
        case_number="PM-7",
        results=3,
        now=t0,
    )
    audit.record("anna", "admin", "route", {"plate": "AB123CD"}, reason="x", now=t0 + timedelta(1))
    audit.record("mario", "operator", "export", {"period": "1h"}, now=t0 + timedelta(2))
    assert [e.action for e in audit.entries()] == ["export", "route", "search"]
    [entry] = audit.entries(actor="mario", action="search")
    assert entry.id == first
    assert entry.query == {"pattern": "AB1*", "start": t0.isoformat(), "stations": ["pomino_in"]}
    assert (entry.reason, entry.case_number, entry.results) == ("furto", "PM-7", 3)
    assert [e.actor for e in audit.entries(start=t0 + timedelta(1))] == ["mario", "anna"]
    assert [e.action for e in audit.entries(case_number="PM-7")] == ["search"]
    assert [e.action for e in audit.entries(limit=1, offset=1)] == ["route"]
    public = {name for name in dir(audit) if not name.startswith("_")}
    assert public == {"record", "entries"}
    with pytest.raises(ValueError, match="actor"):
        audit.record("", "operator", "search", {})


def test_audit_log_outlives_the_transits_and_has_its_own_retention(store: Store) -> None:
    """The purge keeps recent audit entries (they name plates on purpose) and drops old ones."""
    audit = privacy.Audit(store)
    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    audit.record(
        "mario", "operator", "route", {"plate": "AB123CD"}, reason="x", now=now - timedelta(400)
    )
    recent = audit.record(
        "anna", "operator", "route", {"plate": "EF456GH"}, reason="y", now=now - timedelta(30)
    )
    report = privacy.purge(store, now, Retention(audit=401))
    assert report.audit_entries == 0, "within the audit retention nothing is deleted"
    assert len(audit.entries()) == 2
    report = privacy.purge(store, now, KINDS)
    assert report.audit_entries == 1
    assert [e.id for e in audit.entries()] == [recent]
    assert "1 audit entries" in report.describe()
