"""Italian plates through the real detector + OCR + fusion.

The labelled photos in ../shared/data are foreign (Slovak, Czech, UK...), so Italian layouts (car
``AB 123 CD`` and two-row motorcycle ``AB 12345``) are rendered, pasted on a synthetic car and
perturbed (blur, JPEG, tilt, noise). Fusion must return the exact text, the Italian format, the
display form and country IT.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import numpy as np
import pytest

from rufina_alpr.fusion import fuse
from rufina_alpr.plate_formats import display_form
from rufina_alpr.recognizer import Recognizer

from .synthetic_plates import (
    random_car_plate,
    random_moto_plate,
    render_car_plate,
    render_moto_plate,
    scene_with_plate,
)

CASES = 16
MIN_EXACT = 15  # of CASES: measured 16/16 for both kinds; one miss tolerated for OCR jitter


@pytest.mark.parametrize(
    ("fmt", "make_text", "render", "plate_width"),
    [
        ("it_car", random_car_plate, render_car_plate, 160),
        ("it_moto", random_moto_plate, render_moto_plate, 90),
    ],
)
def test_italian_plates_read_and_fused(
    recognizer: Recognizer,
    fmt: str,
    make_text: Callable[[random.Random], str],
    render: Callable[[str], np.ndarray],
    plate_width: int,
) -> None:
    rng = random.Random(fmt)
    exact, misses = 0, []
    for case in range(CASES):
        text = make_text(rng)
        scene = scene_with_plate(
            render(text),
            plate_width=plate_width,
            seed=case,
            blur=0.4 + 0.1 * (case % 4),
            jpeg_quality=70 + case,
            tilt=0.06 if case % 2 else -0.04,
            noise=3.0 if case % 3 == 0 else 0.0,
        )
        fused = fuse(recognizer.read(scene))
        if fused is not None and fused.plate == text:
            exact += 1
            assert fused.format == fmt
            assert fused.country == "IT"
            assert fused.display == display_form(text, fmt)
            assert " " in fused.display
        else:
            misses.append((text, fused.plate if fused else None))
    assert exact >= MIN_EXACT, f"{exact}/{CASES} exact; misses: {misses}"


def test_blank_scene_gives_no_plate(recognizer: Recognizer) -> None:
    """A car without a plate yields no read, and fusion of nothing is None, not a guess."""
    scene = scene_with_plate(np.full((110, 520, 3), 90, np.uint8), seed=3)
    reads = recognizer.read(scene)
    assert fuse(reads) is None or all(len(r.text) <= 2 for r in reads)
