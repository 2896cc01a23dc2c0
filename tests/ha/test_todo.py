"""The hotlists as to-do lists (issue 26, 3): items are the plates; adding, completing, deleting
and editing items go through the engine's audited API naming the Home Assistant user, who must
be allowed to act on the engine."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from custom_components.rufina_alpr.const import DOMAIN
from homeassistant.auth.const import GROUP_ID_USER
from homeassistant.auth.models import User
from homeassistant.components.todo import DOMAIN as TODO_DOMAIN
from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import ServiceValidationError, Unauthorized
from pytest_homeassistant_custom_component.common import MockConfigEntry, MockUser
from pytest_homeassistant_custom_component.test_util.aiohttp import AiohttpClientMocker
from pytest_homeassistant_custom_component.typing import MqttMockHAClient

from .conftest import API_URL, CONTRACT, ENTRIES, HOTLISTS, INFO, NO_ENTRIES
from .test_engine_actions import calls_to

STOLEN = "todo.rufina_01_hotlist_todo_stolen"
UNINSURED = "todo.rufina_01_hotlist_todo_uninsured"
ENTRIES_PATH = "/api/v1/hotlists/stolen/entries"


def _entry(plate: str, reason: str, **more: Any) -> dict[str, Any]:
    return {
        "id": 1,
        "list": "stolen",
        "plate": plate,
        "reason": reason,
        "priority": None,
        "expires_at": None,
        "notes": None,
        "stations": None,
        "from_hour": None,
        "to_hour": None,
        "added_by": "admin",
        "added_at": "2026-11-20T10:00:00+01:00",
        **more,
    }


ON_LIST = [
    _entry(
        "AB123CD",
        "furto 12/11",
        expires_at="2027-01-31T23:00:00+00:00",
        notes="denuncia 4",
        display="AB 123 CD",
    ),
    _entry("EF456GH", "furto 20/11"),  # as an engine before `display` sent it
]


@pytest.fixture
async def todo_integration(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    config_entry: MockConfigEntry,
    aioclient_mock: AiohttpClientMocker,
) -> MockConfigEntry:
    """The integration loaded, the stolen list holding two plates (the first page of two)."""
    aioclient_mock.clear_requests()
    aioclient_mock.get(
        f"{API_URL}{ENTRIES_PATH}?offset=0",
        json={"entries": ON_LIST[:1], "limit": 500, "offset": 0, "next_offset": 500},
    )
    aioclient_mock.get(
        f"{API_URL}{ENTRIES_PATH}?offset=500",
        json={"entries": ON_LIST[1:], "limit": 500, "offset": 500, "next_offset": None},
    )
    aioclient_mock.get(f"{API_URL}/api/v1/info", json=INFO)
    aioclient_mock.get(f"{API_URL}/api/v1/contract", json=CONTRACT)
    aioclient_mock.get(f"{API_URL}/api/v1/hotlists", json=HOTLISTS)
    aioclient_mock.get(ENTRIES, json=NO_ENTRIES)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    return config_entry


async def _items(hass: HomeAssistant, entity_id: str) -> list[dict[str, Any]]:
    result = await hass.services.async_call(
        TODO_DOMAIN,
        "get_items",
        {},
        target={"entity_id": entity_id},
        blocking=True,
        return_response=True,
    )
    assert isinstance(result, dict)
    items: list[dict[str, Any]] = result[entity_id]["items"]
    return items


async def _todo(hass: HomeAssistant, service: str, data: dict[str, Any], user: User | None) -> None:
    await hass.services.async_call(
        TODO_DOMAIN,
        service,
        data,
        target={"entity_id": STOLEN},
        blocking=True,
        context=Context(user_id=user.id if user else None),
    )
    await hass.async_block_till_done()


def _acting(user: MockUser) -> str:
    return quote(f"{user.name} (Home Assistant user {user.id})", safe="")


async def test_lists_are_todo_lists_of_their_plates(
    hass: HomeAssistant, todo_integration: MockConfigEntry, aioclient_mock: AiohttpClientMocker
) -> None:
    stolen = hass.states.get(STOLEN)
    assert stolen is not None and stolen.state == "2"
    assert stolen.attributes["friendly_name"].endswith("Veicoli rubati")
    assert hass.states.get(UNINSURED).state == "0"
    items = await _items(hass, STOLEN)
    assert [(i["summary"], i["description"], i["status"]) for i in items] == [
        ("AB 123 CD", "furto 12/11", "needs_action"),  # as people write it
        ("EF456GH", "furto 20/11", "needs_action"),
    ]
    assert items[0]["due"].startswith("2027-01-31")
    assert "due" not in items[1]
    reads = calls_to(aioclient_mock, ENTRIES_PATH)
    assert len(reads) == 2, "both pages, read once"
    assert all(call[1].query["reason"] for call in reads), "the audit's reason"
    # The hotlists' refresh with the same sizes reads no plates again; a new size does.
    await todo_integration.runtime_data.async_refresh_hotlists()
    await hass.async_block_till_done()
    assert len(calls_to(aioclient_mock, ENTRIES_PATH)) == 2


async def test_add_names_the_user(
    hass: HomeAssistant,
    todo_integration: MockConfigEntry,
    aioclient_mock: AiohttpClientMocker,
    hass_admin_user: MockUser,
) -> None:
    aioclient_mock.post(f"{API_URL}{ENTRIES_PATH}", json=ON_LIST[0], status=201)
    await _todo(
        hass,
        "add_item",
        {"item": "ab 999 zz", "description": "furto", "due_datetime": "2027-02-01 08:00:00"},
        hass_admin_user,
    )
    (post,) = [c for c in calls_to(aioclient_mock, ENTRIES_PATH) if c[0].lower() == "post"]
    assert post[2]["plate"] == "ab 999 zz" and post[2]["reason"] == "furto"
    assert post[2]["expires_at"].startswith("2027-02-01T08:00:00")
    assert post[3]["X-Rufina-Acting-User"] == _acting(hass_admin_user)
    with pytest.raises(ServiceValidationError) as refused:
        await _todo(hass, "add_item", {"item": "AB999ZZ"}, hass_admin_user)
    assert refused.value.translation_key == "todo_reason_required"


async def test_complete_and_delete_remove_the_plate(
    hass: HomeAssistant,
    todo_integration: MockConfigEntry,
    aioclient_mock: AiohttpClientMocker,
    hass_admin_user: MockUser,
) -> None:
    aioclient_mock.delete(f"{API_URL}{ENTRIES_PATH}/AB123CD", status=204)
    aioclient_mock.delete(f"{API_URL}{ENTRIES_PATH}/EF456GH", status=204)
    await _todo(hass, "update_item", {"item": "AB123CD", "status": "completed"}, hass_admin_user)
    (done,) = calls_to(aioclient_mock, f"{ENTRIES_PATH}/AB123CD")
    assert done[0].lower() == "delete" and done[3]["X-Rufina-Acting-User"] == _acting(
        hass_admin_user
    )
    await _todo(hass, "remove_item", {"item": ["EF456GH"]}, hass_admin_user)
    (deleted,) = calls_to(aioclient_mock, f"{ENTRIES_PATH}/EF456GH")
    assert deleted[0].lower() == "delete" and deleted[1].query["reason"]


async def test_edit_changes_the_reason_or_the_plate(
    hass: HomeAssistant,
    todo_integration: MockConfigEntry,
    aioclient_mock: AiohttpClientMocker,
    hass_admin_user: MockUser,
) -> None:
    aioclient_mock.post(f"{API_URL}{ENTRIES_PATH}", json=ON_LIST[0], status=201)
    aioclient_mock.delete(f"{API_URL}{ENTRIES_PATH}/EF456GH", status=204)
    await _todo(
        hass, "update_item", {"item": "AB123CD", "description": "furto, denuncia"}, hass_admin_user
    )
    (replaced,) = [c for c in calls_to(aioclient_mock, ENTRIES_PATH) if c[0].lower() == "post"]
    assert replaced[2]["plate"] == "AB123CD" and replaced[2]["replace"] is True
    assert replaced[2]["reason"] == "furto, denuncia"
    assert replaced[2]["notes"] == "denuncia 4", "the entry's other fields kept"
    assert replaced[2]["expires_at"].startswith("2027-01-31")
    assert replaced[3]["X-Rufina-Acting-User"] == _acting(hass_admin_user)
    aioclient_mock.mock_calls.clear()
    await _todo(hass, "update_item", {"item": "EF456GH", "rename": "EF456GK"}, hass_admin_user)
    added, removed = [c for c in aioclient_mock.mock_calls if c[0].lower() in ("post", "delete")]
    assert added[0].lower() == "post" and added[2]["plate"] == "EF456GK"
    assert added[2]["reason"] == "furto 20/11" and "replace" not in added[2]
    assert removed[0].lower() == "delete" and removed[1].path == f"{ENTRIES_PATH}/EF456GH"
    with pytest.raises(ServiceValidationError):
        await _todo(hass, "update_item", {"item": "ZZ000ZZ", "status": "completed"}, None)


async def test_a_user_who_is_no_operator_changes_nothing(
    hass: HomeAssistant,
    todo_integration: MockConfigEntry,
    aioclient_mock: AiohttpClientMocker,
    hass_read_only_user: MockUser,
) -> None:
    """A user who may control entities but is no operator of the engine gets the actions'
    refusal; a read-only user is refused by Home Assistant itself."""
    user = await hass.auth.async_create_user("Ospite", group_ids=[GROUP_ID_USER])
    aioclient_mock.mock_calls.clear()
    changes: list[tuple[str, dict[str, Any]]] = [
        ("add_item", {"item": "AB999ZZ", "description": "furto"}),
        ("update_item", {"item": "AB123CD", "status": "completed"}),
        ("update_item", {"item": "AB123CD", "description": "altro"}),
        ("remove_item", {"item": ["AB123CD"]}),
    ]
    for service, data in changes:
        with pytest.raises(ServiceValidationError) as refused:
            await _todo(hass, service, data, user)
        assert refused.value.translation_key == "not_an_operator", service
        assert refused.value.translation_domain == DOMAIN
        assert refused.value.translation_placeholders["user"] == "Ospite"
        with pytest.raises(Unauthorized):
            await _todo(hass, service, data, hass_read_only_user)
    assert aioclient_mock.mock_calls == [], "nothing reached the engine"


@pytest.mark.parametrize(
    ("status", "body", "key"),
    [
        (409, {"error": "conflict", "message": "AB123CD is on stolen"}, "todo_already_listed"),
        (400, {"error": "bad_request", "message": "'plate': bad"}, "engine_refused"),
    ],
)
async def test_engine_refusals_are_translated(
    hass: HomeAssistant,
    *,
    todo_integration: MockConfigEntry,
    aioclient_mock: AiohttpClientMocker,
    hass_admin_user: MockUser,
    status: int,
    body: dict[str, str],
    key: str,
) -> None:
    aioclient_mock.post(f"{API_URL}{ENTRIES_PATH}", json=body, status=status)
    with pytest.raises(ServiceValidationError) as refused:
        await _todo(hass, "add_item", {"item": "AB123CD", "description": "furto"}, hass_admin_user)
    assert refused.value.translation_key == key
    assert refused.value.translation_domain == DOMAIN


async def test_unreadable_entries_leave_the_list_empty(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    config_entry: MockConfigEntry,
    aioclient_mock: AiohttpClientMocker,
) -> None:
    aioclient_mock.clear_requests()
    aioclient_mock.get(f"{API_URL}{ENTRIES_PATH}", status=403, json={"error": "forbidden"})
    aioclient_mock.get(f"{API_URL}/api/v1/info", json=INFO)
    aioclient_mock.get(f"{API_URL}/api/v1/contract", json=CONTRACT)
    aioclient_mock.get(f"{API_URL}/api/v1/hotlists", json=HOTLISTS)
    aioclient_mock.get(ENTRIES, status=500)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get(STOLEN).state == "0"
    assert hass.states.get(UNINSURED).state == "0"


async def test_a_gates_authorised_list_is_a_todo_list_too(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    config_entry: MockConfigEntry,
    aioclient_mock: AiohttpClientMocker,
) -> None:
    gate = {
        **HOTLISTS["hotlists"][0],
        "id": "residents",
        "name": "Residenti ZTL",
        "kind": "authorised",
        "action": "log",
        "entries": 1,
        "expired": 0,
    }
    aioclient_mock.clear_requests()
    aioclient_mock.get(
        f"{API_URL}/api/v1/hotlists/residents/entries",
        json={"entries": [_entry("GH789JK", "residente")], "limit": 500, "offset": 0},
    )
    aioclient_mock.get(f"{API_URL}/api/v1/info", json=INFO)
    aioclient_mock.get(f"{API_URL}/api/v1/contract", json=CONTRACT)
    aioclient_mock.get(f"{API_URL}/api/v1/hotlists", json={"hotlists": [gate]})
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    state = hass.states.get("todo.rufina_01_hotlist_todo_residents")
    assert state is not None and state.state == "1"
    assert state.attributes["friendly_name"].endswith("Residenti ZTL")
