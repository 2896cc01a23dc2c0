"""Issue 20: forged reads and ends, outages that lost vehicles, floods that grew memory.

Each test runs a real engine against real Mosquitto and the Frigate replay's HTTP server and
sends what a publisher on ``frigate/#`` (or an outage) can do; Frigate's API, which the engine
asks for its record of an event, is the replay's.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from rufina_alpr import verification
from rufina_alpr.api.context import ApiContext
from rufina_alpr.api.live import QUEUE_SIZE, LiveFeed
from rufina_alpr.engine import events
from rufina_alpr.mqtt import Message, MqttLink
from rufina_alpr.sim.broker import MosquittoBroker
from rufina_alpr.sim.photos import Photo, load_photos

from .conftest import SHARED, plates_equal
from .test_hardening_api import _retained
from .test_store import make_transit

PAYLOADS = SHARED / "frigate" / "payloads"


def _labelled(photos_dir: Path, count: int) -> list[Photo]:
    return [photo for photo in load_photos(photos_dir) if photo.plate][:count]


def _forged_end(event_id: str, camera: str, plate: str | None) -> dict[str, Any]:
    """Frigate's real `end` shape (shared payloads) with another id, camera and plate."""
    message: dict[str, Any] = json.loads((PAYLOADS / "events_end_car.json").read_text())
    now = time.time()
    for side in ("before", "after"):
        message[side].update(
            id=event_id,
            camera=camera,
            has_snapshot=False,
            snapshot=None,
            recognized_license_plate=[plate, 1.0] if plate else None,
            start_time=now - 2,
            end_time=now,
            frame_time=now,
        )
    return message


async def _stolen(engine: Any, *plates: str) -> None:
    def add() -> None:
        engine.hotlists.create_list("stolen", "Veicoli rubati", "stolen", created_by="test")
        for plate in plates:
            engine.hotlists.add_entry("stolen", plate, "Furto", added_by="test")

    await engine.db.run(add)


@pytest.mark.parametrize("forged_plate", [None, "ZZ999ZZ"])
async def test_a_forged_end_right_after_new_does_not_close_the_real_vehicle(
    harness_factory: Any,
    photos_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    forged_plate: str | None,
) -> None:
    """An `end` for the same camera and id sent right after Frigate's `new` (no snapshot yet)
    closed the event at once as "unread: no snapshot" (or with the forged plate inside it as a
    transit); the real updates and `end` were then duplicates. Frigate's record still tracks
    the object: the forged `end` is refused, the real one makes the real transit and alert."""
    monkeypatch.setattr(verification, "ASK_AGAIN", (0.1, 0.2))
    photos = _labelled(photos_dir, 1)
    harness = await harness_factory(photos)
    replay, engine = harness.replay, harness.engine
    await _stolen(engine, photos[0].plate or "", *([forged_plate] if forged_plate else []))
    counters = engine.metrics.counters
    vehicle = asyncio.create_task(replay.replay_one(photos[0], "cam_pomino", updates=3, step=1.5))
    await harness.wait_for(lambda: bool(engine.tracker.live), 20, "Frigate's new")
    camera, real_id = next(iter(engine.tracker.live))
    await replay.publish(_forged_end(real_id, camera, forged_plate))
    await harness.wait_for(lambda: counters["events_end_refused"] == 1, 20, "the refusal")
    assert await vehicle == real_id
    await harness.wait_for(lambda: len(harness.received) == 1, 60, "the real transit")
    transit = harness.received[0]
    assert transit["event_id"] == real_id and plates_equal(transit["plate"], photos[0].plate)
    assert transit["low_confidence"] is False
    await harness.wait_for(lambda: counters["alerts_published"] == 1, 20, "the real alert")
    counts = await engine.db.run(engine.store.passage_counts)
    assert (counts.read, counts.unread) == (1, 0)


