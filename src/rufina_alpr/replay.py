"""Frigate replay: Frigate's MQTT event sequence and HTTP image paths, served from photos.

Frigate itself cannot run everywhere the engine is tested or demonstrated, so this module plays
its part faithfully: for each photo it publishes `frigate/events` messages shaped exactly like
Frigate's ``TrackedObject.to_dict`` (``new`` with the constructor state as ``before``, ``update``
with a better snapshot, ``end`` with ``end_time``), and serves the photo on
``/api/events/<id>/snapshot.jpg`` like Frigate's API. Faults can be injected (HTTP errors, delays).
"""

from __future__ import annotations

import asyncio
import csv
import json
import logging
import random
import string
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import cv2
import numpy as np
from aiohttp import web

from rufina_alpr.mqtt import MqttLink

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

    def state(
        self,
        *,
        frame_time: float,
        snapshot_time: float | None,
        score: float,
        end_time: float | None = None,
        false_positive: bool = False,
    ) -> dict[str, Any]:
        x1, y1, x2, y2 = self.box
        area = (x2 - x1) * (y2 - y1)
        snapshot = None if snapshot_time is None else _snapshot(snapshot_time, self.box, score)
        return {
            "id": self.id,
            "camera": self.camera,
            "frame_time": frame_time,
            "snapshot": snapshot,
            "label": self.label,
            "sub_label": None,
            "top_score": 0.0 if false_positive else score,
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
            "position_changes": 0 if false_positive else 1,
            "current_zones": [] if false_positive else list(self.zones),
            "entered_zones": [] if false_positive else list(self.zones),
            "has_clip": snapshot is not None,
            "has_snapshot": snapshot is not None,
            "attributes": {},
            "current_attributes": [],
            "pending_loitering": False,
            "max_severity": "detection",
            "current_estimated_speed": 0,
            "average_estimated_speed": 0,
            "velocity_angle": 0,
            "path_data": [],
            "recognized_license_plate": list(self.plate) if self.plate else None,
        }

    def messages(self, updates: int, step: float) -> list[dict[str, Any]]:
        """``new``, ``updates`` x ``update`` (each with a better snapshot) and ``end``."""
        t0 = self.start_time
        states = [self.state(frame_time=t0, snapshot_time=None, score=0.7, false_positive=True)]
        for index in range(updates + 1):
            moment = t0 + step * (index + 1)
            states.append(
                self.state(frame_time=moment, snapshot_time=moment, score=0.8 + index / 100)
            )
        last = states[-1]
        end_time = t0 + step * (updates + 2)
        states.append(
            self.state(
                frame_time=end_time,
                snapshot_time=last["snapshot"]["frame_time"],
                score=last["score"],
                end_time=end_time,
            )
        )
        kinds = ["new"] + ["update"] * updates + ["end"]
        return [
            {"before": before, "after": after, "type": kind}
            for kind, before, after in zip(kinds, states[:-1], states[1:], strict=True)
        ]


