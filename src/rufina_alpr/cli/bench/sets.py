"""`rufina-alpr bench accuracy`: plates read right per development set, by the engine through
Frigate's replay and by fast-alpr called directly on the same pixels, in one run.

The sets, from each labelled folder (``openalpr-eu-dev``: close-ups; ``openalpr-us-dev``: wide
frames, small plates): the photos as they are; their far-camera variant (`sim.far_camera`: plate
45-80 px wide in a 1920x1080 frame, blur, noise, JPEG 55, Frigate's vehicle box); and the photos
as vehicles approaching the camera over several frames (`sim.approach`). fast-alpr reads the
whole frame and the vehicle-box crop; on an approaching vehicle it reads each record frame and
its most confident read counts, as a user calling it on every frame would keep. The engine reads
an approaching vehicle as configured for a plate-reading camera whose detect stream is a
sub-stream (``image_source: recording``: the record frame at the snapshot time, the same pixels
fast-alpr reads), and again with its default (``clean``: Frigate's detect-stream snapshots).
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from rufina_alpr.cli.bench.accuracy import Accuracy, direct_alpr, most_confident_plate
from rufina_alpr.cli.bench.rig import Rig
from rufina_alpr.reads import Box
from rufina_alpr.sim.approach import APPROACH_GEOMETRY, Approach, plan_approach, render_frame
from rufina_alpr.sim.broker import MosquittoBroker
from rufina_alpr.sim.far_camera import FarCamera, make_far_camera_set
from rufina_alpr.sim.photos import Photo, load_photos
from rufina_alpr.stations import Station

FOLDERS = ("openalpr-eu-dev", "openalpr-us-dev")
SINGLE_RATE = 2.0
"""Vehicles a second offered to the engine: well under its throughput, so none waits long."""
APPROACH_RATE = 0.5


@dataclass(frozen=True, slots=True)
class DevSet:
    """One development set: labelled photos, replayed as approaching vehicles or not."""

    name: str
    photos: list[Photo]
    approach: Approach | None = None


@dataclass(slots=True)
class SetResult:
    """One set's accuracy: the engine, fast-alpr on the whole frame, on the vehicle crop."""

    name: str
    vehicles: int
    engine: Accuracy
    fast_alpr_frame: Accuracy
    fast_alpr_crop: Accuracy | None
    """None: the set has no vehicle boxes (the crop would be the whole frame)."""
    engine_cpu_ms_per_vehicle: float | None
    engine_detect: Accuracy | None = None
    """Approaching vehicles only: the engine with ``image_source: clean``, reading Frigate's
    detect-stream snapshots (smaller than the record frames the other columns read)."""


def has_dev_sets(folder: Path) -> bool:
    """``folder`` holds at least one of the labelled `FOLDERS`."""
    return any((folder / name / "labels.csv").is_file() for name in FOLDERS)


def dev_sets(data: Path, work: Path, limit: int | None) -> list[DevSet]:
    """The sets of each labelled folder under ``data`` (far frames are written under ``work``)."""
    sets: list[DevSet] = []
    for folder in FOLDERS:
        source = data / folder
        if not (source / "labels.csv").is_file():
            continue
        photos = [p for p in load_photos(source) if p.plate][:limit]
        far = make_far_camera_set(source, work / f"{folder}-far", FarCamera(), limit=limit)
        sets += [
            DevSet(folder, photos),
            DevSet(f"{folder} far", [p for p in load_photos(far) if p.plate]),
            DevSet(f"{folder} approaching", photos, Approach()),
        ]
    return sets


def _frames(photo: Photo, approach: Approach | None) -> Iterator[tuple[np.ndarray, Box | None]]:
    """The pixels the engine gets of a vehicle, with its vehicle box: the photo, or each record
    frame of its approach."""
    if approach is None:
        image = cv2.imread(str(photo.path), cv2.IMREAD_COLOR)
        if image is not None:
            yield image, photo.vehicle_box
        return
    for frame in plan_approach(photo, APPROACH_GEOMETRY, approach):
        record, _detect = render_frame(photo, frame, APPROACH_GEOMETRY)
        yield record, frame.record_box


def fast_alpr_accuracy(
    alpr: Any, dev_set: DevSet, advance: Callable[[], None]
) -> tuple[Accuracy, Accuracy | None]:
    """fast-alpr on the same pixels as the engine: the whole frames and the vehicle crops."""
    whole, crop = Accuracy(), Accuracy()
    boxed = False
    for photo in dev_set.photos:
        frames = list(_frames(photo, dev_set.approach))
        whole.add(most_confident_plate(alpr, [image for image, _ in frames]), photo.plate)
        crops = [image[y1:y2, x1:x2] for image, (x1, y1, x2, y2) in _boxed(frames)]
        boxed = boxed or bool(crops)
        crop.add(most_confident_plate(alpr, crops or [image for image, _ in frames]), photo.plate)
        advance()
    return whole, crop if boxed else None


