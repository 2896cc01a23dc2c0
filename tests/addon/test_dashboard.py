"""The Lovelace dashboards (dashboards/rufina_alpr.yaml in Italian, rufina_alpr.en.yaml in
English) in a real Home Assistant, in Chromium, and what Home Assistant does with plates: the
hotlist-alert blueprint's alarms, the person named in the engine's audit log, and what the
recorder's SQLite database keeps after the retention.

Everything is real except Frigate, which is the replay: Mosquitto, the engine (`rufina-alpr serve`
with the town's station registry and the offline models), Home Assistant with the integration,
onboarded and configured through its HTTP API (MQTT and Rufina ALPR through the config-flow API),
both dashboards in YAML mode, headless Chromium driven by Playwright, each dashboard in its
language (the user's), at 1440 and 820 px. Fails on a card that cannot render (`hui-error-card`),
on a warning (`hui-warning`: an entity that does not exist), when a replayed plate is not on the
control-room view, when the Italian dashboard's cards show an English word or either dashboard's
a raw id (station id, entity id), when the map has not one marker per site (markers plus the
clusters' counts), when the last plates go once the engine stopped and when Home Assistant
reports a deprecated call of the integration; saves screenshots to
artifacts/screenshots/<version>/.

Alarms (issue 21, 4): an automation from blueprints/automation/rufina_alpr/hotlist_alert.yaml with
Home Assistant's own notifications as its channel; two listed vehicles at two stations moments
apart give two notifications (the old automation-wide cooldown dropped the second), the same
vehicle again at the same station within the engine's hotlist cooldown gives none more.
Retention (issue 21, 3): the engine keeps plates half a day here; Home Assistant's database is
aged by 13 hours (its timestamps moved back, as if the time had passed), then
`rufina_alpr.purge_now`, called through Home Assistant's API by its owner, is written in the
engine's audit log under the owner's name and leaves no plate older than the engine's retention in
Home Assistant's database (states, attributes, events, action calls).

Two Home Assistant versions, one test each: the oldest supported (2025.4.4, `.venv-ha`, built by
`scripts/ha-env.sh oldest`) and current (2026.11.0, `.venv-hass-2026`, Python 3.14, started inside
the Debian forky root through `scripts/py314-root.sh run`, built by `scripts/ha-env.sh
current-hass`; the root shares the network, /tmp and the checkout, so the engine, the broker and
the browser stay outside). Select one with `-k 2025` or `-k 2026`; under CI=true a missing
environment fails instead of skipping.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import paho.mqtt.client as paho
import pytest
import yaml

from rufina_alpr.dashboard import sites
from rufina_alpr.dashboard_words import WORDS
from rufina_alpr.sim.broker import MosquittoBroker, free_port
from rufina_alpr.sim.photos import load_photos
from rufina_alpr.sim.replay import FrigateReplay
from rufina_alpr.stations import load_registry

from ..dashboard_entities import DASHBOARDS, dashboard_entities
from .conftest import REGISTRY, REPO, require
from .dashboard_pages import card_problems, map_markers, open_view, tokens_script, visible_text

PY314_ROOT = REPO / "scripts" / "py314-root.sh"
LANGUAGES = {"it": "rufina-alpr", "en": "rufina-alpr-en"}  # language: the dashboard's URL
WIDTHS = (1440, 820)  # a desktop, a tablet
# English words the Italian dashboard's cards could leak (Home Assistant's states, the
# integration's units and match types, the old hand-written cards).
ENGLISH = re.compile(
    r"\b(unavailable|unknown|online|offline|connected|disconnected|exact|fuzzy|plates?|"
    r"transits?|last|cameras?|stations?|vehicles?|today|engine|alerts?|ago|just now)\b",
    re.IGNORECASE,
)
BRAND = REPO / "custom_components" / "rufina_alpr" / "brand"
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
LISTED = 2  # the first vehicles' plates are on a hotlist
RETENTION = 12 * 3600  # the engine's retention here, in seconds: half a day
ALARM_ID = "rufina_alpr_"  # the blueprint's notification ids: rufina_alpr_<transit>_<list>
HOTLIST_ALERT = {
    "id": "allarme_liste",
    "alias": "Allarme liste",
    "use_blueprint": {
        "path": "rufina_alpr/hotlist_alert.yaml",
        "input": {"persistent": True, "language": "it"},
    },
}

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class HomeAssistantRun:
    """One Home Assistant the dashboard is tested in."""

    version: str
    venv: Path
    in_py314_root: bool  # started through scripts/py314-root.sh run (Python 3.14)
    http_in_storage: bool  # `http:` in YAML is deprecated from 2026.x: .storage/http instead

    @property
    def hass(self) -> Path:
        return self.venv / "bin" / "hass"

    def command(self, config: Path) -> list[str]:
        hass = [str(self.hass), "-c", str(config), "--skip-pip"]
        return ["bash", str(PY314_ROOT), "run", *hass] if self.in_py314_root else hass


RUNS = (
    HomeAssistantRun("2025.4.4", REPO / ".venv-ha", in_py314_root=False, http_in_storage=False),
    HomeAssistantRun(
        "2026.11.0", REPO / ".venv-hass-2026", in_py314_root=True, http_in_storage=True
    ),
)


def _py314_root_ready() -> bool:
    """The forky root exists (scripts/py314-root.sh build) and this user may enter it."""
    if os.geteuid() != 0:
        return False
    path = subprocess.run(
        ["bash", str(PY314_ROOT), "path"], capture_output=True, text=True, check=True
    ).stdout.strip()
    return (Path(path) / ".rufina-py314-root").is_file()


@pytest.fixture(params=RUNS, ids=lambda run: f"ha{run.version}")
def ha(request: pytest.FixtureRequest) -> HomeAssistantRun:
    run: HomeAssistantRun = request.param
    setup = "bash scripts/ha-env.sh " + ("current-hass" if run.in_py314_root else "oldest")
    require(run.hass.is_file(), f"Home Assistant {run.version} at {run.hass} ({setup})")
    if run.in_py314_root:
        require(
            _py314_root_ready(), "the Python 3.14 root, as root (bash scripts/py314-root.sh build)"
        )
    return run


def _ha_config(port: int, ha: HomeAssistantRun) -> str:
    http = "" if ha.http_in_storage else f"http:\n  server_host: 127.0.0.1\n  server_port: {port}\n"
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
{http}api:
recorder:
  commit_interval: 1
automation: !include automations.yaml
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
    rufina-alpr-en:
      mode: yaml
      filename: rufina_alpr.en.yaml
      title: Rufina ALPR (English)
      icon: mdi:car-search
      show_in_sidebar: true
"""


