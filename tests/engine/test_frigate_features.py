"""Issue 9: everything Frigate gives, against the Frigate replay and a real Mosquitto broker.

Frigate's own plate reads in fusion, dedicated LPR cameras, the best input (clean copy, record
frame), write-back, reconciliation of messages lost with QoS 0, Frigate's health per station,
and the 8971 port's login and TLS.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import shutil
import ssl
import subprocess
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import cv2
import numpy as np
import pytest

from rufina_alpr import contract
from rufina_alpr.engine.app import Engine
from rufina_alpr.frigate import FrigateClient, FrigateError, ssl_context
from rufina_alpr.mqtt import Message, MqttLink
from rufina_alpr.sim.broker import MosquittoBroker
from rufina_alpr.sim.frigate_http import FrigateAuth
from rufina_alpr.sim.photos import CameraGeometry, Photo, load_photos
from rufina_alpr.sim.replay import FrigateReplay

from .conftest import TEST_STATIONS, plates_equal, require

STATIONS = [
    *(
        {"id": s.id, "name": s.name, "camera": s.camera, "kind": s.kind, "direction": s.direction}
        for s in TEST_STATIONS
    ),
    {"id": "st_varco", "name": "Varco LPR", "camera": "cam_lpr", "kind": "lpr"},
]


def _labelled(photos_dir: Path, count: int) -> list[Photo]:
    return [p for p in load_photos(photos_dir) if p.plate][:count]


def _wrong(plate: str) -> str:
    """Frigate's misread: one character changed (a different plate for fusion's clusters)."""
    swap = {"0": "8", "1": "7", "A": "4", "B": "8", "E": "F", "M": "N"}
    for index in range(len(plate) - 1, -1, -1):
        if plate[index] in swap:
            return plate[:index] + swap[plate[index]] + plate[index + 1 :]
    return plate[:-1] + ("X" if plate[-1] != "X" else "Y")


class Listener:
    """A consumer of one retained/JSON topic of the engine, keeping every payload."""

    def __init__(self, broker: MosquittoBroker, topic: str) -> None:
        self.payloads: list[dict[str, Any]] = []
        self.link = MqttLink(
            host=broker.host,
            port=broker.port,
            client_id=f"listener-{topic.replace('/', '-')}",
            subscriptions=((topic, 1),),
            on_message=self._handle,
            clean_session=True,
            manual_ack=False,
        )

    def _handle(self, message: Message) -> None:
        self.payloads.append(json.loads(message.payload))

    @property
    def last(self) -> dict[str, Any] | None:
        return self.payloads[-1] if self.payloads else None

    async def __aenter__(self) -> Listener:
        await self.link.start()
        await asyncio.wait_for(self.link.connected.wait(), 10)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.link.stop()


async def _settle(harness: Any, count: int) -> None:
    await harness.wait_handled(count)
    await harness.wait_for(
        lambda: len(harness.received) >= harness.engine.metrics.counters["transits_stored"],
        what="every stored transit on MQTT",
    )


# ----------------------------------------------------------------------------- reconciliation
def _lose(replay: FrigateReplay, photo: Photo, *, types: tuple[str, ...]) -> None:
    """QoS 0 loss: `frigate/events` messages of these types for the vehicle of this photo."""
    replay.lose.append(
        lambda topic, m: (
            topic == "events"
            and m.get("type") in types
            and replay.events.get(m["after"]["id"]) is photo
        )
    )


async def test_dropped_end_is_recovered_by_reconciliation_exactly_once(
    harness_factory: Any, photos_dir: Path
) -> None:
    photos = _labelled(photos_dir, 4)
    harness = await harness_factory(photos, extra={"frigate": {"reconcile_interval": 0}})
    replay, engine = harness.replay, harness.engine
    replay.qos = 0  # Frigate's default
    _lose(replay, photos[0], types=("end",))
    _lose(replay, photos[1], types=("new", "update", "end"))
    ids = [await replay.replay_one(photo, "cam_pomino") for photo in photos]
    await harness.wait_handled(2)
    await asyncio.sleep(1.0)
    assert len(replay.lost) == 1 + 3
    counts = await engine.db.run(engine.store.passage_counts)
    assert counts.read + counts.unread == 2
    # Its state waits for an `end` that never comes.
    assert ("cam_pomino", ids[0]) in engine.tracker.live

    assert await engine.reconciler.reconcile() == 2
    await _settle(harness, 4)
    # Again: nothing new, nothing twice.
    assert await engine.reconciler.reconcile() == 0
    assert await engine.reconciler.reconcile() == 0
    await asyncio.sleep(0.5)
    events = Counter(t["event_id"] for t in harness.received)
    assert set(events) == set(ids)
    assert all(n == 1 for n in events.values())
    assert harness.collector.duplicates == 0
    assert engine.metrics.counters["events_reconciled"] == 2
    by_event = {t["event_id"]: t for t in harness.received}
    for event_id, photo in zip(ids[:2], photos[:2], strict=True):
        assert plates_equal(by_event[event_id]["plate"], photo.plate or "")
    listing = [r for r in replay.requests if r.startswith("/api/events?")]
    assert listing and all("in_progress=0" in r for r in listing)
    assert ("cam_pomino", ids[0]) not in engine.tracker.live


async def test_reconciled_event_is_timed_by_its_start_and_read_on_its_clean_copy(
    harness_factory: Any, photos_dir: Path
) -> None:
    """Frigate 0.17's ``GET /api/events`` has no snapshot time (``Event.data`` stores none):
    an event known only from it is timed by ``start_time`` and, with ``image_source:
    recording``, read on its clean copy instead of asking for a record frame at a made-up time."""
    photos = _labelled(photos_dir, 1)
    harness = await harness_factory(
        photos, extra={"frigate": {"reconcile_interval": 0, "image_source": "recording"}}
    )
    replay, engine = harness.replay, harness.engine
    replay.geometry = GEOMETRY
    replay.qos = 0
    _lose(replay, photos[0], types=("new", "update", "end"))
    event_id = await replay.replay_one(photos[0], "cam_pomino")
    assert await engine.reconciler.reconcile() == 1
    await _settle(harness, 1)
    (transit,) = harness.received
    start = replay.records[event_id].start_time
    assert datetime.fromisoformat(transit["time"]).timestamp() == pytest.approx(start, abs=1e-3)
    assert not [r for r in replay.requests if "/recordings/" in r]
    assert engine.metrics.counters["images_clean"] == 1


async def test_reconciliation_at_start_up_recovers_events_missed_while_away(
    harness_factory: Any, photos_dir: Path, recognizer: Any
) -> None:
    photos = _labelled(photos_dir, 3)
    harness = await harness_factory(photos, start_engine=False)
    replay = harness.replay
    replay.qos = 0
    for photo in photos:  # the engine is away: Frigate's QoS 0 messages are gone
        _lose(replay, photo, types=("new", "update", "end"))
    ids = [await replay.replay_one(photo, "cam_roma") for photo in photos]
    harness.engine = Engine(harness.settings, recognizer)
    await harness.engine.start()
    await _settle(harness, 3)
    assert sorted(t["event_id"] for t in harness.received) == sorted(ids)
    assert harness.engine.metrics.counters["events_reconciled"] == 3


# ----------------------------------------------------------------------------- Frigate's LPR
async def test_dedicated_lpr_camera_vehicles_become_transits(
    harness_factory: Any, photos_dir: Path
) -> None:
    """`type: lpr` camera without a Frigate+ model: no frigate/events, only LPR updates and
    reviews; each of its events becomes one transit, read on the event's snapshot."""
    photos = _labelled(photos_dir, 3)
    harness = await harness_factory(
        photos, extra={"stations": STATIONS, "frigate": {"lpr_event_quiet": 30}}
    )
    replay, engine = harness.replay, harness.engine
    ids = [await replay.replay_dedicated(photo, "cam_lpr") for photo in photos]
    await _settle(harness, 3)
    assert engine.metrics.counters.get("events_received", 0) == 0  # no frigate/events at all
    assert engine.metrics.counters["lpr_events"] == 3
    by_event = {t["event_id"]: t for t in harness.received}
    assert set(by_event) == set(ids)
    for event_id, photo in zip(ids, photos, strict=True):
        transit = by_event[event_id]
        contract.validate("transit", transit)
        assert transit["station"] == "st_varco"
        assert transit["vehicle"] == "license_plate"
        assert transit["frigate_plate"] == photo.plate
        assert plates_equal(transit["plate"], photo.plate or "")
        assert transit["reads"] >= 2  # ours on the snapshot and Frigate's
    # Finished by the review's `end`, long before the 30 s quiet time.
    assert all(f"/api/events/{i}/snapshot-clean.webp" in replay.requests for i in ids)
    # A late LPR update of a finished event does not open it again.
    await replay._publish_topic(
        "tracked_object_update",
        replay._lpr_update(replay.records[ids[0]], 1.0),
    )
    await asyncio.sleep(0.5)
    assert ("cam_lpr", ids[0]) not in engine.tracker.live


