"""The integration against the engine's contract: schema files, payload builders, real OCR output.

The engine package is installed in the test environment (without its heavy dependencies) only so
these tests can use its schemas and builders; the integration itself must never import it.
"""

from __future__ import annotations

import ast
import base64
from dataclasses import replace
from datetime import UTC, datetime
import json
import os
from pathlib import Path
import subprocess
from typing import Any

import pytest
import voluptuous as vol

from custom_components.rufina_alpr import health, models
from custom_components.rufina_alpr.const import (
    DEFAULT_TOPIC_PREFIX,
    DOMAIN,
    EVENT_ALERT_UPDATE,
    EVENT_HOTLIST_MATCH,
    SUPPORTED_CONTRACT_VERSION,
)
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_capture_events
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from rufina_alpr import contract
from rufina_alpr.fusion import fuse
from rufina_alpr.paths import default_registry
from rufina_alpr.reads import PlateRead
from rufina_alpr.stations import load_registry
from rufina_alpr.transits import Transit

from .conftest import FIXTURES, INSTANCE, REPO, SIGNING_KEY, fire, jpeg_bytes, kind_of, validate

# The engine's own signer: what the engine signs, the integration must accept.
ENGINE_SIGNER = contract.Signer(SIGNING_KEY)

INTEGRATION = REPO / "custom_components" / "rufina_alpr"
PHOTOS = REPO.parent / "shared" / "data" / "openalpr-eu-dev"


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.json")), ids=lambda path: path.stem)
def test_fixtures_match_engine_schemas(path: Path) -> None:
    """Every payload fixture is valid for the engine (its own validator and the schema files)."""
    data = json.loads(path.read_text())
    contract.validate(kind_of(path.name), data)
    validate(kind_of(path.name), data)


def test_versions_and_topics_agree() -> None:
    """Contract version, default prefix and the discovery topic are the engine's."""
    assert SUPPORTED_CONTRACT_VERSION == contract.CONTRACT_VERSION
    assert DEFAULT_TOPIC_PREFIX == contract.DEFAULT_PREFIX
    manifest = json.loads((INTEGRATION / "manifest.json").read_text())
    assert manifest["mqtt"] == [contract.Topics().status]


def _required(schema: vol.Schema) -> set[str]:
    return {str(key) for key in schema.schema if isinstance(key, vol.Required)}


@pytest.mark.parametrize(
    ("kind", "ours", "pointer"),
    [
        ("status", models._STATUS_SCHEMA, ()),
        ("stations", models._STATIONS_SCHEMA, ()),
        ("stations", models._STATION_SCHEMA, ("properties", "stations", "items")),
        ("transit", models._TRANSIT_SCHEMA, ()),
        ("hotlist_match", models._HOTLIST_SCHEMA, ()),
        ("alert", models._ALERT_SCHEMA, ()),
        ("stats", models._STATS_SCHEMA, ()),
        ("stats", models._STATION_STATS_SCHEMA, ("properties", "stations", "additionalProperties")),
        ("health", health._HEALTH_SCHEMA, ()),
        ("health", health._FRIGATE_HEALTH_SCHEMA, ("properties", "frigate")),
        (
            "health",
            health._STATION_HEALTH_SCHEMA,
            ("properties", "stations", "additionalProperties"),
        ),
    ],
)
def test_integration_requires_only_what_the_engine_must_send(
    kind: contract.PayloadKind, ours: vol.Schema, pointer: tuple[str, ...]
) -> None:
    """Every field the integration requires is required by the engine's schema too."""
    schema: dict[str, Any] = contract.schema(kind)
    for key in pointer:
        schema = schema[key]
    assert _required(ours) <= set(schema["required"])


def test_integration_never_imports_the_engine() -> None:
    """HA OS is musl based: no engine package, no onnxruntime, no OpenCV in the integration."""
    forbidden = {"rufina_alpr", "onnxruntime", "fast_alpr", "cv2", "numpy"}
    for path in INTEGRATION.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            assert not {name.split(".")[0] for name in names} & forbidden, (path.name, names)


