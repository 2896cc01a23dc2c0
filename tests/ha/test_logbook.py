"""The logbook's lines of a transit and a hotlist match, as Home Assistant's logbook renders them
(issue 26, 2): the station's device name and a readable line, in the instance's language, with
no plate a transit's event does not carry."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from custom_components.rufina_alpr.const import CONF_PLATES_IN_EVENTS
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)
from pytest_homeassistant_custom_component.test_util.aiohttp import AiohttpClientMocker
from pytest_homeassistant_custom_component.typing import MqttMockHAClient, WebSocketGenerator

from .conftest import fire, payload, publish_engine


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(recorder_mock: Any, enable_custom_integrations: None) -> None:
    """The recorder first: it must be set up before Home Assistant is (the harness' rule)."""


async def _logbook(hass: HomeAssistant, ws: WebSocketGenerator) -> list[dict[str, Any]]:
    """The integration's lines of the logbook, as its websocket API gives them to the frontend."""
    await async_wait_recording_done(hass)
    client = await ws()
    await client.send_json(
        {
            "id": 1,
            "type": "logbook/get_events",
            "start_time": (dt_util.utcnow() - timedelta(hours=1)).isoformat(),
        }
    )
    response = await client.receive_json()
    assert response["success"], response
    return [row for row in response["result"] if row.get("domain") == "rufina_alpr"]


async def _fire_events(hass: HomeAssistant) -> None:
    # The logbook's one use of the frontend is its panel: the current harness ships no frontend.
    hass.config.components.add("frontend")
    assert await async_setup_component(hass, "logbook", {})
    await publish_engine(hass)
    fire(hass, "transit", payload("transit"))
    fire(hass, "hotlist_match", payload("hotlist_match"))
    await hass.async_block_till_done()


@pytest.mark.parametrize(
    ("language", "transit", "match"),
    [
        (
            "en",
            "transit, inbound, car",
            "hotlist match: Veicoli rubati, priority 1, outbound, car, GA 456 BC",
        ),
        (
            "it",
            "transito, in entrata, auto",
            "allarme lista: Veicoli rubati, priorità 1, in uscita, auto, GA 456 BC",
        ),
    ],
)
async def test_logbook_lines(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    setup_integration: MockConfigEntry,
    *,
    language: str,
    transit: str,
    match: str,
) -> None:
    """Each event reads as a line named after its station's device, in the instance's language;
    a transit's line has no plate (its event carries none), a match's has the plate it carries."""
    hass.config.language = language
    await _fire_events(hass)
    rows = await _logbook(hass, hass_ws_client)
    lines = {(row["name"], row["message"]) for row in rows}
    assert lines == {("SS67 ingresso est", transit), ("Pomino", match)}
    assert "FB" not in repr(rows)


async def test_logbook_plate_when_the_event_carries_it(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    mqtt_mock: MqttMockHAClient,
    config_entry: MockConfigEntry,
    engine_api: AiohttpClientMocker,
) -> None:
    """With the option that puts plates in transit events, the transit's line shows it."""
    hass.config_entries.async_update_entry(config_entry, options={CONF_PLATES_IN_EVENTS: True})
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    await _fire_events(hass)
    rows = await _logbook(hass, hass_ws_client)
    assert ("SS67 ingresso est", "transit, inbound, car, FB 123 XY") in {
        (row["name"], row["message"]) for row in rows
    }
