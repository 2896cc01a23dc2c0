"""Translations, icons, actions, manifest, HACS and quality-scale files: complete and consistent."""

from __future__ import annotations

import json
from pathlib import Path
import re
import string
from typing import Any

from awesomeversion import AwesomeVersion
from PIL import Image
import pytest
import yaml

from custom_components.rufina_alpr import binary_sensor, event, image, sensor, todo
from custom_components.rufina_alpr.device_trigger import TRIGGER_TYPES
from homeassistant.const import __version__ as HA_VERSION
from homeassistant.core import HomeAssistant
from homeassistant.helpers import selector, service as service_helper
from homeassistant.loader import IntegrationNotFound, async_get_integration
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from .conftest import REPO

INTEGRATION = REPO / "custom_components" / "rufina_alpr"
TRANSLATIONS = {
    "strings.json": INTEGRATION / "strings.json",
    "en": INTEGRATION / "translations" / "en.json",
    "it": INTEGRATION / "translations" / "it.json",
}

# Every rule of the Integration Quality Scale, Bronze through Platinum.
QUALITY_RULES = {
    "bronze": [
        "action-setup",
        "appropriate-polling",
        "brands",
        "common-modules",
        "config-flow",
        "config-flow-test-coverage",
        "dependency-transparency",
        "docs-actions",
        "docs-conditions",
        "docs-high-level-description",
        "docs-installation-instructions",
        "docs-removal-instructions",
        "docs-triggers",
        "entity-event-setup",
        "entity-unique-id",
        "has-entity-name",
        "runtime-data",
        "test-before-configure",
        "test-before-setup",
        "unique-config-entry",
    ],
    "silver": [
        "action-exceptions",
        "config-entry-unloading",
        "docs-configuration-parameters",
        "docs-installation-parameters",
        "entity-unavailable",
        "integration-owner",
        "log-when-unavailable",
        "parallel-updates",
        "reauthentication-flow",
        "test-coverage",
    ],
    "gold": [
        "devices",
        "diagnostics",
        "discovery",
        "discovery-update-info",
        "docs-data-update",
        "docs-examples",
        "docs-known-limitations",
        "docs-supported-devices",
        "docs-supported-functions",
        "docs-troubleshooting",
        "docs-use-cases",
        "dynamic-devices",
        "entity-category",
        "entity-device-class",
        "entity-disabled-by-default",
        "entity-translations",
        "exception-translations",
        "icon-translations",
        "reconfiguration-flow",
        "repair-issues",
        "stale-devices",
    ],
    "platinum": ["async-dependency", "inject-websession", "strict-typing"],
}


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def _source(name: str) -> str:
    return (INTEGRATION / name).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def strings() -> dict[str, Any]:
    """strings.json, the source of the English translation."""
    return _load(TRANSLATIONS["strings.json"])


def test_translation_files_have_the_same_keys() -> None:
    """strings.json, en.json and it.json: same keys, same placeholders, nothing empty."""
    flat = {name: _flatten(_load(path)) for name, path in TRANSLATIONS.items()}
    reference = flat["strings.json"]
    assert reference
    for name, texts in flat.items():
        assert set(texts) == set(reference), name
        for key, text in texts.items():
            assert isinstance(text, str), (name, key)
            assert text.strip(), (name, key)
            assert "[%key:" not in text, (name, key)  # references resolve only in HA core
            assert _placeholders(text) == _placeholders(reference[key]), (name, key)


def test_english_translation_is_strings_json() -> None:
    """Custom integrations ship their English file as is: it must equal strings.json."""
    assert _load(TRANSLATIONS["en"]) == _load(TRANSLATIONS["strings.json"])


def test_italian_is_translated(strings: dict[str, Any]) -> None:
    """The Italian file is a translation, not a copy (names of the main entities at least)."""
    italian = _flatten(_load(TRANSLATIONS["it"]))
    english = _flatten(strings)
    same = [key for key, text in italian.items() if text == english[key] and " " in text]
    assert len(same) <= 3, same


def _entity_descriptions() -> dict[str, list[Any]]:
    return {
        "sensor": [
            *sensor.ENGINE_SENSORS,
            *sensor.PRIVACY_SENSORS,
            *sensor.STATION_SENSORS,
            sensor.LAST_PLATE,
            sensor.HOTLIST_SIZE,
            sensor.HOTLIST_LAST_MATCH,
        ],
        "binary_sensor": [binary_sensor.ONLINE, binary_sensor.FRIGATE, binary_sensor.CAMERA],
        "image": [image.PLATE_CROP],
        "event": [event.TRANSIT],
        "todo": [todo.HOTLIST_TODO],
    }


