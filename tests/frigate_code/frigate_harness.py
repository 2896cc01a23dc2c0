# ruff: noqa: PLC0415  (Frigate is imported only once its source is on sys.path and relocated)
# mypy: disable-error-code="import-not-found,import-untyped"
# (Frigate, uvicorn, peewee_migrate and playhouse exist only on .venv-frigate / ../shared.)
"""Frigate 0.17.2's own code, run outside Docker as the engine's counterpart in the contract suite.

Runs on ``.venv-frigate`` (Python 3.11, ``scripts/frigate-env.sh``) as a subprocess of the tests:
``python frigate_harness.py SETTINGS.json``; it prints one JSON line ``{"ready": ...}`` and then
answers one JSON command per stdin line with one JSON line on stdout (see `Harness.handle`).
Frigate's source is imported at run time from ``../shared/frigate/src-0.17.2`` (``FRIGATE_SRC``);
nothing of it is copied into this repository.

What runs for real (Frigate's code, unmodified):
- ``FrigateConfig`` parsed from a generated YAML; the SQLite database migrated by Frigate's own
  ``migrations/`` (peewee_migrate ``Router``) and bound as ``frigate/app.py`` binds it; users stored
  with Frigate's ``hash_password``.
- The FastAPI app from ``frigate/api/fastapi_app.py`` ``create_fastapi_app`` with every router,
  served by uvicorn on two loopback ports. Frigate's nginx is not in the source tree, so a small
  ASGI front (`NginxFront`) does what its ``auth_request`` config does: strip ``/api``, ask
  Frigate's own ``GET /auth`` with ``x-server-port`` 5000 (internal listener: anonymous admin) or
  8971 (authenticated listener: JWT cookie ``frigate_token`` or ``Authorization: Bearer``), pass
  ``remote-user``/``remote-role`` on and add the ``Set-Cookie`` a refresh brings. Everything that
  decides (login, roles, token checks and refresh) is Frigate's code.
- Frigate's tracker (``NorfairTracker.match_and_update``), ``TrackedObjectProcessor`` (thread) with
  its ``CameraState``/``TrackedObject`` (snapshots, clean WebP, thumbnails, ``to_dict()``), the
  ``EventProcessor`` writing event rows, the ``TimelineProcessor``, the ZMQ proxy and inter-process
  comms, the ``Dispatcher`` and Frigate's ``MqttClient`` publishing to the real Mosquitto, and the
  write-back path (API -> ``EventMetadataPublisher`` -> processor -> live object and DB).

What is fed (cannot run outside Docker or without models), with data of the same shape:
- Capture (ffmpeg) and the object detector: each frame is a labelled photo moving over a grey
  detect-resolution frame, written as YUV I420 into shared memory as the capture process does;
  the detections handed to the tracker are ``(label, score, box, area, ratio, region)`` for the
  known vehicle box (around the labelled plate), as ``video.py`` builds them, with the region from
  Frigate's ``calculate_region``. The per-frame message to the processor is built as
  ``process_frames`` builds it (motion boxes: the vehicle box while it moves).
- Frigate's LPR (ONNX models): the ``lpr`` command publishes what its mixin publishes after a read
  (``tracked_object_update`` through the inter-process requestor, ``recognized_license_plate`` and
  ``sub_label`` through the event-metadata publisher), with a plate the test chooses.
- Not started: detectors, recordings maintainer, review process, embeddings, go2rtc, stats
  emitter, ONVIF cameras (none configured), audio.

Stubbed imports (`STUBBED`): modules that Frigate imports at module level only for models,
accelerators or audio, none installable without the ML stack; each is an empty module whose
attributes are placeholder classes, so annotations and ``try``/``except ImportError`` still work.
"""

from __future__ import annotations

import asyncio
import importlib.abc
import importlib.machinery
import json
import logging
import multiprocessing as mp
import os
import secrets
import sys
import threading
import time
import types
from pathlib import Path
from typing import Any