async def test_dedicated_event_without_review_end_completes_after_quiet_time(
    harness_factory: Any, photos_dir: Path
) -> None:
    photos = _labelled(photos_dir, 1)
    harness = await harness_factory(
        photos, extra={"stations": STATIONS, "frigate": {"lpr_event_quiet": 1.0}}
    )
    replay = harness.replay
    replay.lose.append(lambda topic, m: topic == "reviews" and m["type"] == "end")
    event_id = await replay.replay_dedicated(photos[0], "cam_lpr")
    await _settle(harness, 1)
    assert [t["event_id"] for t in harness.received] == [event_id]


async def test_frigate_read_and_ours_disagree_fusion_picks_the_better_supported(
    harness_factory: Any, photos_dir: Path
) -> None:
    """Frigate misreads one character with a high score; our three reads agree on the label.
    Fusion keeps ours, with Frigate's as an alternative; `frigate_plate` shows Frigate's."""
    photos = _labelled(photos_dir, 4)
    harness = await harness_factory(photos)
    replay = harness.replay
    replay.lpr = lambda photo: (_wrong(photo.plate or ""), 0.95)
    ids = [await replay.replay_one(p, "cam_pomino", updates=2) for p in photos]
    await _settle(harness, 4)
    assert harness.engine.metrics.counters["lpr_updates_received"] >= 4
    by_event = {t["event_id"]: t for t in harness.received}
    for event_id, photo in zip(ids, photos, strict=True):
        transit = by_event[event_id]
        assert transit["frigate_plate"] == _wrong(photo.plate or "")
        assert plates_equal(transit["plate"], photo.plate or ""), transit
        assert any(
            plates_equal(a["plate"], _wrong(photo.plate or "")) for a in transit["alternatives"]
        )


