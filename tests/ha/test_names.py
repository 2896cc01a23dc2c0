"""Names and units in the instance's language (issue 26, 2): the hotlist size's unit, the devices'
models, the engine device's name, and the offline repairs' duration in the singular and plural."""

from __future__ import annotations

from datetime import timedelta

import pytest

from custom_components.rufina_alpr.const import CONF_OFFLINE_ISSUE_MINUTES, DOMAIN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.translation import async_get_translations
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from pytest_homeassistant_custom_component.test_util.aiohttp import AiohttpClientMocker
from pytest_homeassistant_custom_component.typing import MqttMockHAClient

from .conftest import INSTANCE, device_of, fire, payload, publish_engine

STOLEN_SIZE = "sensor.rufina_01_hotlist_size_stolen"


async def _setup(hass: HomeAssistant, entry: MockConfigEntry, language: str) -> None:
    """The integration loaded in an instance speaking `language`."""
    hass.config.language = language
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await publish_engine(hass)


@pytest.mark.parametrize(
    ("language", "unit", "engine_model", "lpr_model", "context_model", "size_name"),
    [
        ("en", "plates", "ALPR engine", "LPR station", "Context station", "Hotlist Veicoli rubati"),
        (
            "it",
            "targhe",
            "Motore ALPR",
            "Postazione LPR",
            "Postazione di contesto",
            "Lista Veicoli rubati",
        ),
    ],
)
async def test_names_and_units_in_the_instance_language(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    config_entry: MockConfigEntry,
    engine_api: AiohttpClientMocker,
    *,
    language: str,
    unit: str,
    engine_model: str,
    lpr_model: str,
    context_model: str,
    size_name: str,
) -> None:
    """The engine device is "Rufina ALPR (<instance>)", not the bare instance id; its entities
    are named after it; models and the hotlist size's unit are in the instance's language."""
    await _setup(hass, config_entry, language)
    engine = device_of(hass, INSTANCE)
    lpr = device_of(hass, f"{INSTANCE}_st01_ss67_est")
    context = device_of(hass, f"{INSTANCE}_st20_piazza_umberto")
    assert engine is not None and lpr is not None and context is not None
    assert engine.name == f"Rufina ALPR ({INSTANCE})"
    assert (engine.model, lpr.model, context.model) == (engine_model, lpr_model, context_model)
    assert (lpr.model_id, context.model_id) == ("lpr", "context")
    size = hass.states.get(STOLEN_SIZE)
    assert size is not None
    assert size.attributes["unit_of_measurement"] == unit
    assert size.attributes["friendly_name"] == f"Rufina ALPR ({INSTANCE}) {size_name}"


@pytest.mark.parametrize(
    ("language", "minutes", "wording"),
    [
        ("en", 1, "offline for more than 1 minute:"),
        ("en", 5, "offline for more than 5 minutes:"),
        ("it", 1, "non è in linea da più di 1 minuto:"),
        ("it", 5, "non è in linea da più di 5 minuti:"),
    ],
)
async def test_offline_repair_reads_one_and_many_minutes(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    config_entry: MockConfigEntry,
    engine_api: AiohttpClientMocker,
    *,
    language: str,
    minutes: int,
    wording: str,
) -> None:
    """The engine-offline issue, as its translation renders with its placeholders, says "1
    minute" and "5 minutes" ("1 minuto", "5 minuti"), never "1 minutes"."""
    hass.config_entries.async_update_entry(
        config_entry, options={CONF_OFFLINE_ISSUE_MINUTES: minutes}
    )
    await _setup(hass, config_entry, language)
    fire(hass, "status", payload("status_offline"))
    await hass.async_block_till_done()
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=minutes, seconds=5))
    await hass.async_block_till_done()
    issue = ir.async_get(hass).async_get_issue(DOMAIN, f"engine_offline_{config_entry.entry_id}")
    assert issue is not None and issue.translation_placeholders is not None
    translations = await async_get_translations(hass, language, "issues", [DOMAIN])
    text = translations[f"component.{DOMAIN}.issues.engine_offline.description"]
    assert wording in text.format(**issue.translation_placeholders)
