"""Issue 23: a vehicle that approaches the camera, through the replay and the engine.

The replay's `Approach` option turns each photo into a vehicle seen on several frames: the plate
grows (40 -> 140 px on the record stream), each frame has its own motion blur and JPEG encoding,
the detect stream (snapshots, clean copies) is smaller than the record stream, and Frigate
0.17.2's rules decide which frames become the event's snapshot. These tests check the replay's
messages and HTTP answers against those rules, and that fusion earns its keep: a vehicle whose
every frame is misread on one (different) character comes out right.
"""

from __future__ import annotations

import itertools
import math
import threading
from pathlib import Path
from typing import Any

import aiohttp
import cv2
import numpy as np
import pytest

from rufina_alpr.frigate import FrigateClient
from rufina_alpr.paths import SHARED
from rufina_alpr.reads import Box, PlateRead
from rufina_alpr.recognizer import ModelInfo
from rufina_alpr.sim.approach import APPROACH_GEOMETRY, Approach, plan_approach, render_frame
from rufina_alpr.sim.broker import MosquittoBroker
from rufina_alpr.sim.frigate_state import EventRecord
from rufina_alpr.sim.photos import load_photos
from rufina_alpr.sim.replay import FrigateReplay

from .conftest import require

CAMERA = "cam_pomino"


