"""Home Assistant keeps the engine's privacy promises (issue 21): the engine's audit log names the
real person behind an action, and the last match of a list survives a restart with its own time,
until the engine's retention is over (the recorder: test_recorder_retention.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import unquote

from freezegun.api import FrozenDateTimeFactory
import pytest

from custom_components.rufina_alpr.api import ACTING_USER_HEADER
from custom_components.rufina_alpr.const import DOMAIN, ISSUE_TOKEN_NOT_DELEGATE
from homeassistant.core import Context, HomeAssistant, State
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    MockUser,
    mock_restore_cache,
)
from pytest_homeassistant_custom_component.test_util.aiohttp import AiohttpClientMocker

from .conftest import API_URL, CONTRACT, HOTLISTS, INFO, fire, payload, publish_engine
from .test_engine_actions import calls_to

SEARCH = {"reason": "incidente via Roma", "plate": "AB1*"}
FOUND = {"transits": [], "limit": 100, "offset": 0, "next_offset": None}
LAST_MATCH = "sensor.rufina_01_hotlist_last_match_stolen"


async def _search(hass: HomeAssistant, context: Context) -> Any:
    return await hass.services.async_call(
        DOMAIN, "search_transits", SEARCH, blocking=True, return_response=True, context=context
    )


def _acting_users(mock: AiohttpClientMocker) -> list[str | None]:
    """The person each search named to the engine (decoded), None where it named nobody."""
    named = []
    for call in calls_to(mock, "/api/v1/transits"):
        header = call[3].get(ACTING_USER_HEADER)
        named.append(unquote(header) if header is not None else None)
    return named


async def test_the_engine_is_told_who_acts(
    hass: HomeAssistant,
    setup_integration: MockConfigEntry,
    aioclient_mock: AiohttpClientMocker,
    hass_admin_user: MockUser,
) -> None:
    """A user by name and id, an automation or a script by entity id, else nobody in
    particular: the engine writes it in its audit log beside the token's own user."""
    aioclient_mock.get(f"{API_URL}/api/v1/transits", json=FOUND)
    aioclient_mock.mock_calls.clear()
    hass_admin_user.name = "Comandante Niccolò Bianchi"
    await _search(hass, Context(user_id=hass_admin_user.id))
    run = Context()
    hass.states.async_set("automation.allarme_notte", "on", context=run)
    await _search(hass, Context(parent_id=run.id))
    script_run = Context()
    hass.states.async_set("script.rapporto", "on", context=script_run)
    await _search(hass, script_run)
    await _search(hass, Context())
    assert _acting_users(aioclient_mock) == [
        f"Comandante Niccolò Bianchi (Home Assistant user {hass_admin_user.id})",
        "automation:automation.allarme_notte",
        "script:script.rapporto",
        "Home Assistant (no user)",
    ]


async def test_a_token_that_may_not_act_for_others(
    hass: HomeAssistant, setup_integration: MockConfigEntry, aioclient_mock: AiohttpClientMocker
) -> None:
    """The engine's 403 `not_a_delegate` says how to fix it, not that the role is too low."""
    aioclient_mock.get(
        f"{API_URL}/api/v1/transits",
        status=403,
        json={"error": "not_a_delegate", "message": "this token may not act for another person"},
    )
    with pytest.raises(HomeAssistantError) as refused:
        await _search(hass, Context())
    assert refused.value.translation_key == "engine_not_delegate"
    assert not hass.config_entries.flow.async_progress(), "the token itself is fine: no reauth"


async def test_last_match_is_restored_then_forgotten_past_retention(
    hass: HomeAssistant,
    mqtt_mock: Any,
    config_entry: MockConfigEntry,
    engine_api: AiohttpClientMocker,
    freezer: FrozenDateTimeFactory,
) -> None:
    """After a restart the list's last match shows again, with the transit's time (not the
    restart's); once older than the engine's retention it goes, plates and all."""
    matched = (dt_util.utcnow() - timedelta(hours=5)).replace(microsecond=0)
    attributes = {"list_id": "stolen", "read_plate": "GA456BC", "station": "st09_pomino"}
    mock_restore_cache(hass, [State(LAST_MATCH, matched.isoformat(), attributes)])
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await publish_engine(hass)
    state = hass.states.get(LAST_MATCH)
    assert state is not None
    assert dt_util.parse_datetime(state.state) == matched
    assert state.attributes["read_plate"] == "GA456BC"

    fire(hass, "stats", payload("stats", retention_days=0.25))  # 6 hours
    await hass.async_block_till_done()
    assert dt_util.parse_datetime(hass.states.get(LAST_MATCH).state) == matched  # 5 h < 6 h
    freezer.tick(timedelta(hours=1, minutes=1))
    config_entry.runtime_data.async_purge_plates()
    await hass.async_block_till_done()
    state = hass.states.get(LAST_MATCH)
    assert state.state == "unknown"
    assert "read_plate" not in state.attributes


@pytest.mark.usefixtures("mqtt_mock")
@pytest.mark.parametrize("case", [(False, True), (True, False), (None, False)])
async def test_a_repair_when_the_engine_says_the_token_is_no_delegate(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    aioclient_mock: AiohttpClientMocker,
    case: tuple[bool | None, bool],
) -> None:
    """At set-up: the engine's `delegate: false` raises a repair saying what to set; true, or an
    older engine that does not say, none."""
    delegate, raised = case
    info = {key: value for key, value in INFO.items() if key != "delegate"}
    if delegate is not None:
        info["delegate"] = delegate
    aioclient_mock.get(f"{API_URL}/api/v1/info", json=info)
    aioclient_mock.get(f"{API_URL}/api/v1/contract", json=CONTRACT)
    aioclient_mock.get(f"{API_URL}/api/v1/hotlists", json=HOTLISTS)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    issue = ir.async_get(hass).async_get_issue(
        DOMAIN, f"{ISSUE_TOKEN_NOT_DELEGATE}_{config_entry.entry_id}"
    )
    assert (issue is not None) is raised
    if issue is not None:
        assert issue.translation_key == ISSUE_TOKEN_NOT_DELEGATE
        assert issue.translation_placeholders == {"instance": INFO["instance"]}


async def test_last_match_survives_a_reload(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    """Reloading the integration (options, re-authentication) keeps the list's last match, with
    the transit's time: the dashboard's "Allarmi liste" does not go blank."""
    await publish_engine(hass)
    fire(hass, "hotlist_match", payload("hotlist_match"))
    await hass.async_block_till_done()
    before = hass.states.get(LAST_MATCH)
    assert before is not None
    passed = dt_util.parse_datetime(payload("hotlist_match")["transit"]["time"])
    assert passed is not None
    assert dt_util.parse_datetime(before.state) == passed.replace(microsecond=0)
    assert await hass.config_entries.async_reload(setup_integration.entry_id)
    await publish_engine(hass)  # the retained topics, as the broker gives them again
    after = hass.states.get(LAST_MATCH)
    assert after is not None
    assert after.state == before.state
    assert after.attributes["read_plate"] == "GA456BC"
