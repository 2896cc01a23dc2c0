"""Set-up, unload and reload of a config entry."""

from __future__ import annotations

from unittest.mock import patch

import aiohttp
import pytest

from custom_components.rufina_alpr import async_remove_config_entry_device
from custom_components.rufina_alpr.compat import OPTIONS_FLOW_RELOADS
from custom_components.rufina_alpr.const import CONF_SIGNING_KEY, CONF_TOPIC_PREFIX, DOMAIN
from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.const import CONF_API_TOKEN, CONF_URL
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.test_util.aiohttp import AiohttpClientMocker
from pytest_homeassistant_custom_component.typing import MqttMockHAClient

from .conftest import (
    API_URL,
    CONTRACT,
    ENTRIES,
    HOTLISTS,
    INFO,
    INSTANCE,
    NO_ENTRIES,
    SIGNING_KEY,
    TOKEN,
    device_of,
    fire,
    payload,
    publish_engine,
)


async def test_setup_and_unload(hass: HomeAssistant, setup_integration: MockConfigEntry) -> None:
    """The entry loads with the engine device, then unloads cleanly."""
    entry = setup_integration
    assert entry.state is ConfigEntryState.LOADED
    engine = device_of(hass, INSTANCE)
    assert engine is not None
    assert engine.sw_version == "0.1.0"
    assert engine.configuration_url == API_URL

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.NOT_LOADED


async def test_token_sent(
    hass: HomeAssistant, setup_integration: MockConfigEntry, aioclient_mock: AiohttpClientMocker
) -> None:
    """The API is called with the bearer token (engine info, signing key, the hotlists, then
    each list's entries for its to-do list)."""
    paths = [call[1].path for call in aioclient_mock.mock_calls]
    assert paths[:3] == ["/api/v1/info", "/api/v1/contract", "/api/v1/hotlists"]
    assert sorted(paths[3:]) == [
        "/api/v1/hotlists/stolen/entries",
        "/api/v1/hotlists/uninsured/entries",
    ]
    for _method, _url, _data, headers in aioclient_mock.mock_calls:
        assert headers["Authorization"] == f"Bearer {TOKEN}"


async def test_setup_auth_failure_starts_reauth(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    config_entry: MockConfigEntry,
    aioclient_mock: AiohttpClientMocker,
) -> None:
    """A refused token (rotated on the engine) asks the user for a new one at once, with a
    repair; it no longer fails the set-up: every entity MQTT feeds stays (all 270 of the town's
    disappeared after a reload), only the actions and hotlist sizes wait for the new token."""
    aioclient_mock.get(f"{API_URL}/api/v1/info", status=401, json={"error": "unauthorized"})
    aioclient_mock.get(f"{API_URL}/api/v1/contract", status=401, json={"error": "unauthorized"})
    aioclient_mock.get(f"{API_URL}/api/v1/hotlists", status=401, json={"error": "unauthorized"})
    hass.config_entries.async_update_entry(
        config_entry, data={**config_entry.data, CONF_SIGNING_KEY: SIGNING_KEY}
    )
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert config_entry.state is ConfigEntryState.LOADED
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == [SOURCE_REAUTH]
    issue_id = f"token_refused_{config_entry.entry_id}"
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is not None
    await publish_engine(hass)
    last_plate = hass.states.get("sensor.rufina_01_st01_ss67_est_last_plate")
    assert last_plate is not None, "the station's entities exist"
    assert last_plate.state == payload("transit")["plate"], "the last plates still arrive"
    # After the new token the entry reloads; the repair goes away.
    aioclient_mock.clear_requests()
    aioclient_mock.get(f"{API_URL}/api/v1/info", json=INFO)
    aioclient_mock.get(f"{API_URL}/api/v1/contract", json=CONTRACT)
    aioclient_mock.get(f"{API_URL}/api/v1/hotlists", json=HOTLISTS)
    aioclient_mock.get(ENTRIES, json=NO_ENTRIES)
    await hass.config_entries.async_reload(config_entry.entry_id)
    await hass.async_block_till_done()
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None


async def test_setup_with_engine_down(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    config_entry: MockConfigEntry,
    aioclient_mock: AiohttpClientMocker,
) -> None:
    """An unreachable API does not block the set-up: MQTT (and the last will) tell the state,
    checked with the signing key kept from the last set-up."""
    hass.config_entries.async_update_entry(
        config_entry, data={**config_entry.data, CONF_SIGNING_KEY: SIGNING_KEY}
    )
    aioclient_mock.get(f"{API_URL}/api/v1/info", exc=aiohttp.ClientConnectionError("refused"))
    aioclient_mock.get(f"{API_URL}/api/v1/hotlists", exc=aiohttp.ClientConnectionError("refused"))
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert config_entry.state is ConfigEntryState.LOADED
    engine = device_of(hass, INSTANCE)
    assert engine is not None
    assert engine.sw_version is None
    fire(hass, "status", payload("status_online"), retain=True)
    await hass.async_block_till_done()
    engine = device_of(hass, INSTANCE)
    assert engine is not None
    assert engine.sw_version == "0.1.0"


