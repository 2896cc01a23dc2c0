"""Bus events, event entities, device triggers and the integration's action."""

from __future__ import annotations

from typing import Any

import pytest

from custom_components.rufina_alpr.const import (
    CONF_PLATES_IN_EVENTS,
    DOMAIN,
    EVENT_HOTLIST_MATCH,
    EVENT_TRANSIT,
)
from custom_components.rufina_alpr.device_trigger import async_validate_trigger_config
from custom_components.rufina_alpr.retention import PLATE_FIELDS
from homeassistant.components import automation
from homeassistant.components.device_automation import DeviceAutomationType
from homeassistant.components.device_automation.exceptions import InvalidDeviceAutomationConfig
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import Event, HomeAssistant, ServiceCall
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_get_device_automations,
)

from .conftest import INSTANCE, device_of, fire, payload, publish_engine

SS67 = "st01_ss67_est"
POMINO = "st09_pomino"
CONTEXT = "st20_piazza_umberto"


def station_device(hass: HomeAssistant, station_id: str) -> dr.DeviceEntry:
    """The device of one station of the test engine."""
    device = device_of(hass, f"{INSTANCE}_{station_id}")
    assert device is not None
    return device


async def test_transit_bus_event(hass: HomeAssistant, setup_integration: MockConfigEntry) -> None:
    """Each transit fires one bus event with the station's device id and no plate (the recorder
    keeps bus events); the option puts the engine's whole payload in it."""
    await publish_engine(hass)
    events = async_capture_events(hass, EVENT_TRANSIT)
    transit = payload("transit_low_confidence")
    fire(hass, "transit", transit)
    fire(hass, "transit", transit)  # a QoS 1 redelivery
    await hass.async_block_till_done()
    assert len(events) == 1
    data = events[0].data
    assert not PLATE_FIELDS & set(data)
    assert "EX4O7TR" not in repr(data)
    assert data["id"] == transit["id"] and data["vehicle"] == "truck"
    assert data["device_id"] == station_device(hass, SS67).id
    assert data["config_entry_id"] == setup_integration.entry_id
    assert data["instance"] == INSTANCE

    setup_integration.runtime_data.options[CONF_PLATES_IN_EVENTS] = True
    fire(hass, "transit", payload("transit"))
    await hass.async_block_till_done()
    whole = events[1].data
    assert {key: whole[key] for key in payload("transit")} == payload("transit")


