"""Hotlists: matching (exact, OCR-confusable, one edit, alternatives), expiry, scope, cooldown,
allow-lists, stop-and-check, CSV and SCNTT import/export, on SQLite and PostgreSQL; and the running
engine publishing exactly one `hotlist_match` alert per vehicle within the cooldown."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from rufina_alpr import contract
from rufina_alpr.alerts import Alert, alert_id, ledger
from rufina_alpr.alerts.ledger import Settled
from rufina_alpr.cli import main
from rufina_alpr.engine.app import Engine
from rufina_alpr.engine.outcomes import record_transit
from rufina_alpr.hotlists import (
    HotlistAlreadyListed,
    HotlistConflict,
    HotlistError,
    HotlistMatch,
    HotlistNotFound,
    Hotlists,
    hotlist_summary,
    match_score,
)
from rufina_alpr.metrics import Metrics
from rufina_alpr.sim.photos import load_photos
from rufina_alpr.store import Store
from rufina_alpr.transits import Transit, transit_id

from .conftest import Alerts
from .factories import a_transit
from .traffic_day import generate_day

ROME = ZoneInfo("Europe/Rome")
STATIONS = ("st_a", "st_b")
HA_FIXTURE = Path(__file__).parents[1] / "ha" / "fixtures" / "hotlist_match.json"


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'hotlist.db'}"
    else:
        url = request.getfixturevalue("fresh_postgres_url")
    store = Store(url, worker="test/worker")
    yield store
    store.close()


@pytest.fixture
def hotlists(store: Store) -> Hotlists:
    return Hotlists(store, timezone=ROME, fuzzy_min_score=0.8, known_stations=STATIONS)


def at(hour: int, minute: int = 0, day: int = 25) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=ROME)


def stolen(hotlists: Hotlists, *plates: str) -> None:
    hotlists.create_list("stolen", "Veicoli rubati", "stolen", created_by="test")
    for plate in plates:
        hotlists.add_entry("stolen", plate, "Furto denunciato", added_by="test")


def transit_of(event: str, station: str, moment: datetime, plate: str) -> Transit:
    return a_transit(station, event, moment, plate)


def add_transit(store: Store, event: str, station: str, moment: datetime, plate: str) -> str:
    transit = transit_of(event, station, moment, plate)
    assert store.add_transit(transit, [])
    return transit.id


def stored_with_matches(
    store: Store, hotlists: Hotlists, transit: Transit, cooldown: float
) -> list[Settled] | None:
    """Store a transit, its matches and its alert as the engine does (one transaction): what it
    did to its alerts, or None when its event has an outcome already."""
    stored, settled = record_transit(
        store, hotlists, transit, [], metrics=Metrics(), cooldown=cooldown
    )
    return settled if stored is not None else None


def unpublished(store: Store) -> list[Alert]:
    with store.engine.begin() as connection:
        return ledger.unpublished(connection, store.worker)


# ----------------------------------------------------------------------------- match_score
@pytest.mark.parametrize(
    ("a", "b"), [("O", "0"), ("I", "1"), ("B", "8"), ("D", "0"), ("S", "5"), ("Z", "2"), ("G", "6")]
)
def test_each_confusable_pair_is_a_fuzzy_match_both_ways(a: str, b: str) -> None:
    entry, read = f"K{a}123XY", f"K{b}123XY"
    assert match_score(read, entry) == (0.95, "fuzzy")
    assert match_score(entry, read) == (0.95, "fuzzy")


def test_exact_after_normalisation() -> None:
    assert match_score("ab-123 cd", "AB123CD") == (1.0, "exact")
    assert match_score("AB.123.CD", "ab 123 cd") == (1.0, "exact")


def test_one_edit_scores_below_a_confusable_substitution() -> None:
    confusable = match_score("AB123C0", "AB123CD")
    assert confusable is not None
    for read in ("AB12CD", "AB1234CD", "AB123XD", "XAB123CD"):  # deletion, insertion, substitution
        scored = match_score(read, "AB123CD")
        assert scored is not None, read
        assert scored[1] == "fuzzy"
        assert scored[0] < confusable[0] < 1.0
    # Confusables and one other edit together.
    assert match_score("A8123XD", "AB123CD") == (0.8, "fuzzy")


def test_unrelated_plates_do_not_match() -> None:
    assert match_score("ZZ999ZZ", "AB123CD") is None
    assert match_score("AB129XD", "AB123CD") is None  # two other edits
    assert match_score("AB1CD", "AB123CD") is None  # two deletions
    assert match_score("AB12", "AB13") is None  # short plates match exactly or not at all
    assert match_score("", "AB123CD") is None


# ----------------------------------------------------------------------------- lists and matching
def test_exact_fuzzy_and_unrelated_reads(hotlists: Hotlists) -> None:
    stolen(hotlists, "GA 456 BC")
    exact = hotlists.match("ga456bc", [], "st_a", at(10))
    assert [(m.entry_plate, m.read_plate, m.score, m.match) for m in exact] == [
        ("GA456BC", "GA456BC", 1.0, "exact")
    ]
    assert exact[0].action == "alert"
    assert exact[0].reason == "Furto denunciato"
    fuzzy = hotlists.match("6A456BC", [], "st_a", at(10))
    assert [(m.entry_plate, m.read_plate, m.score, m.match) for m in fuzzy] == [
        ("GA456BC", "6A456BC", 0.95, "fuzzy")
    ]
    assert hotlists.match("GA456B", [], "st_a", at(10))[0].score == 0.85  # one deletion
    assert hotlists.match("ZZ999ZZ", [("XY123ZW", 0.2)], "st_a", at(10)) == []


def test_fuzzy_below_the_minimum_score_does_not_fire(store: Store) -> None:
    strict = Hotlists(store, timezone=ROME, fuzzy_min_score=0.9)
    stolen(strict, "GA456BC")
    assert strict.match("GA456B", [], "st_a", at(10)) == []  # 0.85
    assert len(strict.match("6A456BC", [], "st_a", at(10))) == 1  # 0.95


def test_alternatives_are_matched_with_a_lower_score(hotlists: Hotlists) -> None:
    stolen(hotlists, "GA456BC")
    found = hotlists.match("CA458BC", [("GA456BC", 0.95), ("XX", 0.1)], "st_a", at(10))
    assert len(found) == 1
    assert (found[0].read_plate, found[0].score, found[0].match) == ("GA456BC", 0.9, "fuzzy")
    found = hotlists.match("CA458BC", [("GA456BC", 0.85)], "st_a", at(10))
    assert [(m.score, m.match) for m in found] == [(0.85, "fuzzy")]
    # The plate itself matching beats an alternative: one match per entry, the best.
    found = hotlists.match("GA456BC", [("6A456BC", 0.9)], "st_a", at(10))
    assert [(m.read_plate, m.match) for m in found] == [("GA456BC", "exact")]


def test_expired_entries_stop_matching(hotlists: Hotlists) -> None:
    stolen(hotlists)
    now = datetime.now(UTC)
    hotlists.add_entry(
        "stolen", "AB123CD", "old", expires_at=now - timedelta(minutes=1), added_by="t"
    )
    hotlists.add_entry("stolen", "EF456GH", "new", expires_at=now + timedelta(days=1), added_by="t")
    assert hotlists.match("AB123CD", [], "st_a", now) == []
    assert len(hotlists.match("EF456GH", [], "st_a", now)) == 1
    assert hotlists.match("EF456GH", [], "st_a", now + timedelta(days=2)) == []
    # The same entry matched a passage before it expired.
    assert len(hotlists.match("AB123CD", [], "st_a", now - timedelta(hours=1))) == 1
    assert [e.plate for e in hotlists.entries("stolen")] == ["EF456GH"]
    assert len(hotlists.entries("stolen", include_expired=True)) == 2
    (info,) = hotlists.lists()
    assert (info.id, info.entries, info.expired) == ("stolen", 1, 1)


def test_station_and_hours_scope_in_local_time(hotlists: Hotlists) -> None:
    stolen(hotlists)
    hotlists.add_entry(
        "stolen", "AB123CD", "night watch at A", stations=["st_a"], from_hour=22, to_hour=6,
        added_by="t",
    )  # fmt: skip
    assert len(hotlists.match("AB123CD", [], "st_a", at(23, 30))) == 1
    assert len(hotlists.match("AB123CD", [], "st_a", at(5, 59))) == 1
    assert hotlists.match("AB123CD", [], "st_b", at(23, 30)) == []
    assert hotlists.match("AB123CD", [], "st_a", at(6, 0)) == []
    assert hotlists.match("AB123CD", [], "st_a", at(12)) == []
    # Local time, not UTC: 21:30 UTC is 22:30 in Rome in November.
    assert len(hotlists.match("AB123CD", [], "st_a", datetime(2026, 11, 25, 21, 30, tzinfo=UTC)))
    with pytest.raises(HotlistError, match="unknown station"):
        hotlists.add_entry("stolen", "EF456GH", "x", stations=["nowhere"], added_by="t")
    with pytest.raises(HotlistError, match="hours"):
        hotlists.add_entry("stolen", "EF456GH", "x", from_hour=22, added_by="t")


def test_priority_then_score_and_the_transit_summary(hotlists: Hotlists) -> None:
    hotlists.create_list("watch", "Osservati", "watch", created_by="t")
    hotlists.create_list("stolen", "Veicoli rubati", "stolen", created_by="t")
    hotlists.add_entry("watch", "AB123CD", "visto spesso", added_by="t")
    hotlists.add_entry("stolen", "AB123C0", "furto", added_by="t")
    hotlists.add_entry("watch", "AB123XD", "urgente", priority=1, added_by="t")
    found = hotlists.match("AB123CD", [], "st_a", at(10))
    assert [(m.list_id, m.entry_plate, m.priority, m.score) for m in found] == [
        ("stolen", "AB123C0", 1, 0.95),
        ("watch", "AB123XD", 1, 0.85),
        ("watch", "AB123CD", 6, 1.0),
    ]
    summary = hotlist_summary(found)
    assert summary is not None
    assert summary["count"] == 3
    assert set(summary["lists"]) == {"watch", "stolen"}
    assert summary["list"] == found[0].list_id
    assert hotlist_summary([]) is None


def test_stop_and_check_for_insurance_and_inspection(hotlists: Hotlists) -> None:
    hotlists.create_list("rca", "Senza assicurazione", "uninsured", created_by="t")
    hotlists.create_list("revisione", "Revisione scaduta", "inspection", created_by="t")
    hotlists.add_entry("rca", "AB123CD", "RCA scaduta", added_by="t")
    hotlists.add_entry("revisione", "EF456GH", "revisione scaduta", added_by="t")
    assert [m.action for m in hotlists.match("AB123CD", [], "st_a", at(10))] == ["stop_and_check"]
    assert [m.action for m in hotlists.match("EF456GH", [], "st_a", at(10))] == ["stop_and_check"]
    assert {i.id: i.action for i in hotlists.lists()} == {
        "rca": "stop_and_check",
        "revisione": "stop_and_check",
    }


def test_cooldown_per_plate_and_station(store: Store, hotlists: Hotlists) -> None:
    stolen(hotlists, "GA456BC")
    t0 = at(10)

    def passage(event: str, station: str, moment: datetime, plate: str = "GA456BC") -> list[Any]:
        assert hotlists.match(plate, [], station, moment)
        transit = transit_of(event, station, moment, plate)
        alerts = stored_with_matches(store, hotlists, transit, cooldown=300)
        assert alerts is not None
        return alerts

    first = passage("e1", "st_a", t0)
    assert [(a.alert.entry_plate, a.change, a.alert.status) for a in first] == [
        ("GA456BC", "raised", "confirmed")
    ]
    assert passage("e2", "st_a", t0 + timedelta(seconds=60), "6A456BC") == []  # a misread too
    assert len(passage("e3", "st_b", t0 + timedelta(seconds=90))) == 1  # another station
    assert len(passage("e4", "st_a", t0 + timedelta(seconds=400))) == 1  # cooldown over
    assert passage("e5", "st_a", t0 + timedelta(seconds=500)) == []  # within e4's cooldown
    # Every match is stored, alerted or not.
    stored = hotlists.transit_matches(transit_id("st_a", "e2"))
    assert [(m.read_plate, m.match, m.list_name) for m in stored] == [
        ("6A456BC", "fuzzy", "Veicoli rubati")
    ]


def test_alert_outbox_and_one_outcome_per_event(store: Store, hotlists: Hotlists) -> None:
    stolen(hotlists, "GA456BC")
    transit = transit_of("e1", "st_a", at(10), "GA456BC")
    tid = transit.id
    alerts = stored_with_matches(store, hotlists, transit, cooldown=300)
    assert alerts is not None
    ((alert, change),) = ((a.alert, a.change) for a in alerts)
    assert change == "raised"
    assert alert.id == alert_id(tid, "hotlist")
    # The event's outcome again (a redelivered `end`) stores nothing: no second match or alert.
    assert stored_with_matches(store, hotlists, transit, cooldown=300) is None
    assert [(a.id, a.transit_id, a.published) for a in unpublished(store)] == [
        (alert.id, tid, None)
    ]
    assert unpublished(Store(store.url, worker="other")) == []
    with store.engine.begin() as connection:
        ledger.mark_published(connection, alert.id, "confirmed")
    assert unpublished(store) == []
    (match,) = hotlists.transit_matches(tid)
    assert match.entry_plate == "GA456BC"


def test_allow_list_matches_but_never_alerts(store: Store, hotlists: Hotlists) -> None:
    hotlists.create_list("residenti", "Residenti ZTL", "authorised", created_by="t")
    hotlists.add_entry("residenti", "AB123CD", "residente", added_by="t")
    found = hotlists.match("AB123CD", [], "st_a", at(10))
    assert [(m.list_id, m.action) for m in found] == [("residenti", "allow")]
    transit = transit_of("e1", "st_a", at(10), "AB123CD")
    assert stored_with_matches(store, hotlists, transit, cooldown=0) == []
    assert unpublished(store) == []
    assert [m.list_id for m in hotlists.transit_matches(transit.id)] == ["residenti"]


def test_list_management_errors_and_index_refresh(hotlists: Hotlists) -> None:
    stolen(hotlists)
    with pytest.raises(HotlistConflict):
        hotlists.create_list("stolen", "again", "stolen", created_by="t")
    with pytest.raises(HotlistError, match="kind"):
        hotlists.create_list("x", "x", "parking", created_by="t")
    with pytest.raises(HotlistError, match="action"):
        hotlists.create_list("x", "x", "watch", action="fine", created_by="t")
    with pytest.raises(HotlistNotFound):
        hotlists.add_entry("nope", "AB123CD", "x", added_by="t")
    with pytest.raises(HotlistError, match="plate"):
        hotlists.add_entry("stolen", "A!", "x", added_by="t")
    with pytest.raises(HotlistError, match="reason"):
        hotlists.add_entry("stolen", "AB123CD", " ", added_by="t")
    assert hotlists.match("AB123CD", [], "st_a", at(10)) == []
    hotlists.add_entry("stolen", "AB123CD", "furto", added_by="t")
    assert len(hotlists.match("AB123CD", [], "st_a", at(10))) == 1
    # Adding the same plate again is refused, naming the entry there; replacing it is explicit
    # and gives back the entry it replaced (for the audit log).
    with pytest.raises(HotlistAlreadyListed, match=r"added by t .* for: furto") as refused:
        hotlists.add_entry("stolen", "ab 123 cd", "furto (aggiornato)", added_by="u")
    assert refused.value.existing.reason == "furto"
    assert hotlists.entries("stolen")[0].reason == "furto"
    change = hotlists.put_entry(
        "stolen", "ab 123 cd", "furto (aggiornato)", priority=2, added_by="u", replace=True
    )
    entry = change.entry
    assert (entry.plate, entry.reason, entry.priority) == ("AB123CD", "furto (aggiornato)", 2)
    assert change.replaced is not None
    assert (change.replaced.reason, change.replaced.added_by) == ("furto", "t")
    assert change.replaced.id == entry.id
    assert len(hotlists.entries("stolen")) == 1
    assert hotlists.match("AB123CD", [], "st_a", at(10))[0].reason == "furto (aggiornato)"
    assert hotlists.remove_entry("stolen", "AB-123-CD")
    assert not hotlists.remove_entry("stolen", "AB123CD")
    assert hotlists.match("AB123CD", [], "st_a", at(10)) == []
    hotlists.add_entry("stolen", "AB123CD", "furto", added_by="t")
    assert hotlists.delete_list("stolen")
    assert not hotlists.delete_list("stolen")
    assert hotlists.lists() == []
    assert hotlists.match("AB123CD", [], "st_a", at(10)) == []


def test_list_counts_of_an_empty_list_and_of_expired_entries(hotlists: Hotlists) -> None:
    """An empty list was shown as "1 entry, -1 expired": the outer join's row of NULLs counted."""
    stolen(hotlists)
    assert [(i.id, i.entries, i.expired) for i in hotlists.lists()] == [("stolen", 0, 0)]
    assert (hotlists.get_list("stolen").entries, hotlists.get_list("stolen").expired) == (0, 0)
    past = datetime.now(UTC) - timedelta(days=1)
    hotlists.add_entry("stolen", "AB123CD", "furto", expires_at=past, added_by="t")
    hotlists.add_entry("stolen", "EF456GH", "furto", expires_at=past, added_by="t")
    hotlists.add_entry("stolen", "GH789JK", "furto", added_by="t")
    hotlists.create_list("watch", "Osservati", "watch", created_by="t")
    counts = {i.id: (i.entries, i.expired) for i in hotlists.lists()}
    assert counts == {"stolen": (1, 2), "watch": (0, 0)}


