"""Who may call the actions that return plates or change what the engine keeps (issue 21, 1):
administrators, the users the options name as operators, automations and scripts. Any other Home
Assistant account got full transits over the websocket with the integration token's role."""

from __future__ import annotations

from typing import Any

import pytest

from custom_components.rufina_alpr.const import CONF_OFFLINE_ISSUE_MINUTES, CONF_OPERATORS, DOMAIN
from homeassistant.core import Context, HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import ServiceValidationError
from pytest_homeassistant_custom_component.common import MockConfigEntry, MockUser
from pytest_homeassistant_custom_component.test_util.aiohttp import AiohttpClientMocker

from .conftest import API_URL, payload, publish_engine
from .test_engine_actions import calls_to
from .test_events import SS67, station_device

SEARCH = {"reason": "incidente via Roma", "plate": "AB1*"}
FOUND = {"transits": [], "limit": 100, "offset": 0, "next_offset": None}


async def _search(hass: HomeAssistant, context: Context) -> Any:
    return await hass.services.async_call(
        DOMAIN, "search_transits", SEARCH, blocking=True, return_response=True, context=context
    )


async def test_a_user_who_is_no_operator_gets_no_plates(
    hass: HomeAssistant,
    setup_integration: MockConfigEntry,
    aioclient_mock: AiohttpClientMocker,
    hass_read_only_user: MockUser,
) -> None:
    aioclient_mock.get(f"{API_URL}/api/v1/transits", json=FOUND)
    aioclient_mock.mock_calls.clear()
    calls: list[tuple[str, dict[str, Any]]] = [
        ("search_transits", SEARCH),
        ("vehicle_route", {"plate": "AB123CD", "reason": "incidente"}),
        ("hotlist_add", {"list_id": "stolen", "plate": "AB123CD", "reason": "furto"}),
        ("hotlist_remove", {"list_id": "stolen", "plate": "AB123CD", "reason": "ritrovata"}),
        ("hold_transits", {"case_number": "PM-1", "reason": "indagine", "transit_ids": ["t1"]}),
        ("purge_now", {"reason": "prova"}),
    ]
    for service, data in calls:
        with pytest.raises(ServiceValidationError) as refused:
            await hass.services.async_call(
                DOMAIN,
                service,
                data,
                blocking=True,
                return_response=service in ("search_transits", "vehicle_route"),
                context=Context(user_id=hass_read_only_user.id),
            )
        assert refused.value.translation_key == "not_an_operator", service
        assert refused.value.translation_placeholders["user"] == hass_read_only_user.name
    assert aioclient_mock.mock_calls == [], "nothing reached the engine"
    await publish_engine(hass)
    with pytest.raises(ServiceValidationError):
        await hass.services.async_call(
            DOMAIN,
            "get_last_transit",
            {"device_id": station_device(hass, SS67).id},
            blocking=True,
            return_response=True,
            context=Context(user_id=hass_read_only_user.id),
        )


async def test_administrators_operators_and_automations_may(
    hass: HomeAssistant,
    setup_integration: MockConfigEntry,
    aioclient_mock: AiohttpClientMocker,
    hass_admin_user: MockUser,
    hass_read_only_user: MockUser,
) -> None:
    aioclient_mock.get(f"{API_URL}/api/v1/transits", json=FOUND)
    aioclient_mock.mock_calls.clear()
    assert await _search(hass, Context(user_id=hass_admin_user.id)) == FOUND
    assert await _search(hass, Context()) == FOUND  # an automation or a script: no user
    hass.config_entries.async_update_entry(
        setup_integration,
        options={**setup_integration.options, CONF_OPERATORS: [hass_read_only_user.id]},
    )
    assert await _search(hass, Context(user_id=hass_read_only_user.id)) == FOUND
    assert len(calls_to(aioclient_mock, "/api/v1/transits")) == 3
    await publish_engine(hass)
    response = await hass.services.async_call(
        DOMAIN,
        "get_last_transit",
        {"device_id": station_device(hass, SS67).id},
        blocking=True,
        return_response=True,
        context=Context(user_id=hass_read_only_user.id),
    )
    assert response == {"station": SS67, "transit": payload("transit")}
    hass_read_only_user.is_active = False  # a deactivated operator may no more
    with pytest.raises(ServiceValidationError):
        await _search(hass, Context(user_id=hass_read_only_user.id))


async def test_the_options_name_the_operators_among_the_users(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    hass_admin_user: MockUser,
    hass_read_only_user: MockUser,
) -> None:
    """Only active, non-administrator, non-system users are offered (administrators may
    anyway); an id that is no such user is dropped."""
    result = await hass.config_entries.options.async_init(config_entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    (operators,) = [key for key in result["data_schema"].schema if key == CONF_OPERATORS]
    offered = result["data_schema"].schema[operators].config["options"]
    assert [o["value"] for o in offered] == [hass_read_only_user.id]
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            CONF_OFFLINE_ISSUE_MINUTES: 30,
            CONF_OPERATORS: [hass_read_only_user.id],
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert config_entry.options[CONF_OPERATORS] == [hass_read_only_user.id]