async def test_frigate_read_decides_when_ours_is_missing(
    harness_factory: Any, photos_dir: Path
) -> None:
    """A vehicle whose snapshot fails: Frigate's read alone makes the transit (low confidence
    is kept and flagged, never dropped)."""
    photos = _labelled(photos_dir, 1)
    harness = await harness_factory(photos, extra={"frigate": {"retries": 0}})
    replay = harness.replay
    replay.lpr = lambda photo: (photo.plate or "", 0.91)
    replay.faults.fail_next = 10_000
    event_id = await replay.replay_one(photos[0], "cam_roma")
    await _settle(harness, 1)
    (transit,) = harness.received
    assert transit["event_id"] == event_id
    assert transit["plate"] == photos[0].plate
    assert transit["reads"] == 1 and transit["frigate_plate"] == photos[0].plate


async def test_cleared_plate_and_sub_label_on_end_still_make_the_transit(
    harness_factory: Any, photos_dir: Path
) -> None:
    """A plate or sub_label cleared through Frigate's API is ``[null, null]`` on MQTT until the
    object ends: the `end` is an ordinary `end` (no value), never a malformed message."""
    photos = _labelled(photos_dir, 1)
    harness = await harness_factory(photos)
    replay, engine = harness.replay, harness.engine
    tracked = replay.tracked_object(photos[0], "cam_roma", time.time() - 10)
    tracked.plate, tracked.sub_label = (photos[0].plate or "", 0.93), ("Town fleet", 0.93)
    messages = tracked.messages(2)
    for side in ("before", "after"):
        messages[-1][side]["recognized_license_plate"] = [None, None]
        messages[-1][side]["sub_label"] = [None, None]
    for message in messages:
        await replay.publish_tracked(message)
        await asyncio.sleep(0.2)
    await _settle(harness, 1)
    (transit,) = harness.received
    assert transit["event_id"] == tracked.id
    assert plates_equal(transit["plate"], photos[0].plate or "")
    assert transit["frigate_plate"] is None
    assert engine.metrics.counters["events_malformed"] == 0


