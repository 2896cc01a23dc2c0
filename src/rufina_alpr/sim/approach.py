"""A vehicle that approaches the camera: the frames Frigate's streams would carry of it.

The replay's default vehicle is one photo, one frame. With an `Approach`, each photo becomes a
vehicle driving towards the camera, seen on several frames: its plate grows from far to near
(``plate_width``, in record-stream pixels, e.g. 40 → 140 px), the way a vehicle at constant
speed grows under perspective (the plate's width is inversely proportional to its distance, so
it grows slowly at first and fast at the end), and it moves down the frame as it comes closer.
Each frame has its own motion blur (along the vehicle's motion, longer as it gets closer and
faster on screen) and its own JPEG encoding (a different quality per frame, as a camera's
encoder varies with the scene), on the record stream and again on the detect stream, which is
the record frame resized (e.g. 1920x1080 → 1280x720). ``exit_frames`` more frames show the
vehicle leaving through the bottom edge (its box cut by the frame: Frigate keeps the earlier
snapshot).

`plan_approach` is arithmetic only (boxes, sizes, qualities: what the MQTT half needs);
`render_frame` draws the pixels of one frame (what the HTTP half serves), deterministically and
with a small cache. Which frames become the event's snapshot is decided by Frigate's rules in
`tracked.TrackedObject.approach_messages`.
"""

from __future__ import annotations

import math
import random
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Final

import cv2
import numpy as np

from rufina_alpr.reads import Box
from rufina_alpr.sim.photos import CameraGeometry, Photo

APPROACH_GEOMETRY: Final = CameraGeometry(record=(1920, 1080), detect=(1280, 720))
"""The streams of an approaching vehicle when the replay has no `CameraGeometry` of its own."""

# Where the plate's centre is on the record frame, as fractions of its width and height, when
# the vehicle is farthest and nearest: it comes down the frame and a little to the left.
_FAR: Final = (0.56, 0.40)
_NEAR: Final = (0.50, 0.78)
# Each exit frame: the plate grows by this factor and moves down by this fraction of the frame.
_EXIT_GROWTH: Final = 1.15
_EXIT_STEP: Final = 0.08
# A vehicle's box around its plate when the photo has none: wide plates (EU, ~4.7:1) sit on a
# car ~3.6 plate widths wide, narrow ones (US, ~2:1) on one ~6 widths wide; the box is 0.8 as
# high as wide with the plate's centre 72% of the way down.
_CAR_WIDTHS: Final = (3.6, 6.0)
_CAR_ASPECT: Final = 0.8
_PLATE_DOWN: Final = 0.72
_GREY: Final = 96


@dataclass(frozen=True, slots=True)
class Approach:
    """The option: each vehicle approaches the camera over ``frames`` frames."""

    frames: int = 6
    plate_width: tuple[float, float] = (40.0, 140.0)
    """The plate's width on the record stream, farthest and nearest frame (pixels)."""
    interval: float = 0.4
    """Frigate seconds between two frames (two detect frames at 5 fps)."""
    blur: float = 7.0
    """Motion blur on the nearest frame (record pixels of travel while the shutter is open);
    proportional to the plate's width on the others."""
    quality: tuple[int, int] = (50, 85)
    """Each frame's JPEG quality, on each stream, drawn in this range."""
    exit_frames: int = 1
    seed: int = 1

    def __post_init__(self) -> None:
        if self.frames < 2:
            raise ValueError("an approach needs at least 2 frames")
        if not 0 < self.plate_width[0] < self.plate_width[1]:
            raise ValueError("plate_width must grow: (far, near), both positive")


@dataclass(frozen=True, slots=True)
class ApproachFrame:
    """One frame of an approaching vehicle: where it is and how the streams encoded it."""

    index: int
    offset: float
    """Frigate seconds since the vehicle's first frame."""
    plate_width: float
    """The plate's width on the record stream (pixels)."""
    scale: float
    """Photo pixels to record pixels."""
    origin: tuple[float, float]
    """Where the photo's (0, 0) falls on the record frame (record pixels)."""
    region: Box
    """The part of the photo that is the vehicle (photo pixels)."""
    record_box: Box
    """The vehicle's box on the record frame, clipped to it."""
    box: Box
    """The vehicle's box in detect pixels, as Frigate's detector reports it."""
    blur: float
    motion: tuple[float, float]
    """The direction the vehicle moves on the frame (a unit vector)."""
    record_quality: int
    detect_quality: int
    score: float
    """The detector's score: higher as the vehicle comes closer."""


