"""Fixtures of the Frigate-code contract suite: Frigate 0.17.2's own code (``frigate_harness.py``,
run on ``.venv-frigate``) against the real engine (this venv), over a real Mosquitto.

Missing pieces (Frigate's source in ../shared, ``.venv-frigate``, mosquitto, models, photos) skip
on a developer machine and fail under ``CI=true``, like the engine suite's fixtures.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import json
import os
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa

from rufina_alpr.cli.demo import TransitCollector, engine_settings
from rufina_alpr.engine.app import Engine
from rufina_alpr.mqtt import Message, MqttLink
from rufina_alpr.paths import SHARED
from rufina_alpr.recognizer import Recognizer
from rufina_alpr.sim.broker import MosquittoBroker, free_port
from rufina_alpr.store import passages
from tests.engine import conftest as engine_conftest
from tests.engine.conftest import TEST_STATIONS, plates_equal, require

# The engine suite's fixtures, shared: real Mosquitto, the offline models, the labelled photos.
mosquitto = engine_conftest.mosquitto
models_dir = engine_conftest.models_dir
photos_dir = engine_conftest.photos_dir
recognizer = engine_conftest.recognizer
__all__ = ["plates_equal"]

REPO = Path(__file__).resolve().parents[2]
FRIGATE_SRC = Path(os.environ.get("FRIGATE_SRC", SHARED / "frigate" / "src-0.17.2"))
FRIGATE_PYTHON = REPO / ".venv-frigate" / "bin" / "python"
HARNESS = Path(__file__).with_name("frigate_harness.py")
START_TIMEOUT = 90.0
COMMAND_TIMEOUT = 60.0
ADMIN = {"name": "rufina", "password": "rufina-engine-pw-1", "role": "admin"}
VIEWER = {"name": "guardia", "password": "guardia-viewer-pw-1", "role": "viewer"}


@dataclass(frozen=True)
class LabelledPhoto:
    path: Path
    plate: str
    plate_box: tuple[int, int, int, int]
    """x, y, w, h of the plate in the photo (labels.csv)."""


def labelled(photos_dir: Path, *names: str) -> list[LabelledPhoto]:
    with (photos_dir / "labels.csv").open(newline="") as handle:
        rows = {row["file"]: row for row in csv.DictReader(handle)}
    return [
        LabelledPhoto(
            photos_dir / name,
            rows[name]["plate"],
            (
                int(rows[name]["x"]),
                int(rows[name]["y"]),
                int(rows[name]["w"]),
                int(rows[name]["h"]),
            ),
        )
        for name in names
    ]


class FrigateCode:
    """Frigate's own code in a subprocess; commands are JSON lines (see ``frigate_harness.py``)."""

    def __init__(self, root: Path, broker: MosquittoBroker, **settings: Any) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.settings = {
            "root": str(root / "frigate"),
            "mqtt_port": broker.port,
            "internal_port": free_port(),
            "auth_port": free_port(),
            "cameras": [s.camera for s in TEST_STATIONS],
            "detect": [1920, 1080],
            "users": [ADMIN, VIEWER],
            **settings,
        }
        self.internal_url = f"http://127.0.0.1:{self.settings['internal_port']}"
        self.auth_url = f"http://127.0.0.1:{self.settings['auth_port']}"
        self._lock = threading.Lock()
        self._process: subprocess.Popen[str] | None = None
        self._frames: list[Path] = []
        self.log = root / "frigate.log"

    def start(self) -> None:
        settings_file = self.root / "frigate-settings.json"
        settings_file.write_text(json.dumps(self.settings))
        env = {**os.environ, "FRIGATE_SRC": str(FRIGATE_SRC)}
        with self.log.open("a") as log:  # a restart appends
            self._process = subprocess.Popen(
                [str(FRIGATE_PYTHON), str(HARNESS), str(settings_file)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                env=env,
                cwd=self.root,
            )
        answer = self._read(START_TIMEOUT)
        if "ready" not in answer:
            raise AssertionError(f"Frigate's code did not start: {answer}\n{self.log_tail()}")
        self._frames = [Path("/dev/shm") / name for name in answer["ready"]["shared_memory"]]

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def _read(self, timeout: float) -> dict[str, Any]:
        assert self._process is not None and self._process.stdout is not None
        result: list[str] = []
        reader = threading.Thread(target=lambda: result.append(self._process.stdout.readline()))  # type: ignore[union-attr]
        reader.start()
        reader.join(timeout)
        if not result or not result[0]:
            raise AssertionError(f"no answer from Frigate's code\n{self.log_tail()}")
        answer: dict[str, Any] = json.loads(result[0])
        return answer

    def command(self, cmd: str, **arguments: Any) -> dict[str, Any]:
        with self._lock:
            assert self._process is not None and self._process.stdin is not None
            self._process.stdin.write(json.dumps({"cmd": cmd, **arguments}) + "\n")
            self._process.stdin.flush()
            answer = self._read(COMMAND_TIMEOUT)
        if "error" in answer:
            raise AssertionError(f"Frigate harness: {cmd}: {answer['error']}\n{self.log_tail()}")
        return answer

    async def call(self, cmd: str, **arguments: Any) -> dict[str, Any]:
        return await asyncio.to_thread(self.command, cmd, **arguments)

    async def pass_vehicle(
        self, photo: LabelledPhoto, camera: str = "cam_pomino", *, frames: int = 14
    ) -> str:
        """A vehicle drives through the camera's view and leaves; Frigate's event id."""
        event_id = await self.enter(photo, camera, frames=frames)
        await self.leave(event_id, camera)
        return event_id

    async def enter(
        self, photo: LabelledPhoto, camera: str = "cam_pomino", *, frames: int = 12
    ) -> str:
        answer = await self.call(
            "enter",
            camera=camera,
            photo=str(photo.path),
            plate_box=list(photo.plate_box),
            frames=frames,
        )
        event_id = answer["event_id"]
        assert isinstance(event_id, str), f"Frigate tracks no object: {answer}"
        return event_id

    async def enter_together(
        self, photos: list[LabelledPhoto], camera: str = "cam_pomino", *, frames: int = 12
    ) -> list[str]:
        """Vehicles side by side (top lane first) entering in the same frame; their event ids."""
        vehicles = [{"photo": str(p.path), "plate_box": list(p.plate_box)} for p in photos]
        answer = await self.call("enter_together", camera=camera, vehicles=vehicles, frames=frames)
        event_ids: list[str] = answer["event_ids"]
        assert len(event_ids) == len(photos), f"Frigate tracks {answer}"
        return event_ids

    async def leave_all(self, event_ids: list[str], camera: str = "cam_pomino") -> None:
        answer = await self.call("leave", camera=camera, event_ids=event_ids)
        assert answer["end_time"] is not None, f"Frigate did not end {event_ids}"

    async def leave(self, event_id: str, camera: str = "cam_pomino") -> float:
        answer = await self.call("leave", camera=camera, event_id=event_id)
        assert answer["end_time"] is not None, f"Frigate did not end {event_id}"
        return float(answer["end_time"])

    async def api(
        self, method: str, path: str, *, body: Any = None, url: str | None = None, **kwargs: Any
    ) -> tuple[int, bytes]:
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                method, f"{url or self.internal_url}{path}", json=body, **kwargs
            ) as response,
        ):
            return response.status, await response.read()

    async def login(self, user: dict[str, str]) -> str:
        """Frigate's ``POST /api/login`` on the authenticated port: the JWT of its cookie."""
        body = {"user": user["name"], "password": user["password"]}
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{self.auth_url}/api/login", json=body) as response,
        ):
            assert response.status == 200, await response.text()
            return response.cookies["frigate_token"].value

    async def event(self, event_id: str) -> dict[str, Any]:
        status, body = await self.api("GET", f"/api/events/{event_id}")
        assert status == 200, body
        loaded: dict[str, Any] = json.loads(body)
        return loaded

    def crash(self) -> None:
        """Frigate dies (container killed, power cut): nothing of its shutdown runs."""
        assert self._process is not None
        self._process.kill()
        self._process.wait(10)
        self._process = None
        for frame in self._frames:  # the container's /dev/shm goes with it
            frame.unlink(missing_ok=True)

    def stop(self) -> None:
        if self._process is None:
            return
        try:
            if self._process.poll() is None:
                self.command("stop")
        except (AssertionError, BrokenPipeError, OSError):
            pass
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(5)


