"""Retention per kind of data (issue 25): the purge removes transits, reads, crops, frames, hits
and audit entries each at its own age; an open hit keeps its evidence, a closed one goes its
retention after closing, a hold keeps everything (SQLite, and once on PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from rufina_alpr import privacy
from rufina_alpr.alerts import ledger
from rufina_alpr.privacy.settings import Retention
from rufina_alpr.reads import PlateRead
from rufina_alpr.store import (
    Store,
    alert_frames,
    alert_steps,
    alerts,
    crops,
    hotlist_matches,
    passages,
    reads,
    transit_corrections,
    transits,
)
from rufina_alpr.store.corrections import correct_plate
from rufina_alpr.transits import Transit

from .factories import a_transit

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
KINDS = Retention(transits=10, reads=2, crops=4, frames=3, hits=5, audit=30)
CROP = b"\xff\xd8\xff\xe0retention-crop\xff\xd9"
FRAME = b"\xff\xd8\xff\xe0retention-frame\xff\xd9"


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def add_transit(store: Store, name: str, days: float) -> Transit:
    """A transit ``days`` old with one read, its crop and its passage; the plate is made of
    ``name`` so that each one is told apart."""
    plate = f"{name.upper():X<5}"[:5] + "00"
    transit = a_transit(
        "cam_a", name, ago(days), plate, station="st_a", read_count=1,
        alternatives=((plate, 0.9),), crop_jpeg=CROP,
    )  # fmt: skip
    assert store.add_transit(transit, [PlateRead(plate, (0.9,) * len(plate))])
    return transit


def add_hit(
    store: Store,
    transit: Transit,
    days: float,
    *steps: tuple[str, float],
    withdrawn: float | None = None,
    frame: float | None = None,
    related: Transit | None = None,
) -> str:
    """The transit's alert raised ``days`` ago, its full frame kept ``frame`` days ago (default:
    when raised), then handled by ``steps`` (step, days ago) or withdrawn ``withdrawn`` days ago."""
    with store.engine.begin() as connection:
        alert = ledger.new_alert(
            transit,
            kind="hotlist",
            status="provisional" if withdrawn is not None else "confirmed",
            worker="test",
            now=ago(days),
            action="alert",
            priority=1,
            read_plate=transit.plate,
            score=1.0,
            related_transit_id=related.id if related else None,
        )
        assert ledger.raise_alert(connection, alert, cooldown=0) is not None
        ledger.keep_frame(
            connection, alert.id, FRAME, "clean", now=ago(days if frame is None else frame)
        )
        for step, when in steps:
            ledger.apply_step(
                connection,
                alert.id,
                step,
                actor="agente.rossi",
                acting_user=None,
                reason="misread" if step == "reject" else None,
                outcome="fined" if step == "close" else None,
                now=ago(when),
            )
        if withdrawn is not None:
            assert ledger.withdraw(connection, alert.id, "not matched", now=ago(withdrawn))
    return alert.id


def add_match(store: Store, transit: Transit) -> None:
    with store.engine.begin() as connection:
        connection.execute(
            hotlist_matches.insert().values(
                transit_id=transit.id, list_id="stolen", entry_plate=transit.plate,
                read_plate=transit.plate, score=1.0, match="exact", action="alert", priority=1,
                station_id=transit.station_id, time=transit.time, alerted=True,
            )
        )  # fmt: skip


def add_correction(store: Store, transit: Transit) -> None:
    with store.engine.begin() as connection:
        correct_plate(
            connection, transit.id, "ZZ999ZZ" if transit.plate != "ZZ999ZZ" else "ZZ998ZZ",
            "misread", actor="agente.rossi", acting_user=None, now=transit.time,
        )  # fmt: skip


@dataclass
class Scene:
    """Transits by name (the letter says what happens to it), alerts by the same name."""

    transits: dict[str, str]
    alerts: dict[str, str]
    audit_old: int
    audit_recent: int

    def names(self, ids: set[str], of: dict[str, str]) -> set[str]:
        by_id = {value: key for key, value in of.items()}
        return {by_id[i] for i in ids}


def build(store: Store) -> Scene:
    """The store at ``NOW`` (ages in days; KINDS: transits 10, reads 2, crops 4, frames 3,
    hits 5, audit 30)."""
    t = {
        name: add_transit(store, name, days)
        for name, days in {
            "fresh": 1,  # keeps everything
            "young": 3,  # loses its reads
            "middle": 5,  # loses its reads and crop, keeps its correction and match
            "old": 11,  # goes with all it has
            "held": 11,  # under a hold, keeps everything, its handled hit too
            "open": 11,  # an open hit: the transit, its crop and frame stay
            "closed": 11,  # a hit closed 4 days ago: kept (raised 11 days ago)
            "expired": 11,  # a hit closed 6 days ago: goes, with its transit
            "rejected": 8,  # a hit rejected 6 days ago goes; the transit stays its 10 days
            "withdrawn": 9,  # a hit withdrawn 6 days ago goes
            "settled": 9,  # a hit withdrawn a day ago stays (its frame goes at 3 days)
            "related": 11,  # the other end of a fresh open journey alert: kept
            "journey": 1,
            "recent": 1.5,  # a hit closed a day ago, its frame 1.5 days old: kept
        }.items()
    }
    for name in ("middle", "old", "closed"):
        add_match(store, t[name])
    for name in ("middle", "old"):
        add_correction(store, t[name])
    hits = {
        "held": add_hit(store, t["held"], 11, ("accept", 10.5), ("close", 10)),
        "open": add_hit(store, t["open"], 11, ("acknowledge", 10.9)),
        "closed": add_hit(store, t["closed"], 11, ("accept", 10), ("close", 4)),
        "expired": add_hit(store, t["expired"], 11, ("accept", 10), ("close", 6)),
        "rejected": add_hit(store, t["rejected"], 8, ("reject", 6)),
        "withdrawn": add_hit(store, t["withdrawn"], 9, withdrawn=6),
        "settled": add_hit(store, t["settled"], 9, withdrawn=1),
        "journey": add_hit(store, t["journey"], 1, related=t["related"]),
        "recent": add_hit(store, t["recent"], 1.5, ("reject", 1)),
    }
    privacy.hold(store, [t["held"].id], "PM-2026/0147", "furto, denuncia 0312", "ispettore")
    audit = privacy.Audit(store)
    old = audit.record("mario", "operator", "route", {"plate": "AB123CD"}, reason="x", now=ago(31))
    recent = audit.record(
        "anna", "operator", "route", {"plate": "EF456GH"}, reason="y", now=ago(29)
    )
    return Scene({n: tr.id for n, tr in t.items()}, hits, old, recent)


def stored(store: Store, scene: Scene) -> dict[str, set[str]]:
    """What the store holds of each kind, by the scene's names."""
    with store.engine.connect() as connection:

        def column(col: sa.Column[str]) -> set[str]:
            return set(connection.scalars(sa.select(col)))

        return {
            "transits": scene.names(column(transits.c.id), scene.transits),
            "reads": scene.names(column(reads.c.transit_id), scene.transits),
            "crops": scene.names(column(crops.c.transit_id), scene.transits),
            "passages": scene.names(column(passages.c.transit_id), scene.transits),
            "matches": scene.names(column(hotlist_matches.c.transit_id), scene.transits),
            "corrections": scene.names(column(transit_corrections.c.transit_id), scene.transits),
            "alerts": scene.names(column(alerts.c.id), scene.alerts),
            "steps": scene.names(column(alert_steps.c.alert_id), scene.alerts),
            "frames": scene.names(column(alert_frames.c.alert_id), scene.alerts),
        }