def _http_storage(port: int) -> str:
    """Home Assistant 2026.x's HTTP settings store: 127.0.0.1 on the test's port, migrated."""
    stable = {
        "server_host": ["127.0.0.1"],
        "server_port": port,
        "cors_allowed_origins": ["https://cast.home-assistant.io"],
        "login_attempts_threshold": -1,
        "ip_ban_enabled": True,
        "ssl_profile": "intermediate_v6",
        "use_x_frame_options": True,
        "created_at": datetime.now(UTC).isoformat(),
        "error": None,
        "error_message": None,
    }
    return json.dumps(
        {
            "version": 3,
            "minor_version": 1,
            "key": "http",
            "data": {"stable": stable, "pending": None, "yaml_migration_done": True},
        }
    )


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
def hass_dir(tmp_path: Path, ha: HomeAssistantRun) -> Path:
    require(Path(CHROMIUM).is_file(), "chromium (apt-get install chromium)")
    config = tmp_path / "ha"
    (config / ".storage").mkdir(parents=True)
    (config / "custom_components").mkdir()
    (config / "custom_components" / "rufina_alpr").symlink_to(
        REPO / "custom_components" / "rufina_alpr"
    )
    for dashboard in DASHBOARDS:
        shutil.copyfile(dashboard, config / dashboard.name)
    shutil.copytree(REPO / "blueprints", config / "blueprints")
    (config / "automations.yaml").write_text(yaml.safe_dump([HOTLIST_ALERT]))
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
        # Home Assistant's token names the person it acts for (the engine's audit log)
        "api": {"host": "127.0.0.1", "port": port, "token": TOKEN, "delegate": True},
        "privacy": {"retention_days": RETENTION / 86400},
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


