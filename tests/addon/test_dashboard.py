"""The Lovelace dashboard (dashboards/rufina_alpr.yaml) in a real Home Assistant, in Chromium.

Everything is real except Frigate, which is the replay: Mosquitto, the engine (`rufina-alpr serve`
with the town's station registry and the offline models), Home Assistant at the pinned version
(`.venv-ha/bin/hass`) with the integration, onboarded and configured through its HTTP API (MQTT
and Rufina ALPR through the config-flow API), the dashboard in YAML mode, headless Chromium
driven by Playwright. Fails on a card that cannot render (`hui-error-card`), on a warning
(`hui-warning`: an entity that does not exist) and when the last plate of a replayed vehicle is
not on the page; saves a screenshot to artifacts/screenshots/.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import paho.mqtt.client as paho
import pytest
import yaml

from rufina_alpr.broker import MosquittoBroker, free_port
from rufina_alpr.replay import FrigateReplay, load_photos
from rufina_alpr.stations import load_registry

from .conftest import REGISTRY, REPO, require

HASS = REPO / ".venv-ha" / "bin" / "hass"
DASHBOARD = REPO / "dashboards" / "rufina_alpr.yaml"
SCREENSHOTS = REPO / "artifacts" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
TOKEN = "dashboard-test-token-0123456789"
CLIENT_ID = "http://127.0.0.1/"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VEHICLES = 6

pytestmark = pytest.mark.slow


def _ha_config(port: int) -> str:
    return f"""
homeassistant:
  name: Comune di Rufina
  latitude: 43.8167
  longitude: 11.4833
  elevation: 115
  unit_system: metric
  currency: EUR
  country: IT
  language: it
  time_zone: Europe/Rome
frontend:
http:
  server_host: 127.0.0.1
  server_port: {port}
api:
recorder:
  commit_interval: 1
history:
logbook:
lovelace:
  dashboards:
    rufina-alpr:
      mode: yaml
      filename: rufina_alpr.yaml
      title: Rufina ALPR
      icon: mdi:car-search
      show_in_sidebar: true
"""


def _onboarding_storage() -> str:
    """Core config, analytics and integration steps done: only the user is left (by the API)."""
    return json.dumps(
        {
            "version": 4,
            "minor_version": 1,
            "key": "onboarding",
            "data": {"done": ["core_config", "analytics", "integration"]},
        }
    )


@pytest.fixture
def hass_dir(tmp_path: Path) -> Path:
    require(HASS.is_file(), f"Home Assistant at {HASS} (bash scripts/ha-env.sh)")
    require(Path(CHROMIUM).is_file(), "chromium (apt-get install chromium)")
    config = tmp_path / "ha"
    (config / ".storage").mkdir(parents=True)
    (config / "custom_components").mkdir()
    (config / "custom_components" / "rufina_alpr").symlink_to(
        REPO / "custom_components" / "rufina_alpr"
    )
    shutil.copyfile(DASHBOARD, config / "rufina_alpr.yaml")
    (config / ".storage" / "onboarding").write_text(_onboarding_storage())
    return config


class Api:
    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session, self.url, self.token = session, url, ""

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        async with self.session.request(
            method, f"{self.url}{path}", json=body, headers=headers
        ) as response:
            text = await response.text()
            assert response.status < 400, f"{method} {path}: {response.status} {text}"
            return json.loads(text) if text else None

    async def websocket(self, message: dict[str, Any]) -> Any:
        """One command on HA's websocket API; its result."""
        async with self.session.ws_connect(f"{self.url}/api/websocket") as socket:
            assert (await socket.receive_json())["type"] == "auth_required"
            await socket.send_json({"type": "auth", "access_token": self.token})
            assert (await socket.receive_json())["type"] == "auth_ok"
            await socket.send_json({"id": 1, **message})
            reply = await socket.receive_json()
            assert reply["success"], reply
            return reply["result"]


