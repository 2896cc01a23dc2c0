"""The engine against Frigate 0.17.2's own code: tracker, camera state, events, MQTT and API."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from rufina_alpr import contract

from .conftest import labelled, plates_equal


async def test_vehicle_tracked_by_frigate_gives_one_transit_with_its_plate(
    frigate_factory: Any, engine_factory: Any, frigate_messages: Any, photos_dir: Path
) -> None:
    frigate = await frigate_factory()
    run = await engine_factory(frigate.internal_url)
    (photo,) = labelled(photos_dir, "test_002.jpg")
    event_id = await frigate.pass_vehicle(photo)

    transit = await run.one_transit(event_id)
    contract.validate("transit", transit)
    assert plates_equal(transit["plate"], photo.plate), transit
    assert transit["station"] == "st_pomino"
    # What Frigate's code published for it: new, updates, one end; all parsed.
    kinds = [m["type"] for m in frigate_messages.events(event_id)]
    assert kinds[0] == "new" and kinds[-1] == "end" and kinds.count("end") == 1, kinds
    assert run.engine.metrics.counters.get("events_malformed", 0) == 0


async def test_engine_reads_frigates_real_snapshot_and_clean_copy(
    frigate_factory: Any, engine_factory: Any, frigate_messages: Any, photos_dir: Path
) -> None:
    frigate = await frigate_factory()
    run = await engine_factory(frigate.internal_url)
    (photo,) = labelled(photos_dir, "eu11.jpg")
    event_id = await frigate.pass_vehicle(photo)
    transit = await run.one_transit(event_id)
    assert plates_equal(transit["plate"], photo.plate), transit

    # The engine's own HTTP client on Frigate's real media endpoints of the ended event.
    assert run.engine.frigate is not None
    clean = await run.engine.frigate.clean_snapshot(event_id)
    assert clean is not None and clean[:4] == b"RIFF" and clean[8:12] == b"WEBP"
    image = cv2.imdecode(np.frombuffer(clean, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    assert image.shape[:2] == (1080, 1920)  # the full detect frame, no crop
    stored = await run.engine.frigate.rendered_snapshot(event_id)
    assert stored[:2] == b"\xff\xd8"
    # Frigate's snapshot box (detect pixels) from its `end` payload places the vehicle.
    (end,) = frigate_messages.of_type(event_id, "end")
    box = tuple(end["after"]["snapshot"]["box"])
    reads = run.engine.recognizer.read(image, vehicle_box=box)
    assert any(plates_equal(read.text, photo.plate) for read in reads), reads
    # What the engine asked of Frigate while reading: the clean copy of the ended event.
    log = (await frigate.call("access_log"))["log"]
    asked = {(e["path"], e["status"]) for e in log}
    assert (f"/api/events/{event_id}/snapshot-clean.webp", 200) in asked, asked


async def test_events_missed_on_mqtt_are_reconciled_from_the_real_api(
    frigate_factory: Any, engine_factory: Any, photos_dir: Path
) -> None:
    frigate = await frigate_factory()
    first, second = labelled(photos_dir, "test_002.jpg", "eu11.jpg")
    # Both vehicles pass while no engine listens: Frigate's QoS 0 messages are gone.
    missed = [await frigate.pass_vehicle(first), await frigate.pass_vehicle(second)]
    events = json.loads((await frigate.api("GET", "/api/events?cameras=cam_pomino"))[1])
    assert {e["id"] for e in events} == set(missed)

    run = await engine_factory(frigate.internal_url)  # reconciles at start-up
    for event_id, photo in zip(missed, (first, second), strict=True):
        transit = await run.one_transit(event_id)
        assert plates_equal(transit["plate"], photo.plate), transit
    assert run.engine.metrics.counters["events_reconciled"] == 2
    # A second round finds nothing new: exactly once.
    assert await run.engine.reconciler.reconcile() == 0


async def test_write_back_lands_in_frigates_database(
    frigate_factory: Any, engine_factory: Any, photos_dir: Path
) -> None:
    frigate = await frigate_factory()
    run = await engine_factory(
        frigate.internal_url, {"frigate": {"write_back": {"plate": True, "sub_label": True}}}
    )
    (photo,) = labelled(photos_dir, "test_002.jpg")
    hotlists = run.engine.hotlists

    def stolen() -> None:
        hotlists.create_list("stolen", "Veicoli rubati", "stolen", created_by="test")
        hotlists.add_entry("stolen", photo.plate, "Furto", added_by="test")

    await run.engine.db.run(stolen)
    event_id = await frigate.pass_vehicle(photo)
    transit = await run.one_transit(event_id)
    assert plates_equal(transit["plate"], photo.plate)

    async def written() -> dict[str, Any]:
        for _ in range(100):
            event: dict[str, Any] = await frigate.event(event_id)
            if event["sub_label"] and event["data"].get("recognized_license_plate"):
                return event
            await asyncio.sleep(0.1)
        raise AssertionError(f"write-back not in Frigate's DB: {event}")

    event = await written()
    assert event["data"]["recognized_license_plate"] == transit["plate"]
    assert 0 < event["data"]["recognized_license_plate_score"] <= 1
    assert event["sub_label"] == "Veicoli rubati"
    # Frigate's own search finds the event by our plate.
    status, body = await frigate.api(
        "GET", f"/api/events?recognized_license_plate={transit['plate']}"
    )
    assert status == 200 and [e["id"] for e in json.loads(body)] == [event_id]
    assert run.engine.metrics.counters["frigate_plates_written"] == 1
    assert run.engine.metrics.counters["frigate_sub_labels_written"] == 1


async def test_dedicated_lpr_camera_plate_gives_one_transit(
    frigate_factory: Any, engine_factory: Any, frigate_messages: Any, photos_dir: Path
) -> None:
    """A dedicated LPR camera (``type: lpr``, no plate model): Frigate creates the
    ``license_plate`` event itself and publishes only ``tracked_object_update``, no events."""
    frigate = await frigate_factory(dedicated_lpr=["cam_roma"])
    run = await engine_factory(frigate.internal_url)
    (photo,) = labelled(photos_dir, "test_004.jpg")
    answer = await frigate.call(
        "dedicated_read",
        camera="cam_roma",
        photo=str(photo.path),
        plate_box=list(photo.plate_box),
        plate=photo.plate,
        score=0.93,
    )
    event_id = answer["event_id"]
    transit = await run.one_transit(event_id)
    assert plates_equal(transit["plate"], photo.plate), transit
    assert transit["station"] == "st_roma"
    assert frigate_messages.events(event_id) == []
    assert run.engine.metrics.counters["lpr_events"] == 1

    async def ended() -> dict[str, Any]:
        for _ in range(100):
            event: dict[str, Any] = await frigate.event(event_id)
            if event["end_time"] is not None:
                return event
            await asyncio.sleep(0.1)
        raise AssertionError(f"Frigate never ended {event_id}")

    event = await ended()
    assert event["label"] == "license_plate" and event["data"]["type"] == "api"
    # Once Frigate lists it as ended, reconciliation must not make a second transit.
    assert await run.engine.reconciler.reconcile() == 0


async def test_context_camera_vehicle_is_counted_without_a_read(
    frigate_factory: Any, engine_factory: Any, photos_dir: Path
) -> None:
    frigate = await frigate_factory()
    run = await engine_factory(frigate.internal_url)
    (photo,) = labelled(photos_dir, "eu11.jpg")
    event_id = await frigate.pass_vehicle(photo, "cam_piazza")
    await run.handled(event_id)
    assert run.transits(event_id) == []
    assert run.engine.metrics.counters["passages_counted"] == 1
    log = (await frigate.call("access_log"))["log"]
    assert not [e for e in log if event_id in e["path"]], "no image is fetched for counting"


async def test_frigate_crash_mid_event_still_gives_one_transit(
    frigate_factory: Any, engine_factory: Any, frigate_messages: Any, photos_dir: Path
) -> None:
    """Frigate dies while a vehicle is tracked: no `end` is ever published; on its next start
    Frigate's event processor ends the row at start_time + 30 s, and reconciliation finishes
    the event with the reads the engine made while it was in progress."""
    frigate = await frigate_factory()
    run = await engine_factory(frigate.internal_url, {"frigate": {"reconcile_interval": 0}})
    (photo,) = labelled(photos_dir, "test_002.jpg")
    event_id = await frigate.enter(photo, frames=14)
    await run.wait_for(lambda: run.engine.metrics.counters["reads_done"] >= 1, "an in-event read")
    status, body = await frigate.api("GET", "/api/events?in_progress=1")
    assert status == 200
    assert [e["id"] for e in json.loads(body)] == [event_id]

    await asyncio.to_thread(frigate.crash)
    await asyncio.to_thread(frigate.start)
    stored = await frigate.event(event_id)
    assert stored["end_time"] == stored["start_time"] + 30  # Frigate's own start-up rule
    assert await run.engine.reconciler.reconcile() == 1
    transit = await run.one_transit(event_id)
    assert plates_equal(transit["plate"], photo.plate), transit
    assert frigate_messages.of_type(event_id, "end") == []
    assert await run.engine.reconciler.reconcile() == 0


async def test_two_vehicles_side_by_side_give_a_transit_each(
    frigate_factory: Any, engine_factory: Any, photos_dir: Path
) -> None:
    frigate = await frigate_factory()
    run = await engine_factory(frigate.internal_url)
    photos = labelled(photos_dir, "test_002.jpg", "eu11.jpg")
    event_ids = await frigate.enter_together(photos)
    await frigate.leave_all(event_ids)
    for event_id, photo in zip(event_ids, photos, strict=True):
        transit = await run.one_transit(event_id)
        assert plates_equal(transit["plate"], photo.plate), (photo.plate, transit)
