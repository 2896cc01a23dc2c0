"""The engine's privacy reminders (issue 25), from the `privacy` section of `<prefix>/health`:
the data-subject requests and privacy pack entities, and their repair issues."""

from __future__ import annotations

from typing import Any

import pytest

from custom_components.rufina_alpr.const import DOMAIN
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN, EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from homeassistant.helpers.translation import async_get_translations
from pytest_homeassistant_custom_component.common import MockConfigEntry

from .conftest import API_URL, INSTANCE, device_of, fire, payload, publish_engine

REQUESTS = "sensor.rufina_01_subject_requests_open"
PACK = "sensor.rufina_01_privacy_pack"
PRIVACY_PAGE = f"{API_URL}/panel/#/privacy"

CURRENT: dict[str, Any] = {
    "state": "current",
    "generated_at": "2026-11-20T10:00:00+01:00",
    "outdated": [],
    "changed": [],
}
OUTDATED: dict[str, Any] = {
    **CURRENT,
    "state": "outdated",
    "outdated": ["dpia", "notices", "record"],
    "changed": ["stations", "retention"],
}
MISSING: dict[str, Any] = {"state": "missing", "generated_at": None, "outdated": [], "changed": []}
NONE_DUE: dict[str, Any] = {"open": 1, "due_soon": 0, "overdue": 0, "next_due": None}
# Deadlines in UTC; the issue shows them in Home Assistant's time zone (Europe/Rome here).
DUE_SOON: dict[str, Any] = {
    "open": 3,
    "due_soon": 2,
    "overdue": 0,
    "next_due": "2026-12-10T09:30:00+00:00",
}
OVERDUE: dict[str, Any] = {
    "open": 4,
    "due_soon": 1,
    "overdue": 2,
    "next_due": "2026-11-30T23:30:00+00:00",
}


def _health(pack: dict[str, Any], requests: dict[str, Any]) -> dict[str, Any]:
    """The health fixture with a privacy section, checked against the engine's schema."""
    return payload("health", privacy={"pack": pack, "requests": requests})


def _issue(hass: HomeAssistant, kind: str, entry: MockConfigEntry) -> ir.IssueEntry | None:
    return ir.async_get(hass).async_get_issue(DOMAIN, f"{kind}_{entry.entry_id}")


def _domain_issues(hass: HomeAssistant) -> list[str]:
    return sorted(issue_id for domain, issue_id in ir.async_get(hass).issues if domain == DOMAIN)


@pytest.fixture
async def rome(hass: HomeAssistant) -> None:
    """Home Assistant set to the comune's time zone."""
    await hass.config.async_set_time_zone("Europe/Rome")


async def _publish(hass: HomeAssistant, health: dict[str, Any]) -> None:
    """The engine's health as a subscriber already there receives it (not flagged retained)."""
    fire(hass, "health", health)
    await hass.async_block_till_done()


async def test_privacy_entities(hass: HomeAssistant, setup_integration: MockConfigEntry) -> None:
    """Requests open (with their deadlines) and the pack's state, on the engine device; counts
    and document ids only."""
    await publish_engine(hass)
    assert hass.states.get(REQUESTS).state == STATE_UNKNOWN
    assert hass.states.get(PACK).state == STATE_UNKNOWN

    await _publish(hass, _health(OUTDATED, OVERDUE))
    requests = hass.states.get(REQUESTS)
    assert requests.state == "4"
    assert requests.attributes["state_class"] == "measurement"
    assert requests.attributes["unit_of_measurement"] == "requests"
    assert requests.attributes["due_soon"] == 1
    assert requests.attributes["overdue"] == 2
    assert requests.attributes["next_due"] == "2026-11-30T23:30:00+00:00"
    pack = hass.states.get(PACK)
    assert pack.state == "outdated"
    assert pack.attributes["device_class"] == "enum"
    assert pack.attributes["options"] == ["current", "outdated", "missing"]
    assert pack.attributes["generated_at"] == "2026-11-20T10:00:00+01:00"
    assert pack.attributes["outdated"] == ["dpia", "notices", "record"]
    assert pack.attributes["changed"] == ["stations", "retention"]

    entities = er.async_get(hass)
    engine = device_of(hass, INSTANCE)
    assert engine is not None
    requests_entry = entities.async_get(REQUESTS)
    assert requests_entry.unique_id == f"{INSTANCE}_subject_requests_open"
    assert requests_entry.device_id == engine.id
    assert requests_entry.entity_category is None
    pack_entry = entities.async_get(PACK)
    assert pack_entry.unique_id == f"{INSTANCE}_privacy_pack"
    assert pack_entry.device_id == engine.id
    assert pack_entry.entity_category is EntityCategory.DIAGNOSTIC

    await _publish(hass, _health(MISSING, NONE_DUE))
    assert hass.states.get(REQUESTS).state == "1"
    assert hass.states.get(REQUESTS).attributes["next_due"] is None
    assert hass.states.get(PACK).state == "missing"
    assert hass.states.get(PACK).attributes["generated_at"] is None

    # The engine's last will: its reminders are as stale as the rest of its health.
    fire(hass, "status", payload("status_offline"))
    await hass.async_block_till_done()
    assert hass.states.get(REQUESTS).state == STATE_UNAVAILABLE
    assert hass.states.get(PACK).state == STATE_UNAVAILABLE