@dataclass
class FrigateMessages:
    """Everything Frigate publishes under ``frigate/``, as a consumer sees it."""

    link: MqttLink
    messages: list[tuple[str, Any]] = field(default_factory=list)

    def events(self, event_id: str) -> list[dict[str, Any]]:
        return [
            payload
            for topic, payload in self.messages
            if topic == "frigate/events" and payload["after"]["id"] == event_id
        ]

    def of_type(self, event_id: str, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.events(event_id) if m["type"] == kind]


@dataclass
class EngineRun:
    engine: Engine
    collector: TransitCollector
    received: list[dict[str, Any]]

    async def wait_for(self, predicate: Callable[[], bool], what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}")

    async def handled(self, event_id: str, timeout: float = 60) -> None:
        """The engine stored an outcome (transit or passage) of this Frigate event."""

        def stored() -> bool:
            with self.engine.store.engine.connect() as connection:
                query = sa.select(passages.c.camera).where(passages.c.event_id == event_id)
                return connection.execute(query).first() is not None

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if await self.engine.db.run(stored):
                return
            await asyncio.sleep(0.1)
        counters = self.engine.metrics.snapshot()
        raise AssertionError(f"the engine never handled {event_id}; counters {counters}")

    def transits(self, event_id: str) -> list[dict[str, Any]]:
        return [t for t in self.received if t["event_id"] == event_id]

    async def one_transit(self, event_id: str) -> dict[str, Any]:
        await self.handled(event_id)
        await self.wait_for(lambda: bool(self.transits(event_id)), f"the transit of {event_id}", 20)
        await asyncio.sleep(0.5)  # a second transit of the same event would have come by now
        transits = self.transits(event_id)
        assert len(transits) == 1, transits
        return transits[0]


