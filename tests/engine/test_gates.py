"""Gates (issue 24): ``authorised`` lists that, at their stations on their days and hours, alert on
every plate NOT on them; a near match is flagged for review, in the vehicle's favour. Verdicts,
validation, persistence, the command line and the API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient

from rufina_alpr.cli import main
from rufina_alpr.config import settings_from_mapping
from rufina_alpr.engine.app import Engine
from rufina_alpr.hotlists import Gate, GateVerdict, HotlistError, HotlistNotFound, Hotlists
from rufina_alpr.recognizer import Recognizer
from rufina_alpr.stations import default_registry_path
from rufina_alpr.store import Store, audit_log

from .conftest import api_client

ROME = ZoneInfo("Europe/Rome")
STATIONS = ("ztl_in", "ztl_out", "school", "elsewhere")
ZTL = Gate(stations=("ztl_in", "ztl_out"), days="12345", from_hour=7, to_hour=20)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'gates.db'}"
    else:
        url = request.getfixturevalue("fresh_postgres_url")
    store = Store(url, worker="test/worker")
    yield store
    store.close()


@pytest.fixture
def hotlists(store: Store) -> Hotlists:
    return Hotlists(store, timezone=ROME, fuzzy_min_score=0.8, known_stations=STATIONS)


def at(hour: int, minute: int = 0, day: int = 25) -> datetime:
    """25 November 2026 is a Wednesday; the 28th a Saturday, the 29th a Sunday."""
    return datetime(2026, 11, day, hour, minute, tzinfo=ROME)


def ztl(hotlists: Hotlists, *plates: str, gate: Gate = ZTL, list_id: str = "ztl") -> None:
    hotlists.create_list(list_id, "ZTL centro", "authorised", created_by="test", gate=gate)
    for plate in plates:
        hotlists.add_entry(list_id, plate, "residente", added_by="test")


def verdict(
    hotlists: Hotlists,
    plate: str,
    station: str = "ztl_in",
    moment: datetime | None = None,
    alternatives: tuple[tuple[str, float], ...] = (),
) -> GateVerdict | None:
    return hotlists.gate_check(plate, alternatives, station, moment or at(10))


# ----------------------------------------------------------------------------- verdicts
def test_an_authorised_plate_passes_and_is_kept_unless_the_gate_drops_it(
    hotlists: Hotlists,
) -> None:
    ztl(hotlists, "AB123CD")
    found = verdict(hotlists, "ab 123-cd")
    assert found is not None and found.verdict == "authorised"
    assert found.gate_list.id == "ztl" and found.gate_list.gate == ZTL
    assert found.match is not None
    assert (found.match.entry_plate, found.match.score, found.match.match) == (
        "AB123CD",
        1.0,
        "exact",
    )
    assert found.keeps_transit
    hotlists.set_gate("ztl", Gate(stations=("ztl_in",), keep_authorised=False))
    dropped = verdict(hotlists, "AB123CD")
    assert dropped is not None and dropped.verdict == "authorised"
    assert not dropped.keeps_transit
    stranger = verdict(hotlists, "XY987ZW")
    assert stranger is not None and stranger.verdict == "not_authorised"
    assert stranger.keeps_transit, "a vehicle not authorised is always kept"


def test_an_alternative_that_is_an_authorised_plate_authorises(hotlists: Hotlists) -> None:
    ztl(hotlists, "AB123CD")
    found = verdict(hotlists, "XB123CF", alternatives=(("KK000KK", 0.4), ("AB123CD", 0.3)))
    assert found is not None and found.verdict == "authorised"
    assert found.match is not None
    assert found.match.read_plate == "AB123CD"
    assert found.match.score == pytest.approx(0.3), "less certain: the alternative's score"


def test_a_near_match_is_flagged_for_review_not_alerted(hotlists: Hotlists) -> None:
    ztl(hotlists, "GA456BC")
    near = verdict(hotlists, "6A456BC")  # a look-alike: 0.95
    assert near is not None and near.verdict == "review"
    assert near.match is not None
    assert (near.match.entry_plate, near.match.read_plate, near.match.match) == (
        "GA456BC",
        "6A456BC",
        "fuzzy",
    )
    assert near.match.score == pytest.approx(0.95)
    # Two look-alikes and one other edit: 0.75, under fuzzy_min_score (0.8): not authorised.
    far = verdict(hotlists, "6A45685")
    assert far is not None and far.verdict == "not_authorised" and far.match is None
    # A near alternative scores its own score times the plate's: 0.9 * 0.95 passes, 0.5 not.
    assert (v := verdict(hotlists, "ZZ999ZZ", alternatives=(("6A456BC", 0.95),))) is not None
    assert v.verdict == "review"
    assert (v := verdict(hotlists, "ZZ999ZZ", alternatives=(("6A456BC", 0.5),))) is not None
    assert v.verdict == "not_authorised"


def test_an_exact_match_wins_over_a_near_one(hotlists: Hotlists) -> None:
    ztl(hotlists, "GA456BC", "6A456BC")
    found = verdict(hotlists, "6A456BC")
    assert found is not None and found.verdict == "authorised"
    assert found.match is not None and found.match.entry_plate == "6A456BC"


def test_an_unknown_plate_is_not_authorised_even_on_an_empty_gate(hotlists: Hotlists) -> None:
    ztl(hotlists)
    found = verdict(hotlists, "AB123CD")
    assert found is not None
    assert (found.verdict, found.gate_list.id, found.match) == ("not_authorised", "ztl", None)


def test_no_verdict_outside_the_gates_stations_days_and_hours(hotlists: Hotlists) -> None:
    ztl(hotlists, "AB123CD")
    assert verdict(hotlists, "XY987ZW", station="elsewhere") is None
    assert verdict(hotlists, "XY987ZW", station="ztl_out") is not None
    assert verdict(hotlists, "XY987ZW", moment=at(10, day=28)) is None  # Saturday
    assert verdict(hotlists, "XY987ZW", moment=at(10, day=29)) is None  # Sunday
    assert verdict(hotlists, "XY987ZW", moment=at(10, day=27)) is not None  # Friday
    assert verdict(hotlists, "XY987ZW", moment=at(6, 59)) is None
    assert verdict(hotlists, "XY987ZW", moment=at(7, 0)) is not None
    assert verdict(hotlists, "XY987ZW", moment=at(19, 59)) is not None
    assert verdict(hotlists, "XY987ZW", moment=at(20, 0)) is None


def test_days_and_hours_are_the_municipalitys_local_time(hotlists: Hotlists) -> None:
    ztl(hotlists, "AB123CD")
    # 06:30 UTC is 07:30 in Rome in November: the gate is closed.
    assert verdict(hotlists, "XY987ZW", moment=datetime(2026, 11, 25, 6, 30, tzinfo=UTC))
    # 19:30 UTC on Friday is 20:30 in Rome: open.
    assert verdict(hotlists, "XY987ZW", moment=datetime(2026, 11, 27, 19, 30, tzinfo=UTC)) is None
    # 23:30 UTC on Sunday is 00:30 on Monday in Rome: a weekday, but before 7.
    sunday_night = datetime(2026, 11, 29, 23, 30, tzinfo=UTC)
    assert verdict(hotlists, "XY987ZW", moment=sunday_night) is None
    assert verdict(hotlists, "XY987ZW", moment=sunday_night + timedelta(hours=7)) is not None
    # A time without a zone is the municipality's.
    assert verdict(hotlists, "XY987ZW", moment=datetime(2026, 11, 25, 7, 30)) is not None


def test_hours_wrap_past_midnight(hotlists: Hotlists) -> None:
    night = Gate(stations=("ztl_in",), days="5", from_hour=22, to_hour=6)
    ztl(hotlists, "AB123CD", gate=night)
    friday = 27
    assert verdict(hotlists, "XY987ZW", moment=at(21, 59, day=friday)) is None
    assert verdict(hotlists, "XY987ZW", moment=at(22, 0, day=friday)) is not None
    assert verdict(hotlists, "XY987ZW", moment=at(5, 59, day=friday)) is not None
    assert verdict(hotlists, "XY987ZW", moment=at(6, 0, day=friday)) is None
    # The day is the local day of the transit: Saturday 01:00 is not a Friday.
    assert verdict(hotlists, "XY987ZW", moment=at(1, 0, day=28)) is None
    all_day = Gate(stations=("school",), to_hour=None, from_hour=None)
    ztl(hotlists, gate=all_day, list_id="always")
    for hour in (0, 12, 23):
        assert verdict(hotlists, "XY987ZW", station="school", moment=at(hour, day=29))


def test_entries_scope_and_expiry_count_at_the_gate(hotlists: Hotlists) -> None:
    ztl(hotlists)
    hotlists.add_entry("ztl", "AB123CD", "carico e scarico", added_by="t", from_hour=8, to_hour=10)
    hotlists.add_entry("ztl", "EF456GH", "solo uscita", added_by="t", stations=["ztl_out"])
    hotlists.add_entry("ztl", "JK789LM", "permesso scaduto", added_by="t", expires_at=at(9))
    assert (v := verdict(hotlists, "AB123CD", moment=at(9))) and v.verdict == "authorised"
    assert (v := verdict(hotlists, "AB123CD", moment=at(11))) and v.verdict == "not_authorised"
    assert (v := verdict(hotlists, "EF456GH", station="ztl_out")) and v.verdict == "authorised"
    assert (v := verdict(hotlists, "EF456GH", station="ztl_in")) and v.verdict == "not_authorised"
    assert (v := verdict(hotlists, "JK789LM", moment=at(8))) and v.verdict == "authorised"
    assert (v := verdict(hotlists, "JK789LM", moment=at(10))) and v.verdict == "not_authorised"


def test_several_gates_authorise_if_any_of_them_does(hotlists: Hotlists) -> None:
    residents = Gate(stations=("ztl_in",), keep_authorised=False)
    deliveries = Gate(stations=("ztl_in", "school"), from_hour=6, to_hour=10)
    hotlists.create_list(
        "residents", "Residenti", "authorised", priority=8, created_by="t", gate=residents
    )
    hotlists.create_list("deliveries", "Carico/scarico", "authorised", created_by="t")
    hotlists.set_gate("deliveries", deliveries)
    hotlists.add_entry("residents", "AB123CD", "residente", added_by="t")
    hotlists.add_entry("deliveries", "EF456GH", "corriere", added_by="t")
    hotlists.add_entry("deliveries", "AB123CD", "anche corriere", added_by="t")
    courier = verdict(hotlists, "EF456GH", moment=at(8))
    assert courier and (courier.verdict, courier.gate_list.id) == ("authorised", "deliveries")
    # Closed by residents only after 10: the courier is a stranger there then.
    late = verdict(hotlists, "EF456GH", moment=at(11))
    assert late and (late.verdict, late.gate_list.id) == ("not_authorised", "residents")
    # Not on any: the first closed gate by priority (residents: 8, deliveries: 9).
    stranger = verdict(hotlists, "XY987ZW", moment=at(8))
    assert stranger and (stranger.verdict, stranger.gate_list.id) == ("not_authorised", "residents")
    # On both: authorised, kept because one of the gates that authorises it keeps such transits.
    both = verdict(hotlists, "AB123CD", moment=at(8))
    assert both and both.verdict == "authorised" and both.keeps_transit
    assert both.gate_list.id == "deliveries"
    only_residents = verdict(hotlists, "AB123CD", moment=at(11))
    assert only_residents and only_residents.verdict == "authorised"
    assert not only_residents.keeps_transit
    # A near match on one gate, exact on another: authorised.
    hotlists.add_entry("residents", "GA456BC", "residente", added_by="t")
    hotlists.add_entry("deliveries", "6A456BC", "corriere", added_by="t")
    assert (v := verdict(hotlists, "6A456BC", moment=at(8))) and v.verdict == "authorised"
    assert (v := verdict(hotlists, "6A456BC", moment=at(11))) and v.verdict == "review"


def test_lists_without_a_gate_and_other_kinds_do_not_gate(hotlists: Hotlists) -> None:
    hotlists.create_list("permits", "Permessi", "authorised", created_by="t")
    hotlists.add_entry("permits", "AB123CD", "permesso", added_by="t")
    hotlists.create_list("stolen", "Rubati", "stolen", created_by="t")
    hotlists.add_entry("stolen", "XY987ZW", "furto", added_by="t")
    assert verdict(hotlists, "XY987ZW") is None
    # An entry of another list, even an authorised one, does not open a gate.
    ztl(hotlists, "EF456GH")
    found = verdict(hotlists, "AB123CD")
    assert found and (found.verdict, found.gate_list.id) == ("not_authorised", "ztl")
    # The gate changes nothing in the ordinary matching.
    assert [m.list_id for m in hotlists.match("EF456GH", [], "ztl_in", at(10))] == ["ztl"]


# ----------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("gate", "message"),
    [
        (Gate(stations=()), "at least one station"),
        (Gate(stations=(" ",)), "at least one station"),
        (Gate(stations=("atlantis",)), "unknown station atlantis"),
        (Gate(stations=("ztl_in",), days=""), "gate days"),
        (Gate(stations=("ztl_in",), days="8"), "gate days"),
        (Gate(stations=("ztl_in",), days="0"), "gate days"),
        (Gate(stations=("ztl_in",), days="112"), "gate days"),
        (Gate(stations=("ztl_in",), days="lun"), "gate days"),
        (Gate(stations=("ztl_in",), from_hour=7), "both"),
        (Gate(stations=("ztl_in",), to_hour=20), "both"),
        (Gate(stations=("ztl_in",), from_hour=24, to_hour=2), "from 0-23 to 0-24"),
        (Gate(stations=("ztl_in",), from_hour=-1, to_hour=2), "from 0-23 to 0-24"),
        (Gate(stations=("ztl_in",), from_hour=7, to_hour=25), "from 0-23 to 0-24"),
        (Gate(stations=("ztl_in",), from_hour=7, to_hour=7), "not the same hour"),
        (Gate(stations=("ztl_in",), from_hour=0, to_hour=24), "not the same hour"),
    ],
)
def test_bad_gates_are_refused(hotlists: Hotlists, gate: Gate, message: str) -> None:
    with pytest.raises(HotlistError, match=message):
        hotlists.create_list("ztl", "ZTL", "authorised", created_by="t", gate=gate)
    hotlists.create_list("ztl", "ZTL", "authorised", created_by="t")
    with pytest.raises(HotlistError, match=message):
        hotlists.set_gate("ztl", gate)
    assert hotlists.get_list("ztl").gate is None


def test_only_authorised_lists_are_gates(hotlists: Hotlists) -> None:
    for kind in ("stolen", "police", "uninsured", "inspection", "watch"):
        with pytest.raises(HotlistError, match="only an authorised list"):
            hotlists.create_list(kind, kind, kind, created_by="t", gate=ZTL)
        hotlists.create_list(kind, kind, kind, created_by="t")
        with pytest.raises(HotlistError, match="only an authorised list"):
            hotlists.set_gate(kind, ZTL)
    with pytest.raises(HotlistNotFound):
        hotlists.set_gate("nowhere", ZTL)


def test_stations_are_not_checked_without_known_stations(store: Store) -> None:
    anywhere = Hotlists(store, timezone=ROME)
    info = anywhere.create_list(
        "ztl", "ZTL", "authorised", created_by="t", gate=Gate(stations=("atlantis",))
    )
    assert info.gate is not None and info.gate.stations == ("atlantis",)


# ----------------------------------------------------------------------------- persistence
def test_gates_are_stored_normalised_and_seen_by_every_worker(
    store: Store, hotlists: Hotlists
) -> None:
    messy = Gate(stations=(" ztl_out", "ztl_in", "ztl_in"), days="54321", from_hour=7, to_hour=20)
    created = hotlists.create_list("ztl", "ZTL centro", "authorised", created_by="t", gate=messy)
    assert created.gate == ZTL
    hotlists.create_list("permits", "Permessi", "authorised", created_by="t")
    assert {i.id: i.gate for i in hotlists.lists()} == {"ztl": ZTL, "permits": None}
    other_worker = Hotlists(store, timezone=ROME, known_stations=STATIONS)
    assert other_worker.get_list("ztl").gate == ZTL
    # Both have their index built; a gate set by one is seen by the other's next check.
    assert verdict(hotlists, "AB123CD", station="school") is None
    assert verdict(other_worker, "AB123CD", station="school") is None
    school = Gate(stations=("school",), days="12345", from_hour=7, to_hour=9, keep_authorised=False)
    changed = other_worker.set_gate("ztl", school)
    assert changed.gate == school and changed.id == "ztl" and changed.kind == "authorised"
    assert hotlists.get_list("ztl").gate == school
    found = verdict(hotlists, "AB123CD", station="school", moment=at(8))
    assert found and found.verdict == "not_authorised" and found.gate_list.gate == school
    assert verdict(hotlists, "AB123CD", station="ztl_in", moment=at(8)) is None
    cleared = hotlists.set_gate("ztl", None)
    assert cleared.gate is None
    assert verdict(other_worker, "AB123CD", station="school", moment=at(8)) is None
    no_gate = sa.text("SELECT count(*) FROM hotlists WHERE gate_stations IS NULL")
    with store.engine.begin() as connection:
        assert connection.scalar(no_gate) == 2, "cleared: SQL NULL, not JSON null"


# ----------------------------------------------------------------------------- command line
def test_command_line_gates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"data_dir: {tmp_path}\nstore:\n  url: sqlite:///{tmp_path / 'cli.db'}\n"
        "stations:\n"
        "  - {id: st_a, name: A, camera: cam_a, kind: lpr}\n"
        "  - {id: st_b, name: B, camera: cam_b, kind: lpr}\n"
    )
    c = ["-c", str(config)]
    assert main(["hotlist", "create", "ztl", "--name", "ZTL", "--kind", "authorised",
                 "--gate-stations", "st_a,st_b", "--gate-days", "12345", "--gate-hours", "7-20",
                 "--gate-drop-authorised", *c]) == 0  # fmt: skip
    assert "gate at st_a,st_b days 12345 7-20 (authorised not stored)" in capsys.readouterr().out
    assert main(["hotlist", "create", "x", "--name", "X", "--kind", "stolen",
                 "--gate-stations", "st_a", *c]) == 1  # fmt: skip
    assert "only an authorised list" in capsys.readouterr().err
    assert main(["hotlist", "create", "y", "--name", "Y", "--kind", "authorised",
                 "--gate-stations", "nowhere", *c]) == 1  # fmt: skip
    assert "unknown station nowhere" in capsys.readouterr().err
    assert main(["hotlist", "create", "z", "--name", "Z", "--kind", "authorised",
                 "--gate-days", "12345", *c]) == 1  # fmt: skip
    assert "--gate-stations" in capsys.readouterr().err
    assert main(["hotlist", "lists", *c]) == 0
    assert "st_a,st_b days 12345 7-20" in capsys.readouterr().out
    assert main(["hotlist", "gate", "ztl", "--gate-stations", "st_b", *c]) == 0
    assert "gate at st_b" in capsys.readouterr().out
    assert main(["hotlist", "gate", "ztl", *c]) == 2
    assert main(["hotlist", "gate", "ztl", "--clear", *c]) == 0
    capsys.readouterr()
    assert main(["hotlist", "lists", *c]) == 0
    listing = capsys.readouterr().out
    assert "st_b" not in listing and listing.splitlines()[1].endswith("-")
    store = Store(f"sqlite:///{tmp_path / 'cli.db'}", worker="test")
    try:
        with store.engine.begin() as connection:
            actions = [
                (row.action, row.query["gate"])
                for row in connection.execute(sa.select(audit_log).order_by(audit_log.c.id))
            ]
    finally:
        store.close()
    assert [a for a, _ in actions] == ["hotlist_gate_set", "hotlist_gate_clear"]
    assert actions[1][1]["stations"] == ["st_b"], "the gate cleared is kept"


# ----------------------------------------------------------------------------- API
ADMIN = "gates-admin-token-0123456789abcdefgh"
OPERATOR = "gates-operator-token-0123456789abcd"
AS_ADMIN = {"Authorization": f"Bearer {ADMIN}"}
AS_OPERATOR = {"Authorization": f"Bearer {OPERATOR}"}


@pytest.fixture
async def engine(tmp_path: Path, recognizer: Recognizer) -> AsyncIterator[Engine]:
    settings = settings_from_mapping(
        {
            "data_dir": str(tmp_path),
            "timezone": "Europe/Rome",
            "frigate": {"url": "http://frigate.local:5000"},
            "api": {
                "token": ADMIN,
                "users": [{"name": "agente.rossi", "token": OPERATOR, "role": "operator"}],
            },
            "stations_file": str(default_registry_path()),
        }
    )
    running = Engine(settings, recognizer)
    yield running
    await running.stop(drain_timeout=0)


@pytest.fixture
async def client(engine: Engine) -> AsyncIterator[TestClient[Any, Any]]:
    async with api_client(engine) as test_client:
        yield test_client


async def test_api_create_set_and_clear_a_gate(
    client: TestClient[Any, Any], engine: Engine
) -> None:
    gate = {"stations": ["via_roma_in"], "days": "12345", "from_hour": 7, "to_hour": 20}
    created = await client.post(
        "/api/v1/hotlists",
        headers=AS_OPERATOR,
        json={"id": "ztl", "name": "ZTL", "kind": "authorised", "gate": gate},
    )
    assert created.status == 201, await created.text()
    assert (await created.json())["gate"] == gate | {"keep_authorised": True}
    permits = {"id": "permits", "name": "P", "kind": "authorised"}
    plain = await client.post("/api/v1/hotlists", headers=AS_OPERATOR, json=permits)
    assert (await plain.json())["gate"] is None
    for bad, status in (
        ({"id": "s", "name": "S", "kind": "stolen", "gate": gate}, 400),
        ({"id": "a", "name": "A", "kind": "authorised", "gate": gate | {"days": "54321"}}, 400),
        ({"id": "a", "name": "A", "kind": "authorised", "gate": gate | {"days": ""}}, 400),
        ({"id": "a", "name": "A", "kind": "authorised", "gate": gate | {"to_hour": None}}, 400),
        ({"id": "a", "name": "A", "kind": "authorised", "gate": gate | {"to_hour": 7}}, 400),
        ({"id": "a", "name": "A", "kind": "authorised", "gate": {"stations": []}}, 400),
        ({"id": "a", "name": "A", "kind": "authorised", "gate": {"stations": ["atlantis"]}}, 404),
    ):
        refused = await client.post("/api/v1/hotlists", headers=AS_OPERATOR, json=bad)
        assert refused.status == status, (bad, await refused.text())
    school = {"stations": ["pomino_in", "via_roma_in"], "keep_authorised": False}
    put = await client.put(
        "/api/v1/hotlists/permits/gate",
        headers=AS_OPERATOR,
        json=school,
        params={"reason": "scuola"},
    )
    assert put.status == 200, await put.text()
    assert (await put.json())["gate"] == {
        "stations": ["pomino_in", "via_roma_in"],
        "days": None,
        "from_hour": None,
        "to_hour": None,
        "keep_authorised": False,
    }
    listed = await client.get("/api/v1/hotlists", headers=AS_OPERATOR)
    gates = {h["id"]: h["gate"] for h in (await listed.json())["hotlists"]}
    assert gates["ztl"]["days"] == "12345" and gates["permits"]["keep_authorised"] is False
    found = engine.hotlists.gate_check("AB123CD", [], "pomino_in", datetime(2026, 11, 29, 3))
    assert found and found.verdict == "not_authorised" and found.gate_list.id == "permits"
    cleared = await client.delete("/api/v1/hotlists/permits/gate", headers=AS_OPERATOR)
    assert cleared.status == 200 and (await cleared.json())["gate"] is None
    assert engine.hotlists.gate_check("AB123CD", [], "pomino_in", datetime(2026, 11, 29, 3)) is None
    missing = await client.put("/api/v1/hotlists/nowhere/gate", headers=AS_OPERATOR, json=school)
    assert missing.status == 404
    assert (await client.delete("/api/v1/hotlists/nowhere/gate", headers=AS_OPERATOR)).status == 404
    stolen = {"id": "s", "name": "S", "kind": "stolen"}
    assert (await client.post("/api/v1/hotlists", headers=AS_OPERATOR, json=stolen)).status == 201
    not_allowed = await client.put("/api/v1/hotlists/s/gate", headers=AS_OPERATOR, json=school)
    assert (
        not_allowed.status == 400 and "only an authorised" in (await not_allowed.json())["message"]
    )
    with engine.store.engine.begin() as connection:
        rows = connection.execute(sa.select(audit_log).order_by(audit_log.c.id)).all()
    gate_rows = [r for r in rows if r.action.startswith("hotlist_gate")]
    assert [(r.action, r.actor, r.reason) for r in gate_rows] == [
        ("hotlist_gate_set", "agente.rossi", "scuola"),
        ("hotlist_gate_clear", "agente.rossi", None),
    ]
    assert gate_rows[0].query["gate"]["stations"] == ["pomino_in", "via_roma_in"]
    assert gate_rows[1].query["gate"]["keep_authorised"] is False, "what was cleared is kept"
    created_row = next(r for r in rows if r.action == "hotlist_create")
    assert created_row.query["gate"]["days"] == "12345"
