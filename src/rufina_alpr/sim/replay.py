"""Frigate replay: Frigate's MQTT event sequence and HTTP image paths, served from photos.

Frigate itself cannot run everywhere the engine is tested or demonstrated, so this module plays
its part faithfully: for each photo it publishes `frigate/events` messages shaped exactly like
Frigate's ``TrackedObject.to_dict`` with 0.17.2's timing (``new`` with the constructor state as
``before`` and no saved snapshot yet, ``update``s whose snapshot changes only for a better
thumbnail, ``end`` 5 s after the last sighting), and serves the photo on
``/api/events/<id>/snapshot.jpg`` like Frigate's API. Timestamps keep Frigate's real spacing
while the messages go out faster (`EventClock`), so tests and benchmarks stay quick. Faults can
be injected (HTTP errors, delays).

Also as Frigate 0.17 does: the clean snapshot copy (``snapshot-clean.webp``; ``.png`` when
``version`` is older), the record stream's frames (``/api/<camera>/recordings/<t>/snapshot.jpg``,
full resolution, while snapshots come from the lower-resolution detect stream when a
`CameraGeometry` is set; only once the frame's 10 s segment is moved, after the event),
``/api/config``, ``/api/events`` (for reconciliation), write-back of
``recognized_license_plate`` / ``sub_label`` (admin), its own LPR results (``tracked_object_update``
type ``lpr`` and ``recognized_license_plate`` on events), dedicated LPR cameras (no
``frigate/events``: only ``tracked_object_update`` and ``reviews``), QoS 0 loss (messages dropped
on purpose), ``frigate/available`` with its last will, camera status and ``frigate/stats``, and the
8971 port's login (JWT cookie, 401 without it) with optional TLS.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import hashlib
import hmac
import json
import logging
import random
import secrets
import ssl
import string
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import cv2
import numpy as np
from aiohttp import web

from rufina_alpr.mqtt import MqttLink, Will

_LOGGER = logging.getLogger(__name__)

FRIGATE_VERSION: Final = "0.17.2-replay"
PHOTO_SUFFIXES: Final = (".jpg", ".jpeg", ".png", ".webp")


@dataclass(frozen=True, slots=True)
class Photo:
    """A photo to replay as one vehicle; ``plate`` is the label, when known."""

    path: Path
    width: int
    height: int
    plate: str | None = None
    vehicle_box: tuple[int, int, int, int] | None = None
    label: str = "car"


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
        photos.append(
            Photo(path, width, height, row.get("plate") or None, box, row.get("label") or "car")
        )
    return photos


def event_id(frame_time: float, rng: random.Random) -> str:
    """Frigate's event id: ``<frame_time>-<6 random a-z0-9>``."""
    suffix = "".join(rng.choices(string.ascii_lowercase + string.digits, k=6))
    return f"{frame_time:.6f}-{suffix}"


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
FIRST_SCORE: Final = 0.70
SCORE_STEP: Final = 0.06
TOP_SCORE: Final = 0.88
"""The detector's score per sighting: rising by ``SCORE_STEP`` as the car comes closer, then
level, so later frames stop being better thumbnails."""


def event_duration(updates: int) -> float:
    """Frigate seconds from an object's first detection to its `end` (``end_time``)."""
    return NEW_AFTER + updates * SIGHTING_INTERVAL + MAX_DISAPPEARED


