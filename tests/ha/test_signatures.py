"""Forged MQTT messages: only what the engine signed, recently and dated sensibly, is acted on.

Anyone who may publish on `rufina_alpr/#` (every add-on shares the broker user of the add-ons)
could otherwise raise a hotlist alert, create entities or freeze a station's last plate.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import aiohttp
from freezegun.api import FrozenDateTimeFactory
import pytest

from custom_components.rufina_alpr.const import (
    CONF_SIGNING_KEY,
    DOMAIN,
    EVENT_HOTLIST_MATCH,
    EVENT_TRANSIT,
    ISSUE_FORGED_MESSAGES,
    ISSUE_UNSIGNED_ENGINE,
)
from custom_components.rufina_alpr.signed import KEY_RETRY
from custom_components.rufina_alpr.signing import key_id, sign, verify
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_capture_events
from pytest_homeassistant_custom_component.test_util.aiohttp import AiohttpClientMocker
from pytest_homeassistant_custom_component.typing import MqttMockHAClient

from .conftest import (
    API_URL,
    CONTRACT,
    HOTLISTS,
    INFO,
    INSTANCE,
    SIGNING_KEY,
    fire,
    payload,
    publish_engine,
)

LAST_PLATE = "sensor.rufina_01_st01_ss67_est_last_plate"
OTHER_KEY = "0bad" * 16


def forged(kind: str, data: dict[str, Any]) -> dict[str, dict[str, Any] | None]:
    """The ways a forger can send a payload: unsigned, another key, a changed signed one."""
    tampered = sign(data, SIGNING_KEY)
    if kind == "hotlist_match":
        tampered["list"] = "uninsured"
    else:
        tampered["plate"] = "ZZ999ZZ"
    stolen_kid = sign(data, OTHER_KEY)
    stolen_kid["kid"] = key_id(SIGNING_KEY)  # the right key id, a signature of another key
    return {"unsigned": None, "other key": stolen_kid, "tampered": tampered}


def _issue(hass: HomeAssistant, entry: MockConfigEntry, issue: str) -> ir.IssueEntry | None:
    return ir.async_get(hass).async_get_issue(DOMAIN, f"{issue}_{entry.entry_id}")


@pytest.mark.parametrize("way", ["unsigned", "other key", "tampered"])
async def test_forged_hotlist_alert_fires_nothing(
    hass: HomeAssistant,
    setup_integration: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
    way: str,
) -> None:
    """A made-up alert raises no event, sets no sensor and says so once (a repair)."""
    await publish_engine(hass)
    events = async_capture_events(hass, EVENT_HOTLIST_MATCH)
    match = payload("hotlist_match")
    for _ in range(3):
        ready = forged("hotlist_match", match)[way]
        if ready is None:
            fire(hass, "hotlist_match", match, key=None)
        else:
            fire(hass, "hotlist_match", ready)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert events == []
    hub = setup_integration.runtime_data
    assert hub.hotlist_matches == {} and hub.list_matches == {}
    assert hub.refused == {"hotlist_match": 3}
    assert hub.received.get("hotlist_match") is None
    assert caplog.text.count("did not sign") == 1
    issue = _issue(hass, setup_integration, ISSUE_FORGED_MESSAGES)
    assert issue is not None and issue.translation_key == ISSUE_FORGED_MESSAGES
    assert issue.severity is ir.IssueSeverity.WARNING
    assert issue.translation_placeholders == {
        "instance": INSTANCE,
        "topic": "rufina_alpr/hotlist_match",
    }

    fire(hass, "hotlist_match", match)  # the engine's own alert still works
    await hass.async_block_till_done(wait_background_tasks=True)
    assert len(events) == 1
    assert "sig" not in events[0].data and "kid" not in events[0].data
    assert events[0].data["list"] == "stolen"


async def test_forged_transit_and_state_change_nothing(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    """Unsigned transits, last plates, stations and status are ignored; signed ones are not."""
    await publish_engine(hass)
    transits = async_capture_events(hass, EVENT_TRANSIT)
    fire(hass, "transit", payload("transit", id="forged-1", plate="ZZ999ZZ"), key=None)
    fire(hass, "st01_ss67_est/last", payload("transit", id="forged-2", plate="ZZ999ZZ"), key=None)
    for ready in forged("transit", payload("transit", id="forged-3")).values():
        if ready is not None:
            fire(hass, "transit", ready)
    fire(hass, "status", payload("status_offline"), retain=True, key=OTHER_KEY)
    fire(hass, "stations", {"v": 1, "stations": []}, retain=True, key=None)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert transits == []
    assert hass.states.get(LAST_PLATE).state == "FB123XY"
    hub = setup_integration.runtime_data
    assert hub.online is True, "a forged last will does not take the engine offline"
    assert len(hub.stations) == 3, "forged stations remove no device"

    fire(hass, "transit", payload("transit_low_confidence"))
    await hass.async_block_till_done(wait_background_tasks=True)
    assert len(transits) == 1
    assert hass.states.get(LAST_PLATE).state == "EX4O7TR"


async def test_transit_dated_2099_is_not_the_last_plate(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    """A transit dated in the future never becomes (and so never freezes) the last plate, even
    signed: Frigate's times reach the engine from the broker too."""
    await publish_engine(hass)
    future = payload("transit", id="future-1", plate="ZZ999ZZ")
    future["time"] = "2099-01-01T00:00:00.000+01:00"
    fire(hass, "st01_ss67_est/last", future)  # a live one: Home Assistant drops a 2nd retained
    fire(hass, "transit", {**future, "id": "future-2"})
    await hass.async_block_till_done(wait_background_tasks=True)
    assert hass.states.get(LAST_PLATE).state == "FB123XY"

    now = payload("transit_low_confidence")
    now["time"] = dt_util.now().isoformat(timespec="milliseconds")
    fire(hass, "transit", now)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert hass.states.get(LAST_PLATE).state == "EX4O7TR", "later transits still take its place"


