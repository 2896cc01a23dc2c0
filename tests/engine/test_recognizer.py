"""The recognizer's cost-saving choices, on the real models and photos: the 384 px detector inside
a vehicle's box, the extra OCR views only when the OCR is unsure, and the engine reading the
newest snapshot while the vehicle is still in view so that `end` needs no read."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from open_image_models.detection.core.base import BoundingBox, DetectionResult

from rufina_alpr import recognizer as recognizer_module
from rufina_alpr.fusion import fuse
from rufina_alpr.mqtt import MqttLink
from rufina_alpr.paths import SHARED
from rufina_alpr.recognizer import (
    CROP_VIEWS,
    OFFLINE_CROP_DETECTOR,
    OFFLINE_DETECTOR,
    ModelSettings,
    Recognizer,
)
from rufina_alpr.sim.broker import MosquittoBroker
from rufina_alpr.sim.photos import load_photos

from .conftest import plates_equal, require


class _Counting:
    """Wraps a detector and counts its calls."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.calls = inner, 0

    def predict(self, frame: np.ndarray) -> Any:
        self.calls += 1
        return self.inner.predict(frame)


def test_vehicle_boxes_use_the_384_detector_whole_frames_the_640(
    models_dir: Path, photos_dir: Path
) -> None:
    recognizer = Recognizer(ModelSettings(models_dir=models_dir, threads=1))
    assert recognizer.info.detector.endswith(OFFLINE_DETECTOR)
    assert recognizer.info.crop_detector is not None
    assert recognizer.info.crop_detector.endswith(OFFLINE_CROP_DETECTOR)
    whole, crop = _Counting(recognizer.detector), _Counting(recognizer.crop_detector)
    recognizer.detector, recognizer.crop_detector = whole, crop  # type: ignore[assignment]
    photo = load_photos(photos_dir)[0]
    image = cv2.imread(str(photo.path))
    height, width = image.shape[:2]

    boxed = recognizer.read(image, vehicle_box=(0, 0, width, height))
    assert (whole.calls, crop.calls) == (0, 1)
    unboxed = recognizer.read(image)
    assert (whole.calls, crop.calls) == (1, 1)
    for reads in (boxed, unboxed):
        fused = fuse(reads)
        assert fused is not None and plates_equal(fused.plate, photo.plate or "")


def test_crop_detector_same_or_a_chosen_detector_loads_one_model(models_dir: Path) -> None:
    same = Recognizer(ModelSettings(models_dir=models_dir, crop_detector="same"))
    assert same.crop_detector is same.detector
    assert same.info.crop_detector is None
    chosen = Recognizer(ModelSettings(models_dir=models_dir, detector=OFFLINE_CROP_DETECTOR))
    assert chosen.crop_detector is chosen.detector  # "auto" follows a detector the user chose


def test_crop_detector_without_the_384_file_falls_back(tmp_path: Path, models_dir: Path) -> None:
    """A models folder holding only what MODELS_HINT asks for still starts, with one detector."""
    for needed in (
        OFFLINE_DETECTOR,
        recognizer_module.OFFLINE_OCR,
        recognizer_module.OFFLINE_OCR_CONFIG,
    ):
        target = tmp_path / needed
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(models_dir / needed)
    recognizer = Recognizer(ModelSettings(models_dir=tmp_path))
    assert recognizer.crop_detector is recognizer.detector


def _reads_per_plate(recognizer: Recognizer, image: np.ndarray) -> list[int]:
    reads = recognizer.read(image, vehicle_box=(0, 0, image.shape[1], image.shape[0]))
    boxes: dict[Any, int] = {}
    for read in reads:
        boxes[read.box] = boxes.get(read.box, 0) + 1
    return sorted(boxes.values())


