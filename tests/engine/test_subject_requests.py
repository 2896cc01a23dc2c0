"""Data subjects' requests (issue 25): the register and its deadlines, the subject's copy of
exactly their plate's data, the erasure (except under a hold, and alerts being handled) with the
retained MQTT messages cleared on a real broker, the audit without the plate, admins only."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import zipfile
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient

from rufina_alpr import contract, privacy
from rufina_alpr.alerts import ledger
from rufina_alpr.config import settings_from_mapping
from rufina_alpr.engine.app import Engine
from rufina_alpr.privacy import requests as register
from rufina_alpr.privacy import subject
from rufina_alpr.reads import PlateRead
from rufina_alpr.recognizer import Recognizer
from rufina_alpr.sim.broker import MosquittoBroker
from rufina_alpr.stations import default_registry_path
from rufina_alpr.store import (
    Store,
    alert_frames,
    alert_steps,
    alerts,
    audit_log,
    crops,
    hotlist_matches,
    passages,
    reads,
    transit_corrections,
    transits,
)
from rufina_alpr.store.corrections import correct_plate
from rufina_alpr.transits import Transit

from .conftest import api_client
from .test_corrections import (
    ADMIN,
    AS_OPERATOR,
    OPERATOR,
    REASON,
    bearer,
    correct,
    make_stolen_list,
    make_transit,
)
from .test_evidence_frames import FRAME, stolen_match
from .test_hardening_api import _retained
from .test_privacy import every_stored_text
from .traffic_day import store_on

PLATE = "EB123CD"
OTHER_PLATE = "GH456JK"
PERSON = "Dott.ssa Neri"  # the person the admin's (delegate) token acts for
AS_ADMIN = bearer(ADMIN)
BASE = "/api/v1/privacy/requests"

T_READ = make_transit("via_roma_in", 10, PLATE)  # the plate, read
T_CORRECTED = make_transit("pomino_in", 0, PLATE)  # read as the plate, corrected to another
T_OPEN = make_transit("contea_in", 20, PLATE)  # its alert is being handled
T_OTHER = make_transit("via_roma_in", 5, OTHER_PLATE)  # another vehicle, same station
ALL = (T_READ, T_CORRECTED, T_OPEN, T_OTHER)


def plate_reads(transit: Transit) -> list[PlateRead]:
    return [PlateRead(text=transit.plate, char_confidences=(0.9,) * len(transit.plate))]


def raise_alert(engine: Engine, transit: Transit, close: bool) -> str:
    """On the database thread: a stolen-vehicle alert of the transit with its frame; handled
    by an operator and a person a delegate acted for, then rejected (``close``) or left open."""
    now = datetime.now(UTC)
    with engine.store.engine.begin() as connection:
        raised = ledger.raise_alert(
            connection,
            ledger.hotlist_alert(
                transit, stolen_match(transit.plate), status="confirmed", worker="test", now=now
            ),
            cooldown=0,
        )
        assert raised is not None
        ledger.keep_frame(connection, raised.id, FRAME + transit.id.encode(), "clean", now=now)
        ledger.apply_step(
            connection, raised.id, "acknowledge", actor="agente.rossi", acting_user=None
        )
        if close:
            ledger.apply_step(
                connection,
                raised.id,
                "reject",
                actor="home-assistant",
                acting_user="Comandante Bianchi",
                reason="wrong_vehicle",
            )
    return raised.id


@pytest.fixture
async def engine(
    tmp_path: Path, recognizer: Recognizer, mosquitto: MosquittoBroker
) -> AsyncIterator[Engine]:
    settings = settings_from_mapping(
        {
            "data_dir": str(tmp_path),
            "timezone": "Europe/Rome",
            "mqtt": {"host": mosquitto.host, "port": mosquitto.port},
            "api": {
                "token": ADMIN,
                "delegate": True,
                "users": [
                    {"name": "agente.rossi", "token": OPERATOR, "role": "operator"},
                ],
            },
            "privacy": {"controller": {"name": "Comune di Rufina", "dpo_email": "dpo@rufina.it"}},
            "stations_file": str(default_registry_path()),
        }
    )
    running = Engine(settings, recognizer)
    for transit in ALL:
        assert await running.db.run(running.store.add_transit, transit, plate_reads(transit))
    yield running
    await running.stop(drain_timeout=0)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    server = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    with store_on(request.param, tmp_path, server) as opened:
        yield opened


@pytest.fixture
async def client(engine: Engine) -> AsyncIterator[TestClient[Any, Any]]:
    async with api_client(engine) as test_client:
        yield test_client


async def plate_data(engine: Engine, client: TestClient[Any, Any]) -> dict[str, str]:
    """The plate's transits, one corrected away from it, alerts (one open), a hold, a hotlist
    entry and audited searches of it and of another plate; the ids of the alerts and the hold."""
    await make_stolen_list(client, PLATE)
    await correct(client, T_CORRECTED, "XY987ZW", "the crop shows another car")
    for plate in (PLATE, OTHER_PLATE):
        searched = await client.get(
            "/api/v1/transits", headers=AS_OPERATOR, params={"plate": plate, "reason": REASON}
        )
        assert searched.status == 200
    closed = await engine.db.run(raise_alert, engine, T_READ, True)
    opened = await engine.db.run(raise_alert, engine, T_OPEN, False)
    other = await engine.db.run(raise_alert, engine, T_OTHER, True)
    hold = await engine.db.run(
        lambda: privacy.hold(engine.store, [T_CORRECTED.id], "2026/77", "fraud", "agente.rossi")
    )
    return {"closed": closed, "open": opened, "other": other, "hold": str(hold.id)}


async def new_request(client: TestClient[Any, Any], kind: str, **extra: Any) -> dict[str, Any]:
    body = {"kind": kind, "plate": "eb 123-cd", "requester": "Mario Verdi, PEC", **extra}
    response = await client.post(BASE, headers=AS_ADMIN, json=body)
    assert response.status == 201, await response.text()
    created: dict[str, Any] = await response.json()
    return created


async def table(engine: Engine, name: sa.Table) -> list[Any]:
    def read() -> list[Any]:
        with engine.store.engine.connect() as connection:
            return list(connection.execute(sa.select(name)))

    return await engine.db.run(read)


# ----------------------------------------------------------------------------- access
async def test_the_access_zip_holds_exactly_the_plates_data(
    engine: Engine, client: TestClient[Any, Any]
) -> None:
    ids = await plate_data(engine, client)
    created = await new_request(client, "access", reference="prot. 2026/1234")
    assert created["plate"] == PLATE and created["status"] == "open"
    received = datetime.fromisoformat(created["received_at"])
    assert datetime.fromisoformat(created["due_at"]) == received + timedelta(days=30)
    response = await client.get(
        f"{BASE}/{created['id']}/access.zip",
        headers=bearer(ADMIN, PERSON),
        params={"reason": "art. 15 request prot. 2026/1234"},
    )
    assert response.status == 200, await response.text()
    assert response.content_type == "application/zip"
    assert "attachment" in response.headers["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(await response.read())) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    mine = (T_READ, T_CORRECTED, T_OPEN)
    assert set(files) == {
        "transits.csv",
        "transits.json",
        *(f"crops/{t.id}.jpg" for t in mine),
        f"frames/{ids['closed']}.jpg",
        f"frames/{ids['open']}.jpg",
        "alerts.json",
        "corrections.json",
        "audit.json",
        "manifest.json",
        "lettera_accesso.md",
        "access_letter.en.md",
    }
    manifest = json.loads(files["manifest.json"])
    assert (manifest["request"], manifest["plate"]) == (created["id"], PLATE)
    listed = {entry["path"]: entry["sha256"] for entry in manifest["files"]}
    assert set(listed) == set(files) - {"manifest.json"}
    for path, digest in listed.items():
        assert hashlib.sha256(files[path]).hexdigest() == digest, path
    assert manifest["counts"]["transits"] == 3 and manifest["counts"]["alerts"] == 2
    # Nothing of the other vehicle, no employee's name anywhere.
    for path, content in files.items():
        for foreign in (OTHER_PLATE, T_OTHER.id, ids["other"], "agente.rossi", "Bianchi"):
            assert foreign.encode() not in content, (path, foreign)
    transits_json = {t["id"]: t for t in json.loads(files["transits.json"])}
    assert set(transits_json) == {t.id for t in mine}
    assert transits_json[T_CORRECTED.id]["original_plate"] == PLATE
    assert transits_json[T_CORRECTED.id]["plate"] == "XY987ZW"
    assert transits_json[T_READ.id]["read_texts"][0]["text"] == PLATE
    assert files[f"crops/{T_READ.id}.jpg"] == T_READ.crop_jpeg
    assert files["transits.csv"].decode().count("\n") == 4  # the header and three transits
    alerts_json = {a["id"]: a for a in json.loads(files["alerts.json"])}
    assert set(alerts_json) == {ids["closed"], ids["open"]}
    closed = alerts_json[ids["closed"]]
    assert [s["step"] for s in closed["steps"]] == ["acknowledge", "reject"]
    frame = files[f"frames/{ids['closed']}.jpg"]
    assert closed["frame"]["sha256_at_capture"] == hashlib.sha256(frame).hexdigest()
    corrections = json.loads(files["corrections.json"])
    assert [(c["transit_id"], c["previous_plate"], c["plate"]) for c in corrections] == [
        (T_CORRECTED.id, PLATE, "XY987ZW")
    ]
    audit = json.loads(files["audit.json"])
    assert {"time", "action", "reason", "results"} == set(audit[0])
    assert any(e["action"] == "search" and e["reason"] == REASON for e in audit), audit
    letter_it, letter_en = (
        files[n].decode() for n in ("lettera_accesso.md", "access_letter.en.md")
    )
    assert "Comune di Rufina" in letter_it and "Comune di Rufina" in letter_en
    assert "dpo@rufina.it" in letter_it and "[DA COMPLETARE: PEC]" in letter_it
    assert "[TO BE COMPLETED: PEC]" in letter_en and "art. 23" in letter_en
    assert "Garante" in letter_it and "7 giorni" in letter_it and "365 days" in letter_en
    # The first download answered it, by the person the delegate acted for; the hotlist entry
    # is reported to the admin, not in the ZIP.
    answered = await client.get(
        f"{BASE}/{created['id']}", headers=AS_ADMIN, params={"reason": REASON}
    )
    body = await answered.json()
    assert body["status"] == "fulfilled" and body["handled_by"] == f"{PERSON} via admin"
    assert [e["list"] for e in body["result"]["hotlist_entries"]] == ["stolen"]
    assert body["result"]["hotlist_entries_in_zip"] is False
    again = await client.get(
        f"{BASE}/{created['id']}/access.zip", headers=AS_ADMIN, params={"reason": REASON}
    )
    assert again.status == 200  # a second copy, still fulfilled by the first


# ----------------------------------------------------------------------------- erasure
async def test_erasure_removes_the_plate_but_what_a_hold_or_an_open_alert_keeps(
    engine: Engine, client: TestClient[Any, Any], mosquitto: MosquittoBroker
) -> None:
    ids = await plate_data(engine, client)
    link, topics = engine.mqtt, engine.topics
    await link.start()
    try:
        await asyncio.wait_for(link.connected.wait(), 10)
        for transit in (T_CORRECTED, T_READ, T_OPEN):  # each its station's newest
            payload = json.dumps(contract.transit_payload(transit)).encode()
            await link.publish(topics.station_last(transit.station_id), payload, retain=True)
            await link.publish(topics.station_crop(transit.station_id), CROP_OF, retain=True)
        created = await new_request(client, "erasure")
        response = await client.post(
            f"{BASE}/{created['id']}/erase", headers=AS_ADMIN, json={"reason": "art. 17 request"}
        )
        assert response.status == 200, await response.text()
        left = await _retained(mosquitto, link, topics)
    finally:
        await link.stop()
    answered = await response.json()
    assert answered["status"] == "fulfilled" and answered["handled_by"] == "admin"
    result = answered["result"]
    assert result["erased"] == {
        "transits": 1,
        "reads": 1,
        "crops": 1,
        "corrections": 0,
        "hotlist_matches": 0,
        "alerts": 1,
        "frames": 1,
    }
    assert result["passages_anonymised"] == 1
    kept = result["kept"]
    assert kept["holds"] == [{"id": int(ids["hold"]), "case_number": "2026/77", "transits": 1}]
    assert (kept["open_alerts"], kept["open_alert_transits"], kept["hotlist_entries"]) == (1, 1, 1)
    assert kept["audit_entries"] >= 2  # the search and the correction
    assert result["cleared_stations"] == ["via_roma_in"]
    # The broker no longer hands out the erased transit: its station's messages are gone.
    assert set(left) == {
        topics.station_last("pomino_in"),
        topics.station_crop("pomino_in"),
        topics.station_last("contea_in"),
        topics.station_crop("contea_in"),
    }
    assert all(T_READ.id.encode() not in payload for payload in left.values())
    # In the store: the held and the open alert's transits, nothing else of the plate.
    assert {row.id for row in await table(engine, transits)} == {
        T_CORRECTED.id,
        T_OPEN.id,
        T_OTHER.id,
    }
    for name, column in (
        (reads, reads.c.transit_id),
        (crops, crops.c.transit_id),
        (transit_corrections, transit_corrections.c.transit_id),
        (hotlist_matches, hotlist_matches.c.transit_id),
    ):
        assert T_READ.id not in {row._mapping[column.name] for row in await table(engine, name)}
    assert {row.id for row in await table(engine, alerts)} == {ids["open"], ids["other"]}
    assert ids["closed"] not in {row.alert_id for row in await table(engine, alert_steps)}
    assert ids["closed"] not in {row.alert_id for row in await table(engine, alert_frames)}
    counted = {(row.event_id, row.transit_id) for row in await table(engine, passages)}
    assert (T_READ.event_id, None) in counted  # an anonymous traffic count now
    # Audited by request id, never the plate; the searches that named it are kept.
    entries = await table(engine, audit_log)
    erasure = [e for e in entries if e.action == "subject_erasure"]
    assert len(erasure) == 1 and erasure[0].query["request"] == created["id"]
    assert erasure[0].reason == "art. 17 request"
    for entry in entries:
        if entry.action.startswith("subject_"):
            assert PLATE not in json.dumps(entry.query), entry
    assert any(PLATE in json.dumps(e.query) for e in entries if e.action == "search")
    # An answered request cannot be erased again.
    twice = await client.post(
        f"{BASE}/{created['id']}/erase", headers=AS_ADMIN, json={"reason": "art. 17 request"}
    )
    assert twice.status == 409


CROP_OF = b"\xff\xd8\xff\xe0retained-crop\xff\xd9"


# ----------------------------------------------------------------------------- deadlines
def test_deadlines_extension_refusal_and_the_due_summary(store: Store) -> None:
    now = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    late = register.create(
        store,
        "access",
        PLATE,
        "Mario Verdi",
        "admin",
        received_at=now - timedelta(days=40),
        now=now,
    )
    assert late.due_at == now - timedelta(days=10)
    assert late.overdue(now) and late.days_left(now) == -10 and not late.extended
    soon = register.create(
        store,
        "erasure",
        "AB 123 CD",
        "prot. 88",
        "admin",
        received_at=now - timedelta(days=27),
        now=now,
    )
    assert soon.plate == "AB123CD" and soon.days_left(now) == 3 and not soon.overdue(now)
    later = register.create(store, "access", "ZZ999ZZ", "Anna Blu", "admin", now=now)
    assert later.days_left(now) == 30
    extended = register.extend(store, late.id, "many archives to search", now=now)
    assert extended.due_at == late.due_at + timedelta(days=60) and extended.extended
    assert not extended.overdue(now) and extended.days_left(now) == 50
    assert "extended] many archives to search" in (extended.note or "")
    with pytest.raises(register.RequestStateError, match="only once"):
        register.extend(store, late.id, "again", now=now)
    summary = register.due_summary(store, now)
    assert summary == register.DueSummary(open=3, due_soon=1, overdue=0, next_due=soon.due_at)
    assert register.due_summary(store, now + timedelta(days=4)).overdue == 1
    refused = register.refuse(
        store, later.id, "manifestly unfounded (art. 12(5))", "admin", now=now
    )
    assert (refused.status, refused.handled_by) == ("refused", "admin")
    with pytest.raises(register.RequestStateError):
        register.refuse(store, later.id, "again", "admin", now=now)
    with pytest.raises(register.RequestStateError):
        register.fulfil(store, later.id, "admin", {}, now=now)
    assert [r.id for r in register.listing(store)] == [soon.id, later.id, late.id]
    assert [r.id for r in register.listing(store, status="refused")] == [later.id]
    assert register.due_summary(store, now).open == 2
    with pytest.raises(register.ReceivedLaterError):
        register.create(
            store, "access", PLATE, "x", "admin", received_at=now + timedelta(hours=1), now=now
        )
    with pytest.raises(register.RequestNotFound):
        register.extend(store, 999, "no such", now=now)


# ----------------------------------------------------------------------------- refusals
async def test_bad_input_unknown_ids_wrong_state_and_admins_only(
    client: TestClient[Any, Any],
) -> None:
    def body(**changed: Any) -> dict[str, Any]:
        return {"kind": "access", "plate": PLATE, "requester": "Mario Verdi", **changed}

    for bad in (
        body(plate="EB1*"),
        body(plate="É"),
        body(kind="rectification"),
        body(requester="   "),
        body(received_at="2026-01-01T10:00:00"),  # no zone
        body(received_at="1999-12-31T10:00:00+00:00"),
        {"kind": "access", "plate": PLATE},
        body(extra="no"),
    ):
        response = await client.post(BASE, headers=AS_ADMIN, json=bad)
        assert response.status == 400, (bad, await response.text())
        assert (await response.json())["message"]
    future = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    response = await client.post(BASE, headers=AS_ADMIN, json=body(received_at=future))
    assert response.status == 409 and "future" in (await response.json())["message"]
    listed = await client.get(BASE, headers=AS_ADMIN)
    assert listed.status == 400  # plates: a reason is required
    access = await new_request(client, "access")
    erasure = await new_request(client, "erasure")
    assert (
        await client.post(
            f"{BASE}/{access['id']}/erase", headers=AS_ADMIN, json={"reason": "why not"}
        )
    ).status == 409
    assert (
        await client.get(
            f"{BASE}/{erasure['id']}/access.zip", headers=AS_ADMIN, params={"reason": REASON}
        )
    ).status == 409
    note = {"note": "the archive is on tape"}
    assert (
        await client.post(f"{BASE}/{access['id']}/extend", headers=AS_ADMIN, json=note)
    ).status == 200
    assert (
        await client.post(f"{BASE}/{access['id']}/extend", headers=AS_ADMIN, json=note)
    ).status == 409
    assert (
        await client.post(f"{BASE}/{erasure['id']}/refuse", headers=AS_ADMIN, json=note)
    ).status == 200
    assert (
        await client.post(f"{BASE}/{erasure['id']}/refuse", headers=AS_ADMIN, json=note)
    ).status == 409
    assert (
        await client.post(f"{BASE}/{erasure['id']}/extend", headers=AS_ADMIN, json=note)
    ).status == 409
    assert (
        await client.post(f"{BASE}/{access['id']}/refuse", headers=AS_ADMIN, json={"note": " "})
    ).status == 400
    for missing in ("999", "0", "x"):
        assert (
            await client.get(f"{BASE}/{missing}", headers=AS_ADMIN, params={"reason": REASON})
        ).status == 404
        assert (
            await client.post(f"{BASE}/{missing}/extend", headers=AS_ADMIN, json=note)
        ).status == 404
    listed = await client.get(BASE, headers=AS_ADMIN, params={"reason": REASON, "status": "open"})
    summary = await listed.json()
    assert [r["id"] for r in summary["requests"]] == [access["id"]]
    assert summary["requests"][0]["extended"] and summary["open"] == 1
    # Operators may not see or touch the register.
    for method, path, sent in (
        ("GET", BASE, None),
        ("POST", BASE, body()),
        ("GET", f"{BASE}/{access['id']}", None),
        ("GET", f"{BASE}/{access['id']}/access.zip", None),
        ("POST", f"{BASE}/{erasure['id']}/erase", {"reason": "art. 17"}),
        ("POST", f"{BASE}/{access['id']}/extend", note),
        ("POST", f"{BASE}/{access['id']}/refuse", note),
    ):
        response = await client.request(
            method,
            path,
            headers=AS_OPERATOR,
            params={"reason": REASON} if method == "GET" else None,
            json=sent,
        )
        assert response.status == 403, (method, path)


# ----------------------------------------------------------------------------- the store side
def test_gather_and_erase_on_each_database(store: Store) -> None:
    """Set-based on SQLite and PostgreSQL alike: the audit's JSON searched as text, the alerts
    naming the plate, the transit read as it; after the erasure the plate is left only in the
    audit log (the accountability record)."""
    for transit in ALL:
        assert store.add_transit(transit, plate_reads(transit))
    now = datetime.now(UTC)
    with store.engine.begin() as connection:
        correct_plate(
            connection,
            T_CORRECTED.id,
            "XY987ZW",
            "another car",
            actor="agente.rossi",
            acting_user=None,
            now=now,
        )
        for transit in (T_READ, T_OTHER):
            alert = ledger.hotlist_alert(
                transit, stolen_match(transit.plate), status="confirmed", worker="t", now=now
            )
            assert ledger.raise_alert(connection, alert, cooldown=0)
            ledger.apply_step(
                connection, alert.id, "reject", actor="a", acting_user=None, reason="misread"
            )
    log = privacy.Audit(store)
    log.record("agente.rossi", "operator", "search", {"plate": PLATE}, reason="theft 2026/5")
    log.record("agente.rossi", "operator", "search", {"plate": "EB123C"}, reason="not it")
    log.record("agente.rossi", "operator", "search", {"plate": f"{PLATE}%"}, reason="nor this")
    data = subject.gather(store, PLATE)
    assert {t.id for t in data.transits} == {T_READ.id, T_CORRECTED.id, T_OPEN.id}
    assert [a.transit_id for a in data.alerts] == [T_READ.id]
    assert [e.reason for e in data.audit] == ["theft 2026/5"]
    assert list(data.corrections) == [T_CORRECTED.id]
    assert set(data.reads) == {T_READ.id, T_CORRECTED.id, T_OPEN.id}
    result = subject.erase(store, PLATE)
    assert (result.transits, result.alerts, result.corrections, result.audit_entries_kept) == (
        3,
        1,
        1,
        1,
    )
    assert result.cleared_stations == ("contea_in", "pomino_in", "via_roma_in")
    with store.engine.connect() as connection:
        audit_text = "\\n".join(str(row.query) for row in connection.execute(sa.select(audit_log)))
    assert every_stored_text(store).count(PLATE) == audit_text.count(PLATE)
    assert subject.gather(store, OTHER_PLATE).alerts  # another vehicle's data untouched
