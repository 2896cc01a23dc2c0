"""The engine's hotlists change notice (`<prefix>/hotlists`): the hotlist sizes and to-do lists
refresh on it at once, from the API; the same notice again, or an unsigned one, reads nothing."""

from __future__ import annotations

from datetime import UTC, datetime
import json
from typing import Any

from custom_components.rufina_alpr import models
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.test_util.aiohttp import AiohttpClientMocker
from rufina_alpr import contract

from .conftest import API_URL, ENTRIES, HOTLISTS, NO_ENTRIES, fire, publish_engine

STOLEN_SIZE = "sensor.rufina_01_hotlist_size_stolen"
LISTS_PATH = "/api/v1/hotlists"


def notice(stolen: tuple[int, int, str], uninsured: tuple[int, int, str]) -> dict[str, Any]:
    """The notice as the engine builds it (its own contract module)."""
    return contract.hotlists_payload(
        changed=datetime(2026, 11, 25, 8, 16, tzinfo=UTC),
        lists=[("stolen", *stolen), ("uninsured", *uninsured)],
    )


def reads(mock: AiohttpClientMocker, path: str) -> int:
    return sum(1 for call in mock.mock_calls if call[1].path.startswith(path))


def serve_lists(mock: AiohttpClientMocker, stolen_entries: int) -> None:
    """The API's hotlists from now on, the stolen list at that size."""
    changed = json.loads(json.dumps(HOTLISTS))
    changed["hotlists"][0]["entries"] = stolen_entries
    mock.clear_requests()
    mock.get(f"{API_URL}{LISTS_PATH}", json=changed)
    mock.get(ENTRIES, json=NO_ENTRIES)


def test_the_notice_schema_agrees_with_the_engine() -> None:
    """The integration requires what the engine's schema requires, and reads its builder's."""
    engine_schema = contract.schema("hotlists")
    ours = {str(key) for key in models._HOTLISTS_SCHEMA.schema}
    assert ours == set(engine_schema["required"]) - {"v"}  # `decode` checks the version
    item = engine_schema["properties"]["lists"]["items"]
    assert {str(key) for key in models._HOTLIST_NOTICE_ITEM.schema} == set(item["required"])
    built = notice((3, 1, "0123456789abcdef"), (0, 0, "fedcba9876543210"))
    contract.validate("hotlists", built)
    parsed = models.HotlistsNotice.from_payload(built)
    assert parsed.lists["stolen"] == (3, 1, "0123456789abcdef")
    assert parsed.changed == datetime(2026, 11, 25, 8, 16, tzinfo=UTC)


async def test_sizes_and_todo_lists_follow_the_notice(
    hass: HomeAssistant, setup_integration: MockConfigEntry, aioclient_mock: AiohttpClientMocker
) -> None:
    """A changed notice reads the lists at once (no timer); the same one again reads nothing;
    a revision changed at the same size reads that list's entries again."""
    await publish_engine(hass)
    assert hass.states.get(STOLEN_SIZE).state == "12"

    serve_lists(aioclient_mock, 13)
    fire(hass, "hotlists", notice((13, 1, "aaaaaaaaaaaaaaaa"), (240, 0, "bbbbbbbbbbbbbbbb")), True)
    await hass.async_block_till_done()
    assert hass.states.get(STOLEN_SIZE).state == "13"
    assert reads(aioclient_mock, LISTS_PATH + "/stolen/entries") == 1, "its to-do list reads it"

    aioclient_mock.mock_calls.clear()
    fire(hass, "hotlists", notice((13, 1, "aaaaaaaaaaaaaaaa"), (240, 0, "bbbbbbbbbbbbbbbb")), True)
    await hass.async_block_till_done()
    assert not aioclient_mock.mock_calls, "the same notice again (a reconnection) reads nothing"

    # An entry replaced: same sizes, a new revision; only that list's entries are read again.
    fire(hass, "hotlists", notice((13, 1, "cccccccccccccccc"), (240, 0, "bbbbbbbbbbbbbbbb")))
    await hass.async_block_till_done()
    assert reads(aioclient_mock, LISTS_PATH + "/stolen/entries") == 1
    assert reads(aioclient_mock, LISTS_PATH + "/uninsured/entries") == 0


async def test_an_unsigned_notice_reads_nothing(
    hass: HomeAssistant, setup_integration: MockConfigEntry, aioclient_mock: AiohttpClientMocker
) -> None:
    """A notice the engine did not sign is refused: the lists are not read for it."""
    await publish_engine(hass)
    serve_lists(aioclient_mock, 99)
    forged = notice((99, 0, "dddddddddddddddd"), (0, 0, "eeeeeeeeeeeeeeee"))
    fire(hass, "hotlists", forged, key=None)
    await hass.async_block_till_done()
    assert reads(aioclient_mock, LISTS_PATH) == 0
    assert hass.states.get(STOLEN_SIZE).state == "12"
    assert setup_integration.runtime_data.refused.get("hotlists") == 1
