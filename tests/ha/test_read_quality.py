"""Read quality per plate-reading station (issue 26): the "Read rate" and "Commonest unread
reason" diagnostic sensors, and the repair raised while the engine flags a station `low`."""

from __future__ import annotations

from typing import Any

import pytest

from custom_components.rufina_alpr.const import DOMAIN, ISSUE_READ_QUALITY_LOW
from custom_components.rufina_alpr.read_quality import READ_QUALITY_SCHEMA, UNREAD_REASONS
from homeassistant.const import PERCENTAGE, STATE_UNKNOWN, EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from homeassistant.helpers.translation import async_get_translations
from pytest_homeassistant_custom_component.common import MockConfigEntry
from rufina_alpr import contract, read_quality as engine_read_quality

from .conftest import INSTANCE, fire, payload, publish_engine

SS67_RATE = "sensor.rufina_01_st01_ss67_est_read_rate"
SS67_REASON = "sensor.rufina_01_st01_ss67_est_commonest_unread_reason"
POMINO_RATE = "sensor.rufina_01_st09_pomino_read_rate"
PIAZZA_RATE = "sensor.rufina_01_st20_piazza_umberto_read_rate"

LOW: dict[str, Any] = {
    "vehicles": 31,
    "read": 18,
    "share": 0.581,
    "commonest_unread_reason": "no_plate",
    "unread_by_reason": {"no_plate": 11, "no_snapshot": 2},
    "normal_share": 0.934,
    "low": True,
}
RECOVERED: dict[str, Any] = {
    **LOW,
    "read": 29,
    "share": 0.935,
    "commonest_unread_reason": "no_snapshot",
    "unread_by_reason": {"no_snapshot": 2},
    "low": False,
}


async def _publish(hass: HomeAssistant, **quality: dict[str, Any]) -> None:
    """The stats fixture with a `read_quality` block for the stations named."""
    stations = payload("stats")["stations"]
    for station_id, block in quality.items():
        stations[station_id] = {**stations[station_id], "read_quality": block}
    fire(hass, "stats", payload("stats", stations=stations))
    await hass.async_block_till_done()


async def _publish_newer(hass: HomeAssistant, block: dict[str, Any]) -> None:
    """Stats of a newer engine, whose schema knows more reason codes than this one's."""
    data = payload("stats")
    data["stations"]["st01_ss67_est"]["read_quality"] = block
    fire(hass, "stats", data)
    await hass.async_block_till_done()


def _issue(hass: HomeAssistant, entry: MockConfigEntry, station_id: str) -> ir.IssueEntry | None:
    issue_id = f"{ISSUE_READ_QUALITY_LOW}_{entry.entry_id}_{station_id}"
    return ir.async_get(hass).async_get_issue(DOMAIN, issue_id)


def test_schema_and_reasons_are_the_engine_ones() -> None:
    """The block the integration requires, and the reason codes it translates, are the engine's."""
    schema: dict[str, Any] = contract.schema("stats")["$defs"]
    required = {str(key) for key in READ_QUALITY_SCHEMA.schema if str(key) != "unread_by_reason"}
    assert required <= set(schema["read_quality"]["required"])
    assert set(UNREAD_REASONS) == set(schema["unread_reason"]["enum"])
    assert UNREAD_REASONS == engine_read_quality.REASONS


