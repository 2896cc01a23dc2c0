"""Entities built from real-shaped payloads: states, attributes, availability, dynamic stations."""

from __future__ import annotations

from datetime import timedelta
from http import HTTPStatus
import logging

import pytest

from custom_components.rufina_alpr.const import DOMAIN
from homeassistant.components.mqtt import MQTT_CONNECTION_STATE
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er, issue_registry as ir
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from .conftest import INSTANCE, area_name, device_of, fire, jpeg_bytes, payload, publish_engine

LAST_PLATE = "sensor.rufina_01_st01_ss67_est_last_plate"
POMINO = "sensor.rufina_01_st09_pomino"
PIAZZA_PER_HOUR = "sensor.rufina_01_st20_piazza_umberto_vehicles_per_hour"
ONLINE = "binary_sensor.rufina_01_online"


async def test_engine_entities(hass: HomeAssistant, setup_integration: MockConfigEntry) -> None:
    """Connectivity, totals and diagnostics of the engine device."""
    assert hass.states.get(ONLINE).state == STATE_UNKNOWN
    assert hass.states.get("sensor.rufina_01_transits_today").state == STATE_UNAVAILABLE
    await publish_engine(hass)

    online = hass.states.get(ONLINE)
    assert online.state == STATE_ON
    assert online.attributes["device_class"] == "connectivity"
    assert online.attributes["engine_version"] == "0.1.0"
    assert online.attributes["contract_version"] == 1
    assert online.attributes["since"] == "2026-11-25T08:00:00+01:00"

    total = hass.states.get("sensor.rufina_01_transits_today")
    assert total.state == "412"
    assert total.attributes["state_class"] == "total_increasing"
    assert total.attributes["unit_of_measurement"] == "transits"
    assert hass.states.get("sensor.rufina_01_queue").state == "2"
    latency = hass.states.get("sensor.rufina_01_latency_p50")
    assert float(latency.state) == 180.0
    assert latency.attributes["unit_of_measurement"] == "ms"

    registry = er.async_get(hass)
    for entity_id in (
        "sensor.rufina_01_latency_p95",
        "sensor.rufina_01_stats_updated",
    ):
        entry = registry.async_get(entity_id)
        assert entry is not None
        assert entry.disabled_by is er.RegistryEntryDisabler.INTEGRATION
        assert entry.entity_category is not None
    assert registry.async_get("sensor.rufina_01_queue").entity_category == "diagnostic"


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_disabled_engine_sensors(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    """The noisy diagnostics, once enabled, show the p95 latency and the engine's counters."""
    await publish_engine(hass)
    assert float(hass.states.get("sensor.rufina_01_latency_p95").state) == 410.5
    updated = hass.states.get("sensor.rufina_01_stats_updated")
    assert dt_util.parse_datetime(updated.state) == dt_util.parse_datetime(
        "2026-11-25T08:16:00+01:00"
    )
    assert updated.attributes["events_received"] == 1650
    assert hass.states.get(f"{PIAZZA_PER_HOUR}_bus").state == "2"
    assert hass.states.get(f"{PIAZZA_PER_HOUR}_bicycle").state == "5"


async def test_station_devices(hass: HomeAssistant, setup_integration: MockConfigEntry) -> None:
    """One device per station, linked to the engine, with model and its locality as area."""
    await publish_engine(hass)
    registry = dr.async_get(hass)
    engine = device_of(hass, INSTANCE)
    lpr = device_of(hass, f"{INSTANCE}_st01_ss67_est")
    context = device_of(hass, f"{INSTANCE}_st20_piazza_umberto")
    assert engine is not None
    assert lpr is not None
    assert context is not None
    assert lpr.name == "SS67 ingresso est"
    assert (lpr.model, lpr.model_id) == ("LPR station", "lpr")
    assert (context.model, context.model_id) == ("Context station", "context")
    assert area_name(hass, lpr) == "Rufina"
    assert area_name(hass, context) == "Rufina"
    assert engine.area_id is None
    assert lpr.via_device_id == engine.id
    assert context.via_device_id == engine.id
    assert len(dr.async_entries_for_config_entry(registry, setup_integration.entry_id)) == 4


async def test_lpr_station_entities(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    """Last plate with the read's details, counts from the stats, coordinates once."""
    await publish_engine(hass)
    plate = hass.states.get(LAST_PLATE)
    assert plate.state == "FB123XY"
    attrs = plate.attributes
    assert attrs["display"] == "FB 123 XY"
    assert attrs["confidence"] == 0.94
    assert attrs["low_confidence"] is False
    assert attrs["time"] == "2026-11-25T08:15:02.120000+01:00"
    assert attrs["vehicle_class"] == "car"
    assert attrs["direction"] == "inbound"
    assert attrs["frigate_event_id"] == "1764054902.120000-k3v9qa"
    assert attrs["alternatives"] == [{"plate": "FB123XV", "score": 0.04}]
    assert attrs["country"] == "IT"
    assert "latitude" not in attrs  # on Home Assistant's map only if asked (test_station_map)
    assert attrs["camera"] == "st01_ss67_est"
    assert attrs["friendly_name"] == "SS67 ingresso est Last plate"

    today = hass.states.get("sensor.rufina_01_st01_ss67_est_transits_today")
    assert today.state == "96"
    assert today.attributes["state_class"] == "total_increasing"
    per_hour = hass.states.get("sensor.rufina_01_st01_ss67_est_vehicles_per_hour")
    assert per_hour.state == "31"
    assert per_hour.attributes["unit_of_measurement"] == "vehicles/h"
    assert per_hour.attributes["by_class"] == {"car": 28, "truck": 3}
    assert "latitude" not in per_hour.attributes  # the station is on the map once

    # A station without a transit yet: unknown plate, still its station's facts.
    pomino = hass.states.get("sensor.rufina_01_st09_pomino_last_plate")
    assert pomino.state == STATE_UNKNOWN
    assert pomino.attributes["locality"] == "Pomino"
    assert hass.states.get(f"{POMINO}_vehicles_per_hour").attributes["by_class"] == {}


async def test_context_station_entities(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    """Context stations count vehicles by class and read no plates."""
    await publish_engine(hass)
    total = hass.states.get("sensor.rufina_01_st20_piazza_umberto_vehicles_per_hour")
    assert total.state == "57"
    assert total.attributes["camera"] == "st20_piazza_umberto"
    assert hass.states.get(f"{PIAZZA_PER_HOUR}_car").state == "44"
    assert hass.states.get(f"{PIAZZA_PER_HOUR}_truck").state == "0"
    registry = er.async_get(hass)
    assert registry.async_get(f"{PIAZZA_PER_HOUR}_bus").disabled_by is not None
    for entity_id in (
        "sensor.rufina_01_st20_piazza_umberto_last_plate",
        "sensor.rufina_01_st20_piazza_umberto_transits_today",
        "image.rufina_01_st20_piazza_umberto_plate_crop",
        "event.rufina_01_st20_piazza_umberto_transit",
    ):
        assert registry.async_get(entity_id) is None


async def test_station_sensor_before_stats(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    """Until the engine's stats arrive (or list the station) its counts are unknown."""
    fire(hass, "status", payload("status_online"))
    fire(hass, "stations", payload("stations"))
    await hass.async_block_till_done()
    assert hass.states.get("sensor.rufina_01_st09_pomino_transits_today").state == STATE_UNKNOWN
    assert hass.states.get("sensor.rufina_01_transits_today").state == STATE_UNKNOWN
    stats = payload("stats")
    del stats["stations"]["st09_pomino"]
    fire(hass, "stats", payload("stats", stations=stats["stations"]))
    await hass.async_block_till_done()
    assert hass.states.get("sensor.rufina_01_st09_pomino_transits_today").state == STATE_UNKNOWN
    assert hass.states.get("sensor.rufina_01_st01_ss67_est_transits_today").state == "96"


async def test_live_transit_updates_last_plate(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    """A transit replaces the last plate; an older one published late does not."""
    await publish_engine(hass)
    fire(hass, "transit", payload("transit_low_confidence"))
    await hass.async_block_till_done()
    state = hass.states.get(LAST_PLATE)
    assert state.state == "EX4O7TR"
    assert state.attributes["low_confidence"] is True
    assert state.attributes["country"] is None

    late = payload("transit", id="late-1", event_id="1764050000.000000-late01", plate="AA111AA")
    late["time"] = "2026-11-25T07:00:00.000+01:00"
    fire(hass, "transit", late)
    await hass.async_block_till_done()
    assert hass.states.get(LAST_PLATE).state == "EX4O7TR"
    # The retained `last` of the same transit changes nothing.
    fire(hass, "st01_ss67_est/last", payload("transit_low_confidence"))
    await hass.async_block_till_done()
    assert hass.states.get(LAST_PLATE).state == "EX4O7TR"


async def test_purged_last_plate_is_cleared(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    """The engine's purge deletes the retained `last` (empty message): the plate goes too."""
    await publish_engine(hass)
    assert hass.states.get(LAST_PLATE).state == "FB123XY"
    fire(hass, "st01_ss67_est/last", b"")
    await hass.async_block_till_done()
    state = hass.states.get(LAST_PLATE)
    assert state.state == STATE_UNKNOWN
    assert "display" not in state.attributes
    assert "Rejected" not in str(state.attributes)


async def test_plate_crop_image(
    hass: HomeAssistant,
    setup_integration: MockConfigEntry,
    hass_client: ClientSessionGenerator,
) -> None:
    """The retained JPEG is served by the image entity; an empty message clears it."""
    crop = jpeg_bytes()
    await publish_engine(hass, crop=crop)
    state = hass.states.get("image.rufina_01_st01_ss67_est_plate_crop")
    assert state.state != STATE_UNKNOWN
    client = await hass_client()
    response = await client.get(state.attributes["entity_picture"])
    assert response.status == HTTPStatus.OK
    assert response.content_type == "image/jpeg"
    assert await response.read() == crop
    assert hass.states.get("image.rufina_01_st09_pomino_plate_crop").state == STATE_UNKNOWN

    fire(hass, "st01_ss67_est/crop", b"")
    await hass.async_block_till_done()
    state = hass.states.get("image.rufina_01_st01_ss67_est_plate_crop")
    assert state.state == STATE_UNKNOWN
    response = await client.get(state.attributes["entity_picture"])
    assert response.status == HTTPStatus.INTERNAL_SERVER_ERROR


async def test_offline_makes_entities_unavailable(
    hass: HomeAssistant,
    setup_integration: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The last will turns the engine off and its entities unavailable, logged once; the last
    plates and the stations' counts stay, marked stale (tests/ha/test_last_known.py)."""
    caplog.set_level(logging.INFO, logger="custom_components.rufina_alpr")
    await publish_engine(hass)
    fire(hass, "status", payload("status_offline"))
    await hass.async_block_till_done()
    assert hass.states.get(ONLINE).state == STATE_OFF
    assert hass.states.get(LAST_PLATE).attributes["stale"] is True
    assert hass.states.get("sensor.rufina_01_transits_today").state == STATE_UNAVAILABLE
    fire(hass, "status", payload("status_offline"))
    await hass.async_block_till_done()
    assert caplog.text.count("is unavailable: offline") == 1

    fire(hass, "status", payload("status_online"))
    await hass.async_block_till_done()
    assert hass.states.get(LAST_PLATE).state == "FB123XY"
    assert caplog.text.count("is back online") == 1


async def test_broker_disconnect(
    hass: HomeAssistant,
    setup_integration: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Without the broker nothing new is known: even the connectivity sensor is unavailable
    (the last plate stays, stale)."""
    caplog.set_level(logging.INFO, logger="custom_components.rufina_alpr")
    await publish_engine(hass)
    async_dispatcher_send(hass, MQTT_CONNECTION_STATE, False)
    await hass.async_block_till_done()
    assert hass.states.get(ONLINE).state == STATE_UNAVAILABLE
    assert hass.states.get(LAST_PLATE).attributes["stale"] is True
    assert "the MQTT broker is not connected" in caplog.text
    async_dispatcher_send(hass, MQTT_CONNECTION_STATE, True)
    await hass.async_block_till_done()
    assert hass.states.get(ONLINE).state == STATE_ON
    assert hass.states.get(LAST_PLATE).state == "FB123XY"


async def test_offline_repair_issue(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    """Offline longer than the option: a repair issue, gone when the engine is back."""
    await publish_engine(hass)
    issue_id = f"engine_offline_{setup_integration.entry_id}"
    registry = ir.async_get(hass)
    fire(hass, "status", payload("status_offline"))
    await hass.async_block_till_done()
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=10))
    await hass.async_block_till_done()
    assert registry.async_get_issue(DOMAIN, issue_id) is None
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=31))
    await hass.async_block_till_done()
    issue = registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == "engine_offline"
    assert issue.translation_placeholders == {"instance": INSTANCE, "minutes": "30 minutes"}

    fire(hass, "status", payload("status_online"))
    await hass.async_block_till_done()
    assert registry.async_get_issue(DOMAIN, issue_id) is None


async def test_offline_timer_cancelled_on_unload(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    """Unloading while offline leaves no timer behind."""
    fire(hass, "status", payload("status_offline"))
    await hass.async_block_till_done()
    assert await hass.config_entries.async_unload(setup_integration.entry_id)
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(hours=2))
    await hass.async_block_till_done()
    assert not ir.async_get(hass).issues


async def test_contract_mismatch_issue(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    """An engine on another contract version raises an error issue until it matches."""
    issue_id = f"contract_mismatch_{setup_integration.entry_id}"
    fire(hass, "status", payload("status_online", contract_version=2, engine_version="0.9.0"))
    await hass.async_block_till_done()
    issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.severity is ir.IssueSeverity.ERROR
    assert issue.translation_placeholders["contract_version"] == "2"
    assert issue.translation_placeholders["supported_version"] == "1"
    fire(hass, "status", payload("status_online"))
    await hass.async_block_till_done()
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None


async def test_stations_appear_and_disappear(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    """New stations get devices and entities; dropped ones lose them (stale devices)."""
    await publish_engine(hass)
    entities = er.async_get(hass)
    stations = payload("stations")
    kept = [s for s in stations["stations"] if s["id"] != "st09_pomino"]
    new = {
        "id": "st12_falgano",
        "name": "Falgano",
        "camera": "st12_falgano",
        "kind": "lpr",
        "locality": "Falgano",
    }
    fire(hass, "stations", payload("stations", stations=[*kept, new]))
    await hass.async_block_till_done()

    assert device_of(hass, f"{INSTANCE}_st09_pomino") is None
    assert entities.async_get("sensor.rufina_01_st09_pomino_last_plate") is None
    assert hass.states.get("sensor.rufina_01_st09_pomino_last_plate") is None
    falgano = device_of(hass, f"{INSTANCE}_st12_falgano")
    assert falgano is not None
    assert area_name(hass, falgano) == "Falgano"
    assert falgano.via_device_id == device_of(hass, INSTANCE).id
    state = hass.states.get("sensor.rufina_01_st12_falgano_last_plate")
    assert state is not None
    assert state.attributes["locality"] == "Falgano"
    # The station that stayed keeps its state.
    assert hass.states.get(LAST_PLATE).state == "FB123XY"

    # A renamed station keeps its device and entities.
    renamed = [{**kept[0], "name": "SS67 Rufina est"}, *kept[1:], new]
    fire(hass, "stations", payload("stations", stations=renamed))
    await hass.async_block_till_done()
    device = device_of(hass, f"{INSTANCE}_st01_ss67_est")
    assert device is not None
    assert device.name == "SS67 Rufina est"

    # Pomino comes back: new entities again.
    fire(hass, "stations", payload("stations"))
    await hass.async_block_till_done()
    assert hass.states.get("sensor.rufina_01_st09_pomino_last_plate") is not None
    assert device_of(hass, f"{INSTANCE}_st12_falgano") is None


async def test_bad_payloads_are_ignored(
    hass: HomeAssistant,
    setup_integration: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Malformed or foreign payloads are logged and dropped; state stays as it was."""
    await publish_engine(hass)
    fire(hass, "transit", b"{not json")
    fire(hass, "transit", b"[1, 2]")
    fire(hass, "transit", {"v": 1, "id": "x"})
    fire(hass, "st01_ss67_est/last", {"v": 1})
    fire(hass, "stations", {"v": 1, "stations": [{"id": "Bad Id", "name": "x"}]})
    fire(hass, "stats", {"v": 1, "time": "now"})
    fire(hass, "hotlist_match", {"v": 1, "list": "stolen"})
    fire(hass, "status", {"v": 1, "state": "sleeping"})
    await hass.async_block_till_done()
    assert caplog.text.count("Ignoring a malformed") == 8
    assert hass.states.get(LAST_PLATE).state == "FB123XY"
    assert hass.states.get("sensor.rufina_01_transits_today").state == "412"
    hub = setup_integration.runtime_data
    assert hub.rejected == {
        "transit": 3,
        "last": 1,
        "stations": 1,
        "stats": 1,
        "hotlist_match": 1,
        "status": 1,
    }


async def test_other_contract_version_logged_once(
    hass: HomeAssistant,
    setup_integration: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Payloads of another contract version are ignored with one warning per kind."""
    await publish_engine(hass)
    raw = payload("transit")
    fire(hass, "transit", {**raw, "v": 2})
    fire(hass, "transit", {**raw, "v": 2, "id": "other"})
    await hass.async_block_till_done()
    assert caplog.text.count("contract version 2") == 1
    assert hass.states.get(LAST_PLATE).state == "FB123XY"


async def test_status_of_another_engine_ignored(
    hass: HomeAssistant,
    setup_integration: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Two engines on one prefix: the other one's status does not flip this entry."""
    await publish_engine(hass)
    fire(hass, "status", payload("status_offline", instance="rufina-02"))
    await hass.async_block_till_done()
    assert hass.states.get(ONLINE).state == STATE_ON
    assert "give each engine its own topic prefix" in caplog.text