async def test_a_read_naming_another_cameras_event_makes_no_transit_and_no_alert(
    harness_factory: Any, photos_dir: Path
) -> None:
    """A `tracked_object_update` on a plate-reading camera naming the id of a real vehicle of a
    context camera: the engine fetched that event's image, read the plate there and made a
    confident transit and a stolen-vehicle alert at the wrong station. Frigate's record says
    the event is another camera's: nothing of it is this station's."""
    photos = _labelled(photos_dir, 1)
    harness = await harness_factory(photos, extra={"frigate": {"lpr_event_quiet": 0.5}})
    replay, engine = harness.replay, harness.engine
    plate = photos[0].plate or ""
    await _stolen(engine, plate)
    counters = engine.metrics.counters
    real_id = await replay.replay_one(photos[0], "cam_piazza")
    await harness.wait_for(lambda: counters["passages_counted"] == 1, 30, "the counted vehicle")
    forged = {
        "type": "lpr",
        "name": None,
        "plate": plate,
        "score": 1.0,
        "id": real_id,
        "camera": "cam_pomino",
        "timestamp": time.time(),
    }
    await replay.mqtt.publish("frigate/tracked_object_update", json.dumps(forged).encode(), qos=1)
    await harness.wait_for(lambda: counters["events_forged"] == 1, 60, "the refusal")
    assert harness.received == []
    assert (counters["hotlist_matches"], counters["alerts_published"]) == (0, 0)
    counts = await engine.db.run(engine.store.passage_counts)
    assert (counts.read, counts.unread, counts.counted) == (0, 0, 1)


@pytest.mark.slow
async def test_reconciliation_stores_every_vehicle_while_the_broker_is_down(
    harness_factory: Any, photos_dir: Path, mosquitto: MosquittoBroker
) -> None:
    """Reconciliation awaited each transit's PUBACK inside its lock: with the broker down it
    stored one vehicle and waited (27 of 100 lost for good past the lookback). It stores them
    all and moves on; the outbox publishes them, once each, when the broker is back."""
    photos = _labelled(photos_dir, 6)
    harness = await harness_factory(photos, extra={"frigate": {"reconcile_interval": 0}})
    replay, engine = harness.replay, harness.engine
    replay.lose.append(lambda topic, _message: topic == "events")  # Frigate's QoS 0 lost them
    ids = [await replay.replay_one(photo, "cam_pomino") for photo in photos]
    await mosquitto.stop()
    await harness.wait_for(lambda: not engine.mqtt.connected.is_set(), 30, "the disconnect")
    try:
        recovered = await asyncio.wait_for(engine.reconciler.reconcile(lookback=3600), 300)
        counts = await engine.db.run(engine.store.passage_counts)
        assert recovered == len(ids) and counts.read == len(ids)
        assert len(await engine.db.run(engine.store.unpublished)) == len(ids)
    finally:
        await mosquitto.start()
    await harness.wait_for(lambda: len(harness.received) == len(ids), 120, "the outbox")
    assert sorted(t["event_id"] for t in harness.received) == sorted(ids)
    await harness.wait_for(lambda: not engine.publisher.in_flight, 30, "every publish acknowledged")
    assert await engine.db.run(engine.store.unpublished) == []
    assert harness.collector.duplicates == 0