def test_entity_translations_and_icons(strings: dict[str, Any]) -> None:
    """Each entity description has a name and an icon; nothing unused is left behind."""
    icons = _load(INTEGRATION / "icons.json")["entity"]
    for platform, descriptions in _entity_descriptions().items():
        keys = {description.translation_key for description in descriptions}
        assert None not in keys, platform
        assert set(strings["entity"][platform]) == keys, platform
        assert set(icons[platform]) == keys, platform
        for key in keys:
            assert strings["entity"][platform][key]["name"]
    assert set(strings["entity"]) == set(_entity_descriptions())
    event_states = strings["entity"]["event"]["transit"]["state_attributes"]["event_type"]
    assert set(event_states["state"]) == set(event.TRANSIT.event_types or [])


def _string_constants(*names: str, pattern: str) -> set[str]:
    found: set[str] = set()
    for name in names:
        found.update(re.findall(pattern, _source(name)))
    return found


def test_exception_and_issue_translations(strings: dict[str, Any]) -> None:
    """Every translated exception and repair issue raised in the code has its text."""
    from custom_components.rufina_alpr.services import ENGINE_ERRORS  # noqa: PLC0415

    keys = _string_constants(
        "__init__.py",
        "services.py",
        "permissions.py",
        "todo.py",
        pattern=r'translation_key="([a-z_]+)"',
    ) | {key for _, key in ENGINE_ERRORS}
    assert keys
    assert keys == set(strings["exceptions"])
    from custom_components.rufina_alpr import const  # noqa: PLC0415

    assert set(strings["issues"]) == {
        const.ISSUE_ENGINE_OFFLINE,
        const.ISSUE_CONTRACT_MISMATCH,
        const.ISSUE_FRIGATE_OFFLINE,
        const.ISSUE_STATION_OFFLINE,
        const.ISSUE_FORGED_MESSAGES,
        const.ISSUE_UNSIGNED_ENGINE,
        const.ISSUE_TOKEN_REFUSED,
        const.ISSUE_TOKEN_NOT_DELEGATE,
        *const.ISSUE_STATION_REASONS.values(),
        const.ISSUE_SUBJECT_REQUESTS_DUE,
        const.ISSUE_SUBJECT_REQUESTS_OVERDUE,
        const.ISSUE_PRIVACY_PACK_OUTDATED,
        const.ISSUE_PRIVACY_PACK_MISSING,
        const.ISSUE_READ_QUALITY_LOW,
    }
    # Every offline reason the engine sends has its translated attribute state.
    reasons = strings["entity"]["binary_sensor"]["camera"]["state_attributes"]["reason"]["state"]
    assert set(reasons) == set(const.STATION_OFFLINE_REASONS)
    assert set(const.ISSUE_STATION_REASONS) < set(const.STATION_OFFLINE_REASONS)


def test_config_flow_translations(strings: dict[str, Any]) -> None:
    """Every step, error and abort reason of the flows has its text."""
    source = _source("config_flow.py")
    steps = set(re.findall(r'step_id="([a-z_]+)"', source))
    errors = set(re.findall(r'errors\[[^]]+\] = "([a-z_]+)"', source))
    aborts = set(re.findall(r'reason="([a-z_]+)"', source))
    assert steps - {"init"} <= set(strings["config"]["step"])
    assert "init" in strings["options"]["step"]
    assert errors <= set(strings["config"]["error"])
    # The add-on's discovery aborts with the error it met.
    assert errors - {"wrong_engine"} <= set(strings["config"]["abort"])
    built_in = {
        "already_configured",
        "already_in_progress",
        "reauth_successful",
        "reconfigure_successful",
    }
    assert aborts | built_in <= set(strings["config"]["abort"])


def test_device_trigger_translations(strings: dict[str, Any]) -> None:
    """Each device trigger type has a name in the automation editor."""
    assert set(strings["device_automation"]["trigger_type"]) == set(TRIGGER_TYPES)


def test_actions_described(strings: dict[str, Any]) -> None:
    """services.yaml, the action texts and the action icons list the same actions and fields."""
    services = yaml.safe_load(_source("services.yaml"))
    service_helper._SERVICES_SCHEMA(services)  # Home Assistant's own checks
    for spec in services.values():
        for field in spec["fields"].values():
            selector.validate_selector(field["selector"])
    icons = _load(INTEGRATION / "icons.json")["services"]
    assert set(services) == set(strings["services"]) == set(icons)
    for name, spec in services.items():
        assert set(spec["fields"]) == set(strings["services"][name]["fields"])


