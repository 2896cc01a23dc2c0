"""Alerts while the vehicle is in view, and their handling (issue 24), against the real broker,
the Frigate replay and the engine's API: a provisional alert that its transit confirms, one that
it withdraws, never two alerts for one vehicle, the evidence frame and its SHA-256, every step of
the handling audited under the real person and told on `<prefix>/alert`, the hits report."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from rufina_alpr import contract
from rufina_alpr.alerts import alert_id, ledger
from rufina_alpr.api import ACTING_USER_HEADER
from rufina_alpr.engine.app import Engine
from rufina_alpr.hotlists.models import Gate
from rufina_alpr.reads import Box, PlateRead
from rufina_alpr.recognizer import ModelInfo
from rufina_alpr.sim.frigate_state import EventClock, event_duration
from rufina_alpr.sim.photos import Photo, load_photos
from rufina_alpr.store import Store, alert_frames, alerts, audit_log
from rufina_alpr.transits import transit_id

from .conftest import SHARED, Alerts, api_client
from .factories import a_transit

PAYLOADS = SHARED / "frigate" / "payloads"
STOLEN = "GA456BC"
OTHER = "XY789ZT"
DELEGATE = "ha-delegate-token-0123456789abcdef"
VIEWER = "viewer-token-0123456789abcdef0123"
REASON = "pattuglia 3, controllo su via Roma"
API_USERS = {
    "api": {
        "users": [
            {"name": "home-assistant", "token": DELEGATE, "role": "operator", "delegate": True},
            {"name": "ufficio", "token": VIEWER, "role": "viewer"},
        ]
    }
}


class FirstThenOther:
    """Reads ``first`` on the first image it is given, then ``other`` (twice) on every later
    one: an in-view read that the vehicle's later, better frames contradict."""

    info = ModelInfo(detector="scripted", ocr="scripted", load_seconds=0.0)

    def __init__(self, first: str, other: str) -> None:
        self.first, self.other = first, other
        self.images = 0
        self._lock = threading.Lock()

    def read(
        self, image: np.ndarray, *, vehicle_box: Box | None = None, frame_time: float | None = None
    ) -> list[PlateRead]:
        with self._lock:
            self.images += 1
            first = self.images == 1
        text = self.first if first else self.other

        def read() -> PlateRead:
            return PlateRead(text=text, char_confidences=(0.97,) * len(text), frame_time=frame_time)

        return [read()] if first else [read(), read()]


class Always:
    """Reads the same plate on every image."""

    info = ModelInfo(detector="scripted", ocr="scripted", load_seconds=0.0)

    def __init__(self, plate: str) -> None:
        self.plate = plate

    def read(
        self, image: np.ndarray, *, vehicle_box: Box | None = None, frame_time: float | None = None
    ) -> list[PlateRead]:
        return [PlateRead(self.plate, (0.97,) * len(self.plate), frame_time=frame_time)]


async def stolen_list(engine: Any, *plates: str, kind: str = "stolen") -> None:
    def prepare() -> None:
        engine.hotlists.create_list(kind, f"Lista {kind}", kind, created_by="test")
        for plate in plates:
            engine.hotlists.add_entry(kind, plate, "Furto denunciato", added_by="test")

    await engine.db.run(prepare)


async def in_view_then_end(
    harness: Any, photo: Photo, camera: str, until: Any, *, updates: int = 3
) -> str:
    """A vehicle's `new` and `update`s; then, once ``until()`` holds (the engine acted while
    the vehicle is still in view), its `end`. Frigate's timing on the event's clock."""
    replay = harness.replay
    begin = time.time()
    walls = tuple(begin + index * 0.2 for index in range(updates + 2))
    tracked = replay.tracked_object(photo, camera, walls[-1] - event_duration(updates))
    messages = tracked.messages(updates)
    record = replay.records[tracked.id]
    record.clock = EventClock(
        walls, tuple(m["after"]["end_time"] or m["after"]["frame_time"] for m in messages)
    )
    for message in messages[:-1]:
        await replay.publish_tracked(message)
    await harness.wait_for(until, what="the engine's action while the vehicle is in view")
    await replay.publish_tracked(messages[-1])
    return str(tracked.id)


