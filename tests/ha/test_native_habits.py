"""Native Home Assistant habits: the actions' select options translated, stations picked as
devices in `search_transits`, and the stations on Home Assistant's map only when asked."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from custom_components.rufina_alpr.const import CONF_SHOW_ON_MAP, CONF_TOPIC_PREFIX, DOMAIN
from homeassistant.const import CONF_URL
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.test_util.aiohttp import AiohttpClientMocker

from .conftest import (
    API_URL,
    CONTRACT,
    ENTRY_DATA,
    HOTLISTS,
    INFO,
    INSTANCE,
    REPO,
    device_of,
    publish_engine,
)

INTEGRATION = REPO / "custom_components" / "rufina_alpr"
LAST_PLATE = "sensor.rufina_01_st01_ss67_est_last_plate"
PIAZZA = "sensor.rufina_01_st20_piazza_umberto_vehicles_per_hour"
FOUND: dict[str, Any] = {"transits": [], "limit": 50, "offset": 0, "next_offset": None}


def _select_fields() -> list[tuple[str, str, dict[str, Any]]]:
    """(action, field, select selector) of every select field of the actions."""
    services = yaml.safe_load((INTEGRATION / "services.yaml").read_text())
    return [
        (action, name, field["selector"]["select"])
        for action, spec in services.items()
        for name, field in spec["fields"].items()
        if "select" in field.get("selector", {})
    ]


@pytest.mark.parametrize("language", ["strings", "translations/en", "translations/it"])
def test_select_options_are_translated(language: str) -> None:
    """Every option of every select field has its words (no raw English option in Italian)."""
    strings = json.loads((INTEGRATION / f"{language}.json").read_text())
    fields = _select_fields()
    assert ("search_transits", "vehicle") in {(action, name) for action, name, _ in fields}
    for action, name, select in fields:
        key = select.get("translation_key")
        assert key, f"{action}.{name} has no translation_key"
        assert set(strings["selector"][key]["options"]) == set(select["options"])
    italian = json.loads((INTEGRATION / "translations/it.json").read_text())
    assert italian["selector"]["vehicle_class"]["options"]["truck"] == "Camion"


async def _search(hass: HomeAssistant, **data: Any) -> Any:
    return await hass.services.async_call(
        DOMAIN,
        "search_transits",
        {"reason": "incidente via Roma", **data},
        blocking=True,
        return_response=True,
    )


async def test_search_by_station_device(
    hass: HomeAssistant, setup_integration: MockConfigEntry, aioclient_mock: AiohttpClientMocker
) -> None:
    """Stations picked as devices become the engine's station ids, with any raw ids given."""
    await publish_engine(hass)
    aioclient_mock.get(f"{API_URL}/api/v1/transits", json=FOUND)
    est = device_of(hass, f"{INSTANCE}_st01_ss67_est")
    pomino = device_of(hass, f"{INSTANCE}_st09_pomino")
    assert est is not None and pomino is not None
    aioclient_mock.mock_calls.clear()

    assert await _search(hass, station_devices=[est.id, pomino.id]) == FOUND
    assert await _search(hass, station_devices=est.id, stations=["st05_scopeti", "st01_ss67_est"])
    assert await _search(hass, stations=["st09_pomino"])  # raw ids keep working
    queries = [call[1].query for call in aioclient_mock.mock_calls]
    assert [query["station"] for query in queries] == [
        "st01_ss67_est,st09_pomino",
        "st01_ss67_est,st05_scopeti",
        "st09_pomino",
    ]


async def test_search_by_wrong_device(
    hass: HomeAssistant, setup_integration: MockConfigEntry, aioclient_mock: AiohttpClientMocker
) -> None:
    """An unknown device, or one that is not a station, is a translated error; no search."""
    await publish_engine(hass)
    aioclient_mock.get(f"{API_URL}/api/v1/transits", json=FOUND)
    aioclient_mock.mock_calls.clear()
    engine = device_of(hass, INSTANCE)
    assert engine is not None
    for device_id, key in (("0123456789abcdef", "device_not_found"), (engine.id, "not_a_station")):
        with pytest.raises(ServiceValidationError) as err:
            await _search(hass, station_devices=[device_id])
        assert err.value.translation_key == key
    assert not aioclient_mock.mock_calls


async def test_search_stations_of_two_engines(
    hass: HomeAssistant, setup_integration: MockConfigEntry, aioclient_mock: AiohttpClientMocker
) -> None:
    """Picked stations name their engine when the call names none; a station of another engine
    than the one the call names is a translated error, and nothing is searched."""
    await publish_engine(hass)
    est = device_of(hass, f"{INSTANCE}_st01_ss67_est")
    assert est is not None
    other_url = "http://192.168.1.21:8787"
    aioclient_mock.get(f"{other_url}/api/v1/info", json={**INFO, "instance": "rufina-02"})
    aioclient_mock.get(f"{other_url}/api/v1/contract", json=CONTRACT)
    aioclient_mock.get(f"{other_url}/api/v1/hotlists", json=HOTLISTS)
    aioclient_mock.get(f"{API_URL}/api/v1/transits", json=FOUND)
    data = {**ENTRY_DATA, CONF_URL: other_url, CONF_TOPIC_PREFIX: "other"}
    other = MockConfigEntry(domain=DOMAIN, unique_id="rufina-02", title="rufina-02", data=data)
    other.add_to_hass(hass)
    assert await hass.config_entries.async_setup(other.entry_id)
    await hass.async_block_till_done()
    aioclient_mock.mock_calls.clear()

    assert await _search(hass, station_devices=[est.id]) == FOUND  # two engines: the device's
    with pytest.raises(ServiceValidationError) as err:
        await _search(hass, station_devices=[est.id], config_entry_id=other.entry_id)
    assert err.value.translation_key == "station_of_another_engine"
    assert err.value.translation_placeholders == {"station": "st01_ss67_est", "name": "rufina-02"}
    assert [call[1].host for call in aioclient_mock.mock_calls] == ["192.168.1.20"]


async def test_stations_on_the_map_only_when_asked(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    """No coordinates (no marker on Home Assistant's map) by default; the option adds them to
    each station's located sensor, once per station; the station's facts stay either way."""
    await publish_engine(hass)
    plate = hass.states.get(LAST_PLATE).attributes
    assert "latitude" not in plate and "longitude" not in plate
    assert plate["camera"] == "st01_ss67_est" and plate["locality"] is not None
    assert "latitude" not in hass.states.get(PIAZZA).attributes

    result = await hass.config_entries.options.async_init(setup_integration.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"offline_issue_minutes": 30, CONF_SHOW_ON_MAP: True}
    )
    await hass.async_block_till_done()  # changed options reload the entry
    assert setup_integration.options[CONF_SHOW_ON_MAP] is True
    await publish_engine(hass)
    plate = hass.states.get(LAST_PLATE).attributes
    assert (plate["latitude"], plate["longitude"]) == (43.8251, 11.4912)
    assert hass.states.get(PIAZZA).attributes["latitude"] == 43.8237
    per_hour = hass.states.get("sensor.rufina_01_st01_ss67_est_vehicles_per_hour")
    assert "latitude" not in per_hour.attributes  # one marker per station