def test_extra_views_only_when_the_ocr_is_unsure(
    recognizer: Recognizer, photos_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = cv2.imread(str(load_photos(photos_dir)[0].path))
    assert _reads_per_plate(recognizer, image) == [1]  # a sharp plate: one view is enough
    monkeypatch.setattr(recognizer_module, "SURE_CHARACTER", 1.01)  # never sure
    # Unsure: every view, with both detector sizes (the second pass's reads join the plate's box).
    assert _reads_per_plate(recognizer, image) == [2 * len(CROP_VIEWS)]
    monkeypatch.setattr(recognizer, "settings", replace(recognizer.settings, second_pass=False))
    assert _reads_per_plate(recognizer, image) == [len(CROP_VIEWS)]


def test_two_plates_in_one_image_get_as_many_reads_each(
    recognizer: Recognizer, photos_dir: Path
) -> None:
    """test_096.jpg holds the vehicle's plate (sure) and a smaller one the OCR is unsure of:
    both are read on every view (by both detector passes), so the unsure one cannot outvote the
    vehicle's by read count."""
    photo = next(p for p in load_photos(photos_dir) if p.path.name == "test_096.jpg")
    image = cv2.imread(str(photo.path))
    counts = _reads_per_plate(recognizer, image)
    assert len(counts) == 2 and counts[0] == counts[1] == 2 * len(CROP_VIEWS)
    fused = fuse(recognizer.read(image, vehicle_box=(0, 0, image.shape[1], image.shape[0])))
    assert fused is not None and plates_equal(fused.plate, photo.plate or "")


def test_mqtt_link_sends_without_nagle_delay(mosquitto: MosquittoBroker) -> None:
    """A transit published right after an ack must not wait for the broker's delayed ACK."""

    async def check() -> int:
        link = MqttLink(
            host=mosquitto.host,
            port=mosquitto.port,
            client_id="nodelay-test",
            subscriptions=(),
            on_message=lambda _message: None,
        )
        await link.start()
        try:
            await asyncio.wait_for(link.connected.wait(), 10)
            sock = link._client.socket()
            assert sock is not None
            return int(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        finally:
            await link.stop()

    assert asyncio.run(check()) != 0


@pytest.mark.slow
async def test_end_needs_no_read_when_the_final_snapshot_was_read(
    harness_factory: Any, photos_dir: Path
) -> None:
    """At low load the engine reads the update's snapshot while the vehicle is in view (`new`
    has none saved yet: no position change); `end` carries the update's snapshot, so the
    transit needs no further read (and no clean copy is fetched), and every plate is right.
    On a busy machine an update's read may not start before its `end` (reads of updates run
    only while a worker is idle): then the `end` read, on the clean copy, is the one read."""
    photos = load_photos(photos_dir)[:6]
    harness = await harness_factory(photos)
    event_ids = await harness.replay.run(rate=1.0)
    await harness.wait_handled(len(event_ids))
    counters = harness.engine.metrics.counters
    assert counters["reads_done"] == len(event_ids)
    not_in_view = counters.get("reads_skipped_busy", 0) + counters.get("reads_dropped", 0)
    assert counters.get("images_clean", 0) == not_in_view
    await harness.wait_for(lambda: len(harness.received) == len(event_ids), what="transits")
    by_event = {t["event_id"]: t["plate"] for t in harness.received}
    for event_id in event_ids:
        assert plates_equal(by_event[event_id], harness.replay.events[event_id].plate or "")


def _hold_reads(engine: Any) -> threading.Event:
    """Make the engine's reads wait (in their worker) until the returned gate is set."""
    original = engine.scheduler.recognize
    gate = threading.Event()

    def held(*args: Any, **kwargs: Any) -> Any:
        gate.wait(10)
        return original(*args, **kwargs)

    engine.scheduler.recognize = held
    return gate


@pytest.mark.slow
async def test_a_snapshot_arriving_during_a_read_is_read_next(
    harness_factory: Any, photos_dir: Path
) -> None:
    """While a read of the event runs, a newer snapshot is kept and read right after it (the
    newest only), instead of being dropped and left to `end`. Messages go out 1.5 s apart:
    `new` (no saved snapshot yet), three updates with better snapshots, `end` with the last
    one; the first update's read is held until the other two have arrived. On a busy machine
    the held read may outlast the 1.5 s before `end`: then the end read, on the clean copy,
    replaces the newest snapshot's (counted as skipped)."""
    photos = load_photos(photos_dir)[:3]
    harness = await harness_factory(photos)
    engine = harness.engine
    gate = _hold_reads(engine)
    counters = engine.metrics.counters
    for index, photo in enumerate(photos):  # one vehicle at a time: no other read is running
        gate.clear()
        received = counters["events_received"]
        replayed = asyncio.create_task(
            harness.replay.replay_one(photo, "cam_pomino", updates=3, step=1.5)
        )
        await harness.wait_for(
            lambda received=received: counters["events_received"] >= received + 4,
            what="new and the three updates",
        )
        gate.set()
        await replayed
        await harness.wait_handled(index + 1)
    # the first update's snapshot, then the newest (the middle one is skipped); end reads nothing
    assert counters["reads_done"] == 2 * len(photos)
    overtaken = counters.get("images_clean", 0)
    assert overtaken < len(photos)  # at least one newest snapshot was read while in view
    assert counters.get("reads_skipped_busy", 0) == len(photos) + overtaken  # the middle ones


def test_models_check_names_both_detectors(models_dir: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "rufina_alpr", "models", "check", "--models", str(models_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(": ", 1) for line in result.stdout.splitlines() if ": " in line)
    assert lines["detector"].endswith(OFFLINE_DETECTOR)
    assert lines["inside vehicle boxes"].endswith(OFFLINE_CROP_DETECTOR)
    assert "per vehicle box" in result.stdout and result.stdout.rstrip().endswith("OK")


@pytest.mark.slow
async def test_a_read_refused_while_workers_are_busy_runs_when_one_is_free(
    harness_factory: Any, photos_dir: Path
) -> None:
    """Vehicle B's update comes while vehicle A's read holds a worker (of two, one kept free for
    `end`s): B's read waits instead of being dropped, runs as soon as A's finishes, and B's `end`
    (later, same snapshot) needs no read of its own."""
    photo_a, photo_b = load_photos(photos_dir)[:2]
    harness = await harness_factory([photo_a, photo_b])
    engine = harness.engine
    gate = _hold_reads(engine)
    counters = engine.metrics.counters
    first = asyncio.create_task(harness.replay.replay_one(photo_a, "cam_pomino", step=1.0))
    await harness.wait_for(lambda: counters["events_received"] >= 2, what="A's update")
    second = asyncio.create_task(harness.replay.replay_one(photo_b, "cam_roma", step=0.4))
    await harness.wait_for(lambda: counters["events_received"] >= 4, what="B's update")
    await asyncio.sleep(0.05)
    assert counters["reads_done"] == 0  # A's read is held, B's waits
    gate.set()
    await asyncio.gather(first, second)
    await harness.wait_handled(2)
    assert counters["reads_done"] == 2
    assert counters.get("images_clean", 0) == 0
    assert counters.get("reads_skipped_busy", 0) == 0
    await harness.wait_for(lambda: len(harness.received) == 2, what="both transits")


def _box(confidence: float) -> DetectionResult:
    box = BoundingBox(x1=0, y1=0, x2=40, y2=10)
    return DetectionResult(label="License Plate", confidence=confidence, bounding_box=box)


def test_a_weak_box_is_read_only_when_there_is_no_sure_one() -> None:
    """Boxes over the detector's threshold are read (at most `MAX_PLATES_PER_IMAGE`); without
    one, the single most confident weaker box is (a far plate is often just under it)."""
    weak, weaker, sure = _box(0.3), _box(0.22), _box(0.6)
    assert recognizer_module._plates([weak, sure], 0.35) == [sure]
    assert recognizer_module._plates([weaker, weak], 0.35) == [weak]
    assert recognizer_module._plates([], 0.35) == []
    many = [_box(0.9)] * (recognizer_module.MAX_PLATES_PER_IMAGE + 2)
    assert len(recognizer_module._plates(many, 0.35)) == recognizer_module.MAX_PLATES_PER_IMAGE
    settings = ModelSettings(detector_threshold=0.35)
    assert recognizer_module._floor(settings) == recognizer_module.WEAK_PLATE


UNREAD_WIDE_FRAMES = {
    "3850ba91-3c64-4c64-acba-0c46b61ec0da.jpg": "HK0E7C",
    "cfaa9dd2-a388-4e92-bb3a-ae65c28d8139.jpg": "KL3B8K",
    "wts-lg-000126.jpg": "6NZT067",
}
"""Wide US frames (``rufina-alpr read``, no vehicle box) where neither detector size found the
small plate on the whole frame (fast-alpr reads nothing either): read on 2x2 tiles (issue 23)."""


def _wide_frame_plates(
    recognizer: Recognizer, *, boxed: bool = False
) -> dict[str, tuple[str, list[str]]]:
    """Each of `UNREAD_WIDE_FRAMES`: its label and the plates read on it (one per box);
    ``boxed``: with a vehicle box that is the whole frame."""
    folder = SHARED / "data" / "openalpr-us-dev"
    require((folder / "labels.csv").is_file(), f"the labelled photos {folder}")
    found: dict[str, tuple[str, list[str]]] = {}
    for name, label in UNREAD_WIDE_FRAMES.items():
        image = cv2.imread(str(folder / name), cv2.IMREAD_COLOR)
        assert image.shape[1] >= recognizer_module.TILE_MIN_WIDTH
        height, width = image.shape[:2]
        box = (0, 0, width, height) if boxed else None
        by_box: dict[Any, list[Any]] = {}
        for read in recognizer.read(image, vehicle_box=box):
            by_box.setdefault(read.box, []).append(read)
        found[name] = label, [f.plate for f in map(fuse, by_box.values()) if f is not None]
    return found


@pytest.mark.parametrize("boxed", [False, True], ids=["no box", "box is the frame"])
def test_small_plates_on_wide_frames_are_read_on_tiles(recognizer: Recognizer, boxed: bool) -> None:
    """Also when Frigate's vehicle box is the whole frame: it says nothing of where the plate is
    (the replay's box of a wide `openalpr-us-dev` photo; engine 96 -> 100 of 113)."""
    for name, (label, plates) in _wide_frame_plates(recognizer, boxed=boxed).items():
        assert any(plates_equal(plate, label) for plate in plates), (name, plates)


def test_models_second_pass_off_reads_once(models_dir: Path) -> None:
    """``models.second_pass: false``: one detector pass, so those frames stay unread."""
    recognizer = Recognizer(ModelSettings(models_dir=models_dir, threads=1, second_pass=False))
    for name, (label, plates) in _wide_frame_plates(recognizer).items():
        assert not any(plates_equal(plate, label) for plate in plates), (name, plates)


class _Sure:
    """The real detector's boxes, with the confidence the test chooses."""

    def __init__(self, inner: Any, confidence: float) -> None:
        self.inner, self.confidence = inner, confidence

    def predict(self, frame: np.ndarray) -> list[DetectionResult]:
        return [
            DetectionResult(label=d.label, confidence=self.confidence, bounding_box=d.bounding_box)
            for d in self.inner.predict(frame)
        ]


def test_a_plate_read_on_weak_boxes_alone_is_low_confidence(
    recognizer: Recognizer, photos_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reads of weak boxes (under the detector's threshold, read for want of a sure one) are
    right about one time in five on the far sets: the plate is kept but low-confidence."""
    photo = load_photos(photos_dir)[0]
    image = cv2.imread(str(photo.path))
    box = (0, 0, image.shape[1], image.shape[0])
    detectors = recognizer.detector, recognizer.crop_detector
    for confidence, low in ((0.9, False), (0.25, True)):
        monkeypatch.setattr(recognizer, "detector", _Sure(detectors[0], confidence))
        monkeypatch.setattr(recognizer, "crop_detector", _Sure(detectors[1], confidence))
        fused = fuse(recognizer.read(image, vehicle_box=box))
        assert fused is not None and plates_equal(fused.plate, photo.plate or "")
        assert fused.low_confidence is low, (confidence, fused.confidence)