def alert_rows(engine: Any) -> list[dict[str, Any]]:
    with engine.store.engine.connect() as connection:
        return [dict(r._mapping) for r in connection.execute(sa.select(alerts))]


async def test_in_view_alert_is_provisional_then_confirmed_once(
    harness_factory: Any, photos_dir: Path
) -> None:
    """A real photo read while Frigate still tracks the vehicle: the alert goes out before the
    `end`, provisional; the transit confirms the same alert; one alert, its frame kept."""
    photo = next(p for p in load_photos(photos_dir) if p.path.name == "eu11.jpg")
    assert photo.plate
    harness = await harness_factory([photo])
    engine = harness.engine
    await stolen_list(engine, photo.plate)
    watcher = Alerts(harness.broker.host, harness.broker.port)
    await watcher.link.start()
    await harness.wait_for(watcher.link.connected.is_set, what="the alert subscriber")
    try:
        event = await in_view_then_end(
            harness, photo, "cam_pomino", lambda: len(watcher.received) == 1
        )
        raised = watcher.received[0]
        contract.validate("hotlist_match", raised)
        tid = transit_id("cam_pomino", event)
        assert (raised["status"], raised["alert_kind"], raised["alert_id"]) == (
            "provisional",
            "hotlist",
            alert_id(tid, "hotlist"),
        )
        assert raised["transit"]["id"] == tid  # the id its transit will have
        assert (raised["list"], raised["list_name"], raised["entry_plate"]) == (
            "stolen",
            "Lista stolen",
            photo.plate,
        )
        assert harness.received == []  # no transit yet: the vehicle is still in view
        await harness.wait_for(lambda: watcher.changes(raised["alert_id"]) == ["confirmed"])
        await harness.wait_for(lambda: len(harness.received) == 1, what="the transit")
        update = watcher.updates[0]
        contract.validate("alert", update)
        assert (update["status"], update["state"], update["plate"]) == (
            "confirmed",
            "new",
            harness.received[0]["plate"],
        )
        await harness.wait_for(
            lambda: engine.metrics.counters.get("evidence_frames", 0) == 1, what="the frame"
        )
        assert len(watcher.received) == 1, "one alert for one vehicle"
    finally:
        await watcher.link.stop()
    (row,) = alert_rows(engine)
    assert (row["status"], row["published"], row["transit_id"]) == ("confirmed", "confirmed", tid)
    with engine.store.engine.connect() as connection:
        frame = connection.execute(sa.select(alert_frames)).one()
    assert frame.alert_id == row["id"]
    assert frame.sha256 == hashlib.sha256(frame.jpeg).hexdigest()
    async with api_client(engine) as client:
        answer = await client.get(
            f"/api/v1/alerts/{row['id']}/frame",
            params={"reason": REASON},
            headers={"Authorization": "Bearer demo-token-not-for-production"},
        )
        assert answer.status == 200
        assert answer.headers["X-Evidence-SHA256"] == frame.sha256
        assert hashlib.sha256(await answer.read()).hexdigest() == frame.sha256