# ----------------------------------------------------------------------------- write-back
async def test_write_back_posts_plate_and_hotlist_name_to_frigate(
    harness_factory: Any, photos_dir: Path
) -> None:
    photos = _labelled(photos_dir, 2)
    harness = await harness_factory(
        photos, extra={"frigate": {"write_back": {"plate": True, "sub_label": True}}}
    )
    engine, replay = harness.engine, harness.replay
    hotlists = engine.hotlists

    def stolen() -> None:
        hotlists.create_list("stolen", "Veicoli rubati", "stolen", created_by="test")
        hotlists.add_entry("stolen", photos[0].plate or "", "Furto", added_by="test")

    await engine.db.run(stolen)
    ids = [await replay.replay_one(photo, "cam_pomino") for photo in photos]
    await _settle(harness, 2)
    await harness.wait_for(lambda: len(replay.write_backs) >= 3, 20, "write-backs")
    by_event = {t["event_id"]: t for t in harness.received}
    plates = {path: body for path, body in replay.write_backs if path.endswith("_plate")}
    for event_id in ids:
        body = plates[f"/api/events/{event_id}/recognized_license_plate"]
        assert body["recognizedLicensePlate"] == by_event[event_id]["plate"]
        assert 0 < body["recognizedLicensePlateScore"] <= 1
        assert replay.records[event_id].plate == (
            body["recognizedLicensePlate"],
            body["recognizedLicensePlateScore"],
        )
    labels = [(p, b) for p, b in replay.write_backs if p.endswith("/sub_label")]
    assert labels == [
        (
            f"/api/events/{ids[0]}/sub_label",
            {"subLabel": "Veicoli rubati", "subLabelScore": 1.0},
        )
    ]
    assert replay.records[ids[0]].sub_label == ("Veicoli rubati", 1.0)
    assert engine.metrics.counters["frigate_plates_written"] == 2


async def test_write_back_is_off_by_default(harness_factory: Any, photos_dir: Path) -> None:
    photos = _labelled(photos_dir, 1)
    harness = await harness_factory(photos)
    await harness.replay.replay_one(photos[0], "cam_pomino")
    await _settle(harness, 1)
    assert harness.replay.write_backs == []


async def test_write_back_refused_without_admin_is_counted(
    harness_factory: Any, photos_dir: Path
) -> None:
    """A viewer account on port 8971: Frigate answers 403, the engine counts it and goes on."""
    photos = _labelled(photos_dir, 1)
    harness = await harness_factory(
        photos,
        extra={"frigate": {"write_back": {"plate": True}, "username": "viewer", "password": "pw"}},
    )
    harness.replay.auth = FrigateAuth(users={"viewer": ("pw", "viewer")})
    await harness.replay.replay_one(photos[0], "cam_pomino")
    await _settle(harness, 1)
    await harness.wait_for(
        lambda: harness.engine.metrics.counters.get("frigate_write_back_failed") == 1,
        20,
        "a refused write-back",
    )
    assert harness.replay.write_backs == []
    assert len(harness.received) == 1


# ----------------------------------------------------------------------------- health
def _station_states(listener: Listener) -> dict[str, str]:
    assert listener.last is not None
    return {k: v["state"] for k, v in listener.last["stations"].items()}