# ----------------------------------------------------------------------------- CSV and SCNTT
CSV_TEXT = """plate,reason,priority,expires,notes,stations,hours
AB 123 CD,Furto denunciato,1,2030-12-31,"Fiat Panda, grigia",st_a|st_b,22-06
EF456GH,Veicolo segnalato,,2030-06-01T12:00:00+02:00,,,
!!,bad plate,,,,,
IJ789KL,bad priority,12,,,,
MN012OP,bad hours,,,,,25-3
QR345ST,bad expiry,,31-31-2030,,,
UV678WX,unknown station,,,,nowhere,
YZ901AB,,,,,,
ef-456-gh,repeated,,,,,
CD234EF,Solo di notte,3,,,,20:00-05:00
"""


def test_csv_import_reports_bad_rows_and_round_trips(hotlists: Hotlists) -> None:
    stolen(hotlists)
    report = hotlists.import_csv("stolen", CSV_TEXT, added_by="ufficio")
    assert (report.format, report.added, report.updated, report.removed) == ("csv", 3, 0, 0)
    assert [(r.line, r.reason.split(":")[0].split(" ")[0]) for r in report.rejected] == [
        (4, "plate"),
        (5, "priority"),
        (6, "hours"),
        (7, "expires"),
        (8, "unknown"),
        (9, "reason"),
        (10, "plate"),
    ]
    assert "line 3" in report.rejected[-1].reason
    entries = {e.plate: e for e in hotlists.entries("stolen")}
    ab = entries["AB123CD"]
    assert ab.notes == "Fiat Panda, grigia"
    assert ab.stations == ("st_a", "st_b")
    assert (ab.from_hour, ab.to_hour, ab.priority) == (22, 6, 1)
    assert ab.expires_at == datetime(2031, 1, 1, tzinfo=ROME)  # through 31 December
    assert entries["EF456GH"].expires_at == datetime(2030, 6, 1, 10, tzinfo=UTC)
    assert (entries["CD234EF"].from_hour, entries["CD234EF"].to_hour) == (20, 5)

    exported = hotlists.export_csv("stolen")
    assert exported.splitlines()[0] == "plate,reason,priority,expires,notes,stations,hours"
    assert 'AB123CD,Furto denunciato,1,2030-12-31,"Fiat Panda, grigia",st_a|st_b,22-06' in exported
    hotlists.create_list("copy", "Copia", "stolen", created_by="t")
    again = hotlists.import_csv("copy", exported, added_by="ufficio")
    assert (again.added, again.rejected) == (3, ())
    assert hotlists.export_csv("copy") == exported

    # Importing again updates; ``replace`` drops what the file no longer has.
    hotlists.add_entry("copy", "ZZ999ZZ", "solo qui", added_by="t")
    replaced = hotlists.import_csv("copy", exported, added_by="ufficio", replace=True)
    assert (replaced.added, replaced.updated, replaced.removed) == (0, 3, 1)
    assert hotlists.export_csv("copy") == exported
    # A file that is not a list of plates is refused at its header and changes nothing, even
    # with ``replace`` (it used to be a HotlistError; the report is what the API answers).
    for wrong in ("targhe,motivo\nAB123CD,x\n", "", " \n"):
        refused = hotlists.import_csv("copy", wrong, added_by="t", replace=True, format="csv")
        assert (refused.added, refused.updated, refused.removed) == (0, 0, 0)
        assert [(row.line, row.reason) for row in refused.rejected] == [
            (1, "the header has no 'plate' column" if wrong.strip() else "the file is empty")
        ]
    assert hotlists.export_csv("copy") == exported
    with pytest.raises(HotlistNotFound):
        hotlists.import_csv("nope", exported, added_by="t")