def _engine_transit(station_id: str, camera: str, direction: str | None) -> dict[str, Any]:
    """A transit as the engine builds it: reads of a labelled plate, fused, then the builder."""
    reads = [
        PlateRead(text="FB123XY", char_confidences=(0.97,) * 7, region="Italy"),
        PlateRead(text="FB123XV", char_confidences=(0.9,) * 6 + (0.4,), region="Italy"),
        PlateRead(text="FB123XY", char_confidences=(0.95,) * 7, source="frigate"),
    ]
    fused = fuse(reads)
    assert fused is not None
    event_id = "1764054902.120000-k3v9qa"
    transit = Transit.of_fused(
        fused,
        event_id=event_id,
        station_id=station_id,
        camera=camera,
        time=datetime(2026, 11, 25, 7, 15, 2, tzinfo=UTC),
        vehicle="car",
        direction=direction,
        frigate_plate="FB123XY",
    )
    transit = replace(transit, crop_jpeg=jpeg_bytes())
    payload = contract.transit_payload(transit, "Station")
    contract.validate("transit", payload)
    return payload


async def test_engine_builders_feed_the_integration(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    """The engine's builders and signer, the town's real registry: 34 stations become devices."""
    registry_path = default_registry()
    assert registry_path is not None
    town = load_registry(registry_path)
    status = contract.status_payload(
        state="online", instance=INSTANCE, api_url=None, since=datetime.now(UTC)
    )
    fire(hass, "status", ENGINE_SIGNER.sign(status), retain=True)
    stations = ENGINE_SIGNER.sign(contract.stations_payload(town.stations))
    fire(hass, "stations", stations, retain=True)
    await hass.async_block_till_done()

    devices = dr.async_entries_for_config_entry(dr.async_get(hass), setup_integration.entry_id)
    assert len(devices) == len(town.stations) + 1 == 35
    lpr = next(station for station in town.stations if station.reads_plates)
    transit = _engine_transit(lpr.id, lpr.camera, lpr.direction)
    fire(hass, "transit", ENGINE_SIGNER.sign(transit))
    await hass.async_block_till_done()

    entities = er.async_get(hass)
    entity_id = entities.async_get_entity_id("sensor", DOMAIN, f"{INSTANCE}_{lpr.id}_last_plate")
    assert entity_id is not None
    state = hass.states.get(entity_id)
    assert state.state == transit["plate"] == "FB123XY"
    assert state.attributes["display"] == transit["display"]
    assert state.attributes["direction"] == lpr.direction
    assert state.attributes["locality"] == lpr.locality
    assert state.attributes["friendly_name"].startswith(lpr.name)


async def test_engine_alert_builders_feed_the_integration(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    """An alert raised in view and withdrawn by its transit, as the engine's builders make and
    its signer signs them: the bus events carry what automations act on."""
    fire(hass, "stations", json.loads((FIXTURES / "stations.json").read_text()), retain=True)
    await hass.async_block_till_done()
    transit = _engine_transit("st09_pomino", "st09_pomino", "outbound")
    match = contract.hotlist_match_payload(
        transit,
        alert_id="f0e1d2c3-b4a5-4968-8776-655443322110",
        status="provisional",
        alert_kind="hotlist",
        list_id="stolen",
        list_name="Veicoli rubati",
        entry_plate="FB123XY",
        read_plate="FB123XY",
        score=1.0,
        match="exact",
        action="alert",
        priority=1,
        reason="furto",
    )
    withdrawal = contract.alert_update_payload(
        alert_id="f0e1d2c3-b4a5-4968-8776-655443322110",
        alert_kind="hotlist",
        status="withdrawn",
        state="new",
        change="withdrawn",
        transit_id=transit["id"],
        station_id="st09_pomino",
        list_id="stolen",
        priority=1,
        time=datetime(2026, 11, 25, 7, 15, 9, tzinfo=UTC),
        reason="the transit reads FB123XV",
    )
    contract.validate("hotlist_match", match)
    contract.validate("alert", withdrawal)
    matches = async_capture_events(hass, EVENT_HOTLIST_MATCH)
    updates = async_capture_events(hass, EVENT_ALERT_UPDATE)
    fire(hass, "hotlist_match", ENGINE_SIGNER.sign(match))
    fire(hass, "alert", ENGINE_SIGNER.sign(withdrawal))
    await hass.async_block_till_done()
    (raised,) = matches
    assert raised.data["alert_id"] == withdrawal["alert_id"]
    assert raised.data["status"] == "provisional"
    assert raised.data["list_name"] == "Veicoli rubati"
    (update,) = updates
    assert update.data["change"] == "withdrawn"
    assert update.data["transit_id"] == transit["id"]


async def test_engine_health_feeds_the_integration(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    """The engine's health builder: Frigate and each station's camera, with the reason."""
    fire(
        hass,
        "status",
        contract.status_payload(
            state="online", instance=INSTANCE, api_url=None, since=datetime.now(UTC)
        ),
        retain=True,
    )
    fire(hass, "stations", json.loads((FIXTURES / "stations.json").read_text()), retain=True)
    now = datetime(2026, 11, 25, 7, 16, tzinfo=UTC)
    health = contract.health_payload(
        time=now,
        frigate_state="online",
        available="online",
        last_stats=now,
        version="0.17.2-4d4f6fb",
        stations={
            "st01_ss67_est": ("online", None, {"detect": "online"}),
            "st09_pomino": ("offline", "no_frames", {"detect": "online"}),
            "st20_piazza_umberto": ("unknown", None, {}),
        },
    )
    contract.validate("health", health)
    validate("health", health)
    fire(hass, "health", health, retain=True)
    await hass.async_block_till_done()

    assert hass.states.get("binary_sensor.rufina_01_frigate").state == STATE_ON
    assert hass.states.get("binary_sensor.rufina_01_st01_ss67_est_camera").state == STATE_ON
    pomino = hass.states.get("binary_sensor.rufina_01_st09_pomino_camera")
    assert pomino.state == STATE_OFF
    assert pomino.attributes["reason"] == "no_frames"
    assert (
        hass.states.get("binary_sensor.rufina_01_st20_piazza_umberto_camera").state == STATE_UNKNOWN
    )


def _engine_python() -> str | None:
    """The engine's interpreter (with onnxruntime and fast-alpr), if this checkout has one."""
    candidates = [os.environ.get("RUFINA_ENGINE_PYTHON"), str(REPO / ".venv" / "bin" / "python")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            probe = subprocess.run(
                [candidate, "-c", "import rufina_alpr.recognizer"],
                capture_output=True,
                check=False,
                timeout=120,
            )
            if probe.returncode == 0:
                return candidate
    return None


@pytest.fixture(scope="module")
def real_engine_output() -> dict[str, Any]:
    """Payloads from the real engine reading a real photo with the offline models.

    Under CI (CI=true) a missing engine environment or photo fails the test instead of skipping.
    """
    python = _engine_python()
    photo = PHOTOS / "eu1.jpg"
    if python is None or not photo.is_file():
        reason = "the engine's environment (.venv with [ocr]) or ../shared/data is missing"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    result = subprocess.run(
        [
            python,
            str(Path(__file__).with_name("engine_payloads.py")),
            str(photo),
            INSTANCE,
            SIGNING_KEY,
        ],
        capture_output=True,
        check=False,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    output: dict[str, Any] = json.loads(result.stdout)
    return output


async def test_real_engine_payloads(
    hass: HomeAssistant,
    setup_integration: MockConfigEntry,
    hass_client: ClientSessionGenerator,
    real_engine_output: dict[str, Any],
) -> None:
    """A plate read by the real OCR on a real photo reaches the entities, crop included."""
    out = real_engine_output
    transit = out["transit"]
    for kind in ("status", "stations", "transit"):
        validate(kind, out[kind])
        assert "sig" in out[kind], "signed by the engine, as it publishes"
    crop = base64.b64decode(out["crop_b64"])
    assert transit["plate"] == "M5XSX"  # the photo's label
    assert transit["has_crop"] is True
    assert crop[:2] == b"\xff\xd8"

    fire(hass, "status", out["status"], retain=True)
    fire(hass, "stations", out["stations"], retain=True)
    await hass.async_block_till_done()
    fire(hass, "transit", transit)
    fire(hass, f"{transit['station']}/crop", crop, retain=True)
    await hass.async_block_till_done()

    entities = er.async_get(hass)
    assert hass.states.get("binary_sensor.rufina_01_online").state == STATE_ON
    plate_id = entities.async_get_entity_id(
        "sensor", DOMAIN, f"{INSTANCE}_{transit['station']}_last_plate"
    )
    assert plate_id is not None
    plate = hass.states.get(plate_id)
    assert plate.state == "M5XSX"
    assert plate.attributes["confidence"] == transit["confidence"]
    assert plate.attributes["frigate_event_id"] == transit["event_id"]

    event_id = entities.async_get_entity_id(
        "event", DOMAIN, f"{INSTANCE}_{transit['station']}_transit"
    )
    assert event_id is not None
    assert hass.states.get(event_id).attributes["plate"] == "M5XSX"

    image_id = entities.async_get_entity_id(
        "image", DOMAIN, f"{INSTANCE}_{transit['station']}_plate_crop"
    )
    assert image_id is not None
    client = await hass_client()
    response = await client.get(hass.states.get(image_id).attributes["entity_picture"])
    assert await response.read() == crop