ALL = {
    "fresh", "young", "middle", "old", "held", "open", "closed", "expired", "rejected",
    "withdrawn", "settled", "related", "journey", "recent",
}  # fmt: skip
HITS = {
    "held",
    "open",
    "closed",
    "expired",
    "rejected",
    "withdrawn",
    "settled",
    "journey",
    "recent",
}

EXPECTED_AFTER = {
    "transits": ALL - {"old", "expired"},
    "reads": {"fresh", "held", "journey", "recent"},
    "crops": {
        "fresh",
        "young",
        "held",
        "open",
        "closed",
        "settled",
        "related",
        "journey",
        "recent",
    },
    "passages": ALL - {"old", "expired"},
    "matches": {"middle", "closed"},
    "corrections": {"middle"},
    "alerts": HITS - {"expired", "rejected", "withdrawn"},
    "steps": {"held", "open", "closed", "recent"},
    "frames": {"held", "open", "journey", "recent"},
}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(f"sqlite:///{tmp_path / 'retention.db'}", worker="test")
    yield opened
    opened.close()


def check_first_purge(store: Store) -> Scene:
    scene = build(store)
    before = stored(store, scene)
    assert before["transits"] == ALL and before["alerts"] == HITS

    report = privacy.purge(store, NOW, KINDS)

    after = stored(store, scene)
    assert after == EXPECTED_AFTER
    assert report.counts() == {
        "transits": 2,
        "reads": len(ALL) - 4,
        "crops": 5,
        "frames": 5,  # three with their alerts, two past their age (closed, settled)
        "alerts": 3,
        "hotlist_matches": 1,
        "passages": 2,
        "audit_entries": 1,
    }
    assert (report.held, report.kept_for_hits) == (1, 3)  # open, closed, related
    assert report.cutoffs == {
        "transits": ago(10), "reads": ago(2), "crops": ago(4), "frames": ago(3),
        "hits": ago(5), "audit": ago(30),
    }  # fmt: skip
    assert [e.id for e in privacy.Audit(store).entries()] == [scene.audit_recent]
    return scene


