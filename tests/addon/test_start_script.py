"""The add-on's start script with a sample options.json and a fake Supervisor.

The fake Supervisor is a local aiohttp server answering the three calls the script makes
(``GET /services/mqtt``, ``GET /addons/self/info``, ``POST /discovery``); the broker it hands out
is a real Mosquitto; Frigate is the replay with real photos. The script must produce the engine
settings the options ask for, start the engine, and announce it with the keys the integration's
``async_step_hassio`` reads.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp
import paho.mqtt.client as paho
import pytest
from aiohttp import web

from rufina_alpr.config import load_settings
from rufina_alpr.sim.broker import MosquittoBroker, free_port
from rufina_alpr.sim.photos import load_photos
from rufina_alpr.sim.replay import FrigateReplay
from rufina_alpr.stations import load_registry

from .conftest import REGISTRY, REPO, START_SCRIPT

SUPERVISOR_TOKEN = "supervisor-token-for-tests"
PREFIX = "rufina_addon"
API_TOKEN = "addon-api-token-0123456789"
CONFIG_FLOW = REPO / "custom_components" / "rufina_alpr" / "config_flow.py"


def sample_options(tmp_path: Path, **changes: Any) -> dict[str, Any]:
    """What the Supervisor writes to /data/options.json from the user's configuration."""
    options: dict[str, Any] = {
        "frigate_url": "http://ccab4aaf-frigate:5000",
        "api_token": API_TOKEN,
        "models_dir": str(REPO.parent / "shared" / "models"),
        "stations_file": str(tmp_path / "config" / "stations.yaml"),
        "retention_days": 14,
        "log_level": "debug",
        "topic_prefix": PREFIX,
        "instance": "rufina-addon",
        "ingress_role": "viewer",
        "ingress_admins": ["comandante"],
    }
    options.update(changes)
    return options


MQTT_SERVICE = {
    "addon": "core_mosquitto",
    "host": "core-mosquitto",
    "port": 1883,
    "ssl": False,
    "protocol": "3.1.1",
    "username": "no",  # YAML would read it as false: it must stay a string
    "password": "0123",
}


# ------------------------------------------------------------------- settings, no processes
def test_options_and_broker_become_engine_settings(
    start_script: ModuleType, tmp_path: Path
) -> None:
    options = sample_options(tmp_path)
    options_file = tmp_path / "options.json"
    options_file.write_text(json.dumps(options))
    data = tmp_path / "data"
    start_script.REGISTRY_SEED = REGISTRY
    start_script.seed_registry(options)
    token = start_script.api_token(options, data)
    path = start_script.write_config(
        start_script.engine_config(MQTT_SERVICE, "abcd1234-rufina-alpr", data), tmp_path / "run"
    )
    assert path.stat().st_mode & 0o777 == 0o600, "the broker password is in that file"

    settings = load_settings(
        path, addon_options=options_file, environ={"RUFINA_ALPR_API_TOKEN": token}
    )
    assert settings.mqtt.host == "core-mosquitto" and settings.mqtt.port == 1883
    assert settings.mqtt.username == "no" and settings.mqtt.password == "0123"
    assert settings.mqtt.topic_prefix == PREFIX
    assert settings.frigate.url == "http://ccab4aaf-frigate:5000"
    assert settings.models_dir == REPO.parent / "shared" / "models"
    assert settings.privacy.retention_days == 14
    assert settings.log_level == "debug"
    assert settings.instance == "rufina-addon"
    assert settings.data_dir == data
    assert settings.api.host == "0.0.0.0" and settings.api.port == start_script.API_PORT
    assert settings.api.public_url == f"http://abcd1234-rufina-alpr:{start_script.API_PORT}"
    assert settings.api.token == API_TOKEN
    assert settings.api.delegate is True, "HA's token names the HA user in the audit log"
    assert settings.api.ingress.enabled is True
    assert settings.api.ingress.role == "viewer"
    assert settings.api.ingress.admins == ("comandante",)
    # the stations file was seeded with the town's registry
    assert len(settings.stations) == len(load_registry(REGISTRY).stations) == 34
    assert (tmp_path / "config" / "stations.yaml").read_text() == REGISTRY.read_text()


