"""The shipped Lovelace dashboards (Italian and English) against the integration, on a fresh
install.

The engine `rufina` announces the town's real station registry (frigate_config/stations.yaml,
payloads built by the engine's own contract module); every entity id the dashboards name must
then exist, those their templates name (health, last plates) included. Station devices get their
locality as area: Home Assistant 2026.x would put that area into generated entity ids, so this
also proves the integration's ids are stable. The templates of the dashboards and the blueprints
must parse without warnings (an invalid escape such as 'image\\.' is a DeprecationWarning of
Jinja's string literals, an error in the future).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
import warnings

import jinja2
import pytest
import yaml

from custom_components.rufina_alpr.const import CONF_TOPIC_PREFIX, DOMAIN
from homeassistant.const import CONF_API_TOKEN, CONF_URL
from homeassistant.core import HomeAssistant
from homeassistant.helpers import area_registry as ar, entity_registry as er
from homeassistant.util.yaml import load_yaml_dict
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.test_util.aiohttp import AiohttpClientMocker
from pytest_homeassistant_custom_component.typing import MqttMockHAClient
from rufina_alpr.contract import stations_payload, status_payload
from rufina_alpr.stations import load_registry

from ..dashboard_entities import DASHBOARDS, dashboard_entities
from .conftest import API_URL, CONTRACT, PREFIX, TOKEN, fire, validate

REPO = Path(__file__).resolve().parents[2]
REGISTRY = REPO / "frigate_config" / "stations.yaml"
BLUEPRINTS = sorted((REPO / "blueprints" / "automation" / "rufina_alpr").glob("*.yaml"))
INSTANCE = "rufina"  # the dashboard's engine


def templates(node: Any) -> list[str]:
    """Every string of a YAML tree that is a Jinja template."""
    if isinstance(node, dict):
        return [t for value in node.values() for t in templates(value)]
    if isinstance(node, list):
        return [t for item in node for t in templates(item)]
    if isinstance(node, str) and ("{{" in node or "{%" in node):
        return [node]
    return []


async def test_every_dashboard_entity_exists(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, aioclient_mock: AiohttpClientMocker
) -> None:
    """A fresh install with the town's 34 stations has every entity the dashboards name."""
    aioclient_mock.get(
        f"{API_URL}/api/v1/info",
        json={"instance": INSTANCE, "engine_version": "0.1.0", "contract_version": 1},
    )
    aioclient_mock.get(f"{API_URL}/api/v1/contract", json=CONTRACT)
    aioclient_mock.get(f"{API_URL}/api/v1/hotlists", json={"hotlists": []})
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=INSTANCE,
        title=INSTANCE,
        data={CONF_TOPIC_PREFIX: PREFIX, CONF_URL: API_URL, CONF_API_TOKEN: TOKEN},
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    stations = load_registry(REGISTRY).stations
    status = status_payload(state="online", instance=INSTANCE, api_url=API_URL, since=None)
    announced = stations_payload(stations)
    validate("status", status)
    validate("stations", announced)
    fire(hass, "status", status, retain=True)
    fire(hass, "stations", announced, retain=True)
    await hass.async_block_till_done()

    named: set[str] = set()
    for dashboard in DASHBOARDS:
        names = dashboard_entities(yaml.safe_load(dashboard.read_text()))
        assert len(names) > 100, dashboard.name
        assert {
            f"binary_sensor.{INSTANCE}_via_piave_in_camera",
            f"binary_sensor.{INSTANCE}_frigate",
        } <= names
        missing = sorted(entity_id for entity_id in names if hass.states.get(entity_id) is None)
        assert not missing, f"entities {dashboard.name} names that do not exist: {missing}"
        named |= names
    # Every station's device has its locality as area, which did not go into the entity ids.
    entities = er.async_get(hass)
    areas = {area.name for area in ar.async_get(hass).async_list_areas()}
    assert {station.locality for station in stations} <= areas
    assert len(stations) == 34
    assert all(entities.async_get(entity_id) is not None for entity_id in named)


@pytest.mark.parametrize("path", [*DASHBOARDS, *BLUEPRINTS], ids=lambda path: path.name)
def test_templates_parse_without_warnings(path: Path) -> None:
    """Jinja parses every template of the dashboard and the blueprints, warnings as errors."""
    tree = load_yaml_dict(path) if path in BLUEPRINTS else yaml.safe_load(path.read_text())
    found = templates(tree)
    assert found, f"no templates found in {path.name}"
    environment = jinja2.Environment(extensions=["jinja2.ext.loopcontrols", "jinja2.ext.do"])
    for template in found:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            environment.parse(template)


def test_template_check_catches_an_invalid_escape() -> None:
    """The check above fails on the escape the hotlist blueprint used to have."""
    environment = jinja2.Environment()
    template = "{{ states | select('match', 'image\\.') | list }}"
    with warnings.catch_warnings(), pytest.raises(jinja2.TemplateSyntaxError, match="escape"):
        warnings.simplefilter("error")
        environment.parse(template)
    with warnings.catch_warnings(record=True) as caught:  # by default only a warning
        warnings.simplefilter("always")
        environment.parse(template)
    assert any("invalid escape" in str(warning.message) for warning in caught)