async def test_retained_last_fires_no_event(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    """The retained `last` after a restart is state, not a new passage."""
    events = async_capture_events(hass, EVENT_TRANSIT)
    await publish_engine(hass)
    assert events == []
    assert hass.states.get("event.rufina_01_st01_ss67_est_transit").state == STATE_UNKNOWN


async def test_hotlist_bus_event(hass: HomeAssistant, setup_integration: MockConfigEntry) -> None:
    """A hotlist match fires its own event with the list, score and the transit."""
    await publish_engine(hass)
    events = async_capture_events(hass, EVENT_HOTLIST_MATCH)
    match = payload("hotlist_match")
    fire(hass, "hotlist_match", match)
    await hass.async_block_till_done()
    assert len(events) == 1
    data = events[0].data
    assert data["list"] == "stolen"
    assert data["transit"]["plate"] == "GA456BC"
    assert data["reason"] == "Furto denunciato il 2026-11-20"
    assert data["device_id"] == station_device(hass, POMINO).id


async def test_event_entity(hass: HomeAssistant, setup_integration: MockConfigEntry) -> None:
    """The station's event entity records transits and hotlist matches with their details."""
    await publish_engine(hass)
    entity_id = "event.rufina_01_st01_ss67_est_transit"
    state = hass.states.get(entity_id)
    assert state.attributes["event_types"] == [
        "transit",
        "hotlist_match",
        "alert_confirmed",
        "alert_withdrawn",
        "alert_handled",
    ]

    fire(hass, "transit", payload("transit_low_confidence"))
    await hass.async_block_till_done()
    state = hass.states.get(entity_id)
    assert state.state not in (STATE_UNKNOWN, STATE_UNAVAILABLE)
    assert state.attributes["event_type"] == "transit"
    assert state.attributes["plate"] == "EX4O7TR"
    assert state.attributes["low_confidence"] is True
    assert state.attributes["vehicle_class"] == "truck"
    assert state.attributes["frigate_event_id"] == "1764055210.480000-p2x7mz"

    fire(hass, "hotlist_match", payload("hotlist_match"))
    await hass.async_block_till_done()
    pomino = hass.states.get("event.rufina_01_st09_pomino_transit")
    assert pomino.attributes["event_type"] == "hotlist_match"
    assert pomino.attributes["plate"] == "GA456BC"
    assert pomino.attributes["list"] == "stolen"
    assert pomino.attributes["score"] == 1.0
    assert pomino.attributes["action"] == "alert"
    # The other station's entity did not fire.
    assert hass.states.get(entity_id).attributes["event_type"] == "transit"


async def test_get_device_triggers(hass: HomeAssistant, setup_integration: MockConfigEntry) -> None:
    """Plate-reading stations offer three triggers; context stations and the engine none."""
    await publish_engine(hass)
    device = station_device(hass, SS67)
    triggers = await async_get_device_automations(hass, DeviceAutomationType.TRIGGER, device.id)
    ours = [t for t in triggers if t["domain"] == DOMAIN]
    assert sorted(t["type"] for t in ours) == ["hotlist_match", "low_confidence_transit", "transit"]
    assert all(t["device_id"] == device.id and t["platform"] == "device" for t in ours)
    context = station_device(hass, CONTEXT)
    triggers = await async_get_device_automations(hass, DeviceAutomationType.TRIGGER, context.id)
    assert [t for t in triggers if t["domain"] == DOMAIN] == []


def _trigger_automation(device_id: str, trigger_type: str) -> dict[str, Any]:
    return {
        "alias": trigger_type,
        "triggers": {
            "trigger": "device",
            "domain": DOMAIN,
            "device_id": device_id,
            "type": trigger_type,
        },
        "actions": {
            "action": "test.automation",
            "data_template": {
                "type": trigger_type,
                "plate": "{{ trigger.event.data.plate | default(trigger.event.data.read_plate) }}",
            },
        },
    }


async def test_device_triggers_fire(
    hass: HomeAssistant,
    setup_integration: MockConfigEntry,
    service_calls: list[ServiceCall],
) -> None:
    """Automations built from the UI fire for their station and trigger type only."""
    await publish_engine(hass)
    ss67 = station_device(hass, SS67).id
    pomino = station_device(hass, POMINO).id
    assert await async_setup_component(
        hass,
        automation.DOMAIN,
        {
            automation.DOMAIN: [
                _trigger_automation(ss67, "transit"),
                _trigger_automation(ss67, "low_confidence_transit"),
                _trigger_automation(pomino, "hotlist_match"),
            ]
        },
    )
    fire(hass, "transit", payload("transit", id="t-1"))
    await hass.async_block_till_done()
    assert [(c.data["type"], c.data["plate"]) for c in service_calls] == [("transit", "FB123XY")]

    service_calls.clear()
    fire(hass, "transit", payload("transit_low_confidence"))
    fire(hass, "transit", payload("transit", id="t-2", station=POMINO, camera=POMINO))
    await hass.async_block_till_done()
    assert sorted(c.data["type"] for c in service_calls) == ["low_confidence_transit", "transit"]

    service_calls.clear()
    fire(hass, "hotlist_match", payload("hotlist_match"))
    await hass.async_block_till_done()
    assert [(c.data["type"], c.data["plate"]) for c in service_calls] == [
        ("hotlist_match", "GA456BC")
    ]


async def test_device_trigger_validation(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    """Triggers on the engine, a context station or an unknown device are refused."""
    await publish_engine(hass)
    engine = device_of(hass, INSTANCE)
    assert engine is not None
    for device_id in (engine.id, station_device(hass, CONTEXT).id, "missing"):
        with pytest.raises(InvalidDeviceAutomationConfig):
            await async_validate_trigger_config(
                hass,
                {"platform": "device", "domain": DOMAIN, "device_id": device_id, "type": "transit"},
            )
    config = {
        "platform": "device",
        "domain": DOMAIN,
        "device_id": station_device(hass, SS67).id,
        "type": "transit",
    }
    assert await async_validate_trigger_config(hass, config) == config


async def test_get_last_transit_action(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    """The action returns the station's latest transit as the engine published it."""
    await publish_engine(hass)
    response = await hass.services.async_call(
        DOMAIN,
        "get_last_transit",
        {"device_id": station_device(hass, SS67).id},
        blocking=True,
        return_response=True,
    )
    assert response == {"station": SS67, "transit": payload("transit")}
    response = await hass.services.async_call(
        DOMAIN,
        "get_last_transit",
        {"device_id": station_device(hass, POMINO).id},
        blocking=True,
        return_response=True,
    )
    assert response == {"station": POMINO, "transit": None}


async def test_get_last_transit_errors(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    """Unknown devices, the engine itself and unloaded entries give translated errors."""
    await publish_engine(hass)
    other = MockConfigEntry(domain="other")
    other.add_to_hass(hass)
    registry = dr.async_get(hass)
    foreign = registry.async_get_or_create(config_entry_id=other.entry_id, identifiers={("x", "y")})
    engine = device_of(hass, INSTANCE)
    assert engine is not None
    station = station_device(hass, SS67).id

    async def call(device_id: str) -> str:
        with pytest.raises(ServiceValidationError) as err:
            await hass.services.async_call(
                DOMAIN,
                "get_last_transit",
                {"device_id": device_id},
                blocking=True,
                return_response=True,
            )
        assert err.value.translation_domain == DOMAIN
        assert err.value.translation_key is not None
        return err.value.translation_key

    assert await call("missing") == "device_not_found"
    assert await call(engine.id) == "not_a_station"
    assert await call(foreign.id) == "not_a_station"
    assert await hass.config_entries.async_unload(setup_integration.entry_id)
    assert await call(station) == "entry_not_loaded"


async def test_events_carry_no_device_for_unknown_station(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    """A transit of a station not (yet) announced still fires, without a device id."""
    fire(hass, "status", payload("status_online"))
    await hass.async_block_till_done()
    events: list[Event] = async_capture_events(hass, EVENT_TRANSIT)
    fire(hass, "transit", payload("transit"))
    await hass.async_block_till_done()
    assert len(events) == 1
    assert events[0].data["device_id"] is None
