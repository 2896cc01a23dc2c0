"""Fixtures: a configured engine entry, the engine's API mocked, schema-checked payload fixtures."""

from __future__ import annotations

from collections.abc import Generator
import json
from pathlib import Path
import re
from typing import Any
from unittest.mock import Mock, PropertyMock, patch

import jsonschema
import pytest
from referencing import Registry, Resource

from custom_components.rufina_alpr.compat import async_get_device
from custom_components.rufina_alpr.const import CONF_TOPIC_PREFIX, DOMAIN
from custom_components.rufina_alpr.signing import key_id, sign
from homeassistant.const import CONF_API_TOKEN, CONF_URL
from homeassistant.core import HomeAssistant
from homeassistant.helpers import area_registry as ar, device_registry as dr
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_mqtt_message
from pytest_homeassistant_custom_component.test_util.aiohttp import AiohttpClientMocker
from pytest_homeassistant_custom_component.typing import MqttMockHAClient, MqttMockPahoClient

REPO = Path(__file__).resolve().parents[2]
# The engine's JSON Schemas: the one definition both sides are tested against.
SCHEMA_DIR = REPO / "src" / "rufina_alpr" / "schemas"
FIXTURES = Path(__file__).parent / "fixtures"

INSTANCE = "rufina-01"
PREFIX = "rufina_alpr"
API_URL = "http://192.168.1.20:8787"
TOKEN = "s3cret-token-0123"
ENTRY_DATA = {CONF_TOPIC_PREFIX: PREFIX, CONF_URL: API_URL, CONF_API_TOKEN: TOKEN}
INFO = {
    "instance": INSTANCE,
    "engine_version": "0.1.0",
    "contract_version": 1,
    "stations": 3,
    "delegate": True,
}
# The engine's MQTT signing key, as its API gives it (GET /api/v1/contract).
SIGNING_KEY = "5eed" * 16
CONTRACT = {
    "contract_version": 1,
    "signature": "hmac-sha256",
    "key_id": key_id(SIGNING_KEY),
    "signing_key": SIGNING_KEY,
}
HOTLISTS = {
    "hotlists": [
        {
            "id": "stolen",
            "name": "Veicoli rubati",
            "kind": "stolen",
            "action": "alert",
            "priority": 1,
            "description": None,
            "created_by": "admin",
            "created_at": "2026-11-20T10:00:00+01:00",
            "entries": 12,
            "expired": 1,
        },
        {
            "id": "uninsured",
            "name": "Senza assicurazione",
            "kind": "uninsured",
            "action": "stop_and_check",
            "priority": 3,
            "description": None,
            "created_by": "admin",
            "created_at": "2026-11-20T10:00:00+01:00",
            "entries": 240,
            "expired": 0,
        },
    ]
}

# Any hotlist's entries (GET: the to-do lists read them).
ENTRIES = re.compile(r"/api/v1/hotlists/[^/]+/entries(\?|$)")
NO_ENTRIES = {"entries": [], "limit": 500, "offset": 0, "next_offset": None}

# Fixture file name prefix -> schema kind.
_KINDS = {
    "status": "status",
    "stations": "stations",
    "transit": "transit",
    "hotlist": "hotlist_match",
    "alert": "alert",
    "stats": "stats",
    "health": "health",
}


def _registry() -> Registry:
    resources = [
        (path.name, Resource.from_contents(json.loads(path.read_text())))
        for path in SCHEMA_DIR.glob("*.schema.json")
    ]
    return Registry().with_resources(resources)