async def test_camera_offline_flips_its_station_offline_and_frigate_down_all(
    harness_factory: Any, photos_dir: Path, mosquitto: MosquittoBroker
) -> None:
    harness = await harness_factory(_labelled(photos_dir, 1), extra={"stations": STATIONS})
    replay, engine = harness.replay, harness.engine
    async with Listener(mosquitto, "rufina_alpr/health") as health:
        await replay.publish_stats()
        await harness.wait_for(
            lambda: (
                health.last
                and health.last["frigate"]["state"] == "online"
                and _station_states(health)["st_pomino"] == "online"
            ),
            10,
            "Frigate and its cameras online",
        )
        for payload in health.payloads:
            contract.validate("health", payload)
        assert health.last["frigate"]["version"] == replay.version
        # One camera's detect stream goes offline: only its station flips.
        await replay.camera_status("cam_pomino", "detect", "offline")
        await harness.wait_for(
            lambda: _station_states(health)["st_pomino"] == "offline", 10, "st_pomino offline"
        )
        states = _station_states(health)
        assert states["st_roma"] == "online"
        assert health.last["stations"]["st_pomino"]["reason"] == "detect_offline"
        assert health.last["stations"]["st_pomino"]["roles"] == {"detect": "offline"}
        await replay.camera_status("cam_pomino", "detect", "online")
        await harness.wait_for(
            lambda: _station_states(health)["st_pomino"] == "online", 10, "st_pomino back"
        )
        # A camera that delivers no frames (camera_fps 0 in frigate/stats).
        replay.camera_fps["cam_roma"] = 0.0
        await replay.publish_stats()
        await harness.wait_for(
            lambda: _station_states(health)["st_roma"] == "offline", 10, "st_roma offline"
        )
        assert health.last["stations"]["st_roma"]["reason"] == "no_frames"
        # Frigate dies: its last will (frigate/available offline) takes every station down.
        await replay.crash()
        await harness.wait_for(
            lambda: health.last["frigate"]["state"] == "offline", 15, "Frigate's last will"
        )
        assert set(_station_states(health).values()) == {"offline"}
        assert health.last["frigate"]["available"] == "offline"
        assert engine.health.frigate_available == "offline"
        for payload in health.payloads:
            contract.validate("health", payload)


async def test_stale_stats_mean_frigate_offline(
    harness_factory: Any, photos_dir: Path, mosquitto: MosquittoBroker
) -> None:
    """Frigate 0.17 stops cleanly without a will: `available` stays `online`, stats stop."""
    harness = await harness_factory(
        _labelled(photos_dir, 1), extra={"frigate": {"stats_timeout": 2.0}}
    )
    async with Listener(mosquitto, "rufina_alpr/health") as health:
        await harness.replay.publish_stats()
        await harness.wait_for(
            lambda: health.last and health.last["frigate"]["state"] == "online", 10, "online"
        )
        await harness.wait_for(
            lambda: health.last["frigate"]["state"] == "offline", 10, "stale stats: offline"
        )
        assert health.last["frigate"]["available"] == "online"
        assert set(_station_states(health).values()) == {"offline"}


# ----------------------------------------------------------------------------- auth and TLS
@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    require(shutil.which("openssl") is not None, "openssl")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "frigate.crt", folder / "frigate.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=frigate.local",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


