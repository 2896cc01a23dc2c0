"""Defects Frigate 0.17.2's own code exposed in the engine (issue 14), each against that code.

1. Clearing a plate or sub_label through Frigate's API leaves ``(None, None)`` on the tracked
   object, which ``to_dict()`` publishes as ``[null, null]``: the whole message must not be
   dropped (that could lose the `end`).
2. 0.17 stores no ``data.snapshot_frame_time``: an event known only from ``GET /api/events``
   has no snapshot time, so no record-stream frame can be asked for it.
3. Record-stream frames exist only once Frigate has moved the ~10 s segment into its database,
   never while the event is in progress: the engine must not ask for them then.
4. A 400 from ``snapshot-clean.webp`` (a legacy clean copy Frigate cannot load or convert) must
   fall back to ``snapshot.jpg``, not fail the read.
5. JWT refresh: see ``test_auth.py`` (Frigate refreshes only cookie tokens).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

from .conftest import FrigateCode, labelled, plates_equal


async def _live_until(frigate: FrigateCode, event_id: str, key: str, value: Any) -> None:
    """Wait until Frigate's processor applied an API change to the live tracked object."""
    for _ in range(100):
        live = (await frigate.call("live", event_id=event_id))["object"]
        if live is not None and live.get(key) == value:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{key} of {event_id} never became {value}: {live and live.get(key)}")


async def test_cleared_sub_label_does_not_drop_the_end(
    frigate_factory: Any, engine_factory: Any, frigate_messages: Any, photos_dir: Path
) -> None:
    frigate = await frigate_factory()
    run = await engine_factory(frigate.internal_url)
    (photo,) = labelled(photos_dir, "test_002.jpg")
    event_id = await frigate.enter(photo, frames=6)
    path = f"/api/events/{event_id}/sub_label"
    status, _ = await frigate.api(
        "POST", path, body={"subLabel": "Scuolabus", "subLabelScore": 0.9}
    )
    assert status == 200
    await _live_until(frigate, event_id, "sub_label", ["Scuolabus", 0.9])
    await frigate.call("drive", camera="cam_pomino", frames=3)
    assert (await frigate.api("POST", path, body={"subLabel": ""}))[0] == 200
    await _live_until(frigate, event_id, "sub_label", [None, None])
    await frigate.call("drive", camera="cam_pomino", frames=3)
    await frigate.leave(event_id)

    # Frigate's own payload: the cleared pair, in the `end` too.
    (end,) = frigate_messages.of_type(event_id, "end")
    assert end["after"]["sub_label"] == [None, None]
    transit = await run.one_transit(event_id)
    assert plates_equal(transit["plate"], photo.plate), transit
    assert run.engine.metrics.counters.get("events_malformed", 0) == 0


async def test_cleared_plate_does_not_drop_the_end(
    frigate_factory: Any, engine_factory: Any, frigate_messages: Any, photos_dir: Path
) -> None:
    frigate = await frigate_factory()
    run = await engine_factory(frigate.internal_url)
    (photo,) = labelled(photos_dir, "eu11.jpg")
    event_id = await frigate.enter(photo, frames=6)
    # Frigate's LPR reads a wrong plate; an operator clears it in Frigate's UI (its API).
    await frigate.call("lpr", camera="cam_pomino", event_id=event_id, plate="B547040", score=0.91)
    await _live_until(frigate, event_id, "recognized_license_plate", ["B547040", 0.91])
    await frigate.call("drive", camera="cam_pomino", frames=3)
    path = f"/api/events/{event_id}/recognized_license_plate"
    assert (await frigate.api("POST", path, body={"recognizedLicensePlate": ""}))[0] == 200
    await _live_until(frigate, event_id, "recognized_license_plate", [None, None])
    await frigate.call("drive", camera="cam_pomino", frames=3)
    await frigate.leave(event_id)

    (end,) = frigate_messages.of_type(event_id, "end")
    assert end["after"]["recognized_license_plate"] == [None, None]
    lpr = [p for t, p in frigate_messages.messages if t == "frigate/tracked_object_update"]
    assert [(m["type"], m["id"], m["plate"]) for m in lpr] == [("lpr", event_id, "B547040")]
    transit = await run.one_transit(event_id)
    assert plates_equal(transit["plate"], photo.plate), transit
    assert run.engine.metrics.counters.get("events_malformed", 0) == 0


