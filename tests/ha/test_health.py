"""Frigate's and the stations' health (`<prefix>/health`): connectivity entities and repairs."""

from __future__ import annotations

from datetime import timedelta
import logging
from typing import Any

import pytest

from custom_components.rufina_alpr.const import DOMAIN
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from .conftest import INSTANCE, device_of, fire, payload, publish_engine

FRIGATE = "binary_sensor.rufina_01_frigate"
SS67 = "binary_sensor.rufina_01_st01_ss67_est_camera"
POMINO = "binary_sensor.rufina_01_st09_pomino_camera"
PIAZZA = "binary_sensor.rufina_01_st20_piazza_umberto_camera"


def _health(**stations: dict[str, Any]) -> dict[str, Any]:
    """The health fixture with some stations changed."""
    base = payload("health")
    return payload("health", stations={**base["stations"], **stations})


def _frigate_offline() -> dict[str, Any]:
    """Frigate's last will: Frigate and every station offline, as the engine publishes it."""
    base = payload("health")
    return payload(
        "health",
        frigate={**base["frigate"], "state": "offline", "available": "offline"},
        stations={
            sid: {**entry, "state": "offline", "reason": "frigate_offline"}
            for sid, entry in base["stations"].items()
        },
    )


def _online(station: str = "st09_pomino") -> dict[str, Any]:
    return {station: {"state": "online", "reason": None, "roles": {"detect": "online"}}}


async def _advance(hass: HomeAssistant, minutes: int) -> None:
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=minutes))
    await hass.async_block_till_done()


def _issue(hass: HomeAssistant, issue_id: str) -> ir.IssueEntry | None:
    return ir.async_get(hass).async_get_issue(DOMAIN, issue_id)


async def test_health_entities(hass: HomeAssistant, setup_integration: MockConfigEntry) -> None:
    """Frigate on the engine device, one camera per station; states and reasons from the payload."""
    await publish_engine(hass)
    assert hass.states.get(FRIGATE).state == STATE_UNKNOWN
    assert hass.states.get(POMINO).state == STATE_UNKNOWN
    assert hass.states.get(POMINO).attributes.get("reason") is None

    fire(hass, "health", payload("health"), retain=True)
    await hass.async_block_till_done()

    frigate = hass.states.get(FRIGATE)
    assert frigate.state == STATE_ON
    assert frigate.attributes["device_class"] == "connectivity"
    assert frigate.attributes["available"] == "online"
    assert frigate.attributes["version"] == "0.17.2-4d4f6fb"
    assert frigate.attributes["last_stats"] == "2026-11-25T08:15:31+01:00"

    ss67 = hass.states.get(SS67)
    assert ss67.state == STATE_ON
    assert ss67.attributes["device_class"] == "connectivity"
    assert ss67.attributes["reason"] is None
    assert ss67.attributes["roles"] == {"detect": "online", "record": "online", "audio": "disabled"}
    pomino = hass.states.get(POMINO)
    assert pomino.state == STATE_OFF
    assert pomino.attributes["reason"] == "detect_offline"
    assert pomino.attributes["roles"] == {"detect": "offline", "record": "online"}
    assert hass.states.get(PIAZZA).state == STATE_ON  # a context station has one too

    entities = er.async_get(hass)
    frigate_entry = entities.async_get(FRIGATE)
    assert frigate_entry.unique_id == f"{INSTANCE}_frigate"
    engine = device_of(hass, INSTANCE)
    assert engine is not None
    assert frigate_entry.device_id == engine.id
    pomino_entry = entities.async_get(POMINO)
    assert pomino_entry.unique_id == f"{INSTANCE}_st09_pomino_camera"
    assert pomino_entry.device_id == setup_integration.runtime_data.station_device_id("st09_pomino")

    # Frigate's last will: everything off, each station saying why.
    fire(hass, "health", _frigate_offline())
    await hass.async_block_till_done()
    assert hass.states.get(FRIGATE).state == STATE_OFF
    assert hass.states.get(FRIGATE).attributes["available"] == "offline"
    assert hass.states.get(SS67).state == STATE_OFF
    assert hass.states.get(SS67).attributes["reason"] == "frigate_offline"

    # Unknown states, and a station the payload does not mention.
    fire(
        hass,
        "health",
        payload(
            "health",
            frigate={"state": "unknown", "available": None, "last_stats": None, "version": None},
            stations={"st01_ss67_est": {"state": "unknown", "reason": None, "roles": {}}},
        ),
    )
    await hass.async_block_till_done()
    assert hass.states.get(FRIGATE).state == STATE_UNKNOWN
    assert hass.states.get(FRIGATE).attributes["last_stats"] is None
    assert hass.states.get(SS67).state == STATE_UNKNOWN
    assert hass.states.get(POMINO).state == STATE_UNKNOWN
    assert "reason" not in hass.states.get(POMINO).attributes