async def test_in_view_alert_withdrawn_when_its_transit_does_not_match(
    harness_factory: Any, photos_dir: Path
) -> None:
    """The first frame reads a stolen plate, the vehicle's better frames another: the
    provisional alert is withdrawn, on `<prefix>/alert`, and leaves the queue."""
    photo = dataclasses.replace(load_photos(photos_dir)[0], plate=None)  # no Frigate plate
    harness = await harness_factory([photo], reader=FirstThenOther(STOLEN, OTHER), extra=API_USERS)
    engine = harness.engine
    await stolen_list(engine, STOLEN)
    watcher = Alerts(harness.broker.host, harness.broker.port)
    await watcher.link.start()
    await harness.wait_for(watcher.link.connected.is_set, what="the alert subscriber")
    try:
        event = await in_view_then_end(
            harness, photo, "cam_roma", lambda: len(watcher.received) == 1
        )
        raised = watcher.received[0]
        assert (raised["status"], raised["entry_plate"]) == ("provisional", STOLEN)
        await harness.wait_for(lambda: watcher.changes(raised["alert_id"]) == ["withdrawn"])
        await harness.wait_for(lambda: len(harness.received) == 1, what="the transit")
    finally:
        await watcher.link.stop()
    assert harness.received[0]["plate"] == OTHER
    assert harness.received[0]["hotlist"] is None
    withdrawal = watcher.updates[0]
    contract.validate("alert", withdrawal)
    assert withdrawal["reason"] == ledger.WITHDRAWN_REASON
    (row,) = alert_rows(engine)
    assert (row["status"], row["transit_id"]) == ("withdrawn", transit_id("cam_roma", event))
    async with api_client(engine) as client:
        queue = await client.get(
            "/api/v1/alerts",
            params={"reason": REASON},
            headers={"Authorization": f"Bearer {DELEGATE}"},
        )
        assert queue.status == 200
        assert (await queue.json())["alerts"] == []
        refused = await client.post(
            f"/api/v1/alerts/{row['id']}/steps",
            json={"step": "acknowledge"},
            headers={"Authorization": f"Bearer {DELEGATE}"},
        )
        assert refused.status == 409


async def test_alert_only_at_the_end_when_in_view_alerts_are_off(
    harness_factory: Any, photos_dir: Path
) -> None:
    photo = dataclasses.replace(load_photos(photos_dir)[0], plate=None)
    harness = await harness_factory(
        [photo], reader=Always(STOLEN), extra={"hotlists": {"in_view": False}}
    )
    engine = harness.engine
    await stolen_list(engine, STOLEN)
    watcher = Alerts(harness.broker.host, harness.broker.port)
    await watcher.link.start()
    await harness.wait_for(watcher.link.connected.is_set, what="the alert subscriber")
    try:
        await harness.replay.replay_one(photo, "cam_pomino", updates=3)
        await harness.wait_for(lambda: len(watcher.received) == 1, what="the alert")
        await harness.wait_for(lambda: len(harness.received) == 1, what="the transit")
    finally:
        await watcher.link.stop()
    assert watcher.received[0]["status"] == "confirmed"
    assert watcher.updates == []
    assert engine.metrics.counters.get("alerts_provisional", 0) == 0