def test_each_kind_goes_at_its_own_age(store: Store) -> None:
    check_first_purge(store)
    # Nothing more goes a minute later: every kind went at once.
    again = privacy.purge(store, NOW + timedelta(minutes=1), KINDS)
    assert set(again.counts().values()) == {0}


def test_a_closed_hit_goes_its_retention_after_closing_and_a_released_hold_lets_go(
    store: Store,
) -> None:
    scene = check_first_purge(store)
    [hold] = privacy.holds(store, active_only=True)
    privacy.release(store, hold.id)

    later = NOW + timedelta(days=1.6)  # "closed" was closed 5.6 days ago; "recent" 2.6
    report = privacy.purge(store, later, KINDS)

    after = stored(store, scene)
    assert {"closed", "held"} & (after["alerts"] | after["transits"]) == set()
    assert "open" in after["transits"] and "open" in after["frames"], "still open: kept"
    assert "recent" in after["alerts"] and "recent" not in after["frames"]
    assert "related" in after["transits"], "its journey alert is still open"
    assert report.alerts == 2 and report.held == 0
    assert after["matches"] == {"middle"}


def test_an_open_hit_keeps_its_evidence_until_handled(store: Store) -> None:
    scene = check_first_purge(store)
    with store.engine.begin() as connection:
        ledger.apply_step(
            connection, scene.alerts["open"], "reject", actor="agente.rossi", acting_user=None,
            reason="misread", now=NOW,
        )  # fmt: skip
    # Rejected now: its retention runs from now, not from when it was raised 11 days ago.
    privacy.purge(store, NOW + timedelta(days=4.9), KINDS)
    kept = stored(store, scene)
    assert {"open"} <= kept["alerts"] & kept["steps"] & kept["transits"] & kept["crops"]
    assert "open" not in kept["frames"], "no longer open: its frame went at the frames' age"
    privacy.purge(store, NOW + timedelta(days=5.1), KINDS)
    after = stored(store, scene)
    assert "open" not in after["alerts"] | after["steps"] | after["transits"] | after["crops"]


def test_the_log_line_has_counts_and_no_plate(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    build(store)
    with store.engine.connect() as connection:
        plates = set(connection.scalars(sa.select(transits.c.plate)))
    with caplog.at_level("INFO", logger="rufina_alpr.privacy.retention"):
        report = privacy.purge(store, NOW, KINDS)
    assert report.describe() in caplog.text
    assert "2 transits" in caplog.text and "5 frames" in caplog.text
    assert not any(plate in caplog.text for plate in plates | {"AB123CD", "EF456GH"})


def test_on_postgresql(fresh_postgres_url: str) -> None:
    opened = Store(fresh_postgres_url, worker="test")
    try:
        check_first_purge(opened)
    finally:
        opened.close()
