"""What a control room keeps when the engine stops (issue 26, 1): the last plate and the stations'
counts stay, marked stale, instead of turning unavailable; the last plate comes back after a
restart of Home Assistant while the engine's retention keeps it; the last match of a list names
the list and the station as an operator knows them, and stays too."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory

from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant, State
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry, mock_restore_cache
from pytest_homeassistant_custom_component.test_util.aiohttp import AiohttpClientMocker

from .conftest import fire, payload, publish_engine

LAST_PLATE = "sensor.rufina_01_st01_ss67_est_last_plate"
STATION_COUNT = "sensor.rufina_01_st01_ss67_est_transits_today"
ENGINE_TOTAL = "sensor.rufina_01_transits_today"
LAST_MATCH = "sensor.rufina_01_hotlist_last_match_stolen"


async def test_last_values_stay_stale_while_the_engine_is_offline(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    """Offline: the plate, its time and the station's count stay, stale; the engine's own totals
    go unavailable. Back online: fresh again."""
    await publish_engine(hass)
    plate = hass.states.get(LAST_PLATE)
    assert (plate.state, plate.attributes["stale"]) == ("FB123XY", False)
    assert hass.states.get(STATION_COUNT).attributes["stale"] is False

    fire(hass, "status", payload("status_offline"))
    await hass.async_block_till_done()
    plate = hass.states.get(LAST_PLATE)
    assert plate.state == "FB123XY"
    assert plate.attributes["stale"] is True
    assert plate.attributes["time"] == "2026-11-25T08:15:02.120000+01:00"
    count = hass.states.get(STATION_COUNT)
    assert (count.state, count.attributes["stale"]) == ("96", True)
    assert hass.states.get(ENGINE_TOTAL).state == STATE_UNAVAILABLE
    # a station the engine never reported a plate for: none known (its map marker stays)
    assert hass.states.get("sensor.rufina_01_st09_pomino_last_plate").state == STATE_UNKNOWN

    fire(hass, "status", payload("status_online"))
    await hass.async_block_till_done()
    assert hass.states.get(LAST_PLATE).attributes["stale"] is False
    assert hass.states.get(STATION_COUNT).attributes["stale"] is False


async def _start_with_a_restored_plate(
    hass: HomeAssistant, config_entry: MockConfigEntry, age: timedelta
) -> None:
    """Home Assistant restarts, the engine's status not yet known and no retained `last` on the
    broker."""
    attributes: dict[str, Any] = {
        "display": "GA 456 BC",
        "time": (dt_util.utcnow() - age).isoformat(),
        "confidence": 0.97,
    }
    mock_restore_cache(hass, [State(LAST_PLATE, "GA456BC", attributes)])
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()  # the signing key read: messages in their order
    fire(hass, "stations", payload("stations"), retain=True)
    await hass.async_block_till_done()


async def test_last_plate_restored_then_forgotten_past_retention(
    hass: HomeAssistant,
    mqtt_mock: Any,
    config_entry: MockConfigEntry,
    engine_api: AiohttpClientMocker,
    freezer: FrozenDateTimeFactory,
) -> None:
    """After a restart the plate shows again, stale, with its transit's time; it goes once older
    than the engine's retention (checked when the engine's stats say it)."""
    await _start_with_a_restored_plate(hass, config_entry, timedelta(hours=5))
    state = hass.states.get(LAST_PLATE)
    assert state.state == "GA456BC"
    assert state.attributes["stale"] is True
    assert state.attributes["display"] == "GA 456 BC"

    fire(hass, "status", payload("status_online"))
    fire(hass, "stats", payload("stats", retention_days=0.25))  # 6 hours
    await hass.async_block_till_done()
    state = hass.states.get(LAST_PLATE)
    assert (state.state, state.attributes["stale"]) == ("GA456BC", True), "restored, not live"
    freezer.tick(timedelta(hours=1, minutes=1))
    fire(hass, "stats", payload("stats", retention_days=0.25))
    await hass.async_block_till_done()
    state = hass.states.get(LAST_PLATE)
    assert state.state == STATE_UNKNOWN
    assert "display" not in state.attributes


async def test_the_engines_last_transit_replaces_the_restored_plate(
    hass: HomeAssistant,
    mqtt_mock: Any,
    config_entry: MockConfigEntry,
    engine_api: AiohttpClientMocker,
) -> None:
    """The retained `last` replaces the restored plate; its purge (an empty message) clears it."""
    await _start_with_a_restored_plate(hass, config_entry, timedelta(minutes=5))
    assert hass.states.get(LAST_PLATE).state == "GA456BC"
    await publish_engine(hass)
    state = hass.states.get(LAST_PLATE)
    assert (state.state, state.attributes["stale"]) == ("FB123XY", False)
    fire(hass, "st01_ss67_est/last", b"")
    await hass.async_block_till_done()
    assert hass.states.get(LAST_PLATE).state == STATE_UNKNOWN


async def test_nothing_restored_without_a_plate(
    hass: HomeAssistant,
    mqtt_mock: Any,
    config_entry: MockConfigEntry,
    engine_api: AiohttpClientMocker,
) -> None:
    """A sensor that had no plate before the restart (unknown: no time) has none after."""
    mock_restore_cache(hass, [State(LAST_PLATE, STATE_UNKNOWN, {})])
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    fire(hass, "status", payload("status_online"), retain=True)
    fire(hass, "stations", payload("stations"), retain=True)
    await hass.async_block_till_done()
    assert hass.states.get(LAST_PLATE).state == STATE_UNKNOWN


async def test_last_match_names_the_list_and_the_station(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    """The list's and the station's names as an operator knows them, next to their ids."""
    await publish_engine(hass)
    fire(hass, "hotlist_match", payload("hotlist_match"))
    await hass.async_block_till_done()
    attributes = hass.states.get(LAST_MATCH).attributes
    assert attributes["list_name"] == "Veicoli rubati"
    assert attributes["station"] == "st09_pomino"
    assert attributes["station_name"] == "Pomino"
    assert attributes["match"] == "exact"
    assert attributes["display"] == "GA 456 BC"  # the plate as people write it
    # the alarm stays while the engine is offline; a list with no match goes unavailable
    fire(hass, "status", payload("status_offline"))
    await hass.async_block_till_done()
    assert hass.states.get(LAST_MATCH).attributes["read_plate"] == "GA456BC"
    assert hass.states.get(LAST_MATCH.replace("stolen", "uninsured")).state == STATE_UNAVAILABLE