def test_csv_lines_the_reader_cannot_split_or_dates_out_of_range_are_rejected_lines(
    hotlists: Hotlists,
) -> None:
    """A stray carriage return (csv.Error) and a year-1 or year-9999 date (OverflowError) were
    exceptions out of the import: a 500 from the API. Now each is its own rejected line."""
    stolen(hotlists)
    text = (
        "plate,reason,expires\n"
        "AB123CD,fu\rrto,\n"
        "EF456GH,furto,0001-01-01\n"
        "GH789JK,furto,0001-01-01T00:00:00\n"
        "IJ012KL,furto,9999-12-31\n"
        "LM345NO,furto,01/01/0001\n"
        "PQ678RS,furto,2030-01-01\n"
    )
    report = hotlists.import_csv("stolen", text, added_by="t")
    assert report.added == 1
    assert [(r.line, r.reason.split(" ")[0]) for r in report.rejected] == [
        (2, "a"),
        (3, "expires:"),
        (4, "expires:"),
        (5, "expires:"),
        (6, "expires:"),
    ]
    assert "carriage return" in report.rejected[0].reason
    assert [e.plate for e in hotlists.entries("stolen")] == ["PQ678RS"]
    # A header the reader cannot split is line 1, and nothing changes.
    header = hotlists.import_csv("stolen", "pla\rte,reason\nAB123CD,x\n", added_by="t")
    assert (header.added, [r.line for r in header.rejected]) == (0, [1])
    # A file with classic Mac line ends (carriage returns only) is read line by line.
    mac = hotlists.import_csv("stolen", "plate,reason\rXY987ZW,furto\r", added_by="t")
    assert (mac.added, mac.rejected) == (1, ())
    # Given as a time (the API), year 1 is clamped: expired long ago, as it was meant.
    old = hotlists.add_entry(
        "stolen", "ZZ111ZZ", "x", expires_at=datetime(1, 1, 1, tzinfo=ROME), added_by="t"
    )
    assert old.expires_at == datetime(1900, 1, 1, tzinfo=UTC)
    assert hotlists.export_csv("stolen").count("\n") == 4


