"""Fixtures for the engine's tests: real Mosquitto, real PostgreSQL, real models and photos.

A test that needs a service or the shared models/photos is skipped with a reason on a developer
machine that lacks them, and fails when ``CI=true`` (so a missing install step cannot pass quietly).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import pytest
import sqlalchemy as sa
import yaml
from aiohttp.test_utils import TestClient, TestServer

from rufina_alpr.api.app import create_app, server_options
from rufina_alpr.api.context import Timeouts
from rufina_alpr.cli.bench.accuracy import direct_alpr, most_confident_plate
from rufina_alpr.cli.demo import TransitCollector, engine_settings
from rufina_alpr.config import Settings
from rufina_alpr.engine.app import Engine
from rufina_alpr.mqtt import Message, MqttLink
from rufina_alpr.paths import SHARED
from rufina_alpr.recognizer import ModelSettings, PlateReader, Recognizer
from rufina_alpr.sim.broker import MosquittoBroker, free_port, wait_for_port
from rufina_alpr.sim.photos import Photo, load_photos
from rufina_alpr.sim.replay import FrigateReplay
from rufina_alpr.stations import Station, load_registry

IN_CI = os.environ.get("CI", "").lower() == "true"
MODELS = Path(os.environ.get("RUFINA_ALPR_MODELS", SHARED / "models"))
PHOTOS = SHARED / "data" / "openalpr-eu-dev"


def require(condition: bool, what: str) -> None:
    """Skip (developer machine) or fail (CI) when something the test needs is missing."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"{what} is required in CI but missing", pytrace=False)
    pytest.skip(f"{what} is missing")


@pytest.fixture(scope="session")
def models_dir() -> Path:
    require((MODELS / "cct-xs-v2-global").is_dir(), f"the offline models folder {MODELS}")
    return MODELS


@pytest.fixture(scope="session")
def photos_dir() -> Path:
    require((PHOTOS / "labels.csv").is_file(), f"the labelled photos {PHOTOS}")
    return PHOTOS


@pytest.fixture(scope="session")
def recognizer(models_dir: Path) -> Recognizer:
    return Recognizer(ModelSettings(models_dir=models_dir, threads=1))


@pytest.fixture
def mosquitto() -> Iterator[MosquittoBroker]:
    require(MosquittoBroker.available(), "mosquitto (apt-get install mosquitto)")
    broker = MosquittoBroker()
    broker.start_sync()
    yield broker
    broker.cleanup()