def plate_box_of(photo: Photo) -> Box:
    """The photo's labelled plate, else a guess: a quarter of its width, centred, low."""
    if photo.plate_box is not None:
        return photo.plate_box
    width = photo.width / 4
    cx, cy = photo.width / 2, photo.height * 0.75
    return (
        round(cx - width / 2),
        round(cy - width / 8),
        round(cx + width / 2),
        round(cy + width / 8),
    )


def vehicle_region(photo: Photo) -> Box:
    """The part of the photo that is the vehicle: its labelled vehicle box, else a box around
    the plate the size of a car (clipped to the photo)."""
    if photo.vehicle_box is not None:
        return photo.vehicle_box
    x1, y1, x2, y2 = plate_box_of(photo)
    width, height = x2 - x1, max(1, y2 - y1)
    car = width * (_CAR_WIDTHS[0] if width / height >= 3 else _CAR_WIDTHS[1])
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    top = cy - car * _CAR_ASPECT * _PLATE_DOWN
    return (
        max(0, round(cx - car / 2)),
        max(0, round(top)),
        min(photo.width, round(cx + car / 2)),
        min(photo.height, round(top + car * _CAR_ASPECT)),
    )


def _plate_path(approach: Approach) -> list[tuple[float, float, float]]:
    """(plate width, x, y) of each frame, x and y as fractions of the record frame."""
    far, near = approach.plate_width
    path = []
    for index in range(approach.frames):
        fraction = index / (approach.frames - 1)
        # Constant speed: the distance falls linearly, the width grows as its inverse.
        width = 1 / (1 / far + (1 / near - 1 / far) * fraction)
        grown = (width - far) / (near - far)
        path.append(
            (
                width,
                _FAR[0] + (_NEAR[0] - _FAR[0]) * grown,
                _FAR[1] + (_NEAR[1] - _FAR[1]) * grown,
            )
        )
    for _ in range(approach.exit_frames):
        width, x, y = path[-1]
        path.append((width * _EXIT_GROWTH, x, y + _EXIT_STEP))
    return path


def _exit_origin_y(
    plate_cy: float, region: Box, scale: float, *, height: int, fy: float, exits: int
) -> float:
    """An exit frame's vertical origin: the plate ``fy`` down the frame, or lower, so that the
    vehicle's bottom is past the frame's bottom edge by ``exits`` x 4% of the frame."""
    wanted = fy * height - plate_cy * scale
    past = height * (1 + 0.04 * exits) - region[3] * scale
    return max(wanted, past)


def plan_approach(
    photo: Photo, geometry: CameraGeometry, approach: Approach
) -> list[ApproachFrame]:
    """The frames of ``photo`` approaching the camera (no pixels: see `render_frame`)."""
    rng = random.Random(f"{approach.seed}/{photo.path.name}")
    px1, py1, px2, py2 = plate_box_of(photo)
    plate_cx, plate_cy = (px1 + px2) / 2, (py1 + py2) / 2
    region = vehicle_region(photo)
    width, height = geometry.record
    sx, sy = geometry.scale
    dw, dh = geometry.detect
    far, near = approach.plate_width
    path = _plate_path(approach)
    frames = []
    for index, (plate_width, fx, fy) in enumerate(path):
        scale = plate_width / max(1, px2 - px1)
        origin = (fx * width - plate_cx * scale, fy * height - plate_cy * scale)
        exits = index - approach.frames + 1
        if exits > 0:  # leaving through the bottom edge
            origin = (
                origin[0],
                _exit_origin_y(plate_cy, region, scale, height=height, fy=fy, exits=exits),
            )
        x1, y1, x2, y2 = (
            origin[0] + region[0] * scale,
            origin[1] + region[1] * scale,
            origin[0] + region[2] * scale,
            origin[1] + region[3] * scale,
        )
        record_box = (
            max(0, round(x1)),
            max(0, round(y1)),
            min(width - 1, round(x2)),
            min(height - 1, round(y2)),
        )
        box = (
            min(dw - 1, max(0, round(x1 * sx))),
            min(dh - 1, max(0, round(y1 * sy))),
            min(dw - 1, max(0, round(x2 * sx))),
            min(dh - 1, max(0, round(y2 * sy))),
        )
        previous = path[max(0, index - 1)] if index else path[1]
        dx, dy = (fx - previous[1]) * width, (fy - previous[2]) * height
        if index == 0:
            dx, dy = -dx, -dy
        norm = math.hypot(dx, dy) or 1.0
        grown = min(1.0, (plate_width - far) / (near - far))
        frames.append(
            ApproachFrame(
                index=index,
                offset=round(index * approach.interval, 6),
                plate_width=plate_width,
                scale=scale,
                origin=origin,
                region=region,
                record_box=record_box,
                box=box,
                blur=approach.blur * plate_width / near,
                motion=(dx / norm, dy / norm),
                record_quality=rng.randint(*approach.quality),
                detect_quality=rng.randint(*approach.quality),
                score=round(0.62 + 0.28 * grown, 2),
            )
        )
    return frames