async def test_requests_repair(
    hass: HomeAssistant, rome: None, setup_integration: MockConfigEntry
) -> None:
    """A warning while requests are due within 7 days, an error once one is overdue, with the
    counts and the next deadline in Home Assistant's time zone; gone when none is due."""
    await publish_engine(hass)
    await _publish(hass, _health(CURRENT, NONE_DUE))
    assert _issue(hass, "subject_requests", setup_integration) is None

    await _publish(hass, _health(CURRENT, DUE_SOON))
    issue = _issue(hass, "subject_requests", setup_integration)
    assert issue is not None
    assert issue.translation_key == "subject_requests_due"
    assert issue.severity is ir.IssueSeverity.WARNING
    assert issue.learn_more_url == PRIVACY_PAGE
    assert not issue.is_fixable
    assert issue.translation_placeholders == {
        "instance": INSTANCE,
        "open": "3",
        "due_soon": "2",
        "overdue": "0",
        "next_due": "2026-12-10 10:30 CET",
    }

    await _publish(hass, _health(CURRENT, OVERDUE))
    issue = _issue(hass, "subject_requests", setup_integration)
    assert issue is not None
    assert issue.translation_key == "subject_requests_overdue"
    assert issue.severity is ir.IssueSeverity.ERROR
    assert issue.translation_placeholders["overdue"] == "2"
    assert issue.translation_placeholders["next_due"] == "2026-12-01 00:30 CET"

    await _publish(hass, _health(CURRENT, NONE_DUE))
    assert _issue(hass, "subject_requests", setup_integration) is None


async def test_pack_repair(
    hass: HomeAssistant, rome: None, setup_integration: MockConfigEntry
) -> None:
    """A warning naming the documents out of date and what changed, or saying none was made;
    gone once the pack matches the configuration."""
    await publish_engine(hass)
    await _publish(hass, _health(OUTDATED, NONE_DUE))
    issue = _issue(hass, "privacy_pack", setup_integration)
    assert issue is not None
    assert issue.translation_key == "privacy_pack_outdated"
    assert issue.severity is ir.IssueSeverity.WARNING
    assert issue.learn_more_url == PRIVACY_PAGE
    assert issue.translation_placeholders == {
        "instance": INSTANCE,
        "documents": "dpia, notices, record",
        "sections": "stations, retention",
        "generated_at": "2026-11-20 10:00 CET",
    }
    assert _issue(hass, "subject_requests", setup_integration) is None

    await _publish(hass, _health(MISSING, NONE_DUE))
    issue = _issue(hass, "privacy_pack", setup_integration)
    assert issue is not None
    assert issue.translation_key == "privacy_pack_missing"
    assert issue.translation_placeholders == {"instance": INSTANCE}

    await _publish(hass, _health(CURRENT, NONE_DUE))
    assert _issue(hass, "privacy_pack", setup_integration) is None


async def test_older_engine_changes_nothing(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    """A health payload without `privacy` (an engine older than issue 25) raises nothing and
    clears nothing; the entities stay unknown."""
    await publish_engine(hass)
    await _publish(hass, payload("health"))
    assert _domain_issues(hass) == []
    assert hass.states.get(REQUESTS).state == STATE_UNKNOWN
    assert hass.states.get(PACK).state == STATE_UNKNOWN
    assert setup_integration.runtime_data.health.privacy is None

    await _publish(hass, _health(MISSING, OVERDUE))
    await _publish(hass, payload("health"))
    assert _issue(hass, "subject_requests", setup_integration) is not None
    assert _issue(hass, "privacy_pack", setup_integration) is not None
    assert hass.states.get(REQUESTS).state == STATE_UNKNOWN


async def test_malformed_privacy_section_is_rejected(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    """A privacy section that breaks the contract drops the payload; the last good one stays."""
    await publish_engine(hass)
    await _publish(hass, _health(CURRENT, DUE_SOON))
    good = payload("health")
    fire(hass, "health", {**good, "privacy": {"pack": {"state": "stale"}, "requests": NONE_DUE}})
    fire(hass, "health", {**good, "privacy": {"pack": CURRENT, "requests": {"open": -1}}})
    await hass.async_block_till_done()
    hub = setup_integration.runtime_data
    assert hub.rejected == {"health": 2}
    assert hass.states.get(REQUESTS).state == "3"
    assert hass.states.get(PACK).state == "current"


@pytest.mark.parametrize("language", ["en", "it"])
async def test_reminders_translated(
    hass: HomeAssistant, setup_integration: MockConfigEntry, language: str
) -> None:
    """Each issue's text takes exactly the placeholders it is raised with; the pack's states
    are translated."""
    await publish_engine(hass)
    issues = await async_get_translations(hass, language, "issues", [DOMAIN])
    entity = await async_get_translations(hass, language, "entity", [DOMAIN])
    texts: list[str] = []
    for pack, requests in ((OUTDATED, DUE_SOON), (MISSING, OVERDUE)):
        await _publish(hass, _health(pack, requests))
        for kind in ("subject_requests", "privacy_pack"):
            issue = _issue(hass, kind, setup_integration)
            assert issue is not None
            prefix = f"component.{DOMAIN}.issues.{issue.translation_key}"
            for part in ("title", "description"):
                texts.append(issues[f"{prefix}.{part}"].format(**issue.translation_placeholders))
    assert all(INSTANCE in text for text in texts)
    state = f"component.{DOMAIN}.entity.sensor.privacy_pack.state"
    names = {key: entity[f"{state}.{key}"] for key in ("current", "outdated", "missing")}
    expected = {
        "en": {"current": "Up to date", "outdated": "Out of date", "missing": "Not generated"},
        "it": {"current": "Aggiornata", "outdated": "Da aggiornare", "missing": "Non generata"},
    }
    assert names == expected[language]