def _pg_bin(name: str) -> str | None:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    return str(found[-1]) if found else shutil.which(name)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A real PostgreSQL server in a temporary folder, owned by the `postgres` user."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    require(bool(initdb and pg_ctl), "PostgreSQL (apt-get install postgresql)")
    assert initdb and pg_ctl
    root = Path(tempfile.mkdtemp(prefix="rufina-pg-"))
    data, sockets = root / "data", root / "sock"
    sockets.mkdir()
    port = free_port()
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_postgres:
        shutil.chown(root, "postgres")
        shutil.chown(sockets, "postgres")
    subprocess.run(
        [*as_postgres, initdb, "-D", str(data), "-U", "rufina", "--auth=trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        [
            *as_postgres,
            pg_ctl,
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(root / "log"),
            "-w",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    wait_for_port("127.0.0.1", port)
    subprocess.run(
        [
            *as_postgres,
            "psql",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-U",
            "rufina",
            "-d",
            "postgres",
            "-c",
            "CREATE DATABASE rufina",
        ],
        check=True,
        capture_output=True,
    )
    yield f"postgresql+psycopg://rufina@127.0.0.1:{port}/rufina"
    subprocess.run([*as_postgres, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], check=False)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def fresh_postgres_url(postgres_url: str) -> Iterator[str]:
    """An empty database of its own on the test PostgreSQL server, dropped afterwards.

    Tests that count what the store holds must not share `postgres_url`'s database.
    """
    name = f"test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f"CREATE DATABASE {name}"))
    yield postgres_url.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as connection:
        connection.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


TEST_STATIONS = [
    Station(id="st_pomino", name="Pomino", camera="cam_pomino", kind="lpr", direction="inbound"),
    Station(id="st_roma", name="Via Roma", camera="cam_roma", kind="lpr", direction="outbound"),
    Station(id="st_piazza", name="Piazza", camera="cam_piazza", kind="context"),
]


def write_engine_config(
    path: Path, *, data_dir: Path, broker: MosquittoBroker, frigate_url: str, models_dir: Path
) -> Path:
    """A settings file for an engine in a process of its own (`engine_process`), with the test
    stations."""
    settings = {
        "data_dir": str(data_dir),
        "log_level": "info",
        "mqtt": {"host": broker.host, "port": broker.port},
        "frigate": {"url": frigate_url},
        "models": {"dir": str(models_dir)},
        "api": {"port": 0, "token": "process-test-token-0123456789"},
        "stations": [
            {"id": s.id, "name": s.name, "camera": s.camera, "kind": s.kind} for s in TEST_STATIONS
        ],
    }
    path.write_text(yaml.safe_dump(settings))
    return path


def engine_process(
    config: Path, log: Path, *, prelude: str | None = None
) -> subprocess.Popen[bytes]:
    """`rufina-alpr serve` in a process of its own, its output appended to ``log``; ``prelude``:
    Python run first in that process (a test's fault)."""
    serve = (
        "import sys\nfrom rufina_alpr.cli import main\nsys.exit(main(['serve', '-c', sys.argv[1]]))"
    )
    command = (
        ["-c", f"{prelude}\n{serve}", str(config)]
        if prelude
        else ["-m", "rufina_alpr", "serve", "-c", str(config)]
    )
    return subprocess.Popen(
        [sys.executable, *command],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


class Alerts:
    """A subscriber to `rufina_alpr/hotlist_match` (``received``: alerts raised) and
    `rufina_alpr/alert` (``updates``: what became of them), as Home Assistant's integration."""

    def __init__(self, host: str, port: int) -> None:
        self.received: list[dict[str, Any]] = []
        self.updates: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self.link = MqttLink(
            host=host,
            port=port,
            client_id=f"test-alerts-{time.monotonic_ns()}",
            subscriptions=(("rufina_alpr/hotlist_match", 1), ("rufina_alpr/alert", 1)),
            on_message=self._keep,
            manual_ack=False,
        )

    def _keep(self, message: Message) -> None:
        with self._lock:
            kept = self.updates if message.topic.endswith("/alert") else self.received
            kept.append(json.loads(message.payload))

    def changes(self, alert_id: str) -> list[str]:
        """What the updates said of one alert, in order."""
        with self._lock:
            return [u["change"] for u in self.updates if u["alert_id"] == alert_id]


@dataclass
class Harness:
    """Broker + Frigate replay + engine + a transit subscriber, wired like a deployment."""

    broker: MosquittoBroker
    replay: FrigateReplay
    engine: Engine | None
    collector: TransitCollector
    settings: Settings
    received: list[dict[str, Any]] = field(default_factory=list)

    async def wait_for(
        self, predicate: Any, timeout: float = 120.0, what: str = "condition"
    ) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}")

    async def wait_handled(self, count: int, timeout: float = 180.0) -> None:
        assert self.engine is not None
        engine = self.engine

        async def handled() -> int:
            counts = await engine.db.run(engine.store.passage_counts)
            return int(counts.read + counts.unread + counts.counted)

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if await handled() >= count:
                return
            await asyncio.sleep(0.2)
        raise AssertionError(f"only {await handled()} of {count} events handled")


@pytest.fixture
async def harness_factory(
    mosquitto: MosquittoBroker, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Any]:
    created: list[Harness] = []

    async def make(
        photos: list[Photo],
        *,
        store_url: str | None = None,
        extra: dict[str, Any] | None = None,
        start_engine: bool = True,
        stations_file: Path | None = None,
        reader: PlateReader | None = None,
    ) -> Harness:
        """``stations_file``: take the stations from a registry instead of ``TEST_STATIONS``;
        ``reader``: read plates with it instead of the models (which are then not needed)."""
        models_dir = None if reader else request.getfixturevalue("models_dir")
        stations = [] if stations_file else TEST_STATIONS
        lpr_cameras = (
            [s.camera for s in load_registry(stations_file).stations if s.reads_plates]
            if stations_file
            else [s.camera for s in TEST_STATIONS if s.reads_plates]
        )
        replay = FrigateReplay(
            photos,
            cameras=lpr_cameras,
            mqtt_host=mosquitto.host,
            mqtt_port=mosquitto.port,
            qos=1,
        )
        await replay.start()
        options: dict[str, Any] = {"store": {"url": store_url}} if store_url else {}
        if stations_file:
            options["stations_file"] = str(stations_file)
        options.update(extra or {})
        settings = engine_settings(
            broker_host=mosquitto.host,
            broker_port=mosquitto.port,
            frigate_url=replay.url,
            data_dir=tmp_path / "engine",
            stations=stations,
            models_dir=models_dir,
            extra=options,
        )
        received: list[dict[str, Any]] = []
        collector = TransitCollector(
            mosquitto.host,
            mosquitto.port,
            "rufina_alpr/transit",
            received.append,
            client_id=f"test-collector-{len(created)}",
            persistent=True,
        )
        await collector.link.start()
        await asyncio.wait_for(collector.link.connected.wait(), 10)
        engine = (
            Engine(settings, reader or request.getfixturevalue("recognizer"))
            if start_engine
            else None
        )
        if engine is not None:
            await engine.start()
            await asyncio.wait_for(engine.mqtt.connected.wait(), 10)
        harness = Harness(mosquitto, replay, engine, collector, settings, received)
        created.append(harness)
        return harness

    yield make
    for harness in created:
        if harness.engine is not None:
            await harness.engine.stop(drain_timeout=2)
        await harness.collector.link.stop()
        await harness.replay.stop()


def plates_equal(read: str, label: str) -> bool:
    return read.replace("O", "0") == label.replace("O", "0")


def direct_fast_alpr_count(
    models_dir: Path, photos: list[Photo], detector: str | None = None
) -> tuple[int, list[str]]:
    """fast-alpr called directly on each photo (same models), its most confident plate per photo."""
    alpr = direct_alpr(models_dir, threads=2, detector=detector)
    hits, misses = 0, []
    for photo in photos:
        plate = most_confident_plate(alpr, [str(photo.path)])
        if plate and photo.plate and plates_equal(plate, photo.plate):
            hits += 1
        else:
            misses.append(photo.path.name)
    return hits, misses


def direct_crop_plates(
    models_dir: Path, photos: list[Photo], detector: str | None = None
) -> dict[str, str | None]:
    """fast-alpr called directly on each photo's vehicle-box crop (the pixels the engine reads
    when Frigate gives that box): its most confident plate per photo, by file name."""
    alpr = direct_alpr(models_dir, threads=2, detector=detector)
    plates: dict[str, str | None] = {}
    for photo in photos:
        image = cv2.imread(str(photo.path), cv2.IMREAD_COLOR)
        if photo.vehicle_box is not None:
            x1, y1, x2, y2 = photo.vehicle_box
            image = image[y1:y2, x1:x2]
        plates[photo.path.name] = most_confident_plate(alpr, [image])
    return plates


def photos_of(folder: Path) -> list[Photo]:
    return load_photos(folder)


def dump(payload: Any) -> str:
    return json.dumps(payload, indent=1)


_FIGURES: list[str] = []


@pytest.fixture
def figure() -> Any:
    """Report a measured figure: printed in the run's summary (also without ``-s``)."""
    return _FIGURES.append


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _FIGURES:
        terminalreporter.section("measured figures")
        for line in _FIGURES:
            terminalreporter.write_line(line)


@asynccontextmanager
async def api_client(
    engine: Engine, timeouts: Timeouts | None = None
) -> AsyncIterator[TestClient[Any, Any]]:
    """A test client of the engine's HTTP API, served as `start_api` serves it."""
    server = TestServer(create_app(engine), host="127.0.0.1")
    await server.start_server(**server_options(timeouts or Timeouts()))
    async with TestClient(server) as client:
        yield client