def test_generated_token_is_kept_across_starts(start_script: ModuleType, tmp_path: Path) -> None:
    options = sample_options(tmp_path, api_token="")
    first = start_script.api_token(options, tmp_path)
    assert len(first) >= 16
    assert (tmp_path / "api_token").stat().st_mode & 0o777 == 0o600
    assert start_script.api_token(options, tmp_path) == first
    # the engine reads the same file when it generates its own token
    settings = load_settings(overrides={"data_dir": str(tmp_path)}, environ={})
    assert settings.api.token == first


def test_existing_stations_file_is_left_alone(start_script: ModuleType, tmp_path: Path) -> None:
    mine = tmp_path / "config" / "stations.yaml"
    mine.parent.mkdir()
    mine.write_text("# mine\n")
    start_script.REGISTRY_SEED = REGISTRY
    start_script.seed_registry(sample_options(tmp_path))
    assert mine.read_text() == "# mine\n"


def test_discovery_keys_are_the_ones_the_integration_reads(start_script: ModuleType) -> None:
    flow = CONFIG_FLOW.read_text()
    hassio = flow[flow.index("async def async_step_hassio(") :]
    hassio = hassio[: hassio.index("async def async_step_hassio_confirm")]
    read = set(re.findall(r"config\.get\(['\"]([a-z_]+)['\"]\)", hassio))
    assert read == {"api_url", "host", "port", "token", "topic_prefix"}
    sent = re.search(r"config = \{(.*?)\n    \}", START_SCRIPT.read_text(), re.S)
    assert sent is not None
    assert set(re.findall(r'"([a-z_]+)":', sent.group(1))) == read


# ------------------------------------------------------------------ the real start, end to end
@dataclass
class FakeSupervisor:
    mqtt: dict[str, Any] | None
    hostname: str = "127.0.0.1"
    discoveries: list[dict[str, Any]] = field(default_factory=list)
    unauthorized: int = 0
    url: str = ""

    def app(self) -> web.Application:
        def authorized(request: web.Request) -> bool:
            ok = request.headers.get("Authorization") == f"Bearer {SUPERVISOR_TOKEN}"
            self.unauthorized += not ok
            return ok

        async def services_mqtt(request: web.Request) -> web.Response:
            if not authorized(request):
                return web.json_response({"result": "error", "message": "denied"}, status=401)
            if self.mqtt is None:
                return web.json_response(
                    {"result": "error", "message": "No MQTT service"}, status=400
                )
            return web.json_response({"result": "ok", "data": self.mqtt})

        async def self_info(request: web.Request) -> web.Response:
            if not authorized(request):
                return web.json_response({"result": "error", "message": "denied"}, status=401)
            return web.json_response(
                {"result": "ok", "data": {"slug": "local_rufina_alpr", "hostname": self.hostname}}
            )

        async def discovery(request: web.Request) -> web.Response:
            if not authorized(request):
                return web.json_response({"result": "error", "message": "denied"}, status=401)
            self.discoveries.append(await request.json())
            return web.json_response({"result": "ok", "data": {"uuid": "0f1e2d3c"}})

        app = web.Application()
        app.router.add_get("/services/mqtt", services_mqtt)
        app.router.add_get("/addons/self/info", self_info)
        app.router.add_post("/discovery", discovery)
        return app


async def _serve(supervisor: FakeSupervisor) -> web.AppRunner:
    runner = web.AppRunner(supervisor.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    supervisor.url = f"http://127.0.0.1:{port}"
    return runner


def _environment(tmp_path: Path, supervisor: FakeSupervisor, api_port: int) -> dict[str, str]:
    return {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "SUPERVISOR_API": supervisor.url,
        "SUPERVISOR_TOKEN": SUPERVISOR_TOKEN,
        "RUFINA_ADDON_OPTIONS": str(tmp_path / "options.json"),
        "RUFINA_ADDON_DATA": str(tmp_path / "data"),
        "RUFINA_ADDON_RUN": str(tmp_path / "run"),
        "RUFINA_ADDON_REGISTRY": str(REGISTRY),
        "RUFINA_ADDON_API_PORT": str(api_port),
    }


class Subscriber:
    """A plain paho client on the engine's topics (what Home Assistant's MQTT sees)."""

    def __init__(self, broker: MosquittoBroker) -> None:
        self.messages: dict[str, list[bytes]] = {}
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="addon-test")
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.subscribe(f"{PREFIX}/#", qos=1)
        self.client.loop_start()

    def _on_message(self, _client: Any, _userdata: Any, message: Any) -> None:
        self.messages.setdefault(message.topic, []).append(message.payload)

    def last(self, topic: str) -> dict[str, Any] | None:
        payloads = self.messages.get(f"{PREFIX}/{topic}")
        return json.loads(payloads[-1]) if payloads and payloads[-1] else None

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