async def test_login_jwt_refresh_and_relogin_on_401_over_tls(
    mosquitto: MosquittoBroker, photos_dir: Path, tls_files: tuple[Path, Path]
) -> None:
    cert, key = tls_files
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    replay = FrigateReplay(
        _labelled(photos_dir, 1),
        cameras=["cam_pomino"],
        mqtt_host=mosquitto.host,
        mqtt_port=mosquitto.port,
        tls=server,
    )
    replay.auth = FrigateAuth(users={"rufina": ("s3cret", "admin")}, refresh_time=1e9)
    await replay.start()
    try:
        tracked = replay.tracked_object(replay.photos[0], "cam_pomino", 1.0)
        async with aiohttp.ClientSession() as session:
            # Without the CA, the self-signed certificate is refused.
            plain = FrigateClient(
                session, replay.url, retries=0, username="rufina", password="s3cret"
            )
            with pytest.raises(FrigateError):
                await plain.version()
            client = FrigateClient(
                session,
                replay.url,
                retries=0,
                username="rufina",
                password="s3cret",
                ssl=ssl_context(True, str(cert)),
            )
            assert (await client.snapshot(tracked.id))[:2] == b"\xff\xd8"
            assert client.logins == 1 and replay.auth.logins == 1
            # Frigate refreshed the session (a new cookie, as the client sends the cookie).
            await client.snapshot(tracked.id)
            assert replay.auth.refreshes == 2 and client.logins == 1
            # Frigate restarted (tokens gone): one 401, a new login, the request succeeds.
            replay.auth.expire_all()
            await client.snapshot(tracked.id)
            assert client.logins == 2
            assert any(r.startswith("401 ") for r in replay.requests)
            wrong = FrigateClient(
                session,
                replay.url,
                retries=0,
                username="rufina",
                password="nope",
                ssl=ssl_context(True, str(cert)),
            )
            with pytest.raises(FrigateError) as refused:
                await wrong.snapshot(tracked.id)
            assert refused.value.status == 401
    finally:
        await replay.stop()


async def test_engine_reads_through_frigate_login(
    harness_factory: Any, photos_dir: Path, recognizer: Any
) -> None:
    photos = _labelled(photos_dir, 2)
    harness = await harness_factory(photos, start_engine=False)
    # The same replay, now behind Frigate's 8971 port: login required.
    harness.replay.auth = FrigateAuth(users={"rufina": ("s3cret", "admin")})
    harness.settings = dataclasses.replace(
        harness.settings,
        frigate=dataclasses.replace(harness.settings.frigate, username="rufina", password="s3cret"),
    )
    harness.engine = Engine(harness.settings, recognizer)
    await harness.engine.start()
    ids = [await harness.replay.replay_one(photo, "cam_roma") for photo in photos]
    await _settle(harness, 2)
    assert {t["event_id"] for t in harness.received} == set(ids)
    assert harness.replay.auth.logins == 1
    assert harness.engine.frigate is not None and harness.engine.frigate.logins == 1


# ----------------------------------------------------------------------------- inputs
GEOMETRY = CameraGeometry(record=(1920, 1080), detect=(960, 540))


@pytest.fixture
async def geometry_replay(mosquitto: MosquittoBroker, photos_dir: Path) -> Any:
    replay = FrigateReplay(
        _labelled(photos_dir, 54),
        cameras=["cam_pomino"],
        mqtt_host=mosquitto.host,
        mqtt_port=mosquitto.port,
        geometry=GEOMETRY,
    )
    # Frigate's defaults for snapshots: bounding box drawn, quality 70 (0.17).
    replay.snapshot_bounding_box, replay.snapshot_quality = True, 70
    await replay.start()
    yield replay
    await replay.stop()


