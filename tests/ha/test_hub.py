"""The hub's edges: late platforms, caches of removed stations, nested contract versions."""

from __future__ import annotations

from unittest.mock import Mock

import pytest

from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from .conftest import fire, jpeg_bytes, payload, publish_engine


async def test_station_adder_sees_known_stations(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    """A platform that registers after the stations arrived gets them all at once."""
    await publish_engine(hass)
    hub = setup_integration.runtime_data
    adder = Mock()
    remove = hub.async_add_station_adder(adder)
    assert sorted(call.args[0].id for call in adder.call_args_list) == [
        "st01_ss67_est",
        "st09_pomino",
        "st20_piazza_umberto",
    ]
    remove()
    fire(hass, "stations", payload("stations", stations=[]))
    fire(hass, "stations", payload("stations"))
    await hass.async_block_till_done()
    assert adder.call_count == 3


async def test_removed_station_forgets_its_data(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    """Transits, crops and matches of a station the engine dropped are not kept."""
    await publish_engine(hass, crop=jpeg_bytes())
    fire(hass, "hotlist_match", payload("hotlist_match"))
    fire(hass, "st09_pomino/crop", jpeg_bytes())
    await hass.async_block_till_done()
    hub = setup_integration.runtime_data
    assert "st09_pomino" in hub.hotlist_matches
    assert "st09_pomino" in hub.crops

    stations = payload("stations")
    kept = [s for s in stations["stations"] if s["id"] != "st09_pomino"]
    fire(hass, "stations", payload("stations", stations=kept))
    await hass.async_block_till_done()
    assert "st09_pomino" not in hub.hotlist_matches
    assert "st09_pomino" not in hub.crops
    assert "st01_ss67_est" in hub.crops
    assert "st01_ss67_est" in hub.last_transits


async def test_hotlist_match_with_transit_of_another_version(
    hass: HomeAssistant, setup_integration: MockConfigEntry, caplog: pytest.LogCaptureFixture
) -> None:
    """A match whose embedded transit has another contract version is dropped, logged once."""
    await publish_engine(hass)
    match = payload("hotlist_match")
    match["transit"] = {**match["transit"], "v": 2}
    fire(hass, "hotlist_match", match)
    fire(hass, "hotlist_match", match)
    await hass.async_block_till_done()
    hub = setup_integration.runtime_data
    assert hub.rejected == {"hotlist_match": 2}
    assert hub.hotlist_matches == {}
    assert caplog.text.count("contract version 2") == 1