async def test_handling_an_alert_step_by_step_is_audited_and_published(
    harness_factory: Any, photos_dir: Path
) -> None:
    """Acknowledge, accept, close with an outcome: each step stored with the person a
    delegate's token acts for, in the audit log, and on `<prefix>/alert`; a step that does not
    follow is refused; the queue orders by priority then time; the hits report has the outcome."""
    photos = [dataclasses.replace(p, plate=None) for p in load_photos(photos_dir)[:2]]
    harness = await harness_factory(
        photos, reader=Always(STOLEN), extra={**API_USERS, "hotlists": {"in_view": False}}
    )
    engine = harness.engine
    await stolen_list(engine, STOLEN)
    await stolen_list(engine, STOLEN, kind="watch")  # priority 6: the stolen list's (1) wins
    watcher = Alerts(harness.broker.host, harness.broker.port)
    await watcher.link.start()
    await harness.wait_for(watcher.link.connected.is_set, what="the alert subscriber")
    as_mario = {"Authorization": f"Bearer {DELEGATE}", ACTING_USER_HEADER: "Mario%20Rossi"}
    try:
        await harness.replay.replay_one(photos[0], "cam_pomino")
        await harness.wait_for(lambda: len(watcher.received) == 1, what="the alert")
        raised = watcher.received[0]
        assert (raised["list"], raised["priority"]) == ("stolen", 1)
        alert = raised["alert_id"]
        async with api_client(engine) as client:
            steps = f"/api/v1/alerts/{alert}/steps"
            refused = await client.post(steps, json={"step": "close"}, headers=as_mario)
            assert refused.status == 400  # closing needs its outcome
            early = await client.post(
                steps, json={"step": "close", "outcome": "fined"}, headers=as_mario
            )
            assert early.status == 409, await early.text()  # not accepted yet
            viewer = await client.post(
                steps,
                json={"step": "acknowledge"},
                headers={"Authorization": f"Bearer {VIEWER}"},
            )
            assert viewer.status == 403
            for body in (
                {"step": "acknowledge"},
                {"step": "accept", "note": "veicolo fermato in via Roma"},
                {"step": "close", "outcome": "seized"},
            ):
                answer = await client.post(steps, json=body, headers=as_mario)
                assert answer.status == 200, await answer.text()
            handled = await answer.json()
            assert (handled["state"], handled["outcome"], handled["handled_by"]) == (
                "closed",
                "seized",
                "Mario Rossi",
            )
            assert [(s["step"], s["by"]) for s in handled["steps"]] == [
                ("acknowledge", "Mario Rossi"),
                ("accept", "Mario Rossi"),
                ("close", "Mario Rossi"),
            ]
            again = await client.post(steps, json={"step": "reject", "reason": "misread"},
                                      headers=as_mario)  # fmt: skip
            assert again.status == 409
            await harness.wait_for(
                lambda: watcher.changes(alert) == ["acknowledged", "accepted", "closed"],
                what="the steps on MQTT",
            )
            closed = next(u for u in watcher.updates if u["change"] == "closed")
            contract.validate("alert", closed)
            assert (closed["by"], closed["outcome"]) == ("Mario Rossi", "seized")
            # A second vehicle at the other station: both in the report, the open one queued.
            await harness.replay.replay_one(photos[1], "cam_roma")
            await harness.wait_for(lambda: len(watcher.received) == 2, what="the second alert")
            queue = await client.get("/api/v1/alerts", params={"reason": REASON},
                                     headers=as_mario)  # fmt: skip
            open_alerts = (await queue.json())["alerts"]
            assert [a["id"] for a in open_alerts] == [watcher.received[1]["alert_id"]]
            report = await client.get(
                "/api/v1/alerts/report.csv", params={"reason": REASON}, headers=as_mario
            )
            assert report.status == 200
            rows = list(csv.DictReader(io.StringIO(await report.text())))
            assert [(r["alert_id"], r["outcome"], r["station"]) for r in rows] == [
                (alert, "seized", "st_pomino"),
                (watcher.received[1]["alert_id"], "", "st_roma"),
            ]
            only_seized = await client.get(
                "/api/v1/alerts/report.csv",
                params={"reason": REASON, "outcome": "seized"},
                headers=as_mario,
            )
            assert len(list(csv.DictReader(io.StringIO(await only_seized.text())))) == 1
    finally:
        await watcher.link.stop()
    with engine.store.engine.connect() as connection:
        audited = connection.execute(
            sa.select(audit_log.c.action, audit_log.c.actor, audit_log.c.acting_user)
            .where(audit_log.c.action.like("alert%"))
            .order_by(audit_log.c.id)
        ).all()
    assert [tuple(row) for row in audited] == [
        ("alert_acknowledge", "home-assistant", "Mario Rossi"),
        ("alert_accept", "home-assistant", "Mario Rossi"),
        ("alert_close", "home-assistant", "Mario Rossi"),
        ("alerts", "home-assistant", "Mario Rossi"),
        ("alerts_report", "home-assistant", "Mario Rossi"),
        ("alerts_report", "home-assistant", "Mario Rossi"),
    ]