SCNTT_TEXT = (
    "\ufeffTARGA;NAZIONE;TIPO_VEICOLO;MOTIVO;DATA_SEGNALAZIONE;DATA_SCADENZA;ENTE;NOTE\n"
    "GA456BC;I;AUTOVETTURA;FURTO;20/11/2026;31/12/2026;Questura di Firenze;\n"
    "AB 12345;I;MOTOCICLO;RICERCA;21/11/2026;;Carabinieri Pontassieve;casco rosso\n"
    ";I;AUTOVETTURA;FURTO;20/11/2026;;;\n"
    "XY987ZW;F;AUTOVETTURA;FURTO;20/11/2026;32/13/2026;;\n"
)


def test_scntt_import(hotlists: Hotlists) -> None:
    stolen(hotlists)
    report = hotlists.import_csv("stolen", SCNTT_TEXT, added_by="scntt")
    assert (report.format, report.added) == ("scntt", 2)
    assert [r.line for r in report.rejected] == [4, 5]
    entries = {e.plate: e for e in hotlists.entries("stolen")}
    ga = entries["GA456BC"]
    assert ga.reason == "FURTO"
    assert ga.expires_at == datetime(2027, 1, 1, tzinfo=ROME)
    assert ga.notes is not None and "Questura di Firenze" in ga.notes and "SCNTT" in ga.notes
    assert "casco rosso" in (entries["AB12345"].notes or "")
    assert hotlists.match("6A456BC", [], "st_a", at(10))[0].entry_plate == "GA456BC"
    # The entries export in this engine's own format.
    assert hotlists.export_csv("stolen").count("\n") == 3


