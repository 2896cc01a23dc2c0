"""Far-camera development sets: labelled photos as a distant camera would see them.

A far camera sees a vehicle small, a little blurred, with sensor noise, in a wide frame that
its stream encodes as a mediocre JPEG. `make_far_camera_set` turns a folder of labelled photos
(``labels.csv``: ``file,x,y,w,h,plate``, the plate box in pixels) into such frames: each photo
is shrunk so that its plate is a chosen number of pixels wide, blurred, placed in a grey frame,
noised and encoded; the placed photo's area becomes the vehicle box Frigate would report
(``vx,vy,vw,vh`` in the new ``labels.csv``, which `rufina_alpr.sim.photos.load_photos` reads).

Both shared folders work: ``openalpr-eu-dev`` (close-ups: the photo is about the vehicle) and
``openalpr-us-dev`` (wide frames with small plates: the "vehicle box" is the whole photo).
Everything is drawn from ``seed``: the same conditions and seed give the same pixels. The images
go to ``target`` (a temporary folder: never into the repository).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import cv2
import numpy as np

from rufina_alpr.paths import SHARED

EU_DEV: Final = SHARED / "data" / "openalpr-eu-dev"
US_DEV: Final = SHARED / "data" / "openalpr-us-dev"
FAR_LABELS: Final = ("file", "x", "y", "w", "h", "plate", "vx", "vy", "vw", "vh")
"""The columns of a far set's ``labels.csv``: the plate box (in the new frame), its text and the
vehicle box."""


@dataclass(frozen=True, slots=True)
class FarCamera:
    """The conditions of a far camera.

    ``plate_width``: the range the plate's width is drawn from, in pixels of the frame (a photo
    whose plate is already narrower is not enlarged); ``blur_sigma``: Gaussian blur (0: none);
    ``motion_blur``: length in pixels of a horizontal motion-blur kernel (0 or 1: none);
    ``noise_sigma``: Gaussian sensor noise on 0-255 values (0: none); ``jpeg_quality``: the
    frame's encoding; ``frame``: its (width, height); ``top``: the highest row a photo's top may
    sit at (the road is in the lower part of a frame).
    """

    plate_width: tuple[float, float] = (45.0, 80.0)
    blur_sigma: float = 0.7
    motion_blur: int = 0
    noise_sigma: float = 12.0
    jpeg_quality: int = 55
    frame: tuple[int, int] = (1920, 1080)
    top: int = 300
    background: int = 96


CLEAR: Final = FarCamera(plate_width=(55.0, 85.0), blur_sigma=0.0, noise_sigma=0.0, jpeg_quality=60)
"""A far camera in good light: small plates, no blur, no noise, JPEG quality 60."""


@dataclass(frozen=True, slots=True)
class FarPlacement:
    """Where one photo went: its scale and the vehicle box in the frame (x, y, width, height)."""

    file: str
    plate: str
    scale: float
    vehicle: tuple[int, int, int, int]
    plate_box: tuple[int, int, int, int]


def read_labels(source: Path) -> list[dict[str, str]]:
    """The rows of ``source/labels.csv`` that have a plate box and a plate."""
    with (source / "labels.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [
        row
        for row in rows
        if row.get("plate")
        and row.get("w")
        and float(row["w"]) > 0
        and (source / row["file"]).is_file()
    ]


def _blurred(image: np.ndarray, conditions: FarCamera) -> np.ndarray:
    if conditions.blur_sigma > 0:
        image = cv2.GaussianBlur(image, (0, 0), conditions.blur_sigma)
    if conditions.motion_blur > 1:
        kernel = np.full((1, conditions.motion_blur), 1.0 / conditions.motion_blur, np.float32)
        image = cv2.filter2D(image, -1, kernel)
    return image


def _noised(frame: np.ndarray, conditions: FarCamera, rng: np.random.Generator) -> np.ndarray:
    if conditions.noise_sigma <= 0:
        return frame
    noise = rng.normal(0.0, conditions.noise_sigma, frame.shape)
    return np.clip(frame.astype(np.float32) + noise, 0, 255).astype(np.uint8)


def far_frame(
    image: np.ndarray,
    plate_width: int,
    conditions: FarCamera,
    rng: np.random.Generator,
    noise_rng: np.random.Generator,
) -> tuple[np.ndarray, float, tuple[int, int, int, int]]:
    """One photo as the far camera sees it: (the frame, the scale applied, the vehicle box x, y,
    width, height). ``rng`` draws the plate width and the place; ``noise_rng`` the noise."""
    frame_w, frame_h = conditions.frame
    height, width = image.shape[:2]
    scale = float(rng.uniform(*conditions.plate_width)) / plate_width
    scale = min(scale, 1.0, (frame_w - 1) / width, (frame_h - conditions.top - 1) / height)
    small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    small = _blurred(small, conditions)
    frame = np.full((frame_h, frame_w, 3), conditions.background, dtype=np.uint8)
    height, width = small.shape[:2]
    left = int(rng.integers(0, frame_w - width))
    top = int(rng.integers(conditions.top, frame_h - height))
    frame[top : top + height, left : left + width] = small
    return _noised(frame, conditions, noise_rng), scale, (left, top, width, height)


def make_far_camera_set(
    source: Path,
    target: Path,
    conditions: FarCamera = CLEAR,
    *,
    seed: int = 7,
    limit: int | None = None,
) -> Path:
    """Write ``source``'s labelled photos as far-camera frames into ``target`` (JPEG, same file
    names) with a ``labels.csv`` holding the plate box in the frame, the plate and the vehicle
    box (``vx,vy,vw,vh``); ``limit``: only the first photos. Returns ``target``."""
    placements = far_camera_placements(source, target, conditions, seed=seed, limit=limit)
    with (target / "labels.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(FAR_LABELS)
        for placed in placements:
            writer.writerow((placed.file, *placed.plate_box, placed.plate, *placed.vehicle))
    return target


def far_camera_placements(
    source: Path,
    target: Path,
    conditions: FarCamera = CLEAR,
    *,
    seed: int = 7,
    limit: int | None = None,
) -> list[FarPlacement]:
    """Write the frames (as `make_far_camera_set`, without ``labels.csv``) and say where each
    photo went."""
    rng = np.random.default_rng(seed)
    target.mkdir(parents=True, exist_ok=True)
    placements = []
    for index, row in enumerate(read_labels(source)[:limit]):
        image = cv2.imread(str(source / row["file"]), cv2.IMREAD_COLOR)
        if image is None:
            continue
        noise_rng = np.random.default_rng((seed, index))
        frame, scale, vehicle = far_frame(image, int(float(row["w"])), conditions, rng, noise_rng)
        name = Path(row["file"]).with_suffix(".jpg").name
        cv2.imwrite(str(target / name), frame, [cv2.IMWRITE_JPEG_QUALITY, conditions.jpeg_quality])
        left, top = vehicle[:2]
        px, py, pw, ph = (float(row[key]) for key in ("x", "y", "w", "h"))
        plate_box = (
            left + round(px * scale),
            top + round(py * scale),
            max(1, round(pw * scale)),
            max(1, round(ph * scale)),
        )
        placements.append(FarPlacement(name, row["plate"], scale, vehicle, plate_box))
    return placements