async def test_gate_alerts_on_plates_not_authorised_only_in_its_window(
    harness_factory: Any, photos_dir: Path
) -> None:
    """A ZTL gate at Pomino: a plate not on its authorised list alerts there (kind
    not_authorised), not at another station, not outside the gate's hours; a near match to an
    authorised plate is queued for review without a message; an authorised vehicle's transit is
    not kept where the gate says so."""
    photo = dataclasses.replace(load_photos(photos_dir)[0], plate=None)
    reader = Always("XY789ZT")
    harness = await harness_factory([photo], reader=reader, extra=API_USERS)
    engine = harness.engine
    hour = datetime.now(engine.settings.timezone).hour
    closed_now = Gate(stations=("st_pomino",), from_hour=(hour + 2) % 24, to_hour=(hour + 4) % 24)

    def prepare() -> None:
        engine.hotlists.create_list("ztl", "ZTL residenti", "authorised", created_by="t",
                                    gate=closed_now)  # fmt: skip
        engine.hotlists.add_entry("ztl", "AB123CD", "residente", added_by="t")

    await engine.db.run(prepare)
    watcher = Alerts(harness.broker.host, harness.broker.port)
    await watcher.link.start()
    await harness.wait_for(watcher.link.connected.is_set, what="the alert subscriber")

    async def passage(camera: str, plate: str, transits: int) -> None:
        reader.plate = plate
        await harness.replay.replay_one(photo, camera)
        await harness.wait_handled(transits)

    try:
        await passage("cam_pomino", "XY789ZT", 1)  # outside the gate's hours
        await engine.db.run(lambda: engine.hotlists.set_gate("ztl", Gate(("st_pomino",))))
        await passage("cam_roma", "XY789ZT", 2)  # no gate at Via Roma
        await passage("cam_pomino", "EF456GH", 3)  # in the window: not authorised
        await harness.wait_for(lambda: len(watcher.received) == 1, what="the gate's alert")
        await passage("cam_pomino", "AB123CO", 4)  # a near match (D/O): review, no message
        await harness.wait_for(lambda: len(alert_rows(engine)) == 2, what="the review")
        await engine.db.run(
            lambda: engine.hotlists.set_gate("ztl", Gate(("st_pomino",), keep_authorised=False))
        )
        await passage("cam_pomino", "AB123CD", 5)  # authorised: counted, not stored
        await harness.wait_for(lambda: len(harness.received) == 4, what="the stored transits")
    finally:
        await watcher.link.stop()
    raised = watcher.received[0]
    contract.validate("hotlist_match", raised)
    assert (raised["alert_kind"], raised["list"], raised["entry_plate"]) == (
        "not_authorised",
        "ztl",
        None,
    )
    assert raised["transit"]["plate"] == "EF456GH"
    rows = sorted(alert_rows(engine), key=lambda r: r["raised_at"])
    assert [(r["kind"], r["action"], r["plate"], r["entry_plate"]) for r in rows] == [
        ("not_authorised", "alert", "EF456GH", None),
        ("not_authorised", "review", "AB123CO", "AB123CD"),
    ]
    assert [t["plate"] for t in harness.received] == ["XY789ZT", "XY789ZT", "EF456GH", "AB123CO"]
    counts = await engine.db.run(engine.store.passage_counts)
    assert (counts.read, counts.counted) == (4, 1)
    assert len(watcher.received) == 1, "a review buzzes no phone"


STATIONS_10_KM = [
    {"id": "st_pomino", "name": "Pomino", "camera": "cam_pomino", "kind": "lpr",
     "latitude": 43.8260, "longitude": 11.4350},
    {"id": "st_roma", "name": "Via Roma", "camera": "cam_roma", "kind": "lpr",
     "latitude": 43.8260, "longitude": 11.5593},
]  # fmt: skip