def validate(kind: str, payload: dict[str, Any]) -> None:
    """Validate a payload against the engine's schema file of that kind."""
    schema = json.loads((SCHEMA_DIR / f"{kind}.schema.json").read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls(schema, registry=_registry(), format_checker=cls.FORMAT_CHECKER).validate(payload)


def kind_of(name: str) -> str:
    """Schema kind of a fixture file."""
    return next(kind for prefix, kind in _KINDS.items() if name.startswith(prefix))


def payload(name: str, **changes: Any) -> dict[str, Any]:
    """A fixture payload, changed as asked, and always valid against the engine's schema."""
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    data.update(changes)
    validate(kind_of(name), data)
    return data


def fire(
    hass: HomeAssistant,
    topic: str,
    data: dict[str, Any] | bytes,
    retain: bool = False,
    *,
    key: str | None = SIGNING_KEY,
) -> None:
    """Publish on the engine's prefix, as the engine does (JSON is compact UTF-8, signed with
    `key` unless it is None or the payload carries a signature already)."""
    if isinstance(data, dict) and key is not None and "sig" not in data:
        data = sign(data, key)
    raw = data if isinstance(data, bytes) else json.dumps(data, separators=(",", ":")).encode()
    async_fire_mqtt_message(hass, f"{PREFIX}/{topic}", raw, qos=1, retain=retain)


async def publish_engine(hass: HomeAssistant, *, crop: bytes | None = None) -> None:
    """The engine's retained topics, as a starting Home Assistant receives them."""
    fire(hass, "status", payload("status_online"), retain=True)
    fire(hass, "stations", payload("stations"), retain=True)
    fire(hass, "stats", payload("stats"), retain=True)
    fire(hass, "st01_ss67_est/last", payload("transit"), retain=True)
    if crop is not None:
        fire(hass, "st01_ss67_est/crop", crop, retain=True)
    await hass.async_block_till_done()


def jpeg_bytes(size: tuple[int, int] = (120, 32)) -> bytes:
    """A small real JPEG (Pillow ships with Home Assistant)."""
    from io import BytesIO  # noqa: PLC0415

    from PIL import Image  # noqa: PLC0415

    out = BytesIO()
    Image.new("RGB", size, (240, 240, 240)).save(out, format="JPEG")
    return out.getvalue()


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load custom_components/rufina_alpr."""


@pytest.fixture(autouse=True)
def no_deprecated_usage(caplog: pytest.LogCaptureFixture) -> Generator[None]:
    """Home Assistant reports no deprecated call of the integration (its frame helper logs them)."""
    yield
    reports = [
        record.getMessage()
        for record in caplog.get_records("call")
        if record.name == "homeassistant.helpers.frame" and DOMAIN in record.getMessage()
    ]
    assert not reports, reports


@pytest.fixture
def entity_registry_enabled_by_default() -> Generator[None]:
    """Create every entity enabled, also those disabled by default (the harness lacks it)."""
    with patch(
        "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
        new_callable=PropertyMock,
        return_value=True,
    ):
        yield


@pytest.fixture
def mqtt_client_mock(mqtt_client_mock: MqttMockPahoClient) -> Generator[MqttMockPahoClient]:
    """Close the mocked socket after each test, so MQTT's periodic timer does not linger."""
    yield mqtt_client_mock
    mqtt_client_mock.on_socket_close(mqtt_client_mock, None, Mock(fileno=Mock(return_value=-1)))


@pytest.fixture
def config_entry(hass: HomeAssistant) -> MockConfigEntry:
    """One engine's config entry."""
    entry = MockConfigEntry(domain=DOMAIN, unique_id=INSTANCE, title=INSTANCE, data=ENTRY_DATA)
    entry.add_to_hass(hass)
    return entry


@pytest.fixture
def engine_api(aioclient_mock: AiohttpClientMocker) -> AiohttpClientMocker:
    """The engine's API answering with the right instance."""
    aioclient_mock.get(f"{API_URL}/api/v1/info", json=INFO)
    aioclient_mock.get(f"{API_URL}/api/v1/contract", json=CONTRACT)
    aioclient_mock.get(f"{API_URL}/api/v1/hotlists", json=HOTLISTS)
    return aioclient_mock


@pytest.fixture(autouse=True)
def no_entries(aioclient_mock: AiohttpClientMocker) -> None:
    """The hotlists' to-do lists read their entries: none unless a test says (a test that
    clears the mocks says it again)."""
    aioclient_mock.get(ENTRIES, json=NO_ENTRIES)


@pytest.fixture
async def setup_integration(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    config_entry: MockConfigEntry,
    engine_api: AiohttpClientMocker,
) -> MockConfigEntry:
    """The integration loaded with MQTT and the API mocked; nothing published yet."""
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    return config_entry


def device_of(hass: HomeAssistant, identifier: str) -> dr.DeviceEntry | None:
    """The integration's device `(DOMAIN, identifier)`, looked up in its (first) config entry."""
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    return async_get_device(hass, entry.entry_id, (DOMAIN, identifier))


def area_name(hass: HomeAssistant, device: dr.DeviceEntry) -> str | None:
    """The name of a device's area (the station's locality, suggested at creation)."""
    area = ar.async_get(hass).async_get_area(device.area_id) if device.area_id else None
    return area.name if area else None