def recording_available_at(frame_time: float) -> float:
    """When Frigate can serve the record frame at ``frame_time``: after the 10 s segment that
    holds it is closed and moved (``/api/<camera>/recordings/<t>/snapshot.jpg`` is 404 before)."""
    segment_end = (frame_time // SEGMENT_SECONDS + 1) * SEGMENT_SECONDS
    return segment_end + SEGMENT_MOVE_LAG


def _snapshot(frame_time: float, box: list[int], score: float) -> dict[str, Any]:
    x1, y1, x2, y2 = box
    return {
        "frame_time": frame_time,
        "box": box,
        "area": (x2 - x1) * (y2 - y1),
        "region": box,
        "score": score,
        "attributes": [],
        "current_estimated_speed": 0,
        "velocity_angle": 0,
        "path_data": [],
        "recognized_license_plate": None,
        "recognized_license_plate_score": None,
    }


def is_better_thumbnail(current: dict[str, Any], score: float, area: int) -> bool:
    """Frigate's ``is_better_thumbnail`` for a car without attributes, off the frame's edge: a
    score more than 0.05 higher, or an area more than 10% larger."""
    return bool(score > current["score"] + 0.05 or area > current["area"] * 1.1)


@dataclass(slots=True)
class TrackedObject:
    """One replayed tracked object, producing Frigate's ``to_dict`` states."""

    id: str
    camera: str
    label: str
    box: list[int]
    start_time: float
    zones: list[str] = field(default_factory=list)
    plate: tuple[str, float] | None = None
    sub_label: tuple[str, float] | None = None
    plate_from: int = 1
    """The first update that carries Frigate's plate (LPR waits for a position change)."""

    def state(
        self,
        *,
        frame_time: float,
        snapshot: dict[str, Any] | None,
        score: float,
        top_score: float,
        position_changes: int,
        end_time: float | None = None,
        false_positive: bool = False,
        with_plate: bool = True,
    ) -> dict[str, Any]:
        x1, y1, x2, y2 = self.box
        area = (x2 - x1) * (y2 - y1)
        # should_save_snapshot: no snapshot while false positive or before a position change.
        saved = not false_positive and position_changes > 0
        return {
            "id": self.id,
            "camera": self.camera,
            "frame_time": frame_time,
            "snapshot": snapshot,
            "label": self.label,
            "sub_label": list(self.sub_label) if self.sub_label and with_plate else None,
            "top_score": top_score,
            "false_positive": false_positive,
            "start_time": self.start_time,
            "end_time": end_time,
            "score": score,
            "box": self.box,
            "area": area,
            "ratio": round((x2 - x1) / max(1, y2 - y1), 6),
            "region": self.box,
            "active": True,
            "stationary": False,
            "motionless_count": 0,
            "position_changes": position_changes,
            "current_zones": [] if false_positive else list(self.zones),
            "entered_zones": [] if false_positive else list(self.zones),
            "has_clip": saved,
            "has_snapshot": saved,
            "attributes": {},
            "current_attributes": [],
            "pending_loitering": False,
            "max_severity": None if false_positive else "detection",
            "current_estimated_speed": 0,
            "average_estimated_speed": 0,
            "velocity_angle": 0,
            "path_data": [],
            "recognized_license_plate": list(self.plate) if self.plate and with_plate else None,
        }

    def messages(self, updates: int) -> list[dict[str, Any]]:
        """Frigate's messages for a car that drives through in view for ``updates`` seconds:

        ``new`` a few frames after the first detection, with the first frame as its thumbnail
        but ``has_snapshot`` false (no position change yet); one ``update`` per second, the
        first with the position change (``has_snapshot`` true), each taking its frame as the
        snapshot only when it is a better thumbnail; ``end`` ``MAX_DISAPPEARED`` s after the
        last sighting (its ``frame_time``), with the final snapshot.
        """
        t0 = self.start_time
        x1, y1, x2, y2 = self.box
        area = (x2 - x1) * (y2 - y1)
        states = [
            self.state(
                frame_time=t0,
                snapshot=None,
                score=FIRST_SCORE,
                top_score=0.0,
                position_changes=0,
                false_positive=True,
                with_plate=False,
            )
        ]
        snapshot = _snapshot(t0, self.box, FIRST_SCORE)
        moment, score = t0 + NEW_AFTER, FIRST_SCORE
        states.append(
            self.state(
                frame_time=moment,
                snapshot=snapshot,
                score=score,
                top_score=score,
                position_changes=0,
                with_plate=False,
            )
        )
        for index in range(1, updates + 1):
            moment = t0 + NEW_AFTER + index * SIGHTING_INTERVAL
            score = round(min(FIRST_SCORE + index * SCORE_STEP, TOP_SCORE), 2)
            if is_better_thumbnail(snapshot, score, area):
                snapshot = _snapshot(moment, self.box, score)
            states.append(
                self.state(
                    frame_time=moment,
                    snapshot=snapshot,
                    score=score,
                    top_score=score,
                    position_changes=1,
                    with_plate=index >= self.plate_from,
                )
            )
        states.append(
            self.state(
                frame_time=moment,
                snapshot=snapshot,
                score=score,
                top_score=score,
                position_changes=1 if updates else 0,
                end_time=moment + MAX_DISAPPEARED,
                with_plate=updates >= self.plate_from,
            )
        )
        kinds = ["new"] + ["update"] * updates + ["end"]
        return [
            {"before": before, "after": after, "type": kind}
            for kind, before, after in zip(kinds, states[:-1], states[1:], strict=True)
        ]


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


# Frigate 0.17 encodes the clean copy at WebP quality 60 (`TrackedObject.get_clean_webp`); 0.18
# uses the camera's `snapshots.quality`, whose default is 60 too.
CLEAN_COPY_QUALITY = 60


def _encode(image: np.ndarray, suffix: str, quality: int | None = None) -> bytes:
    params: list[int] = []
    if suffix == ".jpg":
        params = [cv2.IMWRITE_JPEG_QUALITY, quality or 95]
    elif suffix == ".webp":
        params = [cv2.IMWRITE_WEBP_QUALITY, quality or CLEAN_COPY_QUALITY]
    ok, encoded = cv2.imencode(suffix, image, params)
    if not ok:
        raise ValueError(f"cannot encode {suffix}")
    return encoded.tobytes()


def _as_webp(data: bytes) -> bytes:
    """The photo as Frigate keeps a clean copy (lossy WebP, ``CLEAN_COPY_QUALITY``); non-images
    stay as they are."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        return data
    return _encode(image, ".webp")


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

    def now(self) -> float:
        return self.clock.now() if self.clock is not None else time.time()


@dataclass(slots=True)
class HttpFaults:
    """Faults the replay's HTTP server injects: the next N image requests fail or stall."""

    fail_next: int = 0
    fail_status: int = 500
    stall_next: int = 0
    stall_seconds: float = 30.0


@dataclass(slots=True)
class FrigateAuth:
    """Frigate's port 8971: ``POST /api/login`` sets a JWT cookie (HS256, claims ``sub``,
    ``role``, ``exp``, ``iat``) valid ``session_length`` s. As 0.17's ``/auth``: a token from
    ``Authorization: Bearer`` wins over the cookie, and only a cookie token is refreshed (a new
    cookie on the answer) when less than ``refresh_time`` s remain."""

    users: dict[str, tuple[str, str]]
    """user -> (password, role)."""
    session_length: float = 86400.0
    refresh_time: float = 1800.0
    cookie_name: str = "frigate_token"
    tokens: dict[str, tuple[str, float]] = field(default_factory=dict)
    """token -> (user, expiry)."""
    logins: int = 0
    refreshes: int = 0
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))

    def issue(self, user: str, *, refresh: bool = False) -> str:
        now = time.time()
        expiry = int(now + self.session_length)
        claims = {"sub": user, "role": self.users[user][1], "exp": expiry, "iat": int(now)}
        signed = f"{_JWT_HEADER}.{_b64(json.dumps(claims).encode())}"
        signature = hmac.new(self.secret, signed.encode(), hashlib.sha256).digest()
        token = f"{signed}.{_b64(signature)}"
        self.tokens[token] = (user, expiry)
        if refresh:
            self.refreshes += 1
        else:
            self.logins += 1
        return token

    def expire_all(self) -> None:
        self.tokens.clear()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