async def test_forged_frigate_messages_cost_a_bounded_amount_and_count_no_vehicle(
    harness_factory: Any, photos_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """200k status topics of made-up cameras grew memory by 84 MB, never freed; 50k forged
    `new` events became 50k vehicles of a station's daily count when they expired. Status of
    unknown cameras and words Frigate never says are ignored (counted); live events are capped,
    the oldest never seen dropped first; an expired event nothing was seen of is no vehicle."""
    monkeypatch.setattr(events, "MAX_LIVE_EVENTS", 50)
    photos = _labelled(photos_dir, 1)
    harness = await harness_factory(photos, extra={"recognition": {"event_timeout": 3.0}})
    engine = harness.engine
    counters = engine.metrics.counters
    template = json.loads((PAYLOADS / "events_new_car.json").read_text())
    messages = [
        Message(f"frigate/cam_{n}/status/detect", b"online", 0, 0, False) for n in range(3000)
    ]
    messages += [
        Message("frigate/cam_pomino/status/detect", b"x" * 200_000, 0, 0, False),
        Message("frigate/cam_pomino/status/../../x", b"online", 0, 0, False),
        Message("frigate/available", b"<script>" * 10, 0, 0, False),
    ]
    for n in range(200):
        forged = json.loads(json.dumps(template))
        for side in ("before", "after"):
            forged[side].update(id=f"{time.time()}-f{n:05d}", camera="cam_pomino")
            forged[side]["has_snapshot"] = False
        messages.append(Message("frigate/events", json.dumps(forged).encode(), 0, 0, False))
    for message in messages:
        engine.dispatcher.on_message(message)
    assert set(engine.health.camera_roles) <= {"cam_pomino", "cam_roma", "cam_piazza"}
    assert counters["frigate_status_ignored"] == 3003
    assert len(engine.tracker.live) <= 50
    assert counters["events_dropped_unseen"] == 150
    health = engine.health.payload()
    assert health["frigate"]["available"] in (None, "online")
    assert all(len(str(v)) < 100 for s in health["stations"].values() for v in s["roles"].values())
    # They expire: nothing was seen of them, so no passage; a real vehicle still passes.
    await harness.wait_for(lambda: not engine.tracker.live, 60, "the forged events to expire")
    assert counters["events_expired_unseen"] == 50
    await harness.replay.replay_one(photos[0], "cam_pomino")
    await harness.wait_for(lambda: len(harness.received) == 1, 60, "the real transit")
    counts = await engine.db.run(engine.store.passage_counts)
    assert (counts.read, counts.unread) == (1, 0)


async def test_an_older_transit_published_late_never_becomes_the_stations_last(
    harness_factory: Any, photos_dir: Path, mosquitto: MosquittoBroker
) -> None:
    """The outbox publishes late what the broker missed: an older transit published after a
    newer one became the station's retained `last`, and when the purge took it the purge did
    not clear `last` (it clears it only when it removed the station's newest transit): the
    purged plate stayed on the broker. Only the station's newest transit is its `last`."""
    harness = await harness_factory(_labelled(photos_dir, 1))
    engine = harness.engine
    now = datetime.now(UTC)
    newer = make_transit("e-newer", moment=now, plate="AB123CD")
    older = make_transit("e-older", moment=now - timedelta(hours=1), plate="ZZ999ZZ")
    for transit in (newer, older):
        assert await engine.db.run(engine.store.add_transit, transit, [])
    await engine.publisher.publish_transit(newer)
    await engine.publisher.publish_transit(older, republish=True)
    retained = await _retained(mosquitto, engine.mqtt, engine.topics)
    last = json.loads(retained[engine.topics.station_last("st_pomino")])
    assert last["id"] == newer.id and last["plate"] == "AB123CD"
    await harness.wait_for(lambda: len(harness.received) == 2, 30, "both transits")


async def test_the_panels_live_feed_keeps_up_with_a_busy_town(
    harness_factory: Any, photos_dir: Path
) -> None:
    """The live view fell 11 s behind at 10 vehicles/s: each poll re-read the last 30 s, crops
    included, and stopped at 200 rows, all of them already sent. 400 transits stored since the
    last poll all reach the panel in the next one."""
    harness = await harness_factory(_labelled(photos_dir, 1))
    engine = harness.engine
    feed = LiveFeed(ApiContext.of(engine))
    queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(QUEUE_SIZE)
    feed._queues.add(queue)
    await feed.poll()
    now = datetime.now(UTC)

    def busy_town() -> None:
        for n in range(400):
            event = f"e-busy-{n:04d}"
            engine.store.add_transit(make_transit(event, moment=now + timedelta(seconds=n)), [])

    await engine.db.run(busy_town)
    await feed.poll()
    assert queue.qsize() == 400
    sent = [queue.get_nowait() for _ in range(400)]
    assert len({payload["id"] for payload in sent if payload}) == 400
    await feed.poll()  # nothing new: nothing sent twice
    assert queue.empty()


async def test_an_engine_without_its_broker_says_so_once_a_minute(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An engine whose broker cannot be reached logged nothing at all. It says so at the first
    failed attempt, then at most once a minute, with the count."""
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    link = MqttLink(host="127.0.0.1", port=port, client_id="test-no-broker")
    caplog.set_level(logging.WARNING, logger="rufina_alpr.mqtt")
    await link.start()
    try:
        for _ in range(600):  # paho tries again after 1 s, then 2 s
            if link.failed_attempts >= 2:
                break
            await asyncio.sleep(0.1)
        assert link.failed_attempts >= 2
    finally:
        await link.stop()
    lines = [
        r.getMessage() for r in caplog.records if "cannot reach the MQTT broker" in r.getMessage()
    ]
    assert lines == [
        f"cannot reach the MQTT broker 127.0.0.1:{port} (failed attempts: 1); trying again"
    ]