def _boxed(frames: list[tuple[np.ndarray, Box | None]]) -> Iterator[tuple[np.ndarray, Box]]:
    for image, box in frames:
        if box is not None and box[2] > box[0] and box[3] > box[1]:
            yield image, box


async def engine_accuracy(
    broker: MosquittoBroker,
    dev_set: DevSet,
    *,
    stations: list[Station],
    models_dir: Path | None,
    folder: Path,
    advance: Callable[[], None],
    image_source: str = "clean",
) -> tuple[Accuracy, float | None]:
    """The engine (its own process) on the set through Frigate's replay: its accuracy and CPU
    milliseconds per vehicle."""
    rig = Rig(
        broker=broker,
        stations=stations,
        models_dir=models_dir,
        photos=dev_set.photos,
        folder=folder,
        late_ms=60_000,
        approach=dev_set.approach,
        image_source=image_source,
    )
    await rig.start()
    try:
        await rig.start_engines(1, f"sqlite:///{folder / 'accuracy.db'}", "accuracy")
        rate = APPROACH_RATE if dev_set.approach else SINGLE_RATE
        count = len(dev_set.photos)
        result = await rig.offer(
            count, rate, advance, photos=dev_set.photos, drain_timeout=120 + 10 * count
        )
    finally:
        await rig.stop()
    accuracy = Accuracy()
    for plate, photo in zip(result.plates.values(), dev_set.photos, strict=True):
        accuracy.add(plate, photo.plate)
    cpu = result.cpu_seconds_per_vehicle
    return accuracy, None if cpu is None else round(cpu * 1000, 1)


async def run_accuracy(
    data: Path,
    models_dir: Path | None,
    stations: list[Station],
    *,
    limit: int | None,
    progress: Callable[[str, int], Callable[[], None]],
) -> list[SetResult]:
    """Every set of ``data``: the engine first, then fast-alpr with the same models."""
    results: list[SetResult] = []
    alpr = _fast_alpr(models_dir)
    broker = MosquittoBroker()
    await broker.start()
    try:
        with tempfile.TemporaryDirectory(prefix="rufina-bench-sets-") as work:
            for index, dev_set in enumerate(dev_sets(data, Path(work), limit)):
                runs: dict[str, tuple[Accuracy, float | None]] = {}
                sources = ("recording", "clean") if dev_set.approach else ("clean",)
                for source in sources:
                    runs[source] = await engine_accuracy(
                        broker,
                        dev_set,
                        stations=stations,
                        models_dir=models_dir,
                        folder=Path(work) / f"engine-{index}-{source}",
                        advance=progress(f"engine ({source}): {dev_set.name}", len(dev_set.photos)),
                        image_source=source,
                    )
                advance = progress(f"fast-alpr: {dev_set.name}", len(dev_set.photos))
                whole, crop = await asyncio.to_thread(fast_alpr_accuracy, alpr, dev_set, advance)
                engine, cpu_ms = runs[sources[0]]
                detect = runs["clean"][0] if dev_set.approach else None
                results.append(
                    SetResult(
                        dev_set.name, len(dev_set.photos), engine, whole, crop, cpu_ms, detect
                    )
                )
    finally:
        await broker.stop()
        broker.cleanup()
    return results


def _fast_alpr(models_dir: Path | None) -> Any:
    """fast-alpr with the engine's models: the offline ones, else its own default download."""
    if models_dir is not None:
        return direct_alpr(models_dir, threads=2)
    from fast_alpr import ALPR  # noqa: PLC0415

    return ALPR()


def sets_json(results: list[SetResult], seconds: float) -> dict[str, Any]:
    """The run as ``bench.json``'s ``sets`` section."""
    return {
        "seconds": round(seconds, 1),
        "sets": [
            {
                "name": r.name,
                "vehicles": r.vehicles,
                "engine": asdict(r.engine),
                "fast_alpr_frame": asdict(r.fast_alpr_frame),
                "fast_alpr_crop": asdict(r.fast_alpr_crop) if r.fast_alpr_crop else None,
                "engine_cpu_ms_per_vehicle": r.engine_cpu_ms_per_vehicle,
                "engine_detect": asdict(r.engine_detect) if r.engine_detect else None,
            }
            for r in results
        ],
    }
