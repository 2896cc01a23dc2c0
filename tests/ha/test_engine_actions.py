"""Actions that call the engine's API (hotlists, searches, routes, holds, purge), their translated
errors, and the hotlist and traffic sensors."""

from __future__ import annotations

from datetime import timedelta
import json
from typing import Any

import aiohttp
import pytest

from custom_components.rufina_alpr.compat import vol
from custom_components.rufina_alpr.const import DOMAIN
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from pytest_homeassistant_custom_component.test_util.aiohttp import AiohttpClientMocker

from .conftest import (
    API_URL,
    CONTRACT,
    ENTRIES,
    ENTRY_DATA,
    HOTLISTS,
    INFO,
    NO_ENTRIES,
    TOKEN,
    fire,
    payload,
    publish_engine,
)

STOLEN_SIZE = "sensor.rufina_01_hotlist_size_stolen"
STOLEN_MATCH = "sensor.rufina_01_hotlist_last_match_stolen"
ROUTE = {"plate": "AB123CD", "journey_gap": 1800.0, "transits": 0, "journeys": []}


def calls_to(mock: AiohttpClientMocker, path: str) -> list[tuple[Any, ...]]:
    return [call for call in mock.mock_calls if call[1].path == path]


async def test_hotlist_sensors(
    hass: HomeAssistant, setup_integration: MockConfigEntry, aioclient_mock: AiohttpClientMocker
) -> None:
    """One size and one last-match sensor per list; sizes refresh on a slow timer too (the
    engine's change notice refreshes them at once: test_hotlist_notice)."""
    await publish_engine(hass)
    size = hass.states.get(STOLEN_SIZE)
    assert size.state == "12"
    assert size.attributes["kind"] == "stolen"
    assert size.attributes["expired"] == 1
    assert size.attributes["unit_of_measurement"] == "plates"
    assert hass.states.get("sensor.rufina_01_hotlist_size_uninsured").state == "240"
    assert hass.states.get(STOLEN_MATCH).state == STATE_UNKNOWN

    changed = json.loads(json.dumps(HOTLISTS))
    changed["hotlists"][0]["entries"] = 13
    changed["hotlists"].pop()
    aioclient_mock.clear_requests()
    aioclient_mock.get(f"{API_URL}/api/v1/hotlists", json=changed)
    aioclient_mock.get(ENTRIES, json=NO_ENTRIES)  # the changed list's to-do list reads it
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=31))
    await hass.async_block_till_done()
    assert hass.states.get(STOLEN_SIZE).state == "13"
    gone = hass.states.get("sensor.rufina_01_hotlist_size_uninsured")
    assert gone.state == STATE_UNAVAILABLE, "a list the engine no longer has"


async def test_hotlist_match_sensor(
    hass: HomeAssistant, setup_integration: MockConfigEntry, aioclient_mock: AiohttpClientMocker
) -> None:
    """A match on MQTT sets its list's sensor; a match on a list the API did not list reads the
    lists again, and gets entities only once the API lists it."""
    await publish_engine(hass)
    match = payload("hotlist_match")
    fire(hass, "hotlist_match", {**match, "list": "stolen"})
    await hass.async_block_till_done()
    state = hass.states.get(STOLEN_MATCH)
    sent = dt_util.parse_datetime(match["transit"]["time"])
    assert sent is not None
    assert dt_util.parse_datetime(state.state) == sent.replace(microsecond=0)
    assert state.attributes["entry_plate"] == match["entry_plate"]
    assert state.attributes["station"] == match["transit"]["station"]
    assert state.attributes["action"] == match["action"]
    aioclient_mock.clear_requests()
    watch = {**HOTLISTS["hotlists"][0], "id": "watch", "name": "Osservati"}
    aioclient_mock.get(f"{API_URL}/api/v1/info", json=INFO)
    aioclient_mock.get(f"{API_URL}/api/v1/contract", json=CONTRACT)
    aioclient_mock.get(
        f"{API_URL}/api/v1/hotlists", json={"hotlists": [*HOTLISTS["hotlists"], watch]}
    )
    aioclient_mock.get(ENTRIES, json=NO_ENTRIES)
    fire(hass, "hotlist_match", {**match, "list": "watch"})
    await hass.async_block_till_done()
    assert hass.states.get("sensor.rufina_01_hotlist_last_match_watch").state != STATE_UNKNOWN
    assert hass.states.get("sensor.rufina_01_hotlist_size_watch").state == "12"