async def test_health_unavailable_while_engine_offline(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    """The engine's last will: nobody is watching Frigate, so its view is unavailable."""
    assert hass.states.get(FRIGATE).state == STATE_UNAVAILABLE
    await publish_engine(hass)
    fire(hass, "health", payload("health"), retain=True)
    await hass.async_block_till_done()
    fire(hass, "status", payload("status_offline"))
    await hass.async_block_till_done()
    for entity_id in (FRIGATE, SS67, POMINO, PIAZZA):
        assert hass.states.get(entity_id).state == STATE_UNAVAILABLE, entity_id
    fire(hass, "status", payload("status_online"))
    await hass.async_block_till_done()
    assert hass.states.get(FRIGATE).state == STATE_ON
    assert hass.states.get(POMINO).state == STATE_OFF


async def test_frigate_offline_repair(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    """Frigate offline longer than the option: one issue (not one per station), gone on return."""
    await publish_engine(hass)
    issue_id = f"frigate_offline_{setup_integration.entry_id}"
    fire(hass, "health", _frigate_offline(), retain=True)
    await hass.async_block_till_done()
    await _advance(hass, 10)
    assert _issue(hass, issue_id) is None
    # Republished with each stats refresh: the clock keeps running, it does not restart.
    fire(hass, "health", _frigate_offline())
    await _advance(hass, 31)
    issue = _issue(hass, issue_id)
    assert issue is not None
    assert issue.translation_key == "frigate_offline"
    assert issue.severity is ir.IssueSeverity.WARNING
    assert issue.translation_placeholders == {"instance": INSTANCE, "minutes": "30 minutes"}
    domain_issues = [key for key in ir.async_get(hass).issues if key[0] == DOMAIN]
    assert domain_issues == [(DOMAIN, issue_id)]

    fire(hass, "health", payload("health"))
    await hass.async_block_till_done()
    assert _issue(hass, issue_id) is None


async def test_station_offline_repair(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    """A station offline for long: an issue saying why, updated with the reason, then removed."""
    await publish_engine(hass)
    hub = setup_integration.runtime_data
    issue_id = hub.repairs.station_issue_id("st09_pomino")
    assert issue_id == f"station_offline_{setup_integration.entry_id}_st09_pomino"
    fire(hass, "health", payload("health"), retain=True)
    await hass.async_block_till_done()
    await _advance(hass, 10)
    assert _issue(hass, issue_id) is None
    await _advance(hass, 31)
    issue = _issue(hass, issue_id)
    assert issue is not None
    assert issue.translation_key == "station_detect_offline"
    assert issue.translation_placeholders == {
        "instance": INSTANCE,
        "station": "Pomino",
        "camera": "st09_pomino",
        "reason": "detect_offline",
        "minutes": "30 minutes",
    }

    no_frames = {"state": "offline", "reason": "no_frames", "roles": {"detect": "online"}}
    fire(hass, "health", _health(st09_pomino=no_frames))
    await hass.async_block_till_done()
    issue = _issue(hass, issue_id)
    assert issue is not None
    assert issue.translation_key == "station_no_frames"
    assert issue.translation_placeholders["reason"] == "no_frames"

    fire(hass, "health", _health(**_online()))
    await hass.async_block_till_done()
    assert _issue(hass, issue_id) is None

    # A reason this integration does not know yet gets the general text; a station the
    # engine no longer reports loses its issue.
    odd = {"state": "offline", "reason": "cosmic_rays", "roles": {}}
    disabled = {"state": "offline", "reason": "disabled", "roles": {"detect": "disabled"}}
    fire(hass, "health", _health(st09_pomino=odd, st01_ss67_est=disabled))
    await _advance(hass, 31)
    issue = _issue(hass, issue_id)
    assert issue is not None
    assert issue.translation_key == "station_offline"
    assert issue.translation_placeholders["reason"] == "cosmic_rays"
    ss67 = _issue(hass, hub.repairs.station_issue_id("st01_ss67_est"))
    assert ss67 is not None
    assert ss67.translation_key == "station_disabled"
    assert ss67.translation_placeholders["station"] == "SS67 ingresso est"

    piazza = payload("health")["stations"]["st20_piazza_umberto"]
    fire(hass, "health", payload("health", stations={"st20_piazza_umberto": piazza}))
    await hass.async_block_till_done()
    assert _issue(hass, issue_id) is None
    assert _issue(hass, hub.repairs.station_issue_id("st01_ss67_est")) is None


async def test_station_issue_before_the_station_list(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    """Health before the station list names the station by its id, then by its name."""
    fire(hass, "status", payload("status_online"), retain=True)
    fire(hass, "health", payload("health"), retain=True)
    await hass.async_block_till_done()
    await _advance(hass, 31)
    issue_id = setup_integration.runtime_data.repairs.station_issue_id("st09_pomino")
    issue = _issue(hass, issue_id)
    assert issue is not None
    assert issue.translation_placeholders["station"] == "st09_pomino"
    fire(hass, "stations", payload("stations"), retain=True)
    await hass.async_block_till_done()
    issue = _issue(hass, issue_id)
    assert issue is not None
    assert issue.translation_placeholders["station"] == "Pomino"


async def test_health_repairs_wait_for_the_engine(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    """No clock runs on a stale view: an offline engine stops them; raised issues stay."""
    await publish_engine(hass)
    issue_id = setup_integration.runtime_data.repairs.station_issue_id("st09_pomino")
    fire(hass, "health", payload("health"), retain=True)
    await hass.async_block_till_done()
    fire(hass, "status", payload("status_offline"))
    await _advance(hass, 31)
    assert _issue(hass, issue_id) is None

    fire(hass, "status", payload("status_online"))
    await hass.async_block_till_done()
    await _advance(hass, 31)
    assert _issue(hass, issue_id) is not None

    # The engine dies: the issue stays (nobody knows the camera recovered) until it says so.
    fire(hass, "status", payload("status_offline"))
    await hass.async_block_till_done()
    assert _issue(hass, issue_id) is not None
    fire(hass, "status", payload("status_online"))
    fire(hass, "health", _health(**_online()))
    await hass.async_block_till_done()
    assert _issue(hass, issue_id) is None


async def test_health_timers_cancelled_on_unload(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    """Unloading while Frigate and a station are offline leaves no clock behind."""
    await publish_engine(hass)
    fire(hass, "health", payload("health"), retain=True)
    await hass.async_block_till_done()
    assert await hass.config_entries.async_unload(setup_integration.entry_id)
    await _advance(hass, 120)
    assert not [key for key in ir.async_get(hass).issues if key[0] == DOMAIN]


async def test_bad_health_payloads_are_ignored(
    hass: HomeAssistant,
    setup_integration: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A malformed health payload is logged and dropped; the last good one stays."""
    caplog.set_level(logging.WARNING, logger="custom_components.rufina_alpr")
    await publish_engine(hass)
    fire(hass, "health", payload("health"), retain=True)
    await hass.async_block_till_done()
    good = payload("health")
    fire(hass, "health", b"{not json")
    fire(hass, "health", {**good, "frigate": {"state": "sleeping"}})
    fire(hass, "health", {**good, "stations": {"st01_ss67_est": {"reason": "no_frames"}}})
    fire(hass, "health", {"v": 1, "time": good["time"]})
    fire(hass, "health", {**good, "v": 2})
    await hass.async_block_till_done()
    assert caplog.text.count("Ignoring a malformed health payload") == 4
    assert caplog.text.count("Ignoring health payloads of contract version 2") == 1
    hub = setup_integration.runtime_data
    assert hub.rejected == {"health": 5}
    assert hub.received["health"] == 1
    assert hass.states.get(FRIGATE).state == STATE_ON
    assert hass.states.get(POMINO).state == STATE_OFF
