"""The replayed Frigate's state, shared by its two halves: its timing, its event ids and clocks,
its cameras and settings, and its database of events (`EventRecord`).

`frigate_mqtt.FrigateMqtt` fills the database as it publishes each event; `frigate_http.FrigateHttp`
serves it on Frigate's API.
"""

from __future__ import annotations

import random
import string
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from rufina_alpr.sim.approach import APPROACH_GEOMETRY, Approach, ApproachFrame
from rufina_alpr.sim.photos import CameraGeometry, Photo

FRIGATE_VERSION: Final = "0.17.2-replay"

# Frigate 0.17.2's timing, with its default config: ``detect.fps`` 5, ``max_disappeared`` 5 s of
# frames (an object ends that long after it was last seen), the record preset's 10 s segments,
# which the record maintainer (every 5 s) moves into the database once they are closed.
DETECT_FPS: Final = 5
NEW_AFTER: Final = 2 / DETECT_FPS
"""`new` goes out a few frames after the first detection, once the object is a true positive."""
SIGHTING_INTERVAL: Final = 1.0
"""Updates of a car big enough for LPR go out at least every second (Frigate's fast track)."""
MAX_DISAPPEARED: Final = 5.0
SEGMENT_SECONDS: Final = 10.0
SEGMENT_MOVE_LAG: Final = 5.0


def event_id(frame_time: float, rng: random.Random) -> str:
    """Frigate's event id: ``<frame_time>-<6 random a-z0-9>``."""
    suffix = "".join(rng.choices(string.ascii_lowercase + string.digits, k=6))
    return f"{frame_time:.6f}-{suffix}"


def event_duration(updates: int) -> float:
    """Frigate seconds from an object's first detection to its `end` (``end_time``)."""
    return NEW_AFTER + updates * SIGHTING_INTERVAL + MAX_DISAPPEARED


def recording_available_at(frame_time: float) -> float:
    """When Frigate can serve the record frame at ``frame_time``: after the 10 s segment that
    holds it is closed and moved (``/api/<camera>/recordings/<t>/snapshot.jpg`` is 404 before)."""
    segment_end = (frame_time // SEGMENT_SECONDS + 1) * SEGMENT_SECONDS
    return segment_end + SEGMENT_MOVE_LAG


@dataclass(frozen=True, slots=True)
class EventClock:
    """Frigate's clock for one replayed event. Its messages go out ``step`` s apart while their
    timestamps keep Frigate's real spacing (seconds), so the event's clock runs fast, and it is
    set so that ``end_time`` is the moment `end` goes out; from then on it is the wall clock."""

    walls: tuple[float, ...]
    """Wall time at which each message goes out."""
    stamps: tuple[float, ...]
    """Frigate's time then (the message's ``end_time``, else its ``frame_time``)."""

    def now(self) -> float:
        wall = time.time()
        if wall >= self.walls[-1]:
            return self.stamps[-1] + wall - self.walls[-1]
        return float(np.interp(wall, self.walls, self.stamps))


@dataclass(slots=True)
class EventRecord:
    """What Frigate's database holds of one event (``GET /api/events``)."""

    id: str
    camera: str
    label: str
    photo: Photo
    start_time: float
    end_time: float | None = None
    zones: list[str] = field(default_factory=list)
    box: list[int] | None = None
    """Detect-stream pixels."""
    snapshot_time: float | None = None
    plate: tuple[str, float] | None = None
    sub_label: tuple[str, float] | None = None
    kind: str = "object"
    """``data.type``: ``object`` (a tracked object), ``api`` (a dedicated LPR camera's event)."""
    score: float = 0.8
    clock: EventClock | None = None
    """Frigate's clock for this event (None: the wall clock)."""
    frames: tuple[ApproachFrame, ...] = ()
    """An approaching vehicle's frames (`approach`); none: the photo is the only frame."""

    def now(self) -> float:
        return self.clock.now() if self.clock is not None else time.time()

    def snapshot_frame(self) -> ApproachFrame | None:
        """An approaching vehicle's frame that is its snapshot now (None: not approaching)."""
        if not self.frames:
            return None
        moment = self.snapshot_time if self.snapshot_time is not None else self.start_time
        return self.frame_at(moment) or self.frames[0]

    def frame_at(self, moment: float) -> ApproachFrame | None:
        """An approaching vehicle's frame on the record stream at ``moment``: the nearest, when
        ``moment`` is within half a frame of the vehicle's frames (None: not in view then)."""
        if not self.frames:
            return None
        nearest = min(self.frames, key=lambda f: abs(self.start_time + f.offset - moment))
        spacing = self.frames[1].offset - self.frames[0].offset if len(self.frames) > 1 else 1.0
        if abs(self.start_time + nearest.offset - moment) > spacing / 2 + 0.001:
            return None
        return nearest


class FrigateState:
    """Frigate as both halves of the replay see it: its cameras, version and snapshot settings,
    its database of events, and the stats it reports on MQTT and HTTP alike."""

    def __init__(
        self,
        photos: list[Photo],
        *,
        cameras: Iterable[str],
        geometry: CameraGeometry | None = None,
        version: str = FRIGATE_VERSION,
        approach: Approach | None = None,
    ) -> None:
        self.photos = photos
        self.cameras = list(cameras)
        if not self.cameras:
            raise ValueError("the replay needs at least one camera")
        self.lpr_cameras: list[str] = []
        """Dedicated ``type: lpr`` cameras (see `FrigateMqtt.replay_dedicated`)."""
        # Frigate 0.17 keeps a clean copy of each snapshot by default (snapshots.clean_copy).
        self.clean_copy = True
        # The camera's `snapshots:` settings, applied to ended events' snapshot.jpg (0.17).
        self.snapshot_bounding_box = False
        self.snapshot_quality: int | None = None
        """None: the stored snapshot is the photo's own bytes (no geometry only)."""
        self.approach = approach
        """Each vehicle approaches the camera over several frames (None: one photo, one frame)."""
        self.geometry = geometry if geometry is not None or approach is None else APPROACH_GEOMETRY
        self.version = version
        self.events: dict[str, Photo] = {}
        self.records: dict[str, EventRecord] = {}
        self.camera_fps: dict[str, float] = {}

    def stats(self) -> dict[str, Any]:
        """The shape of ``frigate/stats`` (= ``GET /api/stats``), the parts that matter here."""
        cameras = {
            camera: {
                "camera_fps": self.camera_fps.get(camera, 5.0),
                "process_fps": self.camera_fps.get(camera, 5.0),
                "skipped_fps": 0.0,
                "detection_fps": 0.0,
                "detection_enabled": camera not in self.lpr_cameras,
                "pid": 100,
                "capture_pid": 101,
                "ffmpeg_pid": 102,
                "audio_rms": 0,
                "audio_dBFS": 0,
            }
            for camera in [*self.cameras, *self.lpr_cameras]
        }
        return {
            "cameras": cameras,
            "detectors": {"cpu": {"inference_speed": 12.5, "detection_start": 0.0, "pid": 90}},
            "camera_fps": sum(c["camera_fps"] for c in cameras.values()),
            "service": {
                "uptime": 1000,
                "version": self.version,
                "latest_version": self.version,
                "storage": {},
                "last_updated": int(time.time()),
            },
        }
