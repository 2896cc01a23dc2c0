"""Images are checked for size before decoding, whatever their format.

A snapshot that declares a huge frame in a few bytes must not be decoded: the pixel check reads
the size from JPEG, PNG and WebP headers (the formats Frigate serves), and every other format
OpenCV could decode (BMP, PNM, PFM, HDR, Sun raster, GIF, TIFF) is refused before decoding. The
crafted files are in `crafted_images`; a real photo still decodes in each served format.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from unittest import mock

import cv2
import numpy as np
import pytest

from rufina_alpr.recognizer import ImageError, decode_image, image_format, image_size

from .crafted_images import HUGE, NOT_SERVED_BY_FRIGATE, SERVED_BY_FRIGATE

LIMIT = 40_000_000
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("kind", sorted(NOT_SERVED_BY_FRIGATE))
def test_formats_frigate_never_serves_are_refused_undecoded(kind: str) -> None:
    data = NOT_SERVED_BY_FRIGATE[kind]()
    assert len(data) < 200
    with (
        mock.patch.object(cv2, "imdecode", wraps=cv2.imdecode) as imdecode,
        pytest.raises(ImageError, match=r"not a decodable image \(not JPEG, PNG, WebP\)"),
    ):
        decode_image(data, max_pixels=LIMIT)
    assert imdecode.call_count == 0


@pytest.mark.parametrize("kind", sorted(SERVED_BY_FRIGATE))
def test_huge_frames_of_served_formats_are_refused_by_their_header(kind: str) -> None:
    data = SERVED_BY_FRIGATE[kind]()
    assert image_format(data) == kind
    assert image_size(data) == (HUGE, HUGE)
    with (
        mock.patch.object(cv2, "imdecode", wraps=cv2.imdecode) as imdecode,
        pytest.raises(ImageError, match=f"image too large \\({HUGE}x{HUGE}, limit 40 MP\\)"),
    ):
        decode_image(data, max_pixels=LIMIT)
    assert imdecode.call_count == 0


def test_crafted_files_cost_no_memory() -> None:
    """Measured in a fresh process: before the format check a 64-byte BMP took ~300 MB and a
    35-byte GIF ~1.4 GB (and 1.6 s) to be refused."""
    script = """
import json, resource
from rufina_alpr.recognizer import ImageError, decode_image
from tests.engine.crafted_images import NOT_SERVED_BY_FRIGATE, SERVED_BY_FRIGATE
start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
refused = []
for name, make in {**NOT_SERVED_BY_FRIGATE, **SERVED_BY_FRIGATE}.items():
    try:
        decode_image(make(), max_pixels=40_000_000)
    except ImageError:
        refused.append(name)
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - start
print(json.dumps({"refused": refused, "grown_kb": grown}))
"""
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert sorted(outcome["refused"]) == sorted({**NOT_SERVED_BY_FRIGATE, **SERVED_BY_FRIGATE})
    assert outcome["grown_kb"] < 32 * 1024, outcome


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp"])
def test_a_real_photo_decodes_in_each_served_format(photos_dir: Path, suffix: str) -> None:
    photo = cv2.imread(str(sorted(photos_dir.glob("*.jpg"))[0]))
    ok, encoded = cv2.imencode(suffix, photo)
    assert ok
    data = encoded.tobytes()
    assert image_size(data) == (photo.shape[1], photo.shape[0])
    decoded = decode_image(data, max_pixels=LIMIT)
    assert decoded.shape == photo.shape
    assert np.abs(decoded.astype(np.int16) - photo.astype(np.int16)).mean() < 8
