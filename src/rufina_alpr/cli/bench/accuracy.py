"""`rufina-alpr bench`: accuracy over labelled photos and the raw fast-alpr baseline."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rufina_alpr.plate_formats import edit_distance
from rufina_alpr.sim.photos import Photo


# ----------------------------------------------------------------------------------- accuracy
def _norm(plate: str) -> str:
    return plate.upper().replace(" ", "").replace("-", "").replace("O", "0")


@dataclass(slots=True)
class Accuracy:
    """Counts over labelled photos: ``within_one`` includes ``exact``."""

    labelled: int = 0
    exact: int = 0
    within_one: int = 0
    wrong: int = 0
    no_read: int = 0

    def add(self, read: str | None, label: str | None) -> None:
        if not label:
            return
        self.labelled += 1
        if not read:
            self.no_read += 1
            return
        distance = edit_distance(_norm(read), _norm(label))
        self.exact += distance == 0
        self.within_one += distance <= 1
        self.wrong += distance > 1


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "p99": None}
    cuts = np.percentile(np.array(values), [50, 95, 99])
    return {
        "p50": round(float(cuts[0]), 1),
        "p95": round(float(cuts[1]), 1),
        "p99": round(float(cuts[2]), 1),
    }


# ----------------------------------------------------------------------------------- raw
@dataclass(slots=True)
class RawResult:
    callers: int
    onnx_threads: int
    images: int
    seconds: float
    images_per_s: float
    latency_ms: dict[str, float | None]


def direct_alpr(models_dir: Path, threads: int, detector: str | None = None) -> Any:
    """fast-alpr's ALPR with the engine's offline models (``detector``: a file in
    ``models_dir``, by default the whole-frame one), as a user would call it."""
    from fast_alpr import ALPR  # noqa: PLC0415
    from fast_alpr.default_ocr import DefaultOCR  # noqa: PLC0415

    from rufina_alpr.detectors import YoloV8OnnxDetector  # noqa: PLC0415
    from rufina_alpr.recognizer import (  # noqa: PLC0415
        OFFLINE_DETECTOR,
        OFFLINE_OCR,
        OFFLINE_OCR_CONFIG,
        session_options,
    )

    options = session_options(threads)
    return ALPR(
        detector=YoloV8OnnxDetector(
            models_dir / (detector or OFFLINE_DETECTOR), sess_options=options
        ),
        ocr=DefaultOCR(
            model_path=models_dir / OFFLINE_OCR,
            config_path=models_dir / OFFLINE_OCR_CONFIG,
            device="cpu",
            sess_options=options,
        ),
    )


def most_confident_plate(alpr: Any, images: Iterable[np.ndarray | str]) -> str | None:
    """fast-alpr's most confident plate (detector confidence) over ``images`` (BGR arrays or
    paths), as a user calling it on each would keep; None: no read."""
    results = [r for image in images for r in alpr.predict(image) if r.ocr and r.ocr.text]
    best = max(results, key=lambda r: r.detection.confidence, default=None)
    return None if best is None else str(best.ocr.text)


def raw_run(
    alpr: Any, photos: list[Photo], callers: int, threads: int, advance: Callable[[], None]
) -> tuple[RawResult, list[str | None]]:
    def one(photo: Photo) -> tuple[float, str | None]:
        started = time.perf_counter()
        plate = most_confident_plate(alpr, [str(photo.path)])
        elapsed = time.perf_counter() - started
        advance()
        return elapsed, plate

    most_confident_plate(alpr, [str(photos[0].path)])  # warm-up (first run allocates)
    started = time.perf_counter()
    with ThreadPoolExecutor(callers) as pool:
        done = list(pool.map(one, photos))
    seconds = time.perf_counter() - started
    result = RawResult(
        callers=callers,
        onnx_threads=threads,
        images=len(photos),
        seconds=round(seconds, 3),
        images_per_s=round(len(photos) / seconds, 2),
        latency_ms=percentiles([d[0] * 1000 for d in done]),
    )
    return result, [d[1] for d in done]