# ----------------------------------------------------------------------------- command line
def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"data_dir: {tmp_path}\nstore:\n  url: sqlite:///{tmp_path / 'cli.db'}\n"
        "stations:\n"
        "  - {id: st_a, name: A, camera: cam_a, kind: lpr}\n"
        "  - {id: st_b, name: B, camera: cam_b, kind: lpr}\n"
    )
    listing = tmp_path / "list.csv"
    listing.write_text(CSV_TEXT)
    c = ["-c", str(config)]
    assert main(["hotlist", "create", "stolen", "--name", "Rubati", "--kind", "stolen", *c]) == 0
    assert main(["hotlist", "add", "stolen", "gh 123 jk", "--reason", "furto", "--hours", "22-06",
                 "--expires", "2030-01-01", *c]) == 0  # fmt: skip
    assert main(["hotlist", "import", "stolen", str(listing), *c]) == 1  # rows were rejected
    assert "line 4: plate" in capsys.readouterr().out
    assert main(["hotlist", "lists", *c]) == 0  # the row naming station "nowhere" refused
    assert "stolen  stolen  alert   1         4" in capsys.readouterr().out
    assert main(["hotlist", "remove", "stolen", "AB123CD", *c]) == 0
    assert main(["hotlist", "export", "stolen", *c]) == 0
    exported = capsys.readouterr().out
    assert "GH123JK,furto,,2030-01-01,,,22-06" in exported
    assert "AB123CD" not in exported
    assert main(["hotlist", "add", "nope", "AB123CD", "--reason", "x", *c]) == 1
    assert "no list nope" in capsys.readouterr().err