async def _until(predicate: Any, what: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
async def subscriber(mosquitto: MosquittoBroker) -> AsyncIterator[Subscriber]:
    sub = Subscriber(mosquitto)
    yield sub
    sub.stop()


@pytest.mark.slow
async def test_start_script_starts_and_announces_the_engine(
    tmp_path: Path,
    mosquitto: MosquittoBroker,
    models_dir: Path,
    photos_dir: Path,
    subscriber: Subscriber,
) -> None:
    registry = load_registry(REGISTRY)
    lpr = next(station for station in registry.stations if station.reads_plates)
    photo = next(p for p in load_photos(photos_dir) if p.plate)
    replay = FrigateReplay(
        [photo], cameras=[lpr.camera], mqtt_host=mosquitto.host, mqtt_port=mosquitto.port, qos=1
    )
    await replay.start()
    supervisor = FakeSupervisor(
        mqtt={
            **MQTT_SERVICE,
            "host": mosquitto.host,
            "port": mosquitto.port,
            "password": "broker-secret-pw",
        }
    )
    runner = await _serve(supervisor)
    options = sample_options(tmp_path, frigate_url=replay.url, models_dir=str(models_dir))
    (tmp_path / "options.json").write_text(json.dumps(options))
    api_port = free_port()
    log = (tmp_path / "addon.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(START_SCRIPT),
        env=_environment(tmp_path, supervisor, api_port),
        stdout=log,
        stderr=log,
    )
    try:
        await _until(lambda: supervisor.discoveries, "the discovery", timeout=120)
        assert supervisor.unauthorized == 0
        assert supervisor.discoveries == [
            {
                "service": "rufina_alpr",
                "config": {
                    "host": "127.0.0.1",
                    "port": api_port,
                    "api_url": f"http://127.0.0.1:{api_port}",
                    "token": API_TOKEN,
                    "topic_prefix": PREFIX,
                },
            }
        ]
        # the engine is online on the Supervisor's broker, under the options' prefix
        await _until(lambda: (subscriber.last("status") or {}).get("state") == "online", "status")
        status = subscriber.last("status")
        assert status is not None and status["instance"] == "rufina-addon"
        assert status["api_url"] == f"http://127.0.0.1:{api_port}"
        # its API takes the announced token
        async with (
            aiohttp.ClientSession() as session,
            session.get(
                f"http://127.0.0.1:{api_port}/api/v1/info",
                headers={"Authorization": f"Bearer {API_TOKEN}"},
            ) as response,
        ):
            assert response.status == 200
            info = await response.json()
        assert info["instance"] == "rufina-addon"
        assert info["stations"] == len(registry.stations)
        # and it reads a vehicle Frigate reports on one of the town's plate-reading cameras
        await replay.replay_one(photo, lpr.camera)
        await _until(lambda: subscriber.last("transit") is not None, "a transit", timeout=120)
        transit = subscriber.last("transit")
        assert transit is not None
        assert transit["station"] == lpr.id
        assert transit["plate"].replace("O", "0") == (photo.plate or "").replace("O", "0")
        # the Supervisor stops the add-on with SIGTERM: the engine stops cleanly, offline
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 30) == 0
        await _until(lambda: (subscriber.last("status") or {}).get("state") == "offline", "offline")
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        log.close()
        await runner.cleanup()
        await replay.stop()
    text = (tmp_path / "addon.log").read_text()
    assert API_TOKEN not in text and "broker-secret-pw" not in text, "secrets in the log"
    assert (tmp_path / "data" / "rufina_alpr.db").is_file()


async def test_without_a_broker_the_start_script_says_so(tmp_path: Path) -> None:
    supervisor = FakeSupervisor(mqtt=None)
    runner = await _serve(supervisor)
    (tmp_path / "options.json").write_text(json.dumps(sample_options(tmp_path)))
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(START_SCRIPT),
            env=_environment(tmp_path, supervisor, free_port()),
            stderr=asyncio.subprocess.PIPE,
        )
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
    finally:
        await runner.cleanup()
    assert process.returncode == 1
    assert b"Mosquitto add-on" in stderr
    assert not supervisor.discoveries