FRIGATE_SRC = Path(
    os.environ.get("FRIGATE_SRC", Path(__file__).resolve().parents[3] / "shared/frigate/src-0.17.2")
)

STUBBED = {
    # frigate/util/services.py: NVIDIA GPU stats (a git+ requirement, not on PyPI).
    "py3nvml": "NVIDIA GPU statistics",
    # frigate/data_processing/types.py, audio_transcription/model.py: speech-to-text models.
    "sherpa_onnx": "audio transcription models",
    # frigate/data_processing/real_time/whisper_online.py: audio transcription features.
    "librosa": "audio transcription",
    # frigate/util/model.py: model runtime imported at module level by the embeddings package.
    "onnxruntime": "ONNX model runtime",
    # frigate/embeddings/onnx/jina_*: semantic-search tokenizers.
    "transformers": "semantic-search embeddings",
    # frigate/data_processing/real_time/bird.py and detectors: TFLite interpreter (a URL wheel).
    "tflite_runtime": "TFLite interpreter",
}


class _Placeholder(type):
    """Any attribute of a stubbed module is a class: usable in annotations and ``X | None``."""

    def __getattr__(cls, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return _Placeholder(name, (), {})


class _StubModule(types.ModuleType):
    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        value = _Placeholder(name, (), {})
        setattr(self, name, value)
        return value


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname.split(".", maxsplit=1)[0] in STUBBED:
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec: Any) -> types.ModuleType:
        module = _StubModule(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        return None


def _relocate(root: Path) -> None:
    """Frigate's fixed paths (/config, /media/frigate, /tmp/cache and its ipc sockets) moved under
    ``root``, before any module copies them with ``from frigate.const import ...``."""
    from frigate import const

    prefixes = {
        "/config": str(root / "config"),
        "/media/frigate": str(root / "media"),
        "/tmp/cache": str(root / "cache"),
    }

    def moved(value: str) -> str:
        for old, new in prefixes.items():
            for scheme in ("", "ipc://"):
                if value == scheme + old or value.startswith(scheme + old + "/"):
                    return scheme + new + value[len(scheme + old) :]
        return value

    for name, value in list(vars(const).items()):
        if name.isupper() and isinstance(value, str):
            setattr(const, name, moved(value))
    for module_name in (
        "config_updater",
        "embeddings_updater",
        "inter_process",
        "object_detector_signaler",
        "zmq_proxy",
    ):
        module = importlib.import_module(f"frigate.comms.{module_name}")
        for name, value in list(vars(module).items()):
            if name.startswith("SOCKET_") and isinstance(value, str):
                setattr(module, name, moved(value))


def frigate_yaml(settings: dict[str, Any]) -> dict[str, Any]:
    """Frigate's config for the suite: one generic camera per entry, snapshots with clean copy."""
    width, height = settings["detect"]
    cameras: dict[str, dict[str, Any]] = {
        name: {
            "ffmpeg": {"inputs": [{"path": f"rtsp://127.0.0.1:8554/{name}", "roles": ["detect"]}]},
            "detect": {
                "enabled": True,
                "width": width,
                "height": height,
                "fps": settings.get("fps", 5),
                # Frigate's default is fps * 5 frames (5 s) before `end`; shorter keeps tests short.
                "max_disappeared": settings.get("max_disappeared", 10),
            },
            "objects": {"track": ["car"]},
            "snapshots": {"enabled": True, "clean_copy": True},
            "record": {"enabled": False},
        }
        for name in settings["cameras"]
    }
    for name in settings.get("dedicated_lpr", []):
        # A dedicated LPR camera without a plate-detecting model, as Frigate's docs set it up.
        cameras[name].update({"type": "lpr", "lpr": {"enabled": True}, "objects": {"track": []}})
        cameras[name]["detect"]["enabled"] = False
    return {
        "version": "0.17-0",
        # The detector's label map ships inside Frigate's image (/labelmap.txt); the harness writes
        # the COCO indices the default model uses for the labels it tracks.
        "model": {"labelmap_path": str(Path(settings["root"]) / "labelmap.txt")},
        "mqtt": {
            "enabled": True,
            "host": "127.0.0.1",
            "port": settings["mqtt_port"],
            "client_id": f"frigate-{secrets.token_hex(3)}",
            "stats_interval": 60,
        },
        "database": {"path": str(Path(settings["root"]) / "config" / "frigate.db")},
        "auth": {
            "enabled": True,
            "session_length": settings.get("session_length", 86400),
            "refresh_time": settings.get("refresh_time", 1800),
            # Frigate's default is 600000 PBKDF2 rounds per login; fewer keep the suite quick.
            "hash_iterations": 1000,
        },
        "lpr": {"enabled": bool(settings.get("dedicated_lpr"))},
        "cameras": cameras,
    }


class NginxFront:
    """What Frigate's nginx does for ``/api/``: the ``auth_request`` to ``/auth`` with the
    listener's port, the identity headers it returns, and a refreshed cookie on the answer."""

    PUBLIC = ("/login",)  # nginx serves POST /api/login without the auth request

    def __init__(self, app: Any, server_port: int, log: list[dict[str, Any]]) -> None:
        self.app = app
        self.server_port = server_port
        self.log = log  # nginx's access log: what clients asked and what they got

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if not path.startswith("/api/") and path != "/api":
            await _answer(send, 404, b"not found")
            return
        inner = path[len("/api") :] or "/"
        entry: dict[str, Any] = {
            "time": time.time(),
            "method": scope["method"],
            "path": path,
            "query": scope.get("query_string", b"").decode(errors="replace"),
            "port": self.server_port,
            "status": None,
        }
        self.log.append(entry)
        client = (scope.get("client") or ("127.0.0.1", 0))[0]
        spoofable = {b"remote-user", b"remote-role", b"x-server-port", b"x-forwarded-for"}
        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in spoofable]
        headers.append((b"x-forwarded-for", client.encode()))
        cookie: bytes | None = None
        if inner not in self.PUBLIC:
            status, auth_headers = await self._auth(scope, headers)
            if status // 100 != 2:
                entry["status"] = 401
                await _answer(send, 401, b"Unauthorized")
                return
            for key in (b"remote-user", b"remote-role"):
                if key in auth_headers:
                    headers.append((key, auth_headers[key]))
            cookie = auth_headers.get(b"set-cookie")
        inner_scope = dict(scope, path=inner, raw_path=inner.encode(), headers=headers)

        async def send_with_cookie(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                entry["status"] = message["status"]
                if cookie is not None:
                    headers = [*message.get("headers", []), (b"set-cookie", cookie)]
                    message = dict(message, headers=headers)
            await send(message)

        await self.app(inner_scope, receive, send_with_cookie)

    async def _auth(
        self, scope: dict[str, Any], headers: list[tuple[bytes, bytes]]
    ) -> tuple[int, dict[bytes, bytes]]:
        sub_headers = [
            *[(k, v) for k, v in headers if k.lower() not in (b"content-length", b"content-type")],
            (b"x-server-port", str(self.server_port).encode()),
            (b"x-original-url", scope["path"].encode()),
        ]
        sub_scope = dict(
            scope,
            method="GET",
            path="/auth",
            raw_path=b"/auth",
            query_string=b"",
            headers=sub_headers,
        )
        result: dict[str, Any] = {"status": 500, "headers": {}}

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                result["status"] = message["status"]
                result["headers"] = {k.lower(): v for k, v in message.get("headers", [])}

        await self.app(sub_scope, receive, send)
        return result["status"], result["headers"]


async def _answer(send: Any, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/plain")],
        }
    )
    await send({"type": "http.response.body", "body": body})


