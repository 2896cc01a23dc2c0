"""The engine's pipeline behind the `PlateReader` seam: with a scripted reader in place of the
models, the same vehicles go through intake, reads, fusion, the store, the hotlists and the
broker, in seconds and without ONNX models."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from rufina_alpr.reads import Box, PlateRead
from rufina_alpr.recognizer import ModelInfo
from rufina_alpr.sim.photos import load_photos

from .conftest import Alerts

PLATE = "AB123CD"


class ScriptedReader:
    """Reads the same plate on every image, and counts the images it was given."""

    info = ModelInfo(detector="scripted", ocr="scripted", load_seconds=0.0)

    def __init__(self) -> None:
        self.images = 0
        self._lock = threading.Lock()  # the engine reads in a worker pool

    def read(
        self, image: np.ndarray, *, vehicle_box: Box | None = None, frame_time: float | None = None
    ) -> list[PlateRead]:
        with self._lock:
            self.images += 1
        assert image.ndim == 3 and image.shape[2] == 3  # a decoded BGR image reaches the reader
        return [PlateRead(text=PLATE, char_confidences=(0.97,) * len(PLATE), frame_time=frame_time)]


async def test_the_pipeline_runs_on_a_scripted_reader(
    harness_factory: Any, photos_dir: Path
) -> None:
    reader = ScriptedReader()
    harness = await harness_factory(load_photos(photos_dir)[:4], reader=reader)
    engine = harness.engine
    await engine.db.run(
        lambda: engine.hotlists.create_list("stolen", "Stolen", "stolen", created_by="test")
    )
    await engine.db.run(
        lambda: engine.hotlists.add_entry("stolen", PLATE, "reported stolen", added_by="test")
    )
    alerts = Alerts(harness.broker.host, harness.broker.port)
    await alerts.link.start()
    try:
        await alerts.link.connected.wait()
        event_ids = await harness.replay.run(rate=20)
        await harness.wait_handled(len(event_ids))
        await harness.wait_for(lambda: len(harness.received) == len(event_ids), 30, "transits")
        stations = {t["station"] for t in harness.received}
        await harness.wait_for(lambda: len(alerts.received) >= len(stations), 30, "alerts")
    finally:
        await alerts.link.stop()
    assert {t["plate"] for t in harness.received} == {PLATE}
    assert reader.images >= len(event_ids)  # every vehicle was read by the scripted reader
    # One alert per station: the others fall within the cooldown.
    assert sorted(a["transit"]["station"] for a in alerts.received) == sorted(stations)