async def test_impossible_journey_alerts_with_both_sightings(
    harness_factory: Any, photos_dir: Path
) -> None:
    """The same plate at Pomino and, seconds later, at Via Roma 10 km away: an alert of its own
    kind naming the first sighting; the same at two stations 10 m apart: none."""
    photo = dataclasses.replace(load_photos(photos_dir)[0], plate=None)
    harness = await harness_factory(
        [photo], reader=Always("FG345HJ"), extra={"stations": STATIONS_10_KM}
    )
    watcher = Alerts(harness.broker.host, harness.broker.port)
    await watcher.link.start()
    await harness.wait_for(watcher.link.connected.is_set, what="the alert subscriber")
    try:
        await harness.replay.replay_one(photo, "cam_pomino")
        await harness.wait_for(lambda: len(harness.received) == 1, what="the first sighting")
        await harness.replay.replay_one(photo, "cam_roma")
        await harness.wait_for(lambda: len(watcher.received) == 1, what="the alert")
        await harness.wait_for(lambda: len(harness.received) == 2, what="the second sighting")
    finally:
        await watcher.link.stop()
    raised = watcher.received[0]
    contract.validate("hotlist_match", raised)
    first, second = harness.received
    assert raised["alert_kind"] == "impossible_journey"
    assert (raised["transit"]["id"], raised["related_transit"]["id"]) == (second["id"], first["id"])
    assert (raised["list"], raised["entry_plate"]) == (None, None)
    assert "st_pomino" in raised["reason"] and "km" in raised["reason"]


async def test_a_plausible_journey_raises_no_alert(harness_factory: Any, photos_dir: Path) -> None:
    near = [dict(s) for s in STATIONS_10_KM]
    near[1]["longitude"] = near[0]["longitude"] + 0.0001  # 8 m
    photo = dataclasses.replace(load_photos(photos_dir)[0], plate=None)
    harness = await harness_factory([photo], reader=Always("FG345HJ"), extra={"stations": near})
    engine = harness.engine
    await harness.replay.replay_one(photo, "cam_pomino")
    await harness.wait_for(lambda: len(harness.received) == 1, what="the first sighting")
    await harness.replay.replay_one(photo, "cam_roma")
    await harness.wait_for(lambda: len(harness.received) == 2, what="the second sighting")
    assert alert_rows(engine) == []


async def test_a_corrected_read_matches_again_and_alerts_on_mqtt(
    harness_factory: Any, photos_dir: Path
) -> None:
    """A misread that matched nothing, corrected by an operator to a stolen plate: the transit
    is matched again and its alert raised on `hotlist_match`, confirmed, with the corrected
    transit (its original read kept)."""
    photo = dataclasses.replace(load_photos(photos_dir)[0], plate=None)
    harness = await harness_factory([photo], reader=Always("GA456BC"), extra=API_USERS)
    engine = harness.engine
    await stolen_list(engine, "GH789KL")
    watcher = Alerts(harness.broker.host, harness.broker.port)
    await watcher.link.start()
    await harness.wait_for(watcher.link.connected.is_set, what="the alert subscriber")
    try:
        await harness.replay.replay_one(photo, "cam_pomino")
        await harness.wait_for(lambda: len(harness.received) == 1, what="the transit")
        transit = harness.received[0]
        assert transit["hotlist"] is None
        async with api_client(engine) as client:
            answer = await client.patch(
                f"/api/v1/transits/{transit['id']}",
                json={"plate": "GH 789 KL", "reason": "targa letta male, verificata dal video"},
                headers={"Authorization": f"Bearer {DELEGATE}", ACTING_USER_HEADER: "Anna%20Neri"},
            )
            assert answer.status == 200, await answer.text()
        await harness.wait_for(lambda: len(watcher.received) == 1, what="the alert")
    finally:
        await watcher.link.stop()
    raised = watcher.received[0]
    contract.validate("hotlist_match", raised)
    assert (raised["status"], raised["entry_plate"], raised["transit"]["plate"]) == (
        "confirmed",
        "GH789KL",
        "GH789KL",
    )
    assert raised["transit"]["original_plate"] == "GA456BC"
    (row,) = alert_rows(engine)
    assert (row["published"], row["transit_id"]) == ("confirmed", transit["id"])


