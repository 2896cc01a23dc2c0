"""Diagnostics: useful for a bug report, with no plate, token or URL in it."""

from __future__ import annotations

import json

from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from .conftest import API_URL, SIGNING_KEY, TOKEN, fire, jpeg_bytes, payload, publish_engine

REDACTED = "**REDACTED**"


async def test_diagnostics_redacted(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    setup_integration: MockConfigEntry,
) -> None:
    """State, counters and stations are there; plates, the token and the URLs are not."""
    crop = jpeg_bytes()
    await publish_engine(hass, crop=crop)
    fire(hass, "health", payload("health"), retain=True)
    fire(hass, "transit", payload("transit_low_confidence"))
    fire(hass, "hotlist_match", payload("hotlist_match"))
    fire(hass, "transit", b"{broken")
    fire(hass, "transit", payload("transit", id="forged-0001"), key=None)
    await hass.async_block_till_done()

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, setup_integration)

    assert diagnostics["entry"]["data"] == {
        "topic_prefix": "rufina_alpr",
        "url": REDACTED,
        "api_token": REDACTED,
        "signing_key": REDACTED,
    }
    assert diagnostics["mqtt_connected"] is True
    assert diagnostics["api_info"]["instance"] == "rufina-01"
    assert diagnostics["status"]["online"] is True
    assert diagnostics["status"]["api_url"] == REDACTED
    assert set(diagnostics["stations"]) == {"st01_ss67_est", "st09_pomino", "st20_piazza_umberto"}
    assert diagnostics["stats"]["transits_today"] == 412
    health = diagnostics["health"]
    assert health["frigate"]["state"] == "online"
    assert health["frigate"]["version"] == "0.17.2-4d4f6fb"
    assert health["stations"]["st09_pomino"] == {
        "state": "offline",
        "reason": "detect_offline",
        "roles": {"detect": "offline", "record": "online"},
    }
    last = diagnostics["last_transits"]["st01_ss67_est"]
    assert last["plate"] == REDACTED
    assert last["display"] == REDACTED
    assert last["alternatives"] == REDACTED
    assert last["frigate_plate"] == REDACTED
    assert last["confidence"] == 0.41
    assert diagnostics["crops"]["st01_ss67_est"]["bytes"] == len(crop)
    assert diagnostics["messages_received"]["transit"] == 1
    assert diagnostics["messages_received"]["hotlist_match"] == 1
    assert diagnostics["messages_received"]["health"] == 1
    assert diagnostics["messages_rejected"] == {"transit": 1}
    assert diagnostics["messages_refused_unsigned"] == {"transit": 1}
    assert diagnostics["signing_key_known"] is True
    assert diagnostics["messages_held"] == 0

    text = json.dumps(diagnostics)
    secrets = (TOKEN, SIGNING_KEY, API_URL, "192.168.1.20", "FB123XY", "EX4O7TR", "GA456BC")
    for secret in (*secrets, "EX407TR"):
        assert secret not in text