async def test_messages_signed_in_the_future_or_long_ago_are_refused(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    """A signing time ahead of the clock is refused on every topic; a transit or alert signed
    long ago is a replay (the engine signs when it publishes, also late from its outbox)."""
    await publish_engine(hass)
    transits = async_capture_events(hass, EVENT_TRANSIT)
    alerts = async_capture_events(hass, EVENT_HOTLIST_MATCH)
    now = dt_util.utcnow()
    ahead = sign(payload("transit_low_confidence"), SIGNING_KEY, now + timedelta(hours=1))
    fire(hass, "st01_ss67_est/last", ahead)
    old = now - timedelta(minutes=16)
    fire(hass, "transit", sign(payload("transit_low_confidence"), SIGNING_KEY, old))
    fire(hass, "hotlist_match", sign(payload("hotlist_match"), SIGNING_KEY, old))
    await hass.async_block_till_done(wait_background_tasks=True)
    assert transits == [] and alerts == []
    assert hass.states.get(LAST_PLATE).state == "FB123XY"
    assert setup_integration.runtime_data.refused == {
        "last": 1,
        "transit": 1,
        "hotlist_match": 1,
    }
    # Retained state may be old: the engine's status from this morning still counts.
    fire(hass, "stats", sign(payload("stats"), SIGNING_KEY, now - timedelta(hours=5)))
    await hass.async_block_till_done(wait_background_tasks=True)
    assert setup_integration.runtime_data.refused.get("stats") is None


async def test_a_replayed_alert_fires_once(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    """The engine's own alert sent again (a QoS 1 redelivery, or a replay) fires once."""
    await publish_engine(hass)
    alerts = async_capture_events(hass, EVENT_HOTLIST_MATCH)
    signed = sign(payload("hotlist_match"), SIGNING_KEY)
    for _ in range(3):
        fire(hass, "hotlist_match", signed)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert len(alerts) == 1


async def test_unknown_list_ids_create_no_entities(
    hass: HomeAssistant,
    setup_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    aioclient_mock: AiohttpClientMocker,
) -> None:
    """50 alerts naming lists the API does not list (signed or not) create no entity; the lists
    are read again at most once a minute."""
    await publish_engine(hass)
    before = len(entity_registry.entities)
    calls = len(aioclient_mock.mock_calls)
    match = payload("hotlist_match")
    for n in range(25):
        transit = {**match["transit"], "id": f"transit-{n}"}
        fire(hass, "hotlist_match", {**match, "transit": transit, "list": f"fake_{n}"}, key=None)
        fire(hass, "hotlist_match", {**match, "transit": transit, "list": f"made_up_{n}"})
    await hass.async_block_till_done(wait_background_tasks=True)
    assert len(entity_registry.entities) == before
    assert not [e for e in entity_registry.entities if "fake_" in e or "made_up_" in e]
    hotlist_reads = [c for c in aioclient_mock.mock_calls[calls:] if c[1].path.endswith("hotlists")]
    assert len(hotlist_reads) == 1
    hub = setup_integration.runtime_data
    assert set(hub.list_matches) <= {"stolen", "uninsured"}, "unlisted lists are forgotten"
    assert set(hub.hotlists) == {item["id"] for item in HOTLISTS["hotlists"]}


async def test_key_read_later_when_the_api_was_away(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    config_entry: MockConfigEntry,
    aioclient_mock: AiohttpClientMocker,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Without the API and no key kept, the engine's retained messages wait; once the key is
    read they count (and the key is kept in the entry for a start without the API)."""
    refused = aiohttp.ClientConnectionError("refused")
    aioclient_mock.get(f"{API_URL}/api/v1/info", exc=refused)
    aioclient_mock.get(f"{API_URL}/api/v1/contract", exc=refused)
    aioclient_mock.get(f"{API_URL}/api/v1/hotlists", exc=refused)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    hub = config_entry.runtime_data
    await publish_engine(hass)
    assert hub.status is None and hub.held_count == 4
    assert hub.refused == {}

    aioclient_mock.clear_requests()
    aioclient_mock.get(f"{API_URL}/api/v1/contract", json=CONTRACT)
    aioclient_mock.get(f"{API_URL}/api/v1/hotlists", json=HOTLISTS)
    freezer.tick(KEY_RETRY + timedelta(seconds=1))
    fire(hass, "stats", payload("stats"))
    await hass.async_block_till_done(wait_background_tasks=True)
    assert hub.signing_key == SIGNING_KEY
    assert config_entry.data[CONF_SIGNING_KEY] == SIGNING_KEY
    assert hub.held_count == 0
    assert hub.online is True
    assert hass.states.get(LAST_PLATE).state == "FB123XY"


async def test_a_new_engine_key_is_read_again(
    hass: HomeAssistant,
    setup_integration: MockConfigEntry,
    aioclient_mock: AiohttpClientMocker,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A message with another key id makes the integration ask the engine's key again: a new
    key (a replaced database) is taken, a forger's key id is not, and asking has a limit."""
    await publish_engine(hass)
    hub = setup_integration.runtime_data
    alerts = async_capture_events(hass, EVENT_HOTLIST_MATCH)
    match = payload("hotlist_match")
    fire(hass, "hotlist_match", match, key=OTHER_KEY)  # the API still gives the old key
    fire(hass, "transit", payload("transit", id="other-1"), key=OTHER_KEY)  # asked already
    await hass.async_block_till_done(wait_background_tasks=True)
    assert alerts == [] and hub.refused == {"hotlist_match": 1, "transit": 1}

    aioclient_mock.clear_requests()
    new = {**CONTRACT, "signing_key": OTHER_KEY, "key_id": key_id(OTHER_KEY)}
    aioclient_mock.get(f"{API_URL}/api/v1/contract", json=new)
    freezer.tick(KEY_RETRY + timedelta(seconds=1))
    new_match = {**match, "transit": {**match["transit"], "id": "after-rotation"}}
    fire(hass, "hotlist_match", new_match, key=OTHER_KEY)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert hub.signing_key == OTHER_KEY
    assert setup_integration.data[CONF_SIGNING_KEY] == OTHER_KEY
    assert len(alerts) == 1, (hub.refused, hub.received, hub.held_count)
    fire(hass, "hotlist_match", {**match, "transit": {**match["transit"], "id": "x"}})
    await hass.async_block_till_done(wait_background_tasks=True)
    assert len(alerts) == 1, "the old key no longer signs"


async def test_an_engine_that_does_not_sign(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    config_entry: MockConfigEntry,
    aioclient_mock: AiohttpClientMocker,
) -> None:
    """An engine older than the signatures (no /api/v1/contract): a repair says to update it,
    and nothing it publishes is used."""
    aioclient_mock.get(f"{API_URL}/api/v1/info", json=INFO)
    aioclient_mock.get(f"{API_URL}/api/v1/contract", status=404, json={"error": "not_found"})
    aioclient_mock.get(f"{API_URL}/api/v1/hotlists", json=HOTLISTS)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    issue = _issue(hass, config_entry, ISSUE_UNSIGNED_ENGINE)
    assert issue is not None and issue.severity is ir.IssueSeverity.ERROR
    assert issue.translation_placeholders == {"instance": INSTANCE}
    fire(hass, "status", payload("status_online"), retain=True, key=None)
    await hass.async_block_till_done(wait_background_tasks=True)
    hub = config_entry.runtime_data
    assert hub.status is None and hub.signing_key is None


def test_signatures_are_the_engines() -> None:
    """The integration's check accepts what the engine's contract module signs, and only that."""
    from rufina_alpr import contract  # noqa: PLC0415  (the engine, for this test only)

    engine_signed = contract.Signer(SIGNING_KEY).sign(payload("transit"))
    assert verify(engine_signed, SIGNING_KEY)
    assert contract.verify(sign(payload("transit"), SIGNING_KEY), SIGNING_KEY)
    assert key_id(SIGNING_KEY) == contract.key_id(SIGNING_KEY)
    assert not verify({**engine_signed, "plate": "ZZ999ZZ"}, SIGNING_KEY)
    assert not verify({**engine_signed, "confidence": float("nan")}, SIGNING_KEY)
