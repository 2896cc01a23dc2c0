"""The replay's material: labelled photos, and the frames Frigate would have made of them.

Each photo is one vehicle. With a `CameraGeometry` it sits in a record-sized frame (the camera's
high-resolution record stream) whose resized copy is the detect stream, as Frigate's snapshots,
boxes and clean copies are; without one, the photo is the frame.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import cv2
import numpy as np

from rufina_alpr.reads import Box

_LOGGER = logging.getLogger(__name__)

PHOTO_SUFFIXES: Final = (".jpg", ".jpeg", ".png", ".webp")


@dataclass(frozen=True, slots=True)
class Photo:
    """A photo to replay as one vehicle; ``plate`` is the label, when known."""

    path: Path
    width: int
    height: int
    plate: str | None = None
    vehicle_box: Box | None = None
    label: str = "car"
    plate_box: Box | None = None
    """The labelled plate's box in the photo's pixels (``x1, y1, x2, y2``), when known."""


def load_photos(folder: Path) -> list[Photo]:
    """Photos of a folder, with labels and vehicle boxes from its ``labels.csv`` when present.

    ``labels.csv`` columns: ``file,x,y,w,h,plate`` (plate box and text), optionally
    ``vx,vy,vw,vh`` (the vehicle's box, as Frigate's detector would report it) and ``label``.
    """
    if not folder.is_dir():
        raise FileNotFoundError(f"photo folder not found: {folder}")
    labels: dict[str, dict[str, str]] = {}
    labels_file = folder / "labels.csv"
    if labels_file.is_file():
        with labels_file.open(newline="") as handle:
            labels = {row["file"]: row for row in csv.DictReader(handle)}
    photos = []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in PHOTO_SUFFIXES:
            continue
        image = cv2.imread(str(path), cv2.IMREAD_REDUCED_GRAYSCALE_2)
        if image is None:
            _LOGGER.warning("skipping %s: not an image", path.name)
            continue
        height, width = image.shape[0] * 2, image.shape[1] * 2
        row = labels.get(path.name, {})
        box = None
        if row.get("vx"):
            vx, vy, vw, vh = (int(float(row[key])) for key in ("vx", "vy", "vw", "vh"))
            box = (vx, vy, vx + vw, vy + vh)
        plate_box = None
        if row.get("w"):
            px, py, pw, ph = (int(float(row[key])) for key in ("x", "y", "w", "h"))
            plate_box = (px, py, px + pw, py + ph)
        photos.append(
            Photo(
                path,
                width,
                height,
                row.get("plate") or None,
                box,
                row.get("label") or "car",
                plate_box,
            )
        )
    return photos


@dataclass(frozen=True, slots=True)
class CameraGeometry:
    """A camera's two streams: each photo sits at its own size in a ``record``-sized frame (the
    high-resolution record stream); the detect stream (snapshots, boxes) is that frame resized to
    ``detect``. Frigate's snapshots and clean copies are detect-stream frames."""

    record: tuple[int, int] = (1920, 1080)
    detect: tuple[int, int] = (960, 540)

    @property
    def scale(self) -> tuple[float, float]:
        return self.detect[0] / self.record[0], self.detect[1] / self.record[1]

    def offset(self, photo: Photo) -> tuple[int, int]:
        """Where the photo's top left corner sits in the record frame (it is centred)."""
        width, height = self.record
        return max(0, (width - photo.width) // 2), max(0, (height - photo.height) // 2)


def record_frame(photo: Photo, geometry: CameraGeometry | None) -> np.ndarray:
    """The record stream's frame: the photo, centred in a record-sized grey frame."""
    image = cv2.imread(str(photo.path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"not an image: {photo.path}")
    if geometry is None:
        return image
    width, height = geometry.record
    frame = np.full((height, width, 3), 96, dtype=np.uint8)
    ox, oy = geometry.offset(photo)
    crop = image[: height - oy, : width - ox]
    frame[oy : oy + crop.shape[0], ox : ox + crop.shape[1]] = crop
    return frame


def detect_frame(photo: Photo, geometry: CameraGeometry | None) -> np.ndarray:
    """The detect stream's frame (what Frigate's snapshots are made of)."""
    frame = record_frame(photo, geometry)
    if geometry is None:
        return frame
    return cv2.resize(frame, geometry.detect, interpolation=cv2.INTER_AREA)


def detect_box(photo: Photo, geometry: CameraGeometry | None) -> list[int]:
    """The vehicle's box in detect-stream pixels, as Frigate's detector reports it (the whole
    photo when it has no vehicle box)."""
    box = photo.vehicle_box or (0, 0, photo.width, photo.height)
    if geometry is None:
        return list(box)
    ox, oy = geometry.offset(photo)
    sx, sy = geometry.scale
    x1, y1, x2, y2 = box
    return [
        round((x1 + ox) * sx),
        round((y1 + oy) * sy),
        round((x2 + ox) * sx),
        round((y2 + oy) * sy),
    ]


# Frigate 0.17 encodes the clean copy at WebP quality 60 (`TrackedObject.get_clean_webp`); 0.18
# uses the camera's `snapshots.quality`, whose default is 60 too.
CLEAN_COPY_QUALITY = 60


def encode_image(image: np.ndarray, suffix: str, quality: int | None = None) -> bytes:
    """``image`` encoded as ``suffix`` (``.jpg``: quality 95 unless given; ``.webp``: the clean
    copy's quality unless given)."""
    params: list[int] = []
    if suffix == ".jpg":
        params = [cv2.IMWRITE_JPEG_QUALITY, quality or 95]
    elif suffix == ".webp":
        params = [cv2.IMWRITE_WEBP_QUALITY, quality or CLEAN_COPY_QUALITY]
    ok, encoded = cv2.imencode(suffix, image, params)
    if not ok:
        raise ValueError(f"cannot encode {suffix}")
    return encoded.tobytes()


def as_webp(data: bytes) -> bytes:
    """The photo as Frigate keeps a clean copy (lossy WebP, ``CLEAN_COPY_QUALITY``); non-images
    stay as they are."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        return data
    return encode_image(image, ".webp")