def test_manifest() -> None:
    """The manifest the issue asks for: a hub, MQTT based, local push, config flow."""
    manifest = _load(INTEGRATION / "manifest.json")
    assert manifest["domain"] == "rufina_alpr"
    assert manifest["dependencies"] == ["mqtt"]
    assert manifest["iot_class"] == "local_push"
    assert manifest["config_flow"] is True
    assert manifest["integration_type"] == "hub"
    assert manifest["requirements"] == []
    for key in ("version", "documentation", "issue_tracker", "codeowners", "name"):
        assert manifest[key], key
    assert list(manifest)[:2] == ["domain", "name"]
    assert list(manifest)[2:] == sorted(list(manifest)[2:])  # hassfest's order


def test_hacs_manifest() -> None:
    """hacs.json at the repository root: name, minimum HA version, Italy, README rendered.

    The minimum is the release the oldest entry of the test matrix runs (requirements-ha.lock.txt,
    scripts/ha-test.sh oldest), so what hacs.json promises is what CI tests.
    """
    hacs = _load(REPO / "hacs.json")
    assert hacs["name"] == _load(INTEGRATION / "manifest.json")["name"]
    assert hacs["homeassistant"] == "2025.4.0"
    oldest = re.search(
        r"^homeassistant==(\d+\.\d+)\.\d+$",
        (REPO / "requirements-ha.lock.txt").read_text(),
        re.MULTILINE,
    )
    assert oldest is not None
    assert hacs["homeassistant"] == f"{oldest.group(1)}.0"
    assert hacs["country"] == "IT"
    assert hacs["render_readme"] is True


def test_brand_images() -> None:
    """Square PNG icons, 256 and 512 px, in the integration's brand folder."""
    for name, size in (("icon.png", 256), ("icon@2x.png", 512)):
        with Image.open(INTEGRATION / "brand" / name) as icon:
            assert icon.format == "PNG"
            assert icon.size == (size, size)


async def test_brand_images_served(
    hass: HomeAssistant, hass_client: ClientSessionGenerator
) -> None:
    """The brands rule: Home Assistant 2026.x serves the brand/ folder of a custom integration
    (its `brands` integration); 2025.x has no such integration and reads only the
    home-assistant/brands repository (quality_scale.yaml says so)."""
    if not await _has_integration(hass, "brands"):
        assert AwesomeVersion(HA_VERSION) < AwesomeVersion("2026.3.0")
        return
    assert AwesomeVersion(HA_VERSION) >= AwesomeVersion("2026.3.0")
    assert await async_setup_component(hass, "brands", {})
    client = await hass_client()
    for name, served in (
        ("icon.png", "icon.png"),
        ("icon@2x.png", "icon@2x.png"),
        ("logo.png", "icon.png"),  # Home Assistant's fallback: no logo, the icon
        ("dark_icon.png", "icon.png"),
    ):
        response = await client.get(f"/api/brands/integration/rufina_alpr/{name}")
        assert response.status == 200, name
        assert await response.read() == (INTEGRATION / "brand" / served).read_bytes(), name


async def _has_integration(hass: HomeAssistant, domain: str) -> bool:
    try:
        await async_get_integration(hass, domain)
    except IntegrationNotFound:
        return False
    return True


def test_quality_scale_lists_every_rule() -> None:
    """quality_scale.yaml has every rule; exempt and todo rules say why."""
    rules = yaml.safe_load(_source("quality_scale.yaml"))["rules"]
    expected = {rule for tier in QUALITY_RULES.values() for rule in tier}
    assert set(rules) == expected
    for name, value in rules.items():
        status = value if isinstance(value, str) else value["status"]
        assert status in ("done", "exempt", "todo"), name
        if status != "done":
            assert isinstance(value, dict), name
            assert value.get("comment"), name


def test_platforms_declare_parallel_updates() -> None:
    """Each platform module sets PARALLEL_UPDATES (the parallel-updates rule)."""
    for module in (binary_sensor, event, image, sensor):
        assert module.PARALLEL_UPDATES == 0
    assert todo.PARALLEL_UPDATES == 1, "its changes are API calls, one at a time"


def test_readme_section_covers_the_documentation_rules() -> None:
    """The user documentation exists and speaks of what the quality scale asks for."""
    readme = (INTEGRATION.parents[1] / "README.md").read_text(encoding="utf-8")
    text = readme.split("## Home Assistant integration", 1)[1].split("\n## ", 1)[0].lower()
    for topic in (
        "hacs",
        "remov",
        "rufina_alpr_transit",
        "rufina_alpr_hotlist_match",
        "get_last_transit",
        "trigger",
        "troubleshoot",
        "limitation",
        "automation",
    ):
        assert topic in text, topic