class Camera:
    """One camera's capture + detection, fed: frames into shared memory, detections into
    Frigate's tracker, the per-frame message onto the processor's queue."""

    RING = 20

    def __init__(self, harness: Harness, name: str) -> None:
        from frigate.track.norfair_tracker import NorfairTracker
        from frigate.util.image import SharedMemoryFrameManager

        self.harness = harness
        self.name = name
        self.config = harness.config.cameras[name]
        self.width, self.height = self.config.detect.width, self.config.detect.height
        self.tracker = NorfairTracker(self.config, harness.ptz_metrics[name])
        self.frames = SharedMemoryFrameManager()
        token = secrets.token_hex(3)
        self.names = [f"{name}_{token}_frame{i}" for i in range(self.RING)]
        size = self.width * self.height * 3 // 2
        for frame_name in self.names:
            self.frames.create(frame_name, size)
        self.index = 0
        self.background = None
        self.vehicles: list[dict[str, Any]] = []

    def close(self) -> None:
        for frame_name in self.names:
            self.frames.delete(frame_name)

    def frame(self, frame_time: float) -> None:
        import cv2
        from frigate.util.image import calculate_region

        bgr = self.canvas()
        detections = []
        motion: list[tuple[int, int, int, int]] = []
        for vehicle in self.vehicles:
            ox, oy = vehicle["offset"]
            vx1, vy1, vx2, vy2 = vehicle["box"]
            box = (ox + vx1, oy + vy1, ox + vx2, oy + vy2)
            area = (box[2] - box[0]) * (box[3] - box[1])
            ratio = (box[2] - box[0]) / (box[3] - box[1])
            model_size = max(self.harness.config.model.width, self.harness.config.model.height)
            region = calculate_region(
                self.config.frame_shape, box[0], box[1], box[2], box[3], model_size, multiplier=1.35
            )
            detections.append(("car", vehicle["score"], box, area, ratio, region))
            if vehicle["step"]:
                motion.append(box)
        frame_name = self.names[self.index]
        self.index = (self.index + 1) % self.RING
        buffer = self.frames.write(frame_name)
        buffer[:] = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420).tobytes()
        self.tracker.match_and_update(frame_name, frame_time, detections)
        current = {o["id"]: {**o, "attributes": []} for o in self.tracker.tracked_objects.values()}
        regions = [d[5] for d in detections]
        self.harness.detected_frames.put(
            (self.name, frame_name, frame_time, current, motion, regions)
        )
        state = self.harness.processor.camera_states[self.name]
        deadline = time.monotonic() + 10
        while state.previous_frame_id != frame_name and time.monotonic() < deadline:
            time.sleep(0.002)  # the processor has taken this frame before the ring reuses it

    def canvas(self) -> Any:
        """The camera's frame (BGR): grey, with the vehicles' photos where they are now."""
        import numpy as np

        bgr = np.full((self.height, self.width, 3), 96, np.uint8)
        for vehicle in self.vehicles:
            image, (ox, oy) = vehicle["image"], vehicle["offset"]
            h, w = image.shape[:2]
            bgr[oy : oy + h, ox : ox + w] = image
        return bgr

    def place(
        self, photo: str, plate_box: list[int], score: float, lane: int = 0, lanes: int = 1
    ) -> None:
        """A vehicle enters at the left, in lane ``lane`` of ``lanes`` (one above the other)."""
        import cv2

        image = cv2.imread(photo)
        if image is None:
            raise ValueError(f"not an image: {photo}")
        lane_height = self.height // lanes
        scale = min(1.0, 0.55 * self.width / image.shape[1], 0.8 * lane_height / image.shape[0])
        if scale < 1.0:
            image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        h, w = image.shape[:2]
        x, y, pw, ph = (round(v * scale) for v in plate_box)
        # The vehicle around its plate: about 3.5 plate widths wide, from well above to below it.
        cx = x + pw / 2
        box = (
            max(0, round(cx - 1.75 * pw)),
            max(0, round(y - 3.0 * ph - 0.6 * pw)),
            min(w, round(cx + 1.75 * pw)),
            min(h, round(y + 2.5 * ph)),
        )
        self.vehicles.append(
            {
                "image": image,
                "box": box,
                "offset": (40, lane * lane_height + (lane_height - h) // 2),
                "score": score,
                "step": 0,
            }
        )

    def move(self, dx: int) -> None:
        for vehicle in self.vehicles:
            ox, oy = vehicle["offset"]
            w = vehicle["image"].shape[1]
            vehicle["offset"] = (max(0, min(self.width - w, ox + dx)), oy)
            vehicle["step"] = dx
            # The detector grows surer as the vehicle comes closer: better snapshots follow.
            vehicle["score"] = min(0.95, vehicle["score"] + 0.02)


class Harness:
    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = settings
        self.root = Path(settings["root"])
        for sub in ("config", "media/clips", "media/recordings", "media/exports", "cache"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        # Frigate's frame clock: 1/fps per frame, started in the past so that frames can be fed
        # faster than real time and still never carry a time in the future.
        # Whole seconds to start with: at 4 fps every frame time is exact in binary and decimal.
        self.clock: float = float(round(time.time() - float(settings.get("clock_lead", 900.0))))
        self.stop_event = mp.Event()

    # ------------------------------------------------------------------ start-up
    def start(self) -> dict[str, Any]:
        sys.meta_path.insert(0, _StubFinder())
        sys.path.insert(0, str(FRIGATE_SRC))
        _relocate(self.root)

        import yaml
        from frigate.api.auth import hash_password
        from frigate.api.fastapi_app import create_fastapi_app
        from frigate.camera import PTZMetrics
        from frigate.comms.dispatcher import Dispatcher
        from frigate.comms.event_metadata_updater import EventMetadataPublisher
        from frigate.comms.inter_process import InterProcessCommunicator, InterProcessRequestor
        from frigate.comms.mqtt import MqttClient
        from frigate.comms.zmq_proxy import ZmqProxy
        from frigate.config import FrigateConfig
        from frigate.config.camera.updater import CameraConfigUpdatePublisher
        from frigate.db.sqlitevecq import SqliteVecQueueDatabase
        from frigate.events.maintainer import EventProcessor
        from frigate.models import (
            Event,
            Export,
            Previews,
            Recordings,
            RecordingsToDelete,
            Regions,
            ReviewSegment,
            Timeline,
            Trigger,
            User,
        )
        from frigate.ptz.autotrack import PtzAutoTrackerThread
        from frigate.ptz.onvif import OnvifController
        from frigate.timeline import TimelineProcessor
        from frigate.track.object_processing import TrackedObjectProcessor
        from peewee_migrate import Router
        from playhouse.sqlite_ext import SqliteExtDatabase

        (self.root / "labelmap.txt").write_text("0  person\n1  bicycle\n2  car\n3  motorcycle\n")
        raw = frigate_yaml(self.settings)
        (self.root / "config" / "config.yml").write_text(yaml.safe_dump(raw))
        self.config = config = FrigateConfig.parse_yaml(yaml.safe_dump(raw))

        # The database as frigate/app.py makes it: migrations first, then the queue database.
        migrate_db = SqliteExtDatabase(config.database.path)
        Router(migrate_db, migrate_dir=str(FRIGATE_SRC / "migrations")).run()
        migrate_db.close()
        self.db = SqliteVecQueueDatabase(
            config.database.path,
            pragmas={"auto_vacuum": "FULL", "cache_size": -512 * 1000, "synchronous": "NORMAL"},
            timeout=60,
            load_vec_extension=False,
        )
        models = [
            Event,
            Export,
            Previews,
            Recordings,
            RecordingsToDelete,
            Regions,
            ReviewSegment,
            Timeline,
            User,
            Trigger,
        ]
        self.db.bind(models)
        for user in self.settings.get("users", []):
            User.insert(
                {
                    User.username: user["name"],
                    User.role: user["role"],
                    User.password_hash: hash_password(
                        user["password"], iterations=config.auth.hash_iterations
                    ),
                    User.notification_tokens: [],
                }
            ).on_conflict_replace().execute()  # a restart on the same database

        self.zmq_proxy = ZmqProxy()
        self.inter_process = InterProcessCommunicator()
        self.config_publisher = CameraConfigUpdatePublisher()
        self.event_metadata = EventMetadataPublisher()
        self.ptz_metrics = {name: PTZMetrics(autotracker_enabled=False) for name in config.cameras}
        self.onvif = OnvifController(config, self.ptz_metrics)
        self.mqtt = MqttClient(config)
        self.dispatcher = Dispatcher(
            config,
            self.config_publisher,
            self.onvif,
            self.ptz_metrics,
            [self.mqtt, self.inter_process],
        )
        self.ptz_thread = PtzAutoTrackerThread(
            config, self.onvif, self.ptz_metrics, self.dispatcher, self.stop_event
        )
        self.ptz_thread.start()
        self.detected_frames: mp.Queue[Any] = mp.Queue(maxsize=8)
        self.timeline_queue: mp.Queue[Any] = mp.Queue()
        self.processor = TrackedObjectProcessor(
            config, self.dispatcher, self.detected_frames, self.ptz_thread, self.stop_event
        )
        self.processor.start()
        self.timeline = TimelineProcessor(config, self.timeline_queue, self.stop_event)
        self.timeline.start()
        self.events = EventProcessor(config, self.timeline_queue, self.stop_event)
        self.events.start()
        # Frigate's LPR publishes its reads with these two (see `lpr`).
        self.requestor = InterProcessRequestor()
        self.lpr_publisher = EventMetadataPublisher()

        app = create_fastapi_app(
            config,
            self.db,
            None,
            self.processor,
            None,
            self.onvif,
            None,
            self.event_metadata,
            self.config_publisher,
        )
        self.cameras = {name: Camera(self, name) for name in config.cameras}
        self._serve(app)
        deadline = time.monotonic() + 20
        while not self.mqtt.connected and time.monotonic() < deadline:
            time.sleep(0.05)
        if not self.mqtt.connected:
            raise RuntimeError("Frigate's MQTT client did not connect")
        return {
            "internal_port": self.ports[0],
            "auth_port": self.ports[1],
            "shared_memory": [name for camera in self.cameras.values() for name in camera.names],
        }

    def _serve(self, app: Any) -> None:
        import uvicorn

        self.ports = (self.settings["internal_port"], self.settings["auth_port"])
        self.access_log: list[dict[str, Any]] = []
        servers = [
            uvicorn.Server(
                uvicorn.Config(
                    NginxFront(app, logical, self.access_log),
                    host="127.0.0.1",
                    port=port,
                    log_level="warning",
                    lifespan="off",
                )
            )
            for port, logical in zip(self.ports, (5000, 8971), strict=True)
        ]
        for server in servers:
            server.install_signal_handlers = lambda: None
        self.servers = servers

        def run() -> None:
            asyncio.run(_serve_all(servers))

        threading.Thread(target=run, name="uvicorn", daemon=True).start()
        deadline = time.monotonic() + 20
        while not all(s.started for s in servers) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not all(s.started for s in servers):
            raise RuntimeError("uvicorn did not start")

    # ------------------------------------------------------------------ commands
    def tick(self, camera: Camera) -> float:
        self.clock += 1 / camera.config.detect.fps
        camera.frame(self.clock)
        return self.clock

    def tracked_ids(self, camera: Camera) -> list[str]:
        """The camera's objects in progress, top lane first."""
        state = self.processor.camera_states[camera.name]
        live = [o for o in state.tracked_objects.values() if "end_time" not in o.obj_data]
        return [o.obj_data["id"] for o in sorted(live, key=lambda o: o.obj_data["box"][1])]

    def tracked_id(self, camera: Camera) -> str | None:
        ids = self.tracked_ids(camera)
        return ids[-1] if ids else None

    def handle(self, command: dict[str, Any]) -> dict[str, Any]:
        kind = command["cmd"]
        if kind == "enter":
            # A vehicle appears and drives `frames` frames; answers its Frigate event id.
            camera = self.cameras[command["camera"]]
            camera.vehicles = []
            camera.place(command["photo"], command["plate_box"], command.get("score", 0.74))
            for _ in range(command.get("frames", 12)):
                camera.move(command.get("step", 60))
                self.tick(camera)
            return {"event_id": self.tracked_id(camera)}
        if kind == "enter_together":
            # Vehicles side by side (one lane each) enter in the same frame.
            camera = self.cameras[command["camera"]]
            camera.vehicles = []
            lanes = len(command["vehicles"])
            for lane, vehicle in enumerate(command["vehicles"]):
                camera.place(vehicle["photo"], vehicle["plate_box"], 0.74, lane, lanes)
            for _ in range(command.get("frames", 12)):
                camera.move(command.get("step", 60))
                self.tick(camera)
            return {"event_ids": self.tracked_ids(camera)}
        if kind == "drive":
            camera = self.cameras[command["camera"]]
            for _ in range(command.get("frames", 5)):
                camera.move(command.get("step", 60))
                self.tick(camera)
            return {"event_id": self.tracked_id(camera)}
        if kind == "leave":
            # The vehicle is gone: empty frames until Frigate ends the event and stores it.
            from frigate.models import Event

            camera = self.cameras[command["camera"]]
            event_ids = command.get("event_ids") or [command["event_id"]]
            camera.vehicles = []
            state = self.processor.camera_states[camera.name]
            in_progress_until = time.time()
            for _ in range(200):
                in_progress_until = time.time()  # `end` is published during the next tick
                self.tick(camera)
                if not set(event_ids) & set(state.tracked_objects):
                    break
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                rows = [Event.get_or_none(Event.id == event_id) for event_id in event_ids]
                if all(row is not None and row.end_time is not None for row in rows):
                    return {
                        "event_id": event_ids[0],
                        "end_time": rows[0].end_time,
                        "end_times": [row.end_time for row in rows],
                        "in_progress_until": in_progress_until,
                    }
                time.sleep(0.02)
            return {"event_id": event_ids[0], "end_time": None}
        if kind == "lpr":
            # What Frigate's LPR mixin publishes once its clustered plate passes its checks.
            from frigate.comms.event_metadata_updater import EventMetadataTypeEnum
            from frigate.types import TrackedObjectUpdateTypesEnum

            event_id, plate, score = command["event_id"], command["plate"], command["score"]
            name = command.get("name")
            if name is not None:
                self.lpr_publisher.publish(
                    (event_id, name, score), EventMetadataTypeEnum.sub_label.value
                )
            self.requestor.send_data(
                "tracked_object_update",
                json.dumps(
                    {
                        "type": TrackedObjectUpdateTypesEnum.lpr,
                        "name": name,
                        "plate": plate,
                        "score": score,
                        "id": event_id,
                        "camera": command["camera"],
                        "timestamp": self.clock,
                    }
                ),
            )
            self.lpr_publisher.publish(
                (event_id, "recognized_license_plate", plate, score),
                EventMetadataTypeEnum.attribute.value,
            )
            return {"ok": True}
        if kind == "dedicated_read":
            return self.dedicated_read(command)
        if kind == "live":
            # The live tracked object's to_dict() (what the next MQTT message will carry).
            for state in self.processor.camera_states.values():
                obj = state.tracked_objects.get(command["event_id"])
                if obj is not None:
                    return {"object": json.loads(json.dumps(obj.to_dict(), default=str))}
            return {"object": None}
        if kind == "path":
            # Where Frigate keeps an event's files (for tests that damage them as real disks do).
            from frigate.const import CLIPS_DIR

            return {"clips": CLIPS_DIR}
        if kind == "access_log":
            return {"log": list(self.access_log)}
        if kind == "stop":
            return {"ok": True}
        raise ValueError(f"unknown command {kind!r}")

    def dedicated_read(self, command: dict[str, Any]) -> dict[str, Any]:
        """A dedicated LPR camera reads a plate: what Frigate's LPR mixin publishes for it
        (create the ``license_plate`` event, its ``tracked_object_update``, the plate on the
        event, the frame as its snapshot), and the embeddings maintainer's end once the plate
        is not seen for the camera's ``lpr.expire_time``."""
        import base64

        import cv2
        from frigate.comms.event_metadata_updater import EventMetadataTypeEnum
        from frigate.types import TrackedObjectUpdateTypesEnum

        camera = self.cameras[command["camera"]]
        camera.vehicles = []
        camera.place(command["photo"], command["plate_box"], 0.0)
        bgr = camera.canvas()
        camera.vehicles = []
        plate, score = command["plate"], command["score"]
        now = time.time()
        event_id = f"{now}-{secrets.token_hex(3)}"
        self.lpr_publisher.publish(
            (now, camera.name, "license_plate", event_id, True, score, None, plate),
            EventMetadataTypeEnum.lpr_event_create.value,
        )
        self.requestor.send_data(
            "tracked_object_update",
            json.dumps(
                {
                    "type": TrackedObjectUpdateTypesEnum.lpr,
                    "name": None,
                    "plate": plate,
                    "score": score,
                    "id": event_id,
                    "camera": camera.name,
                    "timestamp": int(now),
                }
            ),
        )
        self.lpr_publisher.publish(
            (event_id, "recognized_license_plate", plate, score),
            EventMetadataTypeEnum.attribute.value,
        )
        _, jpg = cv2.imencode(".jpg", bgr)
        self.lpr_publisher.publish(
            (base64.b64encode(jpg.tobytes()).decode("ascii"), event_id, camera.name),
            EventMetadataTypeEnum.save_lpr_snapshot.value,
        )
        expire = self.config.cameras[camera.name].lpr.expire_time

        def end() -> None:
            self.lpr_publisher.publish(
                (event_id, time.time()), EventMetadataTypeEnum.manual_event_end.value
            )

        threading.Timer(expire, end).start()
        return {"event_id": event_id, "expire_time": expire}

    def stop(self) -> None:
        self.stop_event.set()
        for server in getattr(self, "servers", []):
            server.should_exit = True
        for camera in getattr(self, "cameras", {}).values():
            camera.close()
        if hasattr(self, "mqtt"):
            self.mqtt.stop()


async def _serve_all(servers: list[Any]) -> None:
    await asyncio.gather(*(server.serve() for server in servers))


def main() -> int:
    settings = json.loads(Path(sys.argv[1]).read_text())
    logging.basicConfig(
        level=logging.WARNING,
        stream=sys.stderr,
        format="frigate %(name)s %(levelname)s %(message)s",
    )
    out = sys.stdout
    sys.stdout = sys.stderr  # Frigate's code prints; the protocol owns the real stdout
    harness = Harness(settings)
    try:
        ready = harness.start()
    except Exception as err:
        logging.exception("harness start-up failed")
        out.write(json.dumps({"error": f"{type(err).__name__}: {err}"}) + "\n")
        out.flush()
        return 1
    out.write(json.dumps({"ready": ready}) + "\n")
    out.flush()
    code = 0
    for line in sys.stdin:
        if not line.strip():
            continue
        command = json.loads(line)
        try:
            answer = harness.handle(command)
        except Exception as err:
            logging.exception("command %s failed", command.get("cmd"))
            answer = {"error": f"{type(err).__name__}: {err}"}
        out.write(json.dumps(answer) + "\n")
        out.flush()
        if command.get("cmd") == "stop":
            break
    harness.stop()
    out.flush()
    os._exit(code)  # Frigate's threads (ZMQ, MQTT, processors) are not all stoppable


if __name__ == "__main__":
    raise SystemExit(main())