async def test_setup_retries_without_mqtt(
    hass: HomeAssistant, config_entry: MockConfigEntry, engine_api: AiohttpClientMocker
) -> None:
    """Without an MQTT client the entry retries later."""
    with patch("custom_components.rufina_alpr.mqtt.async_wait_for_mqtt_client", return_value=False):
        assert not await hass.config_entries.async_setup(config_entry.entry_id)
        await hass.async_block_till_done()
    assert config_entry.state is ConfigEntryState.SETUP_RETRY


async def test_options_change_reloads(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    """Options changed in the options flow reload the entry so they apply; unchanged ones do not."""
    entry = setup_integration
    with patch("custom_components.rufina_alpr.async_setup_entry", return_value=True) as setup_entry:
        for _ in range(2):
            flow = await hass.config_entries.options.async_init(entry.entry_id)
            result = await hass.config_entries.options.async_configure(
                flow["flow_id"], {"offline_issue_minutes": 5}
            )
            await hass.async_block_till_done()
            assert result["type"] is FlowResultType.CREATE_ENTRY
        assert setup_entry.call_count == 1
    assert entry.options == {
        "offline_issue_minutes": 5,
        "operators": [],
        "plates_in_events": False,
        "show_on_map": False,
    }


async def test_remove_config_entry_device(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    """Only devices of stations the engine no longer announces can be deleted by hand."""
    entry = setup_integration
    await publish_engine(hass)
    engine = device_of(hass, INSTANCE)
    station = device_of(hass, f"{INSTANCE}_st01_ss67_est")
    assert engine is not None
    assert station is not None
    assert not await async_remove_config_entry_device(hass, entry, engine)
    assert not await async_remove_config_entry_device(hass, entry, station)
    entry.runtime_data.stations.pop("st01_ss67_est")
    assert await async_remove_config_entry_device(hass, entry, station)


async def test_reconfigure_and_reauth_apply_to_the_loaded_entry(
    hass: HomeAssistant, setup_integration: MockConfigEntry, engine_api: AiohttpClientMocker
) -> None:
    """Reconfigure and reauth reload a loaded entry: the new hub uses what changed.

    No update listener where the options flow reloads by itself (OptionsFlowWithReload): with
    one, Home Assistant 2026.12 stops reloading after these flows.
    """
    entry = setup_integration
    assert bool(entry.update_listeners) is not OPTIONS_FLOW_RELOADS
    new_url = "http://10.0.0.9:8787"
    engine_api.get(f"{new_url}/api/v1/info", json=INFO)
    engine_api.get(f"{new_url}/api/v1/contract", json=CONTRACT)
    engine_api.get(f"{new_url}/api/v1/hotlists", json=HOTLISTS)
    before = entry.runtime_data

    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_TOPIC_PREFIX: "comune/alpr", CONF_URL: new_url}
    )
    await hass.async_block_till_done()
    assert result["reason"] == "reconfigure_successful"
    assert entry.state is ConfigEntryState.LOADED
    reconfigured = entry.runtime_data
    assert reconfigured is not before
    assert (reconfigured.prefix, reconfigured.client.url) == ("comune/alpr", new_url)

    result = await entry.start_reauth_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_API_TOKEN: "new-token"}
    )
    await hass.async_block_till_done()
    assert result["reason"] == "reauth_successful"
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data is not reconfigured
    assert entry.data[CONF_API_TOKEN] == "new-token"


async def test_a_token_refused_while_running_asks_for_a_new_one_at_once(
    hass: HomeAssistant, setup_integration: MockConfigEntry, aioclient_mock: AiohttpClientMocker
) -> None:
    """A token rotated while Home Assistant runs was swallowed at debug level: actions failed,
    hotlist sizes went stale, nobody was asked. The first 401 (an action, the hotlist poll)
    starts re-authentication with a repair; the entities MQTT feeds keep working."""
    await publish_engine(hass)
    aioclient_mock.clear_requests()
    aioclient_mock.get(f"{API_URL}/api/v1/route", status=401, json={"error": "unauthorized"})
    with pytest.raises(HomeAssistantError) as refused:
        await hass.services.async_call(
            DOMAIN,
            "vehicle_route",
            {"plate": "AB123CD", "reason": "incidente"},
            blocking=True,
            return_response=True,
        )
    assert refused.value.translation_key == "invalid_auth"
    await hass.async_block_till_done()
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == [SOURCE_REAUTH]
    issue_id = f"token_refused_{setup_integration.entry_id}"
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is not None
    # The hotlist poll refused too: still one prompt, and the station's entities work on.
    aioclient_mock.get(f"{API_URL}/api/v1/hotlists", status=401, json={"error": "unauthorized"})
    await setup_integration.runtime_data.async_refresh_hotlists()
    await hass.async_block_till_done()
    assert len(hass.config_entries.flow.async_progress_by_handler(DOMAIN)) == 1
    assert setup_integration.state is ConfigEntryState.LOADED
    fire(hass, "transit", payload("transit_low_confidence"))
    await hass.async_block_till_done()
    state = hass.states.get("sensor.rufina_01_st01_ss67_est_last_plate")
    assert state is not None and state.state == payload("transit_low_confidence")["plate"]
