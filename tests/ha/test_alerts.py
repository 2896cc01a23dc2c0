"""The police alert workflow (issue 24): alerts raised while the vehicle is in view, confirmed or
withdrawn by its transit (`<prefix>/alert`), and handled by operators (`handle_alert`) under the
person who took each step, also when an automation acts for the user who pressed a button."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import unquote

import pytest
import voluptuous as vol

from custom_components.rufina_alpr.api import ACTING_USER_HEADER
from custom_components.rufina_alpr.const import (
    CONF_OPERATORS,
    DOMAIN,
    EVENT_ALERT_UPDATE,
    EVENT_HOTLIST_MATCH,
)
from custom_components.rufina_alpr.retention import PLATE_EVENT_TYPES
from custom_components.rufina_alpr.signing import sign
from homeassistant.const import STATE_UNKNOWN
from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    MockUser,
    async_capture_events,
)
from pytest_homeassistant_custom_component.test_util.aiohttp import AiohttpClientMocker

from .conftest import API_URL, SIGNING_KEY, TOKEN, fire, payload, publish_engine
from .test_engine_actions import calls_to
from .test_events import POMINO, SS67, station_device

ALERT_ID = "a7c3e9d2-4f1b-4e8a-9c6d-2b5f8e1a3d70"
STEPS = f"/api/v1/alerts/{ALERT_ID}/steps"
POMINO_EVENTS = "event.rufina_01_st09_pomino_transit"
STOLEN_MATCH = "sensor.rufina_01_hotlist_last_match_stolen"
# The alert as the engine answers a step (docs/openapi.yaml).
ALERT = {
    "id": ALERT_ID,
    "kind": "hotlist",
    "status": "confirmed",
    "state": "acknowledged",
    "transit_id": "5d1c0d6a-8b1e-5f5c-b0c4-2a6a8c3f1e77",
    "station": POMINO,
    "plate": "GA456BC",
    "list": "stolen",
    "list_name": "Veicoli rubati",
    "priority": 1,
    "reject_reason": None,
    "outcome": None,
    "note": None,
    "handled_by": "Mock User",
    "handled_at": "2026-11-25T08:34:00+01:00",
    "steps": [],
}


def _earlier_transit() -> dict[str, Any]:
    """The same plate seen at SS67 twelve minutes before (an impossible journey's first half)."""
    transit = payload("transit")
    return {
        **transit,
        "id": "9e0b1c2d-3e4f-5a6b-7c8d-9e0f1a2b3c4d",
        "plate": "GA456BC",
        "display": "GA 456 BC",
        "time": "2026-11-25T08:21:03.500+01:00",
    }


# ---------------------------------------------------------------------------- raising an alert
async def test_hotlist_event_carries_the_alert(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    """The bus event and the event entity carry the alert's id, status and kind; the list's name
    the engine sent wins over the API's."""
    await publish_engine(hass)
    events = async_capture_events(hass, EVENT_HOTLIST_MATCH)
    fire(hass, "hotlist_match", payload("hotlist_match", list_name="Rubati (SDI)"))
    await hass.async_block_till_done()
    (event,) = events
    assert event.data["alert_id"] == ALERT_ID
    assert event.data["status"] == "provisional"
    assert event.data["alert_kind"] == "hotlist"
    assert event.data["list_name"] == "Rubati (SDI)"
    assert event.data["related_transit_id"] is None
    assert event.data["device_id"] == station_device(hass, POMINO).id
    state = hass.states.get(POMINO_EVENTS)
    assert state.attributes["event_type"] == "hotlist_match"
    assert state.attributes["alert_id"] == ALERT_ID
    assert state.attributes["status"] == "provisional"
    assert state.attributes["list_name"] == "Rubati (SDI)"
    assert hass.states.get(STOLEN_MATCH).attributes["entry_plate"] == "GA456BC"


async def test_list_name_falls_back_to_the_api(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    """Without a name from the engine, the API's name of the list; without either, its id."""
    await publish_engine(hass)
    events = async_capture_events(hass, EVENT_HOTLIST_MATCH)
    match = payload("hotlist_match", list_name=None)
    fire(hass, "hotlist_match", match)
    transit = {**match["transit"], "id": "5d1c0d6a-8b1e-5f5c-b0c4-2a6a8c3f1e99"}
    fire(hass, "hotlist_match", {**match, "transit": transit, "list": "watch"})
    await hass.async_block_till_done()
    assert [event.data["list_name"] for event in events] == ["Veicoli rubati", "watch"]


async def test_impossible_journey_and_not_authorised(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    """An impossible journey has no list and no entry, and names the earlier sighting; a plate
    not authorised at a gate has no entry. Neither is a match of a hotlist's sensor."""
    await publish_engine(hass)
    events = async_capture_events(hass, EVENT_HOTLIST_MATCH)
    earlier = _earlier_transit()
    journey = payload(
        "hotlist_match",
        alert_id="c0ffee00-0000-4000-8000-000000000001",
        status="confirmed",
        alert_kind="impossible_journey",
        list=None,
        list_name=None,
        entry_plate=None,
        priority=None,
        reason=None,
        related_transit=earlier,
    )
    gate = payload(
        "hotlist_match",
        alert_id="c0ffee00-0000-4000-8000-000000000002",
        alert_kind="not_authorised",
        list="stolen",
        list_name="Residenti ZTL",
        entry_plate=None,
        transit={**journey["transit"], "id": "5d1c0d6a-8b1e-5f5c-b0c4-2a6a8c3f1e42"},
    )
    fire(hass, "hotlist_match", journey)
    fire(hass, "hotlist_match", gate)
    await hass.async_block_till_done()
    assert len(events) == 2
    first = events[0].data
    assert first["alert_kind"] == "impossible_journey" and first["status"] == "confirmed"
    assert first["list"] is None and first["entry_plate"] is None and first["list_name"] is None
    assert first["related_transit_id"] == earlier["id"]
    assert first["related_station"] == SS67
    assert first["related_time"] == earlier["time"]
    assert events[1].data["alert_kind"] == "not_authorised"
    assert events[1].data["list_name"] == "Residenti ZTL"
    state = hass.states.get(POMINO_EVENTS)
    assert state.attributes["alert_id"] == "c0ffee00-0000-4000-8000-000000000002"
    hub = setup_integration.runtime_data
    assert hub.list_matches == {}, "no hotlist matched"
    assert hub.hotlist_matches[POMINO].related_transit is None
    assert hass.states.get(STOLEN_MATCH).attributes.get("entry_plate") is None


async def test_an_older_engines_match_is_a_confirmed_hotlist_alert(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    """The same contract version without the alerts' fields (an engine not yet updated)."""
    await publish_engine(hass)
    events = async_capture_events(hass, EVENT_HOTLIST_MATCH)
    old = {
        key: value
        for key, value in payload("hotlist_match").items()
        if key not in ("alert_id", "status", "alert_kind", "list_name", "related_transit")
    }
    fire(hass, "hotlist_match", old)
    await hass.async_block_till_done()
    (event,) = events
    assert event.data["alert_id"] is None
    assert (event.data["status"], event.data["alert_kind"]) == ("confirmed", "hotlist")
    assert event.data["list_name"] == "Veicoli rubati"


# ----------------------------------------------------------------- what became of an alert
async def test_a_withdrawal_reaches_the_bus_and_the_event_entity(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    await publish_engine(hass)
    updates = async_capture_events(hass, EVENT_ALERT_UPDATE)
    fire(hass, "hotlist_match", payload("hotlist_match"))
    await hass.async_block_till_done()
    assert hass.states.get(STOLEN_MATCH).attributes["entry_plate"] == "GA456BC"
    withdrawal = payload("alert")
    fire(hass, "alert", withdrawal)
    fire(hass, "alert", withdrawal)  # a QoS 1 redelivery
    await hass.async_block_till_done()
    assert hass.states.get(STOLEN_MATCH).state == STATE_UNKNOWN, "no longer the list's match"
    (update,) = updates
    assert {key: update.data[key] for key in withdrawal} == withdrawal
    assert update.data["device_id"] == station_device(hass, POMINO).id
    assert update.data["config_entry_id"] == setup_integration.entry_id
    state = hass.states.get(POMINO_EVENTS)
    assert state.attributes["event_type"] == "alert_withdrawn"
    assert state.attributes["alert_id"] == ALERT_ID
    assert state.attributes["status"] == "withdrawn"
    assert state.attributes["reason"] == "the vehicle's transit reads GA456BG"
    assert state.attributes["time"] == "2026-11-25T08:33:29.400000+01:00"
    hub = setup_integration.runtime_data
    assert hub.received["alert"] == 1
    ss67 = hass.states.get("event.rufina_01_st01_ss67_est_transit")
    assert ss67.attributes.get("event_type") is None, "another station's entity did not fire"
    assert EVENT_ALERT_UPDATE in PLATE_EVENT_TYPES, "purged at the engine's retention"


@pytest.mark.parametrize(
    ("changes", "event_type"),
    [
        ({"status": "confirmed", "change": "confirmed", "plate": "GA456BC"}, "alert_confirmed"),
        (
            {
                "status": "confirmed",
                "state": "acknowledged",
                "change": "acknowledged",
                "by": "Mario Rossi",
                "reason": None,
            },
            "alert_handled",
        ),
        (
            {
                "status": "confirmed",
                "state": "closed",
                "change": "closed",
                "outcome": "stopped_checked",
                "by": "Mario Rossi",
                "reason": None,
            },
            "alert_handled",
        ),
    ],
)
async def test_confirmed_and_handled_alerts(
    hass: HomeAssistant,
    setup_integration: MockConfigEntry,
    changes: dict[str, Any],
    event_type: str,
) -> None:
    await publish_engine(hass)
    updates = async_capture_events(hass, EVENT_ALERT_UPDATE)
    fire(hass, "alert", payload("alert", **changes))
    await hass.async_block_till_done()
    assert updates[0].data["change"] == changes["change"]
    state = hass.states.get(POMINO_EVENTS)
    assert state.attributes["event_type"] == event_type
    for key, value in changes.items():
        assert state.attributes[key] == value, key


async def test_an_update_of_a_context_station_fires_only_the_bus_event(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    """Stations unknown to the hub keep no entity state; the bus event still goes out."""
    await publish_engine(hass)
    updates = async_capture_events(hass, EVENT_ALERT_UPDATE)
    fire(hass, "alert", payload("alert", station="st99_unknown"))
    await hass.async_block_till_done()
    assert len(updates) == 1 and updates[0].data["device_id"] is None
    assert setup_integration.runtime_data.alert_updates == {}


@pytest.mark.parametrize("way", ["unsigned", "tampered", "replayed"])
async def test_a_forged_alert_update_is_refused(
    hass: HomeAssistant, setup_integration: MockConfigEntry, way: str
) -> None:
    """Nobody but the engine can withdraw an alert (the patrol would stand down)."""
    await publish_engine(hass)
    updates = async_capture_events(hass, EVENT_ALERT_UPDATE)
    withdrawal = payload("alert")
    if way == "unsigned":
        fire(hass, "alert", withdrawal, key=None)
    elif way == "tampered":
        signed = sign(payload("alert", status="confirmed", change="confirmed"), SIGNING_KEY)
        fire(hass, "alert", {**signed, "status": "withdrawn", "change": "withdrawn"})
    else:  # the engine's own, sent again long after
        fire(hass, "alert", sign(withdrawal, SIGNING_KEY, dt_util.utcnow() - timedelta(hours=1)))
    await hass.async_block_till_done(wait_background_tasks=True)
    assert updates == []
    hub = setup_integration.runtime_data
    assert hub.refused == {"alert": 1}
    assert hub.received.get("alert") is None
    assert hass.states.get(POMINO_EVENTS).attributes.get("event_type") is None


async def test_a_malformed_alert_update_is_rejected(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    await publish_engine(hass)
    updates = async_capture_events(hass, EVENT_ALERT_UPDATE)
    broken = {key: value for key, value in payload("alert").items() if key != "change"}
    fire(hass, "alert", broken)
    fire(hass, "alert", {**payload("alert"), "station": "Not A Station"})
    await hass.async_block_till_done()
    assert updates == []
    assert setup_integration.runtime_data.rejected == {"alert": 2}


# ------------------------------------------------------------------------- handling an alert
def _person(call: tuple[Any, ...]) -> str:
    return unquote(call[3][ACTING_USER_HEADER])


async def _handle(hass: HomeAssistant, data: dict[str, Any], context: Context) -> Any:
    return await hass.services.async_call(
        DOMAIN,
        "handle_alert",
        {"alert_id": ALERT_ID, **data},
        blocking=True,
        return_response=True,
        context=context,
    )


async def test_handle_alert_sends_the_step_under_the_person(
    hass: HomeAssistant,
    setup_integration: MockConfigEntry,
    aioclient_mock: AiohttpClientMocker,
    hass_admin_user: MockUser,
) -> None:
    aioclient_mock.post(f"{API_URL}{STEPS}", json=ALERT)
    aioclient_mock.mock_calls.clear()
    response = await _handle(
        hass,
        {"step": "reject", "reason": "plate_cloned", "note": "targa clonata, vista la Panda"},
        Context(user_id=hass_admin_user.id),
    )
    assert response == ALERT
    (call,) = calls_to(aioclient_mock, STEPS)
    assert call[0] == "POST"
    assert call[2] == {
        "step": "reject",
        "reason": "plate_cloned",
        "note": "targa clonata, vista la Panda",
    }
    assert call[3]["Authorization"] == f"Bearer {TOKEN}"
    assert _person(call) == f"{hass_admin_user.name} (Home Assistant user {hass_admin_user.id})"

    aioclient_mock.mock_calls.clear()
    await hass.services.async_call(
        DOMAIN,
        "handle_alert",
        {"alert_id": ALERT_ID, "step": "close", "outcome": "fined"},
        blocking=True,
        context=Context(user_id=hass_admin_user.id),
    )
    (call,) = calls_to(aioclient_mock, STEPS)
    assert call[2] == {"step": "close", "outcome": "fined"}


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"step": "reject"}, "alert_reason_required"),
        ({"step": "close", "reason": "misread"}, "alert_outcome_required"),
        ({"step": "acknowledge", "reason": "misread"}, "alert_field_not_for_step"),
        ({"step": "reject", "reason": "misread", "outcome": "fined"}, "alert_field_not_for_step"),
    ],
)
async def test_a_step_without_what_it_needs_is_refused(
    hass: HomeAssistant,
    *,
    setup_integration: MockConfigEntry,
    aioclient_mock: AiohttpClientMocker,
    hass_admin_user: MockUser,
    data: dict[str, Any],
    key: str,
) -> None:
    aioclient_mock.mock_calls.clear()
    with pytest.raises(ServiceValidationError) as refused:
        await _handle(hass, data, Context(user_id=hass_admin_user.id))
    assert refused.value.translation_key == key
    assert aioclient_mock.mock_calls == []


async def test_an_unknown_reason_is_refused_by_the_schema(
    hass: HomeAssistant, setup_integration: MockConfigEntry, hass_admin_user: MockUser
) -> None:
    with pytest.raises((vol.Invalid, HomeAssistantError)):
        await _handle(
            hass, {"step": "reject", "reason": "bored"}, Context(user_id=hass_admin_user.id)
        )


@pytest.mark.parametrize(
    ("status", "key"),
    [(409, "alert_step_refused"), (404, "alert_not_found"), (400, "engine_refused")],
)
async def test_the_engines_refusals_are_translated(
    hass: HomeAssistant,
    *,
    setup_integration: MockConfigEntry,
    aioclient_mock: AiohttpClientMocker,
    hass_admin_user: MockUser,
    status: int,
    key: str,
) -> None:
    """409: the step is not allowed in the alert's state (already rejected, withdrawn)."""
    error = {"error": "conflict", "message": "the alert was withdrawn"}
    aioclient_mock.post(f"{API_URL}{STEPS}", status=status, json=error)
    with pytest.raises(ServiceValidationError) as refused:
        await _handle(hass, {"step": "accept"}, Context(user_id=hass_admin_user.id))
    assert refused.value.translation_key == key
    if status == 404:
        assert refused.value.translation_placeholders["alert_id"] == ALERT_ID
    if status == 409:
        assert refused.value.translation_placeholders == {
            "alert_id": ALERT_ID,
            "step": "accept",
            "message": "the alert was withdrawn",
        }


async def test_a_user_who_is_no_operator_cannot_handle_alerts(
    hass: HomeAssistant,
    setup_integration: MockConfigEntry,
    aioclient_mock: AiohttpClientMocker,
    hass_read_only_user: MockUser,
) -> None:
    aioclient_mock.post(f"{API_URL}{STEPS}", json=ALERT)
    aioclient_mock.mock_calls.clear()
    with pytest.raises(ServiceValidationError) as refused:
        await _handle(hass, {"step": "acknowledge"}, Context(user_id=hass_read_only_user.id))
    assert refused.value.translation_key == "not_an_operator"
    assert aioclient_mock.mock_calls == []


async def test_a_logged_in_user_cannot_act_for_another(
    hass: HomeAssistant,
    setup_integration: MockConfigEntry,
    aioclient_mock: AiohttpClientMocker,
    hass_admin_user: MockUser,
    hass_read_only_user: MockUser,
) -> None:
    """Even an administrator may not write another person into the audit log; naming oneself
    changes nothing."""
    hass.config_entries.async_update_entry(
        setup_integration, options={CONF_OPERATORS: [hass_read_only_user.id]}
    )
    aioclient_mock.post(f"{API_URL}{STEPS}", json=ALERT)
    aioclient_mock.mock_calls.clear()
    with pytest.raises(ServiceValidationError) as refused:
        await _handle(
            hass,
            {"step": "acknowledge", "user_id": hass_admin_user.id},
            Context(user_id=hass_read_only_user.id),
        )
    assert refused.value.translation_key == "acting_for_refused"
    assert refused.value.translation_placeholders == {"user": hass_read_only_user.name}
    assert aioclient_mock.mock_calls == []

    await _handle(
        hass,
        {"step": "acknowledge", "user_id": hass_read_only_user.id},
        Context(user_id=hass_read_only_user.id),
    )
    (call,) = calls_to(aioclient_mock, STEPS)
    assert _person(call).startswith(f"{hass_read_only_user.name} (Home Assistant user ")


async def test_an_automation_acts_for_the_operator_it_names(
    hass: HomeAssistant,
    setup_integration: MockConfigEntry,
    aioclient_mock: AiohttpClientMocker,
    hass_admin_user: MockUser,
    hass_read_only_user: MockUser,
) -> None:
    """A call with no user (an automation) may name the user who pressed a notification's
    button, if that user may act on the engine; without one it is the automation's."""
    aioclient_mock.post(f"{API_URL}{STEPS}", json=ALERT)
    aioclient_mock.mock_calls.clear()
    await _handle(hass, {"step": "acknowledge", "user_id": hass_admin_user.id}, Context())
    await _handle(hass, {"step": "acknowledge", "user_id": ""}, Context())
    first, second = calls_to(aioclient_mock, STEPS)
    assert _person(first) == f"{hass_admin_user.name} (Home Assistant user {hass_admin_user.id})"
    assert _person(second) == "Home Assistant (no user)"

    aioclient_mock.mock_calls.clear()
    for user_id in (hass_read_only_user.id, "0123456789abcdef0123456789abcdef"):
        with pytest.raises(ServiceValidationError) as refused:
            await _handle(hass, {"step": "acknowledge", "user_id": user_id}, Context())
        assert refused.value.translation_key == "not_an_operator"
    assert aioclient_mock.mock_calls == [], "a user who may not act is not named"

    hass.config_entries.async_update_entry(
        setup_integration, options={CONF_OPERATORS: [hass_read_only_user.id]}
    )
    await _handle(hass, {"step": "acknowledge", "user_id": hass_read_only_user.id}, Context())
    (call,) = calls_to(aioclient_mock, STEPS)
    assert hass_read_only_user.id in _person(call)
    hass_read_only_user.is_active = False
    with pytest.raises(ServiceValidationError):
        await _handle(hass, {"step": "acknowledge", "user_id": hass_read_only_user.id}, Context())