def _as_webp(data: bytes) -> bytes:
    """The photo as Frigate keeps a clean copy (lossless here); non-images stay as they are."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        return data
    ok, encoded = cv2.imencode(".webp", image, [cv2.IMWRITE_WEBP_QUALITY, 101])
    return encoded.tobytes() if ok else data


@dataclass(slots=True)
class HttpFaults:
    """Faults the replay's HTTP server injects: the next N image requests fail or stall."""

    fail_next: int = 0
    fail_status: int = 500
    stall_next: int = 0
    stall_seconds: float = 30.0


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
    ) -> None:
        self.photos = photos
        self.cameras = list(cameras)
        if not self.cameras:
            raise ValueError("the replay needs at least one camera")
        self.topic_prefix = topic_prefix
        self.qos = qos
        self.faults = HttpFaults()
        # Frigate 0.17 keeps a clean copy of each snapshot by default (snapshots.clean_copy).
        self.clean_copy = True
        self.requests: list[str] = []
        self.events: dict[str, Photo] = {}
        self._rng = random.Random(seed)
        self._http_host, self._http_port = http_host, http_port
        self._runner: web.AppRunner | None = None
        self.mqtt = MqttLink(
            host=mqtt_host,
            port=mqtt_port,
            client_id=f"frigate-replay-{seed}-{self._rng.randrange(1 << 30)}",
            clean_session=True,
            manual_ack=False,
        )

    @property
    def url(self) -> str:
        return f"http://{self._http_host}:{self._http_port}"

    async def start(self) -> None:
        app = web.Application()
        app.add_routes(
            [
                web.get("/api/", self._alive),
                web.get("/api/version", self._version),
                web.get("/api/events/{event_id}/snapshot.jpg", self._snapshot),
                web.get("/api/events/{event_id}/snapshot-clean.webp", self._clean_snapshot),
                web.get("/api/events/{event_id}", self._event),
            ]
        )
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._http_host, self._http_port)
        await site.start()
        self._http_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        await self.mqtt.start()
        await asyncio.wait_for(self.mqtt.connected.wait(), timeout=15)
        await asyncio.wait_for(
            self.mqtt.publish(f"{self.topic_prefix}/available", b"online", retain=True), 15
        )

    async def stop(self) -> None:
        await self.mqtt.stop()
        if self._runner is not None:
            await self._runner.cleanup()

    def tracked_object(self, photo: Photo, camera: str, start: float) -> TrackedObject:
        identifier = event_id(start, self._rng)
        self.events[identifier] = photo
        box = photo.vehicle_box or (0, 0, photo.width, photo.height)
        return TrackedObject(identifier, camera, photo.label, list(box), start)

    async def publish(self, message: dict[str, Any] | bytes) -> None:
        """Publish one raw `frigate/events` message (a dict is sent as compact JSON, as Frigate)."""
        payload = message if isinstance(message, bytes) else json.dumps(message).encode()
        await self.mqtt.publish(f"{self.topic_prefix}/events", payload, qos=self.qos)

    async def replay_one(
        self, photo: Photo, camera: str, *, updates: int = 1, step: float = 0.2
    ) -> str:
        tracked = self.tracked_object(photo, camera, time.time())
        for index, message in enumerate(tracked.messages(updates, step)):
            if index:
                await asyncio.sleep(step)
            await self.publish(message)
        return tracked.id

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

    # ------------------------------------------------------------------ HTTP (Frigate's paths)
    async def _alive(self, _request: web.Request) -> web.Response:
        return web.Response(text="Frigate is running. Alive and healthy!")

    async def _version(self, _request: web.Request) -> web.Response:
        return web.Response(text=FRIGATE_VERSION)

    async def _event(self, request: web.Request) -> web.Response:
        photo = self.events.get(request.match_info["event_id"])
        if photo is None:
            return web.json_response({"success": False, "message": "Event not found"}, status=404)
        return web.json_response({"id": request.match_info["event_id"], "has_snapshot": True})

    async def _clean_snapshot(self, request: web.Request) -> web.StreamResponse:
        """Frigate 0.17's clean copy (WebP) of an ended event; 404 when ``clean_copy`` is off."""
        if not self.clean_copy:
            self.requests.append(request.path_qs)
            return web.json_response(
                {"success": False, "message": "Snapshot not available"}, status=404
            )
        return await self._snapshot(request)

    async def _snapshot(self, request: web.Request) -> web.StreamResponse:
        identifier = request.match_info["event_id"]
        self.requests.append(request.path_qs)
        if self.faults.fail_next > 0:
            self.faults.fail_next -= 1
            return web.json_response(
                {"success": False, "message": "injected failure"}, status=self.faults.fail_status
            )
        if self.faults.stall_next > 0:
            self.faults.stall_next -= 1
            await asyncio.sleep(self.faults.stall_seconds)
        photo = self.events.get(identifier)
        if photo is None:
            return web.json_response(
                {"success": False, "message": "Snapshot not available"}, status=404
            )
        body, content_type = photo.path.read_bytes(), "image/jpeg"
        if request.path.endswith(".webp"):
            body, content_type = _as_webp(body), "image/webp"
        return web.Response(
            body=body,
            content_type=content_type,
            headers={"Cache-Control": "private, max-age=31536000"},
        )