async def test_provisional_alerts_of_vehicles_gone_without_a_transit_are_withdrawn_on_start(
    harness_factory: Any, recognizer: Any
) -> None:
    """The engine stopped while two vehicles were in view, each with a provisional alert (one
    delivered, one not) and no transit ever stored: on the next start both are withdrawn; only
    the delivered one's withdrawal goes out (nobody saw the other). A recent one stays."""
    harness = await harness_factory([], start_engine=False)
    settings = harness.settings
    worker = f"{settings.instance}/{settings.mqtt.client_id}"
    store = Store(settings.store_url, worker=worker)
    long_ago = datetime.now(UTC) - timedelta(seconds=3 * settings.recognition.event_timeout)

    def provisional(event: str, raised: datetime, published: str | None) -> str:
        transit = a_transit(
            "cam_pomino", event, raised, STOLEN, station="st_pomino", confidence=0.95, read_count=1
        )
        alert = ledger.new_alert(
            transit, kind="hotlist", status="provisional", worker=worker, now=raised,
            action="alert", priority=1, read_plate=STOLEN, score=1.0, list_id="stolen",
            entry_plate=STOLEN,
        )  # fmt: skip
        with store.engine.begin() as connection:
            assert ledger.raise_alert(connection, alert, cooldown=0) is not None
            if published:
                ledger.mark_published(connection, alert.id, published)
        return alert.id

    delivered = provisional("ev-delivered", long_ago, "provisional")
    unseen = provisional("ev-unseen", long_ago - timedelta(seconds=1), None)
    recent = provisional("ev-recent", datetime.now(UTC), "provisional")
    store.close()
    watcher = Alerts(harness.broker.host, harness.broker.port)
    await watcher.link.start()
    await harness.wait_for(watcher.link.connected.is_set, what="the alert subscriber")
    try:
        harness.engine = engine = Engine(settings, recognizer)
        await engine.start()
        await harness.wait_for(lambda: watcher.changes(delivered) == ["withdrawn"])
    finally:
        await watcher.link.stop()
    rows = {r["id"]: r for r in alert_rows(engine)}
    assert [(rows[i]["status"], rows[i]["published"]) for i in (delivered, unseen, recent)] == [
        ("withdrawn", "withdrawn"),
        ("withdrawn", "withdrawn"),
        ("provisional", "provisional"),
    ]
    assert watcher.changes(unseen) == [] and watcher.received == []


async def test_a_forged_update_naming_another_cameras_vehicle_raises_no_alert_in_view(
    harness_factory: Any, photos_dir: Path
) -> None:
    """An `update` on a plate-reading camera naming the id of a real, stolen vehicle of a
    context camera: the engine reads that event's image, sure of the stolen plate, but Frigate's
    record says the event is another camera's, so no alert goes out in view."""
    photo = next(p for p in load_photos(photos_dir) if p.path.name == "eu11.jpg")
    assert photo.plate
    harness = await harness_factory([photo])
    engine = harness.engine
    await stolen_list(engine, photo.plate)
    real_id = await harness.replay.replay_one(photo, "cam_piazza", updates=3)
    counters = engine.metrics.counters
    await harness.wait_for(lambda: counters["passages_counted"] == 1, what="the counted vehicle")
    message = json.loads((PAYLOADS / "events_update_car_plate_unknown.json").read_text())
    now = time.time()
    for side in ("before", "after"):
        message[side].update(
            id=real_id, camera="cam_pomino", frame_time=now, recognized_license_plate=None
        )
        message[side]["snapshot"].update(frame_time=now)
    await harness.replay.publish(message)
    await harness.wait_for(lambda: counters["reads_done"] == 1, what="the read of its image")
    await harness.wait_for(
        lambda: counters["alerts_in_view_unverified"] == 1, what="Frigate's refusal"
    )
    assert counters["alerts_published"] == 0
    assert alert_rows(engine) == []