_JWT_HEADER: Final = _b64(b'{"alg": "HS256"}')
ROLE_KEY: Final = web.RequestKey("frigate_role", str)

LprFunction = Callable[[Photo], tuple[str, float] | None]
"""Frigate's own LPR result for a photo (plate, score), or None when it reads nothing."""


class FrigateReplay:
    """Serves Frigate's HTTP paths and publishes its MQTT events for a list of photos."""

    def __init__(
        self,
        photos: list[Photo],
        *,
        cameras: Iterable[str],
        mqtt_host: str,
        mqtt_port: int,
        http_host: str = "127.0.0.1",
        http_port: int = 0,
        topic_prefix: str = "frigate",
        qos: int = 0,
        seed: int = 1,
        geometry: CameraGeometry | None = None,
        lpr: LprFunction | None = None,
        tls: ssl.SSLContext | None = None,
        version: str = FRIGATE_VERSION,
    ) -> None:
        self.photos = photos
        self.cameras = list(cameras)
        if not self.cameras:
            raise ValueError("the replay needs at least one camera")
        self.lpr_cameras: list[str] = []
        """Dedicated ``type: lpr`` cameras (see `replay_dedicated`)."""
        self.topic_prefix = topic_prefix
        self.qos = qos
        self.faults = HttpFaults()
        # Frigate 0.17 keeps a clean copy of each snapshot by default (snapshots.clean_copy).
        self.clean_copy = True
        # The camera's `snapshots:` settings, applied to ended events' snapshot.jpg (0.17).
        self.snapshot_bounding_box = False
        self.snapshot_quality: int | None = None
        """None: the stored snapshot is the photo's own bytes (no geometry only)."""
        self.geometry = geometry
        self.lpr = lpr
        self.version = version
        self.auth: FrigateAuth | None = None
        self.requests: list[str] = []
        self.events: dict[str, Photo] = {}
        self.records: dict[str, EventRecord] = {}
        self.write_backs: list[tuple[str, dict[str, Any]]] = []
        """(path, JSON body) of each accepted write-back POST."""
        self.lost: list[tuple[str, bytes]] = []
        """Messages dropped on purpose (QoS 0 loss): (topic, payload)."""
        self.lose: list[Callable[[str, dict[str, Any]], bool]] = []
        """Predicates (topic, message): a message any of them accepts is not published."""
        self._rng = random.Random(seed)
        self._http_host, self._http_port = http_host, http_port
        self._tls = tls
        self._runner: web.AppRunner | None = None
        self._stats_task: asyncio.Task[None] | None = None
        self.camera_fps: dict[str, float] = {}
        self._webp: dict[Path, bytes] = {}
        self.mqtt = MqttLink(
            host=mqtt_host,
            port=mqtt_port,
            client_id=f"frigate-replay-{seed}-{self._rng.randrange(1 << 30)}",
            clean_session=True,
            manual_ack=False,
            # Frigate's last will: frigate/available = offline, QoS 1, retained.
            will=Will(f"{topic_prefix}/available", b"offline"),
        )

    @property
    def url(self) -> str:
        scheme = "https" if self._tls is not None else "http"
        return f"{scheme}://{self._http_host}:{self._http_port}"

    @property
    def _newer_than_016(self) -> bool:
        major, minor = (int(part) for part in self.version.split(".")[:2])
        return (major, minor) >= (0, 17)

    async def start(self) -> None:
        app = web.Application(middlewares=[self._auth_middleware])
        app.add_routes(
            [
                web.get("/api/", self._alive),
                web.get("/api/version", self._version),
                web.post("/api/login", self._login),
                web.get("/api/config", self._config),
                web.get("/api/stats", self._stats_http),
                web.get("/api/events", self._list_events),
                web.get("/api/events/{event_id}/snapshot.jpg", self._snapshot),
                web.get("/api/events/{event_id}/snapshot-clean.webp", self._clean_snapshot),
                web.get("/api/events/{event_id}/snapshot-clean.png", self._clean_snapshot),
                web.get("/api/events/{event_id}/thumbnail.jpg", self._thumbnail),
                web.get("/api/events/{event_id}", self._event),
                web.post("/api/events/{event_id}/recognized_license_plate", self._set_plate),
                web.post("/api/events/{event_id}/sub_label", self._set_sub_label),
                web.get("/api/{camera}/recordings/{frame_time}/snapshot.jpg", self._recording),
            ]
        )
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._http_host, self._http_port, ssl_context=self._tls)
        await site.start()
        self._http_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        await self.mqtt.start()
        await asyncio.wait_for(self.mqtt.connected.wait(), timeout=15)
        await asyncio.wait_for(
            self.mqtt.publish(f"{self.topic_prefix}/available", b"online", retain=True), 15
        )

    async def stop(self) -> None:
        """A clean stop as in 0.17: Frigate just disconnects (``available`` stays ``online``)."""
        if self._stats_task is not None:
            self._stats_task.cancel()
        await self.mqtt.stop()
        if self._runner is not None:
            await self._runner.cleanup()

    async def crash(self) -> None:
        """Frigate dies: the connection drops without DISCONNECT, the broker sends the will."""
        if self._stats_task is not None:
            self._stats_task.cancel()
            self._stats_task = None
        client = self.mqtt._client  # a crash has no public API
        sock = client.socket()
        if sock is not None:
            sock.close()
        await asyncio.to_thread(client.loop_stop)

    # ------------------------------------------------------------------ MQTT (Frigate's topics)
    async def _publish_topic(
        self, topic: str, message: dict[str, Any] | bytes, *, retain: bool = False
    ) -> None:
        full = f"{self.topic_prefix}/{topic}"
        if isinstance(message, dict) and any(lose(topic, message) for lose in self.lose):
            self.lost.append((full, json.dumps(message).encode()))
            return
        payload = message if isinstance(message, bytes) else json.dumps(message).encode()
        await self.mqtt.publish(full, payload, qos=self.qos, retain=retain)

    async def publish(self, message: dict[str, Any] | bytes) -> None:
        """Publish one raw `frigate/events` message (a dict is sent as compact JSON, as Frigate)."""
        await self._publish_topic("events", message)

    async def camera_status(self, camera: str, role: str, state: str) -> None:
        """``frigate/<camera>/status/<role>``: ``online`` / ``offline`` / ``disabled``."""
        await self._publish_topic(f"{camera}/status/{role}", state.encode())

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

    async def publish_stats(self) -> None:
        await self._publish_topic("stats", json.dumps(self.stats()).encode())

    def start_stats(self, interval: float) -> None:
        """Publish ``frigate/stats`` every ``interval`` s (Frigate's ``mqtt.stats_interval``)."""

        async def loop() -> None:
            while True:
                await self.publish_stats()
                await asyncio.sleep(interval)

        self._stats_task = asyncio.get_running_loop().create_task(loop())

    def _detect_box(self, photo: Photo) -> list[int]:
        box = photo.vehicle_box or (0, 0, photo.width, photo.height)
        if self.geometry is None:
            return list(box)
        ox, oy = self._offset(photo)
        sx, sy = self.geometry.scale
        x1, y1, x2, y2 = box
        return [
            round((x1 + ox) * sx),
            round((y1 + oy) * sy),
            round((x2 + ox) * sx),
            round((y2 + oy) * sy),
        ]

    def tracked_object(self, photo: Photo, camera: str, start: float) -> TrackedObject:
        identifier = event_id(start, self._rng)
        self.events[identifier] = photo
        plate = self.lpr(photo) if self.lpr is not None else None
        tracked = TrackedObject(
            identifier, camera, photo.label, self._detect_box(photo), start, plate=plate
        )
        self.records[identifier] = EventRecord(
            identifier, camera, photo.label, photo, start, box=tracked.box, plate=plate
        )
        return tracked

    def _lpr_update(self, record: EventRecord, moment: float) -> dict[str, Any]:
        """``tracked_object_update`` type ``lpr``, 0.16/0.17 shape (no ``plate_box``)."""
        assert record.plate is not None
        name = record.sub_label[0] if record.sub_label else None
        return {
            "type": "lpr",
            "name": name,
            "plate": record.plate[0],
            "score": record.plate[1],
            "id": record.id,
            "camera": record.camera,
            "timestamp": moment,
        }

    async def replay_one(
        self, photo: Photo, camera: str, *, updates: int = 1, step: float = 0.2
    ) -> str:
        """One vehicle: its messages (see `TrackedObject.messages`) go out ``step`` s apart,
        stamped with Frigate's real timing on the event's `EventClock`."""
        begin = time.time()
        walls = tuple(begin + index * step for index in range(updates + 2))
        tracked = self.tracked_object(photo, camera, walls[-1] - event_duration(updates))
        record = self.records[tracked.id]
        messages = tracked.messages(updates)
        record.clock = EventClock(
            walls,
            tuple(m["after"]["end_time"] or m["after"]["frame_time"] for m in messages),
        )
        for index, message in enumerate(messages):
            if index:
                await asyncio.sleep(max(0.0, walls[index] - time.time()))
            await self.publish_tracked(message)
        return tracked.id

    async def publish_tracked(self, message: dict[str, Any]) -> None:
        """Publish one of a tracked object's own messages (`TrackedObject.messages`) as Frigate
        does: its database record follows (snapshot time; end time and zones on `end`), and a
        plate known to its LPR goes out on ``tracked_object_update`` first. `publish` sends any
        message and changes no record (a forged one, say)."""
        after = message["after"]
        record = self.records.get(after["id"])
        if record is not None:
            if after["snapshot"] is not None:
                record.snapshot_time = after["snapshot"]["frame_time"]
            if message["type"] == "end":
                record.end_time = after["end_time"]
                record.zones = list(after["entered_zones"])
            elif record.plate is not None and after["recognized_license_plate"] is not None:
                # The LPR result goes out on tracked_object_update, then on the next event update.
                await self._publish_topic(
                    "tracked_object_update", self._lpr_update(record, after["frame_time"])
                )
        await self.publish(message)

    async def replay_dedicated(self, photo: Photo, camera: str, *, step: float = 0.2) -> str:
        """A dedicated ``type: lpr`` camera without a Frigate+ model: LPR creates the event
        (label ``license_plate``, ``data.type`` ``api``) with a snapshot; only
        ``tracked_object_update`` (``lpr``) and ``reviews`` are published, no ``frigate/events``."""
        if camera not in self.lpr_cameras:
            self.lpr_cameras.append(camera)
        start = time.time()
        identifier = event_id(start, self._rng)
        plate = self.lpr(photo) if self.lpr is not None else None
        if plate is None and photo.plate:
            plate = (photo.plate, 0.93)
        self.events[identifier] = photo
        record = EventRecord(
            identifier,
            camera,
            "license_plate",
            photo,
            start,
            plate=plate,
            kind="api",
            snapshot_time=start,
        )
        self.records[identifier] = record
        review_id = event_id(start, self._rng)
        review = {
            "id": review_id,
            "camera": camera,
            "start_time": start,
            "end_time": None,
            "severity": "detection",
            "thumb_path": f"/media/frigate/clips/review/thumb-{camera}-{review_id}.webp",
            "data": {
                "detections": [identifier],
                "objects": ["license_plate"],
                "verified_objects": [],
                "sub_labels": [],
                "zones": [],
                "audio": [],
                "thumb_time": start,
                "metadata": None,
            },
        }
        await self._publish_topic("reviews", {"type": "new", "before": review, "after": review})
        if plate is not None:
            for index in range(2):
                await asyncio.sleep(step)
                await self._publish_topic(
                    "tracked_object_update", self._lpr_update(record, start + step * (index + 1))
                )
        await asyncio.sleep(step)
        record.end_time = time.time()
        ended = {**review, "end_time": record.end_time}
        await self._publish_topic("reviews", {"type": "end", "before": review, "after": ended})
        return identifier

    async def run(
        self, *, rate: float = 2.0, updates: int = 1, step: float = 0.2, limit: int | None = None
    ) -> list[str]:
        """Replay every photo as one vehicle, ``rate`` vehicles a second, cameras in turn."""
        photos = self.photos[:limit] if limit else self.photos
        tasks = []
        for index, photo in enumerate(photos):
            camera = self.cameras[index % len(self.cameras)]
            tasks.append(
                asyncio.create_task(self.replay_one(photo, camera, updates=updates, step=step))
            )
            await asyncio.sleep(1 / rate)
        return list(await asyncio.gather(*tasks))

    # ------------------------------------------------------------------ images
    def preload_clean_copies(self) -> None:
        """Encode every photo's WebP clean copy now (benchmarks: the encoding is Frigate's work,
        done when the event ends, not while the engine downloads it)."""
        for photo in self.photos:
            if photo.path not in self._webp:
                self._webp[photo.path] = _as_webp(photo.path.read_bytes())

    def _offset(self, photo: Photo) -> tuple[int, int]:
        assert self.geometry is not None
        width, height = self.geometry.record
        return max(0, (width - photo.width) // 2), max(0, (height - photo.height) // 2)

    def record_frame(self, photo: Photo) -> np.ndarray:
        """The record stream's frame: the photo, centred in a record-sized grey frame."""
        image = cv2.imread(str(photo.path), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f"not an image: {photo.path}")
        if self.geometry is None:
            return image
        width, height = self.geometry.record
        frame = np.full((height, width, 3), 96, dtype=np.uint8)
        ox, oy = self._offset(photo)
        crop = image[: height - oy, : width - ox]
        frame[oy : oy + crop.shape[0], ox : ox + crop.shape[1]] = crop
        return frame

    def detect_frame(self, photo: Photo) -> np.ndarray:
        """The detect stream's frame (what Frigate's snapshots are made of)."""
        frame = self.record_frame(photo)
        if self.geometry is None:
            return frame
        return cv2.resize(frame, self.geometry.detect, interpolation=cv2.INTER_AREA)

    def _stored_snapshot(self, record: EventRecord) -> bytes:
        """An ended event's snapshot.jpg in 0.17: rendered with the camera's snapshot settings."""
        if (
            self.geometry is None
            and not self.snapshot_bounding_box
            and self.snapshot_quality is None
        ):
            return record.photo.path.read_bytes()
        frame = self.detect_frame(record.photo).copy()
        if self.snapshot_bounding_box and record.box:
            x1, y1, x2, y2 = record.box
            cv2.rectangle(frame, (x1, y1), (x2, y2), (0, 0, 255), 2)  # Frigate's box, 2 px
            cv2.putText(
                frame,
                f"{record.label}: 80%",
                (x1, max(12, y1 - 4)),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.5,
                (0, 0, 255),
                1,
            )
        return _encode(frame, ".jpg", self.snapshot_quality or 70)

    # ------------------------------------------------------------------ HTTP (Frigate's paths)
    @web.middleware
    async def _auth_middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """Port 8971: nginx's ``/auth`` sub-request; 401 without a valid JWT."""
        auth = self.auth
        if auth is None or request.path in ("/api/", "/api/version", "/api/login"):
            return await handler(request)
        token = request.cookies.get(auth.cookie_name)
        header = request.headers.get("Authorization", "")
        bearer = header.startswith("Bearer ")
        if bearer:
            token = header[len("Bearer ") :]
        session = auth.tokens.get(token or "")
        if session is None or session[1] <= time.time():
            self.requests.append(f"401 {request.path_qs}")
            return web.Response(status=401, text="Unauthorized")
        user, expiry = session
        request[ROLE_KEY] = auth.users[user][1]
        response = await handler(request)
        if not bearer and expiry - time.time() <= auth.refresh_time:
            refreshed = auth.issue(user, refresh=True)
            response.set_cookie(auth.cookie_name, refreshed, httponly=True)
        return response

    async def _login(self, request: web.Request) -> web.Response:
        if self.auth is None:
            return web.json_response({"message": "Auth is disabled"}, status=404)
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return web.json_response({"message": "Login failed"}, status=401)
        user, password = body.get("user"), body.get("password")
        known = self.auth.users.get(user) if isinstance(user, str) else None
        if known is None or known[0] != password:
            return web.json_response({"message": "Login failed"}, status=401)
        response = web.Response(status=200)
        response.set_cookie(self.auth.cookie_name, self.auth.issue(user), httponly=True)
        return response

    async def _alive(self, _request: web.Request) -> web.Response:
        return web.Response(text="Frigate is running. Alive and healthy!")

    async def _version(self, _request: web.Request) -> web.Response:
        return web.Response(text=self.version)

    async def _config(self, _request: web.Request) -> web.Response:
        cameras: dict[str, Any] = {}
        for camera in [*self.cameras, *self.lpr_cameras]:
            detect: dict[str, Any] = {"enabled": camera not in self.lpr_cameras, "fps": 5}
            if self.geometry is not None:
                detect["width"], detect["height"] = self.geometry.detect
            cameras[camera] = {
                "name": camera,
                "type": "lpr" if camera in self.lpr_cameras else "generic",
                "detect": detect,
                "snapshots": {
                    "enabled": True,
                    "clean_copy": self.clean_copy,
                    "bounding_box": self.snapshot_bounding_box,
                    "quality": self.snapshot_quality or 70,
                },
            }
        return web.json_response({"version": "0.17-0", "cameras": cameras})

    async def _stats_http(self, _request: web.Request) -> web.Response:
        return web.json_response(self.stats())

    def _event_response(self, record: EventRecord) -> dict[str, Any]:
        """Frigate's ``EventResponse``: plate and sub_label as strings, relative box."""
        data: dict[str, Any] = {
            "type": record.kind,
            "score": record.score,
            "top_score": record.score,
            "attributes": [],
        }
        if record.box is not None:
            width, height = (
                self.geometry.detect if self.geometry else (record.photo.width, record.photo.height)
            )
            x1, y1, x2, y2 = record.box
            data["box"] = [x1 / width, y1 / height, (x2 - x1) / width, (y2 - y1) / height]
            data["region"] = data["box"]
        if record.plate is not None:
            data["recognized_license_plate"] = record.plate[0]
            data["recognized_license_plate_score"] = record.plate[1]
        return {
            "id": record.id,
            "label": record.label,
            "sub_label": record.sub_label[0] if record.sub_label else None,
            "camera": record.camera,
            "start_time": record.start_time,
            "end_time": record.end_time,
            "false_positive": False,
            "zones": list(record.zones),
            "thumbnail": None,
            "has_clip": True,
            "has_snapshot": True,
            "retain_indefinitely": False,
            "plus_id": None,
            "model_hash": None,
            "detector_type": "cpu",
            "model_type": "ssd",
            "data": data,
        }

    async def _list_events(self, request: web.Request) -> web.Response:
        """``GET /api/events`` with the query parameters reconciliation uses."""
        self.requests.append(request.path_qs)
        query = request.query

        def names(*keys: str) -> set[str] | None:
            for key in keys:
                value = query.get(key)
                if value and value != "all":
                    return set(value.split(","))
            return None

        cameras, labels = names("cameras", "camera"), names("labels", "label")
        after = float(query.get("after", 0))
        before = float(query.get("before", 1e12))
        in_progress = query.get("in_progress")
        limit = int(query.get("limit", 100))
        selected = [
            r
            for r in self.records.values()
            if (cameras is None or r.camera in cameras)
            and (labels is None or r.label in labels)
            and after < r.start_time < before
            and (in_progress is None or (r.end_time is None) == (in_progress == "1"))
        ]
        selected.sort(key=lambda r: r.start_time, reverse=query.get("sort") != "date_asc")
        return web.json_response([self._event_response(r) for r in selected[:limit]])

    async def _event(self, request: web.Request) -> web.Response:
        record = self.records.get(request.match_info["event_id"])
        if record is None:
            return web.json_response({"success": False, "message": "Event not found"}, status=404)
        return web.json_response(self._event_response(record))

    async def _write_back(
        self,
        request: web.Request,
        fields: tuple[str, str],
        attribute: Literal["plate", "sub_label"],
        what: str,
    ) -> web.Response:
        """Frigate's checks (admin role, a pydantic body (422), the event (404)), then the
        event's ``attribute`` set to the body's (text, score) pair, or cleared by empty text."""
        if request.get(ROLE_KEY, "admin") != "admin":
            return web.json_response(
                {"success": False, "message": "Insufficient privileges"}, status=403
            )
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return web.json_response({"detail": "invalid JSON"}, status=422)
        text_key, score_key = fields
        text = body.get(text_key) if isinstance(body, dict) else None
        score = body.get(score_key) if isinstance(body, dict) else None
        if not isinstance(text, str) or len(text) > 100:
            return web.json_response({"detail": f"{text_key} invalid"}, status=422)
        if score is not None and (
            isinstance(score, bool) or not isinstance(score, int | float) or not 0 < score <= 1
        ):
            return web.json_response({"detail": f"{score_key} invalid"}, status=422)
        identifier = request.match_info["event_id"]
        record = self.records.get(identifier)
        if record is None:
            return web.json_response(
                {"success": False, "message": f"Event {identifier} not found."}, status=404
            )
        self.write_backs.append((request.path, body))
        setattr(record, attribute, (text, score or 1.0) if text else None)
        return web.json_response(
            {"success": True, "message": f"Event {record.id} {what} set to {text}"}
        )

    async def _set_plate(self, request: web.Request) -> web.Response:
        fields = ("recognizedLicensePlate", "recognizedLicensePlateScore")
        return await self._write_back(request, fields, "plate", "license plate")

    async def _set_sub_label(self, request: web.Request) -> web.Response:
        return await self._write_back(
            request, ("subLabel", "subLabelScore"), "sub_label", "sub label"
        )

    async def _clean_snapshot(self, request: web.Request) -> web.StreamResponse:
        """The clean copy of an event (0.17+: WebP; older: PNG); 404 when ``clean_copy`` is off."""
        wanted = ".webp" if self._newer_than_016 else ".png"
        if not self.clean_copy or not request.path.endswith(wanted):
            self.requests.append(request.path_qs)
            return web.json_response(
                {"success": False, "message": "Snapshot not available"}, status=404
            )
        return await self._snapshot(request)

    async def _injected(self) -> web.Response | None:
        if self.faults.fail_next > 0:
            self.faults.fail_next -= 1
            return web.json_response(
                {"success": False, "message": "injected failure"}, status=self.faults.fail_status
            )
        if self.faults.stall_next > 0:
            self.faults.stall_next -= 1
            await asyncio.sleep(self.faults.stall_seconds)
        return None

    async def _snapshot(self, request: web.Request) -> web.StreamResponse:
        identifier = request.match_info["event_id"]
        self.requests.append(request.path_qs)
        if (fault := await self._injected()) is not None:
            return fault
        photo = self.events.get(identifier)
        if photo is None:
            return web.json_response(
                {"success": False, "message": "Snapshot not available"}, status=404
            )
        record = self.records.get(identifier)
        clean = not request.path.endswith("snapshot.jpg")
        if clean or record is None or (record.end_time is None and record.kind == "object"):
            # The clean copy, or an in-progress object (0.17 honours bbox/crop/timestamp=0).
            if self.geometry is None:
                body = photo.path.read_bytes()
                if request.path.endswith(".webp"):
                    # Frigate writes the clean copy once; encoding it per request would make
                    # the replay, not the engine, the bottleneck of a benchmark.
                    cached = self._webp.get(photo.path)
                    if cached is None:
                        cached = self._webp[photo.path] = _as_webp(body)
                    body = cached
                elif request.path.endswith(".png"):
                    body = _encode(self.detect_frame(photo), ".png")
            else:
                suffix = request.path[request.path.rindex(".") :]
                quality = int(request.query.get("quality", 70)) if suffix == ".jpg" else None
                body = _encode(self.detect_frame(photo), suffix, quality)
        else:
            body = self._stored_snapshot(record)
        content_type = {"webp": "image/webp", "png": "image/png"}.get(
            request.path.rsplit(".", 1)[-1], "image/jpeg"
        )
        return web.Response(
            body=body,
            content_type=content_type,
            headers={"Cache-Control": "private, max-age=31536000"},
        )

    async def _thumbnail(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request.path_qs)
        record = self.records.get(request.match_info["event_id"])
        if record is None:
            return web.json_response({"success": False, "message": "Event not found"}, status=404)
        frame = self.detect_frame(record.photo)
        height = 175
        width = max(1, round(frame.shape[1] * height / frame.shape[0]))
        thumb = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
        return web.Response(body=_encode(thumb, ".jpg", 70), content_type="image/jpeg")

    async def _recording(self, request: web.Request) -> web.StreamResponse:
        """The record stream's frame at ``frame_time`` (the event whose snapshot is then), 404
        until its segment is in Frigate's database (`recording_available_at`)."""
        self.requests.append(request.path_qs)
        if (fault := await self._injected()) is not None:
            return fault
        camera = request.match_info["camera"]
        try:
            moment = float(request.match_info["frame_time"])
        except ValueError:
            return web.json_response({"success": False, "message": "bad time"}, status=400)
        record = next(
            (
                r
                for r in self.records.values()
                if r.camera == camera
                and r.snapshot_time is not None
                and abs(r.snapshot_time - moment) < 0.001
            ),
            None,
        )
        if record is None or record.now() < recording_available_at(moment):
            return web.json_response(
                {"success": False, "message": "Recording not found at frame time"}, status=404
            )
        return web.Response(
            body=_encode(self.record_frame(record.photo), ".jpg", 95), content_type="image/jpeg"
        )