async def _until(check: Any, what: str, timeout: float = 60.0, step: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = await check()
        if result:
            return result
        await asyncio.sleep(step)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
async def replay(mosquitto: MosquittoBroker, photos_dir: Path) -> AsyncIterator[FrigateReplay]:
    cameras = [s.camera for s in load_registry(REGISTRY).stations if s.reads_plates]
    photos = [p for p in load_photos(photos_dir) if p.plate][:VEHICLES]
    frigate = FrigateReplay(
        photos, cameras=cameras, mqtt_host=mosquitto.host, mqtt_port=mosquitto.port, qos=1
    )
    await frigate.start()
    yield frigate
    await frigate.stop()


def _start_engine(
    tmp_path: Path, mosquitto: MosquittoBroker, models_dir: Path, frigate_url: str
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    config = {
        "instance": "rufina",
        "data_dir": str(tmp_path / "engine"),
        "mqtt": {"host": mosquitto.host, "port": mosquitto.port},
        "frigate": {"url": frigate_url},
        "models": {"dir": str(models_dir)},
        "api": {"host": "127.0.0.1", "port": port, "token": TOKEN},
        "stations_file": str(REGISTRY),
        "stats_interval": 2,
    }
    (tmp_path / "engine.yaml").write_text(yaml.safe_dump(config))
    log = (tmp_path / "engine.log").open("wb")
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "rufina-alpr"),
            "serve",
            "-c",
            str(tmp_path / "engine.yaml"),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return process, f"http://127.0.0.1:{port}"


def _ha_status_online(mosquitto: MosquittoBroker) -> tuple[paho.Client, list[bytes]]:
    """Watch homeassistant/status: HA publishes `online` once MQTT has subscribed."""
    seen: list[bytes] = []
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="dashboard-test")
    client.on_message = lambda _c, _u, message: seen.append(message.payload)
    client.connect(mosquitto.host, mosquitto.port)
    client.subscribe("homeassistant/status")
    client.loop_start()
    return client, seen


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def test_dashboard_renders_in_a_real_home_assistant(
    tmp_path: Path,
    hass_dir: Path,
    mosquitto: MosquittoBroker,
    models_dir: Path,
    replay: FrigateReplay,
) -> None:
    from playwright.async_api import async_playwright  # noqa: PLC0415

    registry = load_registry(REGISTRY)
    engine, engine_url = _start_engine(tmp_path, mosquitto, models_dir, replay.url)
    ha_port = free_port()
    (hass_dir / "configuration.yaml").write_text(_ha_config(ha_port))
    ha_log = (tmp_path / "hass.log").open("wb")
    hass = subprocess.Popen(  # noqa: ASYNC220 - a server for the whole test, not awaited
        [str(HASS), "-c", str(hass_dir), "--skip-pip"],
        stdout=ha_log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    watcher, ha_status = _ha_status_online(mosquitto)
    url = f"http://127.0.0.1:{ha_port}"
    try:
        async with aiohttp.ClientSession() as session:
            api = Api(session, url)

            async def engine_up() -> bool:
                try:
                    async with session.get(f"{engine_url}/api/health") as response:
                        return response.status == 200
                except aiohttp.ClientError:
                    return engine.poll() is not None

            await _until(engine_up, "the engine", timeout=90)
            assert engine.poll() is None, (tmp_path / "engine.log").read_text()[-3000:]

            async def ha_running() -> bool:
                assert hass.poll() is None, (tmp_path / "hass.log").read_text()[-5000:]
                try:
                    async with session.get(f"{url}/manifest.json") as response:
                        return response.status == 200
                except aiohttp.ClientError:
                    return False

            await _until(ha_running, "Home Assistant's HTTP server", timeout=120)

            # onboarding: the owner, then a token for the API and the browser
            user = await api.call(
                "POST",
                "/api/onboarding/users",
                {
                    "client_id": CLIENT_ID,
                    "name": "Comandante",
                    "username": "comandante",
                    "password": "polizia-municipale-rufina",
                    "language": "it",
                },
            )
            async with session.post(
                f"{url}/auth/token",
                data={
                    "grant_type": "authorization_code",
                    "code": user["auth_code"],
                    "client_id": CLIENT_ID,
                },
            ) as response:
                assert response.status == 200, await response.text()
                tokens = await response.json()
            api.token = tokens["access_token"]

            async def core_running() -> bool:
                return (await api.call("GET", "/api/config"))["state"] == "RUNNING"

            await _until(core_running, "Home Assistant RUNNING", timeout=120)

            # MQTT through the config-flow API, on the test broker
            flow = await api.call("POST", "/api/config/config_entries/flow", {"handler": "mqtt"})
            while flow["type"] == "form":
                flow = await api.call(
                    "POST",
                    f"/api/config/config_entries/flow/{flow['flow_id']}",
                    {"broker": mosquitto.host, "port": mosquitto.port}
                    if flow["step_id"] == "broker"
                    else {},
                )
            assert flow["type"] == "create_entry", flow

            async def mqtt_ready() -> bool:
                return b"online" in ha_status

            await _until(mqtt_ready, "homeassistant/status online", timeout=60)

            # Rufina ALPR: HA discovered the engine from its retained status (MQTT discovery);
            # the operator confirms with the URL and token through the config-flow API
            async def discovered() -> list[dict[str, Any]]:
                flows = await api.websocket({"type": "config_entries/flow/progress"})
                return [f for f in flows if f["handler"] == "rufina_alpr"]

            flow = (await _until(discovered, "the engine's MQTT discovery", timeout=30))[0]
            assert flow["context"]["source"] == "mqtt", flow
            flow = await api.call(
                "POST",
                f"/api/config/config_entries/flow/{flow['flow_id']}",
                {"url": engine_url, "api_token": TOKEN},
            )
            assert flow["type"] == "create_entry", flow

            async def states() -> dict[str, dict[str, Any]]:
                return {s["entity_id"]: s for s in await api.call("GET", "/api/states")}

            named = _dashboard_entities(yaml.safe_load(DASHBOARD.read_text()))

            async def entities_ready() -> bool:
                current = await states()
                online = current.get("binary_sensor.rufina_in_linea", {}).get("state")
                return online == "on" and named <= set(current)

            try:
                await _until(entities_ready, "the engine's entities", timeout=60)
            except AssertionError:
                current = await states()
                raise AssertionError(
                    f"missing: {sorted(named - set(current))[:20]}; "
                    f"present: {sorted(e for e in current if 'rufina' in e or 'pomino' in e)[:40]}"
                ) from None

            # vehicles through the replay: each must end as its station's last plate in HA
            expected: dict[str, str] = {}
            lpr = [s for s in registry.stations if s.reads_plates]
            for index, photo in enumerate(replay.photos):
                station = lpr[index % len(lpr)]
                await replay.replay_one(photo, station.camera)
                expected[station.name] = photo.plate or ""

            async def plates_in_ha() -> bool:
                current = await states()
                found = 0
                for station in lpr:
                    if station.name not in expected:
                        continue
                    entity = _last_plate_entity(current, station.name)
                    if entity and entity["state"] not in ("unknown", "unavailable"):
                        found += 1
                return found == len(expected)

            await _until(plates_in_ha, "the replayed plates in Home Assistant", timeout=180)
            current = await states()
            missing = sorted(e for e in named if e not in current)
            assert not missing, f"entities the dashboard names that do not exist: {missing}"
            unavailable = sorted(e for e in named if current[e]["state"] == "unavailable")
            assert not unavailable, (
                f"entities the dashboard names that are unavailable: {unavailable}"
            )
            last_station = lpr[(len(replay.photos) - 1) % len(lpr)]
            last_plate = _last_plate_entity(current, last_station.name)
            assert last_plate is not None
            plate = last_plate["state"]
            assert plate.replace("O", "0") == expected[last_station.name].replace("O", "0")
            await asyncio.sleep(3)  # history and logbook commit (commit_interval 1 s)

        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        async with async_playwright() as playwright:
            context = await playwright.chromium.launch_persistent_context(
                str(tmp_path / "chromium"),
                executable_path=CHROMIUM,
                headless=True,
                args=CHROMIUM_ARGS,
                viewport={"width": 1600, "height": 1300},
                locale="it-IT",
                timezone_id="Europe/Rome",
            )
            hass_tokens = {
                "hassUrl": url,
                "clientId": CLIENT_ID,
                "access_token": tokens["access_token"],
                "refresh_token": tokens["refresh_token"],
                "token_type": "Bearer",
                "expires_in": tokens["expires_in"],
                "expires": int(time.time() * 1000) + tokens["expires_in"] * 1000,
            }
            await context.add_init_script(
                f"window.localStorage.setItem('hassTokens', {json.dumps(json.dumps(hass_tokens))});"
            )
            page = context.pages[0] if context.pages else await context.new_page()
            console: list[str] = []
            page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
            results: dict[str, dict[str, int]] = {}
            for view in ("panoramica", "targhe", "traffico", "stato"):
                await page.goto(f"{url}/rufina-alpr/{view}")
                try:
                    await page.wait_for_selector("hui-view", state="attached", timeout=60_000)
                except Exception:
                    await page.screenshot(path=str(SCREENSHOTS / f"failed-{view}.png"))
                    raise AssertionError("\n".join(console[-40:])) from None
                await page.wait_for_timeout(4000)
                errors = await page.locator("hui-error-card").count()
                warnings = await page.locator("hui-warning").count()
                results[view] = {"errors": errors, "warnings": warnings}
                await page.screenshot(
                    path=str(SCREENSHOTS / f"dashboard-{view}.png"), full_page=True
                )
                if view == "panoramica":
                    assert await page.get_by_text(plate).count() > 0, (
                        f"the last plate {plate} is not on the dashboard"
                    )
            await context.close()
        bad = {view: counts for view, counts in results.items() if any(counts.values())}
        assert not bad, f"cards with errors or warnings: {bad}\n" + "\n".join(console[-30:])
    finally:
        watcher.loop_stop()
        watcher.disconnect()
        _stop(hass)
        _stop(engine)
        ha_log.close()
    assert hass.returncode == 0, (tmp_path / "hass.log").read_text()[-3000:]


def _last_plate_entity(
    states: dict[str, dict[str, Any]], station_name: str
) -> dict[str, Any] | None:
    """The station's Last plate sensor, found by its device's name in the friendly name."""
    for entity_id, state in states.items():
        if (
            entity_id.startswith("sensor.")
            and entity_id.endswith("_ultima_targa")
            and state["attributes"].get("friendly_name", "").startswith(station_name)
        ):
            return state
    return None


def _dashboard_entities(node: Any) -> set[str]:
    """Every entity id the dashboard names (cards, rows, map markers, logbook lists)."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "entity" and isinstance(value, str):
                found.add(value)
            elif key == "entities" and isinstance(value, list):
                found.update(item for item in value if isinstance(item, str))
                found |= _dashboard_entities(value)
            elif key != "content":
                found |= _dashboard_entities(value)
    elif isinstance(node, list):
        for item in node:
            found |= _dashboard_entities(item)
    return found