def _decode(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def _area(box: list[int]) -> int:
    return (box[2] - box[0]) * (box[3] - box[1])


def _on_edge(box: list[int], width: int, height: int) -> bool:
    # Frigate 0.17.2, frigate/util/image.py on_edge (detect pixels).
    return box[0] == 0 or box[1] == 0 or box[2] == width - 1 or box[3] == height - 1


def _better(current: dict[str, Any], new: dict[str, Any], width: int, height: int) -> bool:
    """Frigate 0.17.2's ``is_better_thumbnail`` for a car without attributes, written out
    again from its code (frigate/util/image.py) as the test's own reference."""
    if _on_edge(new["box"], width, height) and not _on_edge(current["box"], width, height):
        return False
    return bool(new["score"] > current["score"] + 0.05 or new["area"] > current["area"] * 1.1)


class RecordingReplay(FrigateReplay):
    """The replay, keeping every `frigate/events` message it publishes and, at that moment, the
    event's in-progress snapshot.jpg as Frigate's API serves it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sent: list[tuple[dict[str, Any], np.ndarray | None]] = []

    async def publish(self, message: dict[str, Any] | bytes) -> None:
        snapshot = None
        if isinstance(message, dict) and message["after"]["snapshot"] is not None:
            url = f"{self.url}/api/events/{message['after']['id']}/snapshot.jpg?bbox=0&quality=95"
            async with aiohttp.ClientSession() as session, session.get(url) as response:
                assert response.status == 200
                snapshot = _decode(await response.read())
        self.sent.append((message if isinstance(message, dict) else {}, snapshot))
        await super().publish(message)


@pytest.fixture
async def approaching(mosquitto: MosquittoBroker, photos_dir: Path) -> Any:
    photos = [p for p in load_photos(photos_dir) if p.plate][:1]
    replay = RecordingReplay(
        photos,
        cameras=[CAMERA],
        mqtt_host=mosquitto.host,
        mqtt_port=mosquitto.port,
        approach=Approach(),
    )
    await replay.start()
    yield replay
    await replay.stop()


async def test_an_approaching_vehicle_follows_frigates_snapshot_rules(
    approaching: RecordingReplay,
) -> None:
    replay = approaching
    photo = replay.photos[0]
    width, height = APPROACH_GEOMETRY.detect
    assert replay.geometry == APPROACH_GEOMETRY  # the detect stream is smaller than the record
    identifier = await replay.replay_one(photo, CAMERA, step=0.05)
    record = replay.records[identifier]
    frames = record.frames
    assert len(frames) == Approach().frames + Approach().exit_frames
    messages = [m for m, _ in replay.sent]
    assert [m["type"] for m in messages] == ["new"] + ["update"] * (len(messages) - 2) + ["end"]
    assert len(messages) >= 4
    # `new` is the first frame after the false-positive period, without a saved snapshot yet.
    assert messages[0]["before"]["snapshot"] is None and not messages[0]["after"]["has_snapshot"]
    assert all(m["after"]["has_snapshot"] for m in messages[1:])

    # The plate grows over the frames, each frame with its own blur and JPEG encodings.
    widths = [f.plate_width for f in frames]
    assert widths[0] == pytest.approx(40) and widths[Approach().frames - 1] == pytest.approx(140)
    assert widths == sorted(widths)
    assert len({(f.record_quality, f.detect_quality) for f in frames}) > len(frames) // 2
    assert [f.blur for f in frames] == sorted(f.blur for f in frames)

    # The box grows; the snapshot changes only to a better thumbnail, never to a frame whose
    # box is on the frame's edge, and each message's `before` is the previous `after`.
    boxes = [m["after"]["box"] for m in messages]
    assert [b[2] - b[0] for b in boxes] == sorted(b[2] - b[0] for b in boxes)
    for previous, message in itertools.pairwise(messages):
        assert message["before"] == previous["after"]
        old, new = previous["after"]["snapshot"], message["after"]["snapshot"]
        if new["frame_time"] != old["frame_time"]:
            assert _better(old, new, width, height)
            assert new["frame_time"] > old["frame_time"]
    snapshots = {m["after"]["snapshot"]["frame_time"]: m["after"]["snapshot"] for m in messages}
    assert len(snapshots) >= 4
    # The vehicle leaving through the bottom edge: its box is cut, and Frigate keeps the
    # earlier snapshot (the largest frame not on the edge).
    last = messages[-1]["after"]
    assert _on_edge(last["box"], width, height)
    assert last["snapshot"]["frame_time"] == record.start_time + frames[-2].offset
    assert not _on_edge(last["snapshot"]["box"], width, height)
    # Every frame's box, replayed through Frigate's rule, ends on the same snapshot.
    best: dict[str, Any] | None = None
    for frame in frames:
        state = {"box": list(frame.box), "score": frame.score, "area": _area(list(frame.box))}
        if frame.offset < 0.4:  # a false positive for Frigate's first frames: not considered
            best = best or state
            continue
        if best is None or _better(best, state, width, height):
            best = state
    assert best is not None and best["box"] == last["snapshot"]["box"]

    # What Frigate's API served at each message is the detect frame of the snapshot then.
    detects = [render_frame(photo, f, APPROACH_GEOMETRY)[1].astype(np.int16) for f in frames]
    for message, served in replay.sent:
        if served is None:
            continue
        assert served.shape[:2] == (height, width)
        differences = [float(np.abs(served - d).mean()) for d in detects]
        taken = int(np.argmin(differences))
        assert record.start_time + frames[taken].offset == pytest.approx(
            message["after"]["snapshot"]["frame_time"]
        )

    # Once ended: the clean copy and snapshot.jpg are the final snapshot's detect frame, the
    # event's record has its box, and the record frame at the snapshot's time is larger.
    snapshot_time = last["snapshot"]["frame_time"]
    record.clock = None  # Frigate's clock now: long after the event, its segment is moved
    record.end_time = record.start_time - 60
    record.start_time -= 100
    record.snapshot_time = snapshot_time = snapshot_time - 100
    async with aiohttp.ClientSession() as session:
        client = FrigateClient(session, replay.url, retries=0)
        clean = _decode(await client.snapshot(identifier, ended=True))
        async with session.get(f"{replay.url}/api/events/{identifier}") as response:
            event = await response.json()
        recorded = _decode(await client.recording_frame(CAMERA, snapshot_time))
        first = _decode(await client.recording_frame(CAMERA, record.start_time))
        thumbnail = _decode(await client.thumbnail(identifier))
    assert clean.shape[:2] == (height, width)
    assert recorded.shape[:2] == APPROACH_GEOMETRY.record[::-1]
    assert recorded.shape[0] * recorded.shape[1] > clean.shape[0] * clean.shape[1]
    assert thumbnail.shape[0] == 175
    x1, y1, x2, y2 = last["snapshot"]["box"]
    assert event["data"]["box"] == pytest.approx(
        [x1 / width, y1 / height, (x2 - x1) / width, (y2 - y1) / height]
    )
    # The record frame of each moment: the vehicle's first frame is not its snapshot's frame.
    assert float(np.abs(recorded.astype(np.int16) - first).mean()) > 3


# ----------------------------------------------------------------------------- fusion
PLATE = "AB123CD"
_LETTERS, _DIGITS = "ABCDEFGHJKLMNPRSTVWXYZ", "0123456789"


def _misread(plate: str, position: int) -> str:
    """``plate`` with the character at ``position`` read as another of its kind (a letter for
    a letter, a digit for a digit: the Italian layout cannot correct it)."""
    kind = _DIGITS if plate[position].isdigit() else _LETTERS
    wrong = kind[(kind.index(plate[position]) + 3) % len(kind)]
    return plate[:position] + wrong + plate[position + 1 :]


class MisreadingReader:
    """A scripted OCR that misreads one character on every frame, a different one on each
    (told apart by the frame's time), less sure of it than of the others, as an OCR is."""

    info = ModelInfo(detector="scripted", ocr="scripted", load_seconds=0.0)
    POSITIONS = (1, 4, 6, 0, 3, 5, 2)

    def __init__(self) -> None:
        self.frames: dict[float, int] = {}
        self.reads: list[tuple[float, str, tuple[int, int]]] = []
        self._lock = threading.Lock()  # the engine reads in a worker pool

    def read(
        self, image: np.ndarray, *, vehicle_box: Box | None = None, frame_time: float | None = None
    ) -> list[PlateRead]:
        assert frame_time is not None
        with self._lock:
            position = self.POSITIONS[
                self.frames.setdefault(frame_time, len(self.frames)) % len(self.POSITIONS)
            ]
            text = _misread(PLATE, position)
            self.reads.append((frame_time, text, image.shape[:2]))
        confidences = tuple(0.6 if i == position else 0.95 for i in range(len(text)))
        return [PlateRead(text=text, char_confidences=confidences, frame_time=frame_time)]


async def test_fusion_reads_right_a_vehicle_whose_every_frame_is_misread(
    harness_factory: Any, photos_dir: Path
) -> None:
    """Each read of the approaching vehicle is wrong on one character, a different one on each
    frame; fused, the transit's plate is right. (With fusion bypassed, say by keeping the last
    read, the transit would carry that read's mistake.)"""
    reader = MisreadingReader()
    photos = [p for p in load_photos(photos_dir) if p.plate][:1]
    harness = await harness_factory(photos, reader=reader)
    harness.replay.approach = Approach()
    await harness.replay.replay_one(photos[0], CAMERA)
    await harness.wait_handled(1)
    await harness.wait_for(lambda: len(harness.received) == 1, 30, "the transit")
    # The engine read several frames (the updates' snapshots and the end's), each wrong...
    times = {frame_time for frame_time, _, _ in reader.reads}
    assert len(times) >= 2
    assert all(text != PLATE for _, text, _ in reader.reads)
    assert len({text for _, text, _ in reader.reads}) == len(times)
    # ...on detect-stream images (the snapshots and the clean copy).
    assert {shape for _, _, shape in reader.reads} == {APPROACH_GEOMETRY.detect[::-1]}
    transit = harness.received[0]
    assert transit["plate"] == PLATE
    assert transit["reads"] >= 2
    engine = harness.engine
    stored = await engine.db.run(lambda: engine.store.transits(limit=5))
    assert [t.plate for t in stored] == [PLATE]


def test_plan_is_deterministic_and_perspective_shaped(photos_dir: Path) -> None:
    photo = next(p for p in load_photos(photos_dir) if p.plate_box)
    approach = Approach(frames=5, plate_width=(40, 140), exit_frames=0)
    first = plan_approach(photo, APPROACH_GEOMETRY, approach)
    assert first == plan_approach(photo, APPROACH_GEOMETRY, approach)
    widths = [f.plate_width for f in first]
    # Constant speed: the inverse of the width (the distance) falls by equal steps.
    steps = [1 / a - 1 / b for a, b in itertools.pairwise(widths)]
    assert all(math.isclose(s, steps[0]) for s in steps)
    # The box in detect pixels is the record box scaled.
    sx, _ = APPROACH_GEOMETRY.scale
    for frame in first:
        assert abs(frame.box[0] - frame.record_box[0] * sx) <= 1


# The nearest frame of this vehicle (openalpr-us-dev) reads DG276U; the two before it read the
# plate right.
FUSED_RIGHT = ("wts-lg-000014.jpg", "DG2Z6U")


async def test_record_frames_of_the_last_snapshots_are_read_and_fused(
    harness_factory: Any,
) -> None:
    """``image_source: recording``: at the end the engine reads the record frames of the
    vehicle's last `recording_frames` (3) snapshots, its best frames, and those reads stand for
    it (the detect-stream snapshots are the same moments at fewer pixels): their fusion is right
    where the final frame alone, with or without the snapshots' reads, was wrong."""
    folder = SHARED / "data" / "openalpr-us-dev"
    require((folder / "labels.csv").is_file(), f"the labelled photos {folder}")
    name, plate = FUSED_RIGHT
    photo = next(p for p in load_photos(folder) if p.path.name == name)
    harness = await harness_factory([photo], extra={"frigate": {"image_source": "recording"}})
    harness.replay.approach = Approach()
    event_id = await harness.replay.replay_one(photo, CAMERA)
    await harness.wait_handled(1)
    await harness.wait_for(lambda: len(harness.received) == 1, 60, "the transit")
    asked = [r for r in harness.replay.requests if "/recordings/" in r]
    record = harness.replay.records[event_id]
    times = sorted(float(path.split("/")[4]) for path in asked)
    assert len(times) == 3 and times[-1] == pytest.approx(record.snapshot_time, abs=1e-5)
    # Three distinct frames of the vehicle, each one of its frames.
    assert all(record.frame_at(t) is not None for t in times) and len(set(times)) == 3
    counters = harness.engine.metrics.counters
    assert counters["images_recording"] == 3 and counters["images_recording_failed"] == 0
    transit = harness.received[0]
    assert transit["plate"] == plate


async def test_earlier_record_frames_missing_take_no_other_image(
    harness_factory: Any, photos_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    """Frigate has only the final snapshot's record frame (404 for the earlier ones): those
    reads are counted as failed, quietly (no warning, no failure on the passage), nothing is
    read in their place, and the plate comes from the record frame it has."""
    original = EventRecord.frame_at

    def only_final(self: EventRecord, moment: float) -> Any:
        final = self.snapshot_time is not None and abs(moment - self.snapshot_time) < 0.001
        return original(self, moment) if final else None

    monkeypatch.setattr(EventRecord, "frame_at", only_final)
    photos = [p for p in load_photos(photos_dir) if p.plate][:1]
    harness = await harness_factory(photos, extra={"frigate": {"image_source": "recording"}})
    harness.replay.approach = Approach()
    await harness.replay.replay_one(photos[0], CAMERA)
    await harness.wait_handled(1)
    await harness.wait_for(lambda: len(harness.received) == 1, 60, "the transit")
    counters = harness.engine.metrics.counters
    assert counters["images_recording"] == 1
    assert counters["images_recording_failed"] == 2
    assert len([r for r in harness.replay.requests if "/recordings/" in r]) == 3
    # No clean copy or snapshot asked for in the missing frames' place: the clean copy is asked
    # for by no read (the final one took its record frame), and no read failed.
    assert not [r for r in harness.replay.requests if "snapshot-clean" in r]
    assert counters["images_failed"] == 0
    assert not [r for r in caplog.records if "not available" in r.getMessage()]
    assert harness.received[0]["plate"] == photos[0].plate