def _motion_kernel(length: float, motion: tuple[float, float]) -> np.ndarray:
    """A line ``length`` pixels long along ``motion``, normalised."""
    size = max(3, math.ceil(length) | 1)
    kernel = np.zeros((size, size), np.float32)
    centre = size // 2
    half = (length - 1) / 2
    dx, dy = motion
    start = (round(centre - dx * half), round(centre - dy * half))
    end = (round(centre + dx * half), round(centre + dy * half))
    cv2.line(kernel, start, end, 1.0, 1)
    return kernel / kernel.sum()


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("cannot encode the frame")
    decoded = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
    if decoded is None:
        raise ValueError("cannot decode the frame")
    return decoded


def _draw(
    photo: Photo, frame: ApproachFrame, geometry: CameraGeometry
) -> tuple[np.ndarray, np.ndarray]:
    image = cv2.imread(str(photo.path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"not an image: {photo.path}")
    width, height = geometry.record
    canvas = np.full((height, width, 3), _GREY, dtype=np.uint8)
    rx1, ry1, rx2, ry2 = frame.region
    crop = image[ry1:ry2, rx1:rx2]
    # The vehicle's place on the frame, unclipped, then the part of it inside the frame.
    left = round(frame.origin[0] + rx1 * frame.scale)
    top = round(frame.origin[1] + ry1 * frame.scale)
    size = (max(1, round(crop.shape[1] * frame.scale)), max(1, round(crop.shape[0] * frame.scale)))
    shrink = frame.scale < 1
    vehicle = cv2.resize(crop, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
    x1, y1 = max(0, left), max(0, top)
    x2, y2 = min(width, left + size[0]), min(height, top + size[1])
    if x2 > x1 and y2 > y1:
        canvas[y1:y2, x1:x2] = vehicle[y1 - top : y2 - top, x1 - left : x2 - left]
    if frame.blur >= 1.5:
        margin = math.ceil(frame.blur)
        bx1, by1 = max(0, x1 - margin), max(0, y1 - margin)
        bx2, by2 = min(width, x2 + margin), min(height, y2 + margin)
        kernel = _motion_kernel(frame.blur, frame.motion)
        canvas[by1:by2, bx1:bx2] = cv2.filter2D(canvas[by1:by2, bx1:bx2], -1, kernel)
    record = _jpeg(canvas, frame.record_quality)
    detect = cv2.resize(record, geometry.detect, interpolation=cv2.INTER_AREA)
    return record, _jpeg(detect, frame.detect_quality)


class _FrameCache:
    """The last few rendered frames (a frame is asked for several times: snapshot, clean copy,
    thumbnail, recording); rendering is deterministic, so an evicted one is drawn again."""

    def __init__(self, size: int = 12) -> None:
        self._size = size
        self._frames: OrderedDict[tuple[object, ...], tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._lock = threading.Lock()

    def get(
        self, photo: Photo, frame: ApproachFrame, geometry: CameraGeometry
    ) -> tuple[np.ndarray, np.ndarray]:
        key = (photo.path, frame, geometry)
        with self._lock:
            if key in self._frames:
                self._frames.move_to_end(key)
                return self._frames[key]
        drawn = _draw(photo, frame, geometry)
        with self._lock:
            self._frames[key] = drawn
            while len(self._frames) > self._size:
                self._frames.popitem(last=False)
        return drawn


_CACHE: Final = _FrameCache()


def render_frame(
    photo: Photo, frame: ApproachFrame, geometry: CameraGeometry
) -> tuple[np.ndarray, np.ndarray]:
    """The frame's pixels: (record-stream frame, detect-stream frame), each as decoded from its
    stream (JPEG at the frame's own quality). Do not modify them: they are cached."""
    return _CACHE.get(photo, frame, geometry)