def _decode(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


async def test_replay_serves_detect_snapshots_clean_copies_and_record_frames(
    geometry_replay: FrigateReplay,
) -> None:
    replay = geometry_replay
    tracked = replay.tracked_object(replay.photos[0], "cam_pomino", 1753373411.5)
    record = replay.records[tracked.id]
    record.snapshot_time, record.end_time = 1753373411.9, 1753373412.5
    async with aiohttp.ClientSession() as session:
        client = FrigateClient(session, replay.url, retries=0)
        clean = _decode(await client.snapshot(tracked.id, ended=True))
        stored = _decode(await client.rendered_snapshot(tracked.id))
        frame = _decode(await client.recording_frame("cam_pomino", record.snapshot_time))
        config = await client.config()
        thumbnail = _decode(await client.thumbnail(tracked.id))
        with pytest.raises(FrigateError) as missing:
            await client.recording_frame("cam_pomino", 1.0)
    assert missing.value.status == 404
    assert clean.shape[:2] == (540, 960) and stored.shape[:2] == (540, 960)
    assert frame.shape[:2] == (1080, 1920)
    assert thumbnail.shape[0] == 175
    assert config["cameras"]["cam_pomino"]["detect"]["width"] == 960
    # The ended event's snapshot.jpg has Frigate's red box drawn; the clean copy does not.
    x1, y1, x2, _y2 = tracked.box
    edge = stored[y1, x1 + 5 : x2 - 5].astype(int)
    assert (edge[:, 2] - edge[:, 1]).mean() > 100
    assert abs(clean[y1, x1 + 5 : x2 - 5].astype(int) - edge).mean() > 30


async def test_older_frigate_keeps_its_clean_copy_as_png(
    mosquitto: MosquittoBroker, photos_dir: Path
) -> None:
    replay = FrigateReplay(
        _labelled(photos_dir, 1),
        cameras=["cam_pomino"],
        mqtt_host=mosquitto.host,
        mqtt_port=mosquitto.port,
        version="0.16.4-replay",
    )
    await replay.start()
    try:
        tracked = replay.tracked_object(replay.photos[0], "cam_pomino", 1.0)
        async with aiohttp.ClientSession() as session:
            client = FrigateClient(session, replay.url, retries=0)
            data = await client.snapshot(tracked.id, ended=True)
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        assert replay.requests == [f"/api/events/{tracked.id}/snapshot-clean.png"]
    finally:
        await replay.stop()


async def test_engine_reads_the_record_frame_with_the_box_scaled(
    harness_factory: Any, photos_dir: Path
) -> None:
    """Frigate serves a record frame only once its 10 s segment is moved, after the event: the
    update's read takes the snapshot, and the `end` read waits for the segment, then gets the
    record frame at the first try."""
    photos = _labelled(photos_dir, 3)
    harness = await harness_factory(photos, extra={"frigate": {"image_source": "recording"}})
    harness.replay.geometry = GEOMETRY
    ids = [await harness.replay.replay_one(photo, "cam_pomino") for photo in photos]
    await _settle(harness, 3)
    counters = harness.engine.metrics.counters
    assert counters["images_recording"] == 3
    # The updates' reads run only while a worker is idle (under load some are not started,
    # and the `end` read alone serves): each that ran took the snapshot, its segment not moved.
    assert counters["images_recording_not_yet"] == counters["reads_done"] - 3
    assert counters["images_recording_waited"] == 3
    assert counters["images_recording_failed"] == 0
    recordings = [r for r in harness.replay.requests if "/recordings/" in r]
    assert len(recordings) == 3
    by_event = {t["event_id"]: t for t in harness.received}
    assert (
        sum(
            plates_equal(by_event[i]["plate"], p.plate or "")
            for i, p in zip(ids, photos, strict=True)
        )
        >= 2
    )


@pytest.mark.slow
async def test_accuracy_of_each_input_on_the_shared_photos(
    geometry_replay: FrigateReplay, recognizer: Any, figure: Any
) -> None:
    """One read per vehicle on each input Frigate offers, cameras with a 1920x1080 record stream
    and a 960x540 detect stream: snapshot.jpg of the ended event (detect, box drawn, q70), the
    clean copy (detect, WebP q60 as Frigate writes it), the record frame at the snapshot time
    (box scaled), and that frame fused with Frigate's own read. Frigate's LPR is stood in for by
    the same OCR run on the detect frame and kept only at Frigate's `recognition_threshold`
    (0.9), as Frigate publishes nothing below it."""
    from rufina_alpr.engine.reads import clip_box as _clip_box  # noqa: PLC0415
    from rufina_alpr.fusion import fuse  # noqa: PLC0415
    from rufina_alpr.reads import PlateRead  # noqa: PLC0415

    replay = geometry_replay
    hits: Counter[str] = Counter()
    frigate_published = 0

    def best(reads: list[PlateRead]) -> str | None:
        fused = fuse(reads)
        return fused.plate if fused else None

    async with aiohttp.ClientSession() as session:
        client = FrigateClient(session, replay.url, retries=0)
        for index, photo in enumerate(replay.photos):
            tracked = replay.tracked_object(photo, "cam_pomino", 1753373411.0 + index)
            record = replay.records[tracked.id]
            record.snapshot_time, record.end_time = tracked.start_time + 0.4, tracked.start_time + 1
            box = tuple(tracked.box)
            inputs = {
                "snapshot": (await client.rendered_snapshot(tracked.id), 1.0),
                "clean": (await client.snapshot(tracked.id, ended=True), 1.0),
                "record": (await client.recording_frame("cam_pomino", record.snapshot_time), 2.0),
            }
            reads: dict[str, list[PlateRead]] = {}
            for name, (data, scale) in inputs.items():
                image = _decode(data)
                scaled = tuple(round(v * scale) for v in box)
                reads[name] = await asyncio.to_thread(
                    recognizer.read,
                    image,
                    vehicle_box=_clip_box(scaled, image),  # type: ignore[arg-type]
                )
            frigate = [r for r in reads["clean"] if r.confidence >= 0.9 and len(r.text) >= 4]
            # Frigate's plate reaches fusion as one read (the engine builds it from the score).
            frigate = [dataclasses.replace(r, source="frigate", views=1) for r in frigate[:1]]
            frigate_published += bool(frigate)
            results = {
                "snapshot": best(reads["snapshot"]),
                "clean": best(reads["clean"]),
                "record": best(reads["record"]),
                "frigate": best(frigate),
                "record+frigate": best(reads["record"] + frigate),
                "clean+record+frigate": best(reads["clean"] + reads["record"] + frigate),
            }
            for name, plate in results.items():
                hits[name] += bool(plate and plates_equal(plate, photo.plate or ""))
    total = len(replay.photos)
    figure(
        f"inputs on {total} photos (record 1920x1080, detect 960x540): "
        + ", ".join(
            f"{name} {hits[name]}/{total}"
            for name in (
                "snapshot",
                "clean",
                "record",
                "frigate",
                "record+frigate",
                "clean+record+frigate",
            )
        )
        + f" (Frigate stand-in published a plate for {frigate_published})"
    )
    assert hits["record"] >= hits["clean"] >= hits["snapshot"] - 1
    assert hits["record+frigate"] >= hits["record"]


@pytest.mark.slow
@pytest.mark.parametrize("source", ["snapshot", "clean", "recording"])
async def test_engine_on_each_image_source_through_the_replay(
    harness_factory: Any, photos_dir: Path, figure: Any, source: str
) -> None:
    """The engine end to end on the 54 shared photos with Frigate 0.17.2's timing (record
    1920x1080, detect 960x540, the camera's snapshots with box drawn at q70): plates right,
    reads per vehicle, and the wait from `end` to the transit, which `recording` lengthens
    (the record frame exists only once its segment is moved)."""
    photos = _labelled(photos_dir, 54)
    harness = await harness_factory(photos, extra={"frigate": {"image_source": source}})
    replay, engine = harness.replay, harness.engine
    replay.geometry = GEOMETRY
    replay.snapshot_bounding_box, replay.snapshot_quality = True, 70
    arrived: dict[str, float] = {}

    async def stamp() -> None:
        while True:
            for transit in harness.received:
                arrived.setdefault(transit["event_id"], time.time())
            await asyncio.sleep(0.02)

    stamping = asyncio.create_task(stamp())
    ids = await replay.run(rate=3.0)
    await _settle(harness, len(ids))
    await asyncio.sleep(0.1)
    stamping.cancel()
    by_event = {t["event_id"]: t["plate"] for t in harness.received}
    right = sum(plates_equal(by_event.get(i, ""), replay.events[i].plate or "") for i in ids)
    waits = sorted(arrived[i] - (replay.records[i].end_time or 0) for i in ids if i in arrived)
    counters = engine.metrics.counters
    figure(
        f"engine through the replay, image_source {source}: {right}/{len(ids)} plates right, "
        f"{counters['reads_done'] / len(ids):.2f} reads per vehicle, end -> transit p50 "
        f"{waits[len(waits) // 2]:.2f} s, max {waits[-1]:.2f} s"
    )
    assert right >= len(ids) - 8
    if source == "recording":
        assert counters["images_recording"] == len(ids)
        assert counters["images_recording_failed"] == 0