async def test_read_rate_sensors(hass: HomeAssistant, setup_integration: MockConfigEntry) -> None:
    """Diagnostic sensors of plate-reading stations only: the share read as a percentage with
    the counts and the normal, and the commonest unread reason as an enum; unknown while the
    engine reports no read quality; a reason code of a newer engine is `other`."""
    await publish_engine(hass)
    assert hass.states.get(SS67_RATE).state == STATE_UNKNOWN
    assert hass.states.get(SS67_REASON).state == STATE_UNKNOWN
    assert hass.states.get(PIAZZA_RATE) is None
    entities = er.async_get(hass)
    assert entities.async_get(SS67_RATE).entity_category is EntityCategory.DIAGNOSTIC
    assert entities.async_get(SS67_REASON).entity_category is EntityCategory.DIAGNOSTIC

    await _publish(hass, st01_ss67_est=LOW)
    rate = hass.states.get(SS67_RATE)
    assert float(rate.state) == pytest.approx(58.1)
    assert rate.attributes["unit_of_measurement"] == PERCENTAGE
    assert rate.attributes["vehicles"] == 31
    assert rate.attributes["read"] == 18
    assert rate.attributes["normal_rate"] == pytest.approx(93.4)
    assert rate.attributes["low"] is True
    assert rate.attributes["unread_by_reason"] == {"no_plate": 11, "no_snapshot": 2}
    reason = hass.states.get(SS67_REASON)
    assert reason.state == "no_plate"
    assert reason.attributes["options"] == list(UNREAD_REASONS)
    assert hass.states.get(POMINO_RATE).state == STATE_UNKNOWN

    quiet = {**LOW, "vehicles": 0, "read": 0, "share": None, "unread_by_reason": {}}
    await _publish(hass, st01_ss67_est={**quiet, "commonest_unread_reason": None})
    assert hass.states.get(SS67_RATE).state == STATE_UNKNOWN
    assert hass.states.get(SS67_REASON).state == STATE_UNKNOWN
    await _publish_newer(hass, {**LOW, "commonest_unread_reason": "lens_on_fire"})
    assert hass.states.get(SS67_REASON).state == "other"


async def test_repair_raised_while_low_and_cleared(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    """A station the engine flags `low` gets a repair naming it, its rate now and normally; it
    goes when the engine clears the flag, and when the engine stops reporting the station."""
    await publish_engine(hass)
    assert _issue(hass, setup_integration, "st01_ss67_est") is None

    await _publish(hass, st01_ss67_est=LOW, st09_pomino=RECOVERED)
    issue = _issue(hass, setup_integration, "st01_ss67_est")
    assert issue is not None
    assert issue.severity is ir.IssueSeverity.WARNING
    assert issue.translation_key == ISSUE_READ_QUALITY_LOW
    assert issue.translation_placeholders == {
        "instance": INSTANCE,
        "station": "SS67 ingresso est",
        "rate": "58%",
        "normal": "93%",
        "vehicles": "31",
    }
    assert _issue(hass, setup_integration, "st09_pomino") is None

    await _publish(hass, st01_ss67_est=RECOVERED)
    assert _issue(hass, setup_integration, "st01_ss67_est") is None

    await _publish(hass, st09_pomino=LOW)
    assert _issue(hass, setup_integration, "st09_pomino") is not None
    stations = payload("stats")["stations"]
    del stations["st09_pomino"]
    fire(hass, "stats", payload("stats", stations=stations))
    await hass.async_block_till_done()
    assert _issue(hass, setup_integration, "st09_pomino") is None


@pytest.mark.parametrize(
    ("language", "title", "no_plate"),
    [
        ("en", "Station SS67 ingresso est reads few plates", "No plate read"),
        ("it", "La postazione SS67 ingresso est legge poche targhe", "Nessuna targa letta"),
    ],
)
async def test_repair_and_reasons_translated(
    hass: HomeAssistant,
    setup_integration: MockConfigEntry,
    language: str,
    title: str,
    no_plate: str,
) -> None:
    """The repair reads the station's name, the rates and what to check, in the language; every
    reason code has its translated state."""
    await publish_engine(hass)
    await _publish(hass, st01_ss67_est=LOW)
    issue = _issue(hass, setup_integration, "st01_ss67_est")
    assert issue is not None
    issues = await async_get_translations(hass, language, "issues", [DOMAIN])
    prefix = f"component.{DOMAIN}.issues.{ISSUE_READ_QUALITY_LOW}"
    placeholders = issue.translation_placeholders or {}
    assert issues[f"{prefix}.title"].format(**placeholders) == title
    description = issues[f"{prefix}.description"].format(**placeholders)
    assert "58%" in description and "93%" in description and "31" in description
    words = {"en": ("lens", "aim", "infrared"), "it": ("obiettivo", "inquadratura", "infrarosso")}
    assert all(word in description for word in words[language])
    entity = await async_get_translations(hass, language, "entity", [DOMAIN])
    state = f"component.{DOMAIN}.entity.sensor.commonest_unread_reason.state"
    names = {code: entity[f"{state}.{code}"] for code in UNREAD_REASONS}
    assert names["no_plate"] == no_plate
    assert len(set(names.values())) == len(UNREAD_REASONS)