async def test_traffic_sensors_from_stats(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    """Today's vehicles per station and in the network, unique vehicles of yesterday."""
    await publish_engine(hass)
    assert hass.states.get("sensor.rufina_01_vehicles_today").state == STATE_UNKNOWN
    stats = payload("stats")
    station = next(iter(stats["stations"]))
    stats["stations"][station].update(
        vehicles_today=321,
        vehicles_today_by_class={"car": 300, "truck": 21},
        vehicles_today_by_direction={"inbound": 200, "outbound": 121},
    )
    fire(
        hass,
        "stats",
        payload(
            "stats", stations=stats["stations"], vehicles_today=5000, unique_vehicles_yesterday=4100
        ),
    )
    await hass.async_block_till_done()
    assert hass.states.get("sensor.rufina_01_vehicles_today").state == "5000"
    assert hass.states.get("sensor.rufina_01_unique_vehicles_yesterday").state == "4100"
    found = [
        state
        for state in hass.states.async_all("sensor")
        if state.entity_id.endswith("_vehicles_today") and state.state == "321"
    ]
    assert len(found) == 1
    assert found[0].attributes["by_direction"] == {"inbound": 200, "outbound": 121}


async def test_viewer_token_has_no_hotlist_sensors(
    hass: HomeAssistant,
    mqtt_mock: Any,
    config_entry: MockConfigEntry,
    aioclient_mock: AiohttpClientMocker,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A token that may not read hotlists (403) means no hotlist entities, said once."""
    aioclient_mock.get(f"{API_URL}/api/v1/info", json=INFO)
    aioclient_mock.get(f"{API_URL}/api/v1/contract", json=CONTRACT)
    aioclient_mock.get(f"{API_URL}/api/v1/hotlists", status=403, json={"error": "forbidden"})
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    hub = config_entry.runtime_data
    assert hub.hotlists_readable is False and hub.hotlists == {}
    await hub.async_refresh_hotlists()
    assert caplog.text.count("may not read hotlists") == 1
    assert hass.states.get(STOLEN_SIZE) is None


async def test_hotlist_add_remove_import(
    hass: HomeAssistant, setup_integration: MockConfigEntry, aioclient_mock: AiohttpClientMocker
) -> None:
    """The hotlist actions send what the API expects and refresh the sizes."""
    entry = {"id": 7, "list": "stolen", "plate": "AB123CD", "reason": "furto"}
    aioclient_mock.post(f"{API_URL}/api/v1/hotlists/stolen/entries", json=entry, status=201)
    aioclient_mock.delete(f"{API_URL}/api/v1/hotlists/stolen/entries/AB123CD", status=204)
    report = {
        "list": "stolen",
        "format": "csv",
        "added": 1,
        "updated": 0,
        "removed": 0,
        "rejected": [],
    }
    aioclient_mock.post(f"{API_URL}/api/v1/hotlists/stolen/import", json=report)
    aioclient_mock.mock_calls.clear()

    response = await hass.services.async_call(
        DOMAIN,
        "hotlist_add",
        {
            "list_id": "stolen",
            "plate": "AB123CD",
            "reason": "furto",
            "expires_at": "2027-01-01 00:00:00",
            "priority": 1,
        },
        blocking=True,
        return_response=True,
    )
    assert response == entry
    (call,) = calls_to(aioclient_mock, "/api/v1/hotlists/stolen/entries")
    sent = call[2]
    assert sent["plate"] == "AB123CD" and sent["priority"] == 1
    assert sent["expires_at"].startswith("2027-01-01T00:00:00")
    assert sent["expires_at"] != "2027-01-01T00:00:00", "with the zone offset"
    assert call[3]["Authorization"] == f"Bearer {TOKEN}"
    assert calls_to(aioclient_mock, "/api/v1/hotlists"), "sizes refreshed"

    assert "replace" not in sent, "a listed plate is refused unless replacing is asked for"
    aioclient_mock.mock_calls.clear()
    await hass.services.async_call(
        DOMAIN,
        "hotlist_add",
        {"list_id": "stolen", "plate": "AB123CD", "reason": "furto", "replace": True},
        blocking=True,
    )
    (again,) = calls_to(aioclient_mock, "/api/v1/hotlists/stolen/entries")
    assert again[2]["replace"] is True
    await hass.services.async_call(
        DOMAIN,
        "hotlist_remove",
        {"list_id": "stolen", "plate": "AB123CD", "reason": "ritrovata"},
        blocking=True,
    )
    (removed,) = calls_to(aioclient_mock, "/api/v1/hotlists/stolen/entries/AB123CD")
    assert removed[0] == "DELETE" and removed[1].query["reason"] == "ritrovata"

    result = await hass.services.async_call(
        DOMAIN,
        "hotlist_import",
        {"list_id": "stolen", "csv": "plate,reason\nEF456GH,furto\n", "replace": True},
        blocking=True,
        return_response=True,
    )
    assert result == report
    (imported,) = calls_to(aioclient_mock, "/api/v1/hotlists/stolen/import")
    assert imported[1].query["replace"] == "true"
    assert imported[2] == b"plate,reason\nEF456GH,furto\n"
    await hass.services.async_call(
        DOMAIN,
        "hotlist_import",
        {"list_id": "stolen", "csv": "plate,reason\nEF456GH,furto\n"},
        blocking=True,
    )


async def test_search_route_hold_purge(
    hass: HomeAssistant, setup_integration: MockConfigEntry, aioclient_mock: AiohttpClientMocker
) -> None:
    """Search and route return the engine's answer; hold and purge send the reason."""
    found = {"transits": [payload("transit")], "limit": 10, "offset": 0, "next_offset": None}
    aioclient_mock.get(f"{API_URL}/api/v1/transits", json=found)
    aioclient_mock.get(f"{API_URL}/api/v1/route", json=ROUTE)
    hold = {"id": 3, "case_number": "PM-17", "transit_ids": ["t1"], "active": True}
    aioclient_mock.post(f"{API_URL}/api/v1/holds", json=hold, status=201)
    purge = {"transits": 12, "held": 1}
    aioclient_mock.post(f"{API_URL}/api/v1/purge", json=purge)
    aioclient_mock.mock_calls.clear()

    result = await hass.services.async_call(
        DOMAIN,
        "search_transits",
        {
            "reason": "incidente via Roma",
            "case_number": "PM-17",
            "plate": "AB1*",
            "stations": ["via_roma_in", "pomino_in"],
            "since": "2026-03-10 02:00:00",
            "until": "2026-03-10 04:00:00",
            "vehicle": "car",
            "limit": 10,
        },
        blocking=True,
        return_response=True,
    )
    assert result == found
    (search,) = calls_to(aioclient_mock, "/api/v1/transits")
    query = search[1].query
    assert query["plate"] == "AB1*" and query["station"] == "via_roma_in,pomino_in"
    assert query["reason"] == "incidente via Roma" and query["limit"] == "10"
    assert query["since"].startswith("2026-03-10T02:00:00")

    route = await hass.services.async_call(
        DOMAIN,
        "vehicle_route",
        {"plate": "AB123CD", "reason": "incidente via Roma"},
        blocking=True,
        return_response=True,
    )
    assert route == ROUTE
    (route_call,) = calls_to(aioclient_mock, "/api/v1/route")
    assert "since" not in route_call[1].query

    held = await hass.services.async_call(
        DOMAIN,
        "hold_transits",
        {
            "case_number": "PM-17",
            "reason": "incidente via Roma",
            "plate": "AB123CD",
            "since": "2026-03-10 00:00:00",
        },
        blocking=True,
        return_response=True,
    )
    assert held == hold
    await hass.services.async_call(
        DOMAIN,
        "hold_transits",
        {"case_number": "PM-17", "reason": "incidente via Roma", "transit_ids": ["t1"]},
        blocking=True,
    )
    bodies = [call[2] for call in calls_to(aioclient_mock, "/api/v1/holds")]
    assert bodies[0]["plate"] == "AB123CD" and "until" not in bodies[0]
    assert bodies[0]["since"].startswith("2026-03-10T00:00:00")
    assert bodies[1] == {
        "case_number": "PM-17",
        "reason": "incidente via Roma",
        "transit_ids": ["t1"],
    }

    purged = await hass.services.async_call(
        DOMAIN, "purge_now", {"reason": "verifica"}, blocking=True, return_response=True
    )
    assert purged == purge
    await hass.services.async_call(DOMAIN, "purge_now", {}, blocking=True)


async def test_hold_needs_a_target(hass: HomeAssistant, setup_integration: MockConfigEntry) -> None:
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN,
            "hold_transits",
            {"case_number": "PM-17", "reason": "incidente"},
            blocking=True,
            return_response=True,
        )
    assert err.value.translation_key == "hold_needs_target"


@pytest.mark.parametrize(
    ("mock", "error", "key"),
    [
        (
            {"status": 400, "json": {"error": "bad_request", "message": "'plate': bad"}},
            ServiceValidationError,
            "engine_refused",
        ),
        ({"status": 404, "text": "not json"}, ServiceValidationError, "engine_refused"),
        ({"status": 403, "json": {"error": "forbidden"}}, HomeAssistantError, "engine_forbidden"),
        ({"status": 401, "json": {"error": "unauthorized"}}, HomeAssistantError, "invalid_auth"),
        ({"status": 500, "text": "boom"}, HomeAssistantError, "engine_error"),
        ({"text": "not json"}, HomeAssistantError, "engine_error"),
        (
            {"exc": aiohttp.ClientConnectionError("refused")},
            HomeAssistantError,
            "engine_unreachable",
        ),
        ({"exc": TimeoutError()}, HomeAssistantError, "engine_unreachable"),
    ],
)
async def test_api_errors_are_translated(
    hass: HomeAssistant,
    *,
    setup_integration: MockConfigEntry,
    aioclient_mock: AiohttpClientMocker,
    mock: dict[str, Any],
    error: type[Exception],
    key: str,
) -> None:
    aioclient_mock.get(f"{API_URL}/api/v1/route", **mock)
    with pytest.raises(error) as raised:
        await hass.services.async_call(
            DOMAIN,
            "vehicle_route",
            {"plate": "AB123CD", "reason": "incidente"},
            blocking=True,
            return_response=True,
        )
    assert isinstance(raised.value, HomeAssistantError)
    assert raised.value.translation_key == key
    if key == "engine_refused" and "json" in mock:
        assert "'plate': bad" in str(raised.value.translation_placeholders)


async def test_plate_longer_than_the_engine_takes_is_refused(
    hass: HomeAssistant,
    setup_integration: MockConfigEntry,
    aioclient_mock: AiohttpClientMocker,
) -> None:
    """The engine takes plate texts of at most 16 characters; the action checks it first."""
    aioclient_mock.get(f"{API_URL}/api/v1/route", json=ROUTE)
    data = {"plate": "AB123CD", "reason": "incidente"}
    before = aioclient_mock.call_count
    await hass.services.async_call(
        DOMAIN, "vehicle_route", {**data, "plate": "A" * 16}, blocking=True, return_response=True
    )
    assert aioclient_mock.call_count == before + 1
    with pytest.raises(vol.Invalid):
        await hass.services.async_call(
            DOMAIN,
            "vehicle_route",
            {**data, "plate": "A" * 17},
            blocking=True,
            return_response=True,
        )
    assert aioclient_mock.call_count == before + 1


async def test_engine_choice(
    hass: HomeAssistant,
    setup_integration: MockConfigEntry,
    aioclient_mock: AiohttpClientMocker,
) -> None:
    """config_entry_id picks the engine; without it, one loaded engine is needed."""
    aioclient_mock.get(f"{API_URL}/api/v1/route", json=ROUTE)
    data = {"plate": "AB123CD", "reason": "incidente"}
    chosen = await hass.services.async_call(
        DOMAIN,
        "vehicle_route",
        {**data, "config_entry_id": setup_integration.entry_id},
        blocking=True,
        return_response=True,
    )
    assert chosen == ROUTE
    for entry_id, key in (("nope", "engine_not_found"),):
        with pytest.raises(ServiceValidationError) as err:
            await hass.services.async_call(
                DOMAIN,
                "vehicle_route",
                {**data, "config_entry_id": entry_id},
                blocking=True,
                return_response=True,
            )
        assert err.value.translation_key == key

    other = MockConfigEntry(
        domain=DOMAIN, unique_id="rufina-02", title="rufina-02", data=ENTRY_DATA
    )
    other.add_to_hass(hass)
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN,
            "vehicle_route",
            {**data, "config_entry_id": other.entry_id},
            blocking=True,
            return_response=True,
        )
    assert err.value.translation_key == "entry_not_loaded"
    other.mock_state(hass, setup_integration.state)
    other.runtime_data = setup_integration.runtime_data
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN, "vehicle_route", data, blocking=True, return_response=True
        )
    assert err.value.translation_key == "several_engines"

    assert await hass.config_entries.async_unload(setup_integration.entry_id)
    other.mock_state(hass, setup_integration.state)
    await hass.async_block_till_done()
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN, "vehicle_route", data, blocking=True, return_response=True
        )
    assert err.value.translation_key == "no_engine"