def _mqtt_broker_step(flow: dict[str, Any], mosquitto: MosquittoBroker) -> dict[str, Any]:
    """The MQTT broker form: the test broker; 2026.x also wants its `other_settings` section
    (no TLS, TCP), which the frontend fills from the form's defaults."""
    answer: dict[str, Any] = {"broker": mosquitto.host, "port": mosquitto.port}
    if any(field["name"] == "other_settings" for field in flow["data_schema"]):
        answer["other_settings"] = {
            "set_client_cert": False,
            "set_ca_cert": "off",
            "transport": "tcp",
        }
    return answer


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def test_dashboard_renders_in_a_real_home_assistant(
    ha: HomeAssistantRun,
    hass_dir: Path,
    mosquitto: MosquittoBroker,
    models_dir: Path,
    replay: FrigateReplay,
) -> None:
    from playwright.async_api import async_playwright  # noqa: PLC0415

    tmp_path = hass_dir.parent  # the test's own folder (hass_dir is tmp_path / "ha")

    registry = load_registry(REGISTRY)
    engine, engine_url = _start_engine(tmp_path, mosquitto, models_dir, replay.url)
    ha_port = free_port()
    (hass_dir / "configuration.yaml").write_text(_ha_config(ha_port, ha))
    if ha.http_in_storage:
        (hass_dir / ".storage" / "http").write_text(_http_storage(ha_port))
    screenshots = SCREENSHOTS / ha.version
    ha_log = (tmp_path / "hass.log").open("wb")
    hass = subprocess.Popen(  # noqa: ASYNC220 - a server for the whole test, not awaited
        ha.command(hass_dir),
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
            await _list_first_vehicles(session, engine_url, replay.photos[:LISTED])

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
            assert (await api.call("GET", "/api/config"))["version"] == ha.version

            # MQTT through the config-flow API, on the test broker
            flow = await api.call("POST", "/api/config/config_entries/flow", {"handler": "mqtt"})
            while flow["type"] == "form":
                flow = await api.call(
                    "POST",
                    f"/api/config/config_entries/flow/{flow['flow_id']}",
                    _mqtt_broker_step(flow, mosquitto) if flow["step_id"] == "broker" else {},
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
            # The dashboard's map needs the stations' coordinates: the option that gives them
            options = await api.call(
                "POST",
                "/api/config/config_entries/options/flow",
                {"handler": flow["result"]["entry_id"]},
            )
            options = await api.call(
                "POST",
                f"/api/config/config_entries/options/flow/{options['flow_id']}",
                {"offline_issue_minutes": 30, "show_on_map": True},
            )
            assert options["type"] == "create_entry", options

            async def states() -> dict[str, dict[str, Any]]:
                return {s["entity_id"]: s for s in await api.call("GET", "/api/states")}

            named: set[str] = set()
            for dashboard in DASHBOARDS:
                named |= dashboard_entities(yaml.safe_load(dashboard.read_text()))

            async def entities_ready() -> bool:
                current = await states()
                online = current.get("binary_sensor.rufina_online", {}).get("state")
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
                expected[station.id] = photo.plate or ""

            async def plates_in_ha() -> bool:
                current = await states()
                found = 0
                for station in lpr:
                    if station.id not in expected:
                        continue
                    entity = current.get(_last_plate(station.id))
                    if entity and entity["state"] not in ("unknown", "unavailable"):
                        found += 1
                return found == len(expected)

            await _until(plates_in_ha, "the replayed plates in Home Assistant", timeout=180)
            await _alarms_never_go_silent(api, replay, lpr, states)
            current = await states()
            missing = sorted(e for e in named if e not in current)
            assert not missing, f"entities the dashboard names that do not exist: {missing}"
            unavailable = sorted(e for e in named if current[e]["state"] == "unavailable")
            assert not unavailable, (
                f"entities the dashboard names that are unavailable: {unavailable}"
            )
            last_station = lpr[(len(replay.photos) - 1) % len(lpr)]
            last_plate = current.get(_last_plate(last_station.id))
            assert last_plate is not None
            plate = last_plate["state"]
            read_plates = [current[_last_plate(s.id)]["state"] for s in lpr if s.id in expected] + [
                photo.plate or "" for photo in replay.photos[:LISTED]
            ]
            assert plate.replace("O", "0") == expected[last_station.id].replace("O", "0")
            # Brand images: Home Assistant 2026.x serves a custom integration's brand/ folder
            # (its `brands` integration, loaded by default); 2025.4 has no such endpoint.
            for image in ("icon.png", "icon@2x.png"):
                async with session.get(
                    f"{url}/api/brands/integration/rufina_alpr/{image}",
                    headers={"Authorization": f"Bearer {api.token}"},
                ) as response:
                    body = await response.read()
                    if ha.http_in_storage:
                        assert response.status == 200, image
                        assert body == (BRAND / image).read_bytes(), image
                    else:
                        assert response.status == 404, image
            await asyncio.sleep(3)  # the history commits (commit_interval 1 s)

            current = await states()  # the last transits of the alarms' replays included
        shown = [current[_last_plate(s.id)]["state"] for s in lpr if s.id in expected]
        screenshots.mkdir(parents=True, exist_ok=True)
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            for language in LANGUAGES:
                await _check_dashboard(
                    browser, url, tokens, language, shown, screenshots=screenshots
                )
            async with aiohttp.ClientSession() as session:
                api = Api(session, url)
                api.token = tokens["access_token"]
                await _no_plate_outlives_the_retention(
                    api, hass_dir / "home-assistant_v2.db", engine_url, set(read_plates)
                )
                # The engine stops: the last plates stay on the page, marked as the last known.
                _stop(engine)

                async def engine_offline() -> bool:
                    online = await api.call("GET", "/api/states/binary_sensor.rufina_online")
                    return bool(online["state"] == "off")

                await _until(engine_offline, "the engine offline in Home Assistant", timeout=90)
            await _check_dashboard(
                browser, url, tokens, "it", shown, screenshots=screenshots, engine_stopped=True
            )
            await browser.close()
    finally:
        watcher.loop_stop()
        watcher.disconnect()
        _stop(hass)
        _stop(engine)
        ha_log.close()
    log = (tmp_path / "hass.log").read_text()
    assert hass.returncode == 0, log[-3000:]
    # Home Assistant's frame helper names deprecated calls of custom integrations.
    deprecated = [line for line in log.splitlines() if "custom integration 'rufina_alpr'" in line]
    assert not deprecated, "\n".join(deprecated)


async def _check_dashboard(
    browser: Any,
    url: str,
    tokens: dict[str, Any],
    language: str,
    plates: list[str],
    *,
    screenshots: Path,
    engine_stopped: bool = False,
) -> None:
    """One dashboard in its language (the user's), each view at each width: no card in error,
    no raw id, in Italian no English word; the control room shows the plates and one map
    marker per site. With the engine stopped: the control room only, the plates still there,
    marked as the last known, and the engine said offline."""
    said = WORDS[language]
    registry = load_registry(REGISTRY)
    site_count = len(sites(registry.stations))
    raw_ids = [s.id for s in registry.stations if "_" in s.id]
    raw_ids += ["rufina_", "sensor.", "binary_sensor.", "image."]
    context = await browser.new_context(
        locale="it-IT" if language == "it" else "en-GB",
        timezone_id="Europe/Rome",
        viewport={"width": WIDTHS[0], "height": 1100},
    )
    await context.add_init_script(tokens_script(url, CLIENT_ID, tokens, language))
    page = await context.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    views = ("overview",) if engine_stopped else ("overview", "crops", "traffic", "status")
    problems: dict[str, dict[str, int]] = {}
    for width in WIDTHS[:1] if engine_stopped else WIDTHS:
        await page.set_viewport_size({"width": width, "height": 1100})
        for view in views:
            path = said[f"{view}_path"]
            name = f"{language}-{width}-{path}" + ("-engine-stopped" if engine_stopped else "")
            address = f"{url}/{LANGUAGES[language]}/{path}"
            await open_view(page, address, screenshots / f"failed-{name}.png", console)
            assert (
                await page.evaluate("() => document.querySelector('home-assistant').hass.language")
                == language
            )
            if view == "overview":
                expected = [*plates, said["engine_down" if engine_stopped else "engine_up"]]
                if engine_stopped:
                    expected.append(said["stale"])

                await _control_room_shown(page, expected, site_count, screenshots / name)
            text = await visible_text(page)
            problems[name] = await card_problems(page)
            await page.screenshot(path=str(screenshots / f"dashboard-{name}.png"), full_page=True)
            leaked = [raw for raw in raw_ids if raw in text]
            assert not leaked, f"{name}: raw ids on the page: {leaked}\n{text[:1500]}"
            if language == "it":
                english = sorted(set(ENGLISH.findall(text)))
                assert not english, f"{name}: English words on the page: {english}\n{text[:1500]}"
    await context.close()
    bad = {view: counts for view, counts in problems.items() if any(counts.values())}
    assert not bad, f"cards with errors or warnings: {bad}\n" + "\n".join(console[-30:])


async def _control_room_shown(
    page: Any, expected: list[str], site_count: int, screenshot: Path
) -> None:
    """Wait until the control room shows every expected word and one map marker per site."""

    async def ready() -> bool:
        text = await visible_text(page)
        return all(word in text for word in expected) and await map_markers(page) == site_count

    try:
        await _until(ready, f"the control room ({screenshot.name})", timeout=60)
    except AssertionError:
        await page.screenshot(path=f"{screenshot}-failed.png")
        text = await visible_text(page)
        missing = [word for word in expected if word not in text]
        markers = await map_markers(page)
        raise AssertionError(
            f"{screenshot.name}: not shown: {missing}; map markers {markers}, sites "
            f"{site_count}; page: {text[:1500]}"
        ) from None


def _last_plate(station_id: str) -> str:
    """A station's Last plate sensor: the integration's stable entity id (engine `rufina`)."""
    return f"sensor.rufina_{station_id}_last_plate"


async def _engine(
    session: aiohttp.ClientSession, engine_url: str, method: str, path: str, **kwargs: Any
) -> Any:
    """One call of the engine's API with its admin token."""
    async with session.request(
        method, f"{engine_url}{path}", headers={"Authorization": f"Bearer {TOKEN}"}, **kwargs
    ) as response:
        text = await response.text()
        assert response.status < 400, f"{method} {path}: {response.status} {text}"
        return json.loads(text)


async def _list_first_vehicles(
    session: aiohttp.ClientSession, engine_url: str, photos: list[Any]
) -> None:
    """A hotlist with the first vehicles' plates, before Home Assistant reads the lists."""
    await _engine(
        session,
        engine_url,
        "POST",
        "/api/v1/hotlists",
        json={"id": "rubati", "name": "Veicoli rubati", "kind": "stolen", "priority": 1},
    )
    for photo in photos:
        await _engine(
            session,
            engine_url,
            "POST",
            "/api/v1/hotlists/rubati/entries",
            json={"plate": photo.plate, "reason": "Furto denunciato"},
        )


async def _alarms(api: Api) -> dict[str, dict[str, Any]]:
    """Home Assistant's notifications from the hotlist-alert automation, by id."""
    found = await api.websocket({"type": "persistent_notification/get"})
    return {n["notification_id"]: n for n in found if n["notification_id"].startswith(ALARM_ID)}


async def _alarms_never_go_silent(
    api: Api, replay: FrigateReplay, lpr: list[Any], states: Any
) -> None:
    """Both listed vehicles, seconds apart at two stations: two notifications, in Italian, with
    the list's name. The first vehicle again at its station, within the engine's cooldown (per
    plate and station): none. The second at another station: one more."""

    async def both() -> dict[str, dict[str, Any]] | None:
        found = await _alarms(api)
        return found if len(found) >= LISTED else None

    found = await _until(both, "the hotlist alarms of both listed vehicles", timeout=120)
    assert len(found) == LISTED, found
    for alarm in found.values():
        assert "Targa segnalata " in alarm["title"], alarm
        assert alarm["title"].endswith(" (Veicoli rubati)"), alarm
        assert ": lista Veicoli rubati, corrispondenza " in alarm["message"], alarm
        assert "azione allarme" in alarm["message"], alarm

    first = _last_plate(lpr[0].id)
    seen = (await states())[first]["attributes"].get("transit_id")
    await replay.replay_one(replay.photos[0], lpr[0].camera)

    async def passed_again() -> bool:
        return (await states())[first]["attributes"].get("transit_id") not in (None, seen)

    await _until(passed_again, "the first vehicle's second transit", timeout=120)
    await replay.replay_one(replay.photos[1], lpr[2].camera)

    async def third() -> dict[str, dict[str, Any]] | None:
        found = await _alarms(api)
        return found if len(found) > LISTED else None

    found = await _until(third, "the alarm of the second vehicle at another station", 120)
    assert len(found) == LISTED + 1, sorted(found)


def _plates_in_database(database: Path, plates: set[str], before: float) -> list[str]:
    """Where Home Assistant's recorder holds one of the plates (spaces ignored) in a state or an
    event from before `before` (a Unix time), or in any attributes (they should hold none)."""
    queries = {
        "states": "SELECT count(*) FROM states WHERE last_updated_ts < :before AND state = :plate",
        "attributes": (
            "SELECT count(*) FROM state_attributes"
            " WHERE replace(shared_attrs, ' ', '') LIKE '%' || :plate || '%'"
        ),
        "events": (
            "SELECT count(*) FROM events JOIN event_data ON events.data_id = event_data.data_id"
            " WHERE events.time_fired_ts < :before"
            " AND replace(event_data.shared_data, ' ', '') LIKE '%' || :plate || '%'"
        ),
    }
    where: list[str] = []
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30) as connection:
        for what, query in queries.items():
            for plate in sorted(p for p in plates if len(p) >= 4):
                found = connection.execute(query, {"before": before, "plate": plate}).fetchone()
                if found[0]:
                    where.append(f"{plate}: {found[0]} {what}")
    return where


def _age_database(database: Path, seconds: float) -> None:
    """Move every state and event of the recorder `seconds` back in time (Home Assistant keeps
    running: its recorder waits for the lock)."""
    with sqlite3.connect(database, timeout=30) as connection:
        connection.execute(
            "UPDATE states SET last_updated_ts = last_updated_ts - ?,"
            " last_changed_ts = last_changed_ts - ?",
            (seconds, seconds),
        )
        connection.execute("UPDATE events SET time_fired_ts = time_fired_ts - ?", (seconds,))


async def _no_plate_outlives_the_retention(
    api: Api, database: Path, engine_url: str, plates: set[str]
) -> None:
    """Everything Home Assistant recorded so far made 13 hours old, past the engine's half day;
    `purge_now` through Home Assistant by its owner: the engine's audit log names him, and Home
    Assistant's database holds none of the plates from before the retention any more."""
    _age_database(database, RETENTION + 3600)
    cutoff = time.time() - RETENTION
    assert _plates_in_database(database, plates, cutoff), "old plates before the purge"
    reason = "Verifica della conservazione"
    await api.call("POST", "/api/services/rufina_alpr/purge_now", {"reason": reason})

    async def purged() -> bool:
        return not _plates_in_database(database, plates, cutoff)

    try:
        await _until(purged, "no old plate in Home Assistant's database", timeout=120)
    except AssertionError:
        raise AssertionError(", ".join(_plates_in_database(database, plates, cutoff))) from None
    async with aiohttp.ClientSession() as session:
        audit = await _engine(
            session,
            engine_url,
            "GET",
            "/api/v1/audit",
            params={"action": "purge", "reason": "verifica del test"},
        )
    people = {entry["acting_user"] for entry in audit["entries"]}
    assert any(
        person and person.startswith("Comandante (Home Assistant user ") for person in people
    ), people