# ----------------------------------------------------------------------------- contract
def test_hotlist_match_payload_follows_the_schema() -> None:
    fixture = json.loads(HA_FIXTURE.read_text())
    contract.validate("hotlist_match", fixture)
    payload = contract.hotlist_match_payload(
        fixture["transit"],
        alert_id="8e0c1f1e-54a3-5d0b-9a52-0b5d2c7d6a11",
        status="provisional",
        alert_kind="hotlist",
        list_name="Veicoli rubati",
        list_id="stolen",
        entry_plate="GA456BC",
        read_plate="6A456BC",
        score=0.95,
        match="fuzzy",
        action="stop_and_check",
        priority=1,
        reason="Furto",
    )
    contract.validate("hotlist_match", payload)
    assert set(payload) == set(fixture)


# ----------------------------------------------------------------------------- end to end
async def test_engine_alerts_once_per_cooldown(
    harness_factory: Any, photos_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    photo = next(p for p in load_photos(photos_dir) if p.path.name == "eu11.jpg")
    assert photo.plate
    harness = await harness_factory([photo])
    engine = harness.engine

    def prepare() -> None:
        engine.hotlists.create_list("stolen", "Veicoli rubati", "stolen", created_by="test")
        engine.hotlists.add_entry("stolen", photo.plate, "Furto denunciato", added_by="test")

    await engine.db.run(prepare)
    alerts = Alerts(harness.broker.host, harness.broker.port)
    await alerts.link.start()
    await asyncio.wait_for(alerts.link.connected.wait(), 10)
    try:
        await harness.replay.replay_one(photo, "cam_pomino")
        await harness.wait_for(lambda: len(harness.received) == 1, what="the first transit")
        await harness.wait_for(lambda: len(alerts.received) == 1, what="the alert")
        transit, alert = harness.received[0], alerts.received[0]
        contract.validate("transit", transit)
        contract.validate("hotlist_match", alert)
        assert transit["hotlist"]["list"] == "stolen"
        assert transit["hotlist"]["entry_plate"] == photo.plate
        assert alert["transit"]["id"] == transit["id"]
        assert (alert["list"], alert["entry_plate"], alert["action"]) == (
            "stolen",
            photo.plate,
            "alert",
        )
        assert alert["read_plate"] == transit["plate"]
        assert alert["reason"] == "Furto denunciato"
        if alert["status"] == "provisional":  # read while in view: its transit confirms it
            await harness.wait_for(
                lambda: alerts.changes(alert["alert_id"]) == ["confirmed"], what="confirmation"
            )

        # The same vehicle again within the cooldown: a transit with its hotlist, no alert.
        await harness.replay.replay_one(photo, "cam_pomino")
        await harness.wait_for(lambda: len(harness.received) == 2, what="the second transit")
        await asyncio.sleep(1.5)
        assert harness.received[1]["hotlist"]["list"] == "stolen"
        assert len(alerts.received) == 1
        second = await engine.db.run(engine.hotlists.transit_matches, harness.received[1]["id"])
        assert len(second) == 1
        assert await engine.db.run(unpublished, engine.store) == []
        assert len(alerts.received) == 1
    finally:
        await alerts.link.stop()
    info = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert any("(hotlist) at st_pomino" in line for line in info)
    assert not [line for line in info if photo.plate in line], "a full plate in an INFO log"


async def test_alerts_stored_but_not_delivered_are_published_on_start(
    harness_factory: Any, recognizer: Any
) -> None:
    """Broker away or engine killed: the transits and alerts it had stored (one transaction,
    as the engine stores them) go out on the next connection, fuzzy matches included."""
    harness = await harness_factory([], start_engine=False)
    settings = harness.settings
    store = Store(settings.store_url, worker=f"{settings.instance}/{settings.mqtt.client_id}")
    hotlists = Hotlists(store, timezone=settings.timezone)
    hotlists.create_list("stolen", "Veicoli rubati", "stolen", created_by="test")
    for plate in ("GA456BC", "EF456GH", "KL789MN"):
        hotlists.add_entry("stolen", plate, "Furto", added_by="test")
    now = datetime.now(settings.timezone)

    def stored(event: str, station: str, plate: str) -> str:
        transit = a_transit("cam", event, now, plate, station=station, read_count=1)
        alerts = stored_with_matches(store, hotlists, transit, cooldown=300)
        assert alerts is not None and len(alerts) == 1
        return transit.id

    unsent = stored("ev-unsent", "st_pomino", "GA456BC")
    fuzzy = stored("ev-fuzzy", "st_roma", "6A456BC")
    alert_only = stored("ev-alert-only", "st_pomino", "KL789MN")
    store.mark_published(alert_only)
    store.close()

    alerts = Alerts(harness.broker.host, harness.broker.port)
    await alerts.link.start()
    await asyncio.wait_for(alerts.link.connected.wait(), 10)
    try:
        harness.engine = engine = Engine(settings, recognizer)
        await engine.start()
        await harness.wait_for(lambda: len(alerts.received) == 3, 30, "the stored alerts")
        await harness.wait_for(lambda: len(harness.received) == 2, 30, "the stored transits")
        await asyncio.sleep(1)
    finally:
        await alerts.link.stop()
    assert {t["id"] for t in harness.received} == {unsent, fuzzy}
    for alert in alerts.received:
        contract.validate("hotlist_match", alert)
    by_transit = {a["transit"]["id"]: a for a in alerts.received}
    assert set(by_transit) == {unsent, fuzzy, alert_only}
    assert (by_transit[fuzzy]["read_plate"], by_transit[fuzzy]["match"]) == (
        "6A456BC",
        "fuzzy",
    )
    assert {a["status"] for a in alerts.received} == {"confirmed"}
    assert await engine.db.run(unpublished, engine.store) == []


def test_a_generated_day_alerts_exactly_the_hotlisted_vehicles(store: Store) -> None:
    """Over a realistic day (about 9,000 transits across the 34 stations, some misread), the lists
    fire on every passage of a hotlisted vehicle, the misread one included, and on nothing else."""
    day = generate_day(seed=6)
    lists = Hotlists(store, timezone=day.tz, fuzzy_min_score=0.8)
    actions = {"stolen": "alert", "uninsured": "stop_and_check", "watch": "alert"}
    for plate, kind in day.hotlisted.items():
        lists.create_list(kind, kind.title(), kind, created_by="test")
        lists.add_entry(kind, plate, "generated", added_by="test")
    fired: dict[str, HotlistMatch] = {}
    for record in day.transits:
        matches = lists.match(record.plate, (), record.station_id, record.time)
        if matches:
            fired[record.id] = matches[0]
    expected = {r.id for r in day.transits if r.true_plate in day.hotlisted}
    assert set(fired) == expected
    misread = [r for r in day.transits if r.id in expected and r.plate != r.true_plate]
    assert misread, "the generated day misreads the stolen car once"
    for record in day.transits:
        if record.id in expected:
            match = fired[record.id]
            assert match.entry_plate == record.true_plate
            assert match.match == ("exact" if record.plate == record.true_plate else "fuzzy")
            assert match.action == actions[day.hotlisted[record.true_plate]]