def jwt_claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


@pytest.fixture
def frigate_available() -> None:
    require(
        (FRIGATE_SRC / "frigate" / "api" / "fastapi_app.py").is_file(),
        f"Frigate 0.17.2's source at {FRIGATE_SRC}",
    )
    require(FRIGATE_PYTHON.is_file(), f"{FRIGATE_PYTHON} (scripts/frigate-env.sh)")


@pytest.fixture
async def frigate_factory(
    frigate_available: None, mosquitto: MosquittoBroker, tmp_path: Path
) -> AsyncIterator[Callable[..., Any]]:
    started: list[FrigateCode] = []

    async def make(**settings: Any) -> FrigateCode:
        frigate = FrigateCode(tmp_path / f"frigate{len(started)}", mosquitto, **settings)
        started.append(frigate)
        await asyncio.to_thread(frigate.start)
        return frigate

    yield make
    for frigate in started:
        await asyncio.to_thread(frigate.stop)


@pytest.fixture
async def frigate_messages(mosquitto: MosquittoBroker) -> AsyncIterator[FrigateMessages]:
    recorder: FrigateMessages

    def keep(message: Message) -> None:
        try:
            payload: Any = json.loads(message.payload)
        except (UnicodeDecodeError, ValueError):
            payload = message.payload
        recorder.messages.append((message.topic, payload))

    link = MqttLink(
        host=mosquitto.host,
        port=mosquitto.port,
        client_id=f"frigate-recorder-{time.monotonic_ns()}",
        subscriptions=(("frigate/#", 1),),
        on_message=keep,
        clean_session=True,
        manual_ack=False,
    )
    recorder = FrigateMessages(link)
    await link.start()
    await asyncio.wait_for(link.connected.wait(), 10)
    yield recorder
    await link.stop()


@pytest.fixture
async def engine_factory(
    mosquitto: MosquittoBroker, recognizer: Recognizer, tmp_path: Path, models_dir: Path
) -> AsyncIterator[Callable[..., Any]]:
    runs: list[EngineRun] = []

    async def make(frigate_url: str, extra: dict[str, Any] | None = None) -> EngineRun:
        settings = engine_settings(
            broker_host=mosquitto.host,
            broker_port=mosquitto.port,
            frigate_url=frigate_url,
            data_dir=tmp_path / f"engine{len(runs)}",
            stations=TEST_STATIONS,
            models_dir=models_dir,
            extra=extra,
        )
        received: list[dict[str, Any]] = []
        collector = TransitCollector(
            mosquitto.host,
            mosquitto.port,
            "rufina_alpr/transit",
            received.append,
            client_id=f"frigate-code-collector-{len(runs)}",
        )
        await collector.link.start()
        await asyncio.wait_for(collector.link.connected.wait(), 10)
        engine = Engine(settings, recognizer)
        await engine.start()
        await asyncio.wait_for(engine.mqtt.connected.wait(), 10)
        run = EngineRun(engine, collector, received)
        runs.append(run)
        return run

    yield make
    for run in runs:
        await run.engine.stop(drain_timeout=2)
        await run.collector.link.stop()