async def test_reconciled_event_has_no_snapshot_time_so_no_record_frame_is_asked(
    frigate_factory: Any, engine_factory: Any, frigate_messages: Any, photos_dir: Path
) -> None:
    frigate = await frigate_factory()
    (photo,) = labelled(photos_dir, "test_002.jpg")
    event_id = await frigate.pass_vehicle(photo)  # no engine listens: only the API will tell
    stored = await frigate.event(event_id)
    assert "snapshot_frame_time" not in stored["data"]  # 0.17's Event.data
    (end,) = frigate_messages.of_type(event_id, "end")
    snapshot_time = end["after"]["snapshot"]["frame_time"]
    assert snapshot_time > stored["start_time"] + 1.0  # its best frame came later than its start

    run = await engine_factory(
        frigate.internal_url, {"frigate": {"image_source": "recording", "recording_delay": 0}}
    )
    transit = await run.one_transit(event_id)
    assert plates_equal(transit["plate"], photo.plate), transit
    moment = datetime.fromisoformat(transit["time"]).timestamp()
    assert stored["start_time"] - 0.001 <= moment <= stored["end_time"] + 0.001
    log = (await frigate.call("access_log"))["log"]
    asked = [e["path"] for e in log if "/recordings/" in e["path"]]
    assert asked == [], f"record frames asked for a time Frigate never gave: {asked}"


async def test_no_record_frame_is_asked_while_the_event_is_in_progress(
    frigate_factory: Any, engine_factory: Any, frigate_messages: Any, photos_dir: Path
) -> None:
    frigate = await frigate_factory()
    run = await engine_factory(
        frigate.internal_url, {"frigate": {"image_source": "recording", "recording_delay": 2}}
    )
    (photo,) = labelled(photos_dir, "test_002.jpg")
    event_id = await frigate.enter(photo)
    answer = await frigate.call("leave", camera="cam_pomino", event_id=event_id)
    transit = await run.one_transit(event_id)
    # Frigate's recorder does not run here, so every record frame is a 404 and the engine
    # falls back to the clean copy: the plate is still read.
    assert plates_equal(transit["plate"], photo.plate), transit
    log = (await frigate.call("access_log"))["log"]
    early = [
        e["path"]
        for e in log
        if "/recordings/" in e["path"] and e["time"] < answer["in_progress_until"]
    ]
    assert early == [], f"record frames asked while the event was in progress: {early}"
    (end,) = frigate_messages.of_type(event_id, "end")
    wanted = f"/api/cam_pomino/recordings/{end['after']['snapshot']['frame_time']:.6f}/snapshot.jpg"
    assert wanted in [e["path"] for e in log]  # asked once the segment could exist


async def test_clean_copy_that_frigate_cannot_load_falls_back_to_snapshot_jpg(
    frigate_factory: Any, engine_factory: Any, photos_dir: Path
) -> None:
    frigate = await frigate_factory()
    (photo,) = labelled(photos_dir, "test_002.jpg")
    event_id = await frigate.pass_vehicle(photo)
    # A clean copy kept from before 0.17 (PNG), damaged on disk: Frigate answers 400.
    clips = Path((await frigate.call("path"))["clips"])
    (clips / f"cam_pomino-{event_id}-clean.webp").unlink()
    (clips / f"cam_pomino-{event_id}-clean.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    status, _ = await frigate.api("GET", f"/api/events/{event_id}/snapshot-clean.webp")
    assert status == 400

    run = await engine_factory(frigate.internal_url)  # reconciles the ended event
    transit = await run.one_transit(event_id)
    assert plates_equal(transit["plate"], photo.plate), transit
    log = (await frigate.call("access_log"))["log"]
    asked = [(e["path"].rsplit("/", 1)[-1], e["status"]) for e in log if event_id in e["path"]]
    assert ("snapshot-clean.webp", 400) in asked and ("snapshot.jpg", 200) in asked, asked


async def test_reconciliation_reads_every_page_even_across_a_shared_start_time(
    frigate_factory: Any, engine_factory: Any, photos_dir: Path
) -> None:
    """Further defects: ``GET /api/events`` answers at most ``limit`` (100) events, oldest first.
    (a) Asked once per camera, the missed events after the 100th of the look-back were never
    found (fixed in b639f6a: the engine reads page after page). (b) Each next page starts
    ``after`` the last start time seen and Frigate's filter is ``start_time > after``: events
    that share that start time (vehicles side by side that Frigate's tracker registers in the
    same frame) and fall on the next page were skipped (fixed in d73b3bb: pages overlap). Here
    the 100th and 101st events are such a pair (at 4 fps every frame time is exact, so no
    rounding hides it)."""
    frigate = await frigate_factory(fps=4)
    photos = labelled(photos_dir, "test_002.jpg", "eu11.jpg")
    missed = [await frigate.pass_vehicle(photos[i % 2], frames=8) for i in range(99)]
    pair = await frigate.enter_together(photos, frames=10)
    await frigate.leave_all(pair)  # no engine listens to any of them
    starts = {(await frigate.event(event_id))["start_time"] for event_id in pair}
    assert len(starts) == 1, starts  # registered in the same frame

    run = await engine_factory(frigate.internal_url)
    await run.handled(missed[0], timeout=120)
    await run.handled(missed[-1], timeout=120)
    for event_id, photo in zip(pair, photos, strict=True):
        transit = await run.one_transit(event_id)
        assert plates_equal(transit["plate"], photo.plate), transit
