"""The blueprints in blueprints/automation/rufina_alpr, in a real (test) Home Assistant.

Each blueprint is validated with Home Assistant's own blueprint schema, an automation is created
from it, and the engine's real-shaped MQTT messages (fixtures validated against the engine's
schemas) go through the integration, which fires the bus events the automations listen to. The
notify action is a mock that records its calls.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from datetime import datetime, timedelta
from pathlib import Path
import shutil
from typing import Any
from urllib.parse import unquote

from freezegun.api import FrozenDateTimeFactory
import pytest

from custom_components.rufina_alpr.api import ACTING_USER_HEADER
from custom_components.rufina_alpr.const import CONF_OPERATORS
from homeassistant.components.automation.config import AUTOMATION_BLUEPRINT_SCHEMA
from homeassistant.components.blueprint import models
from homeassistant.const import STATE_ON
from homeassistant.core import Context, HomeAssistant, ServiceCall
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from homeassistant.util.yaml import load_yaml_dict
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    MockUser,
    async_fire_time_changed,
    async_mock_service,
)
from pytest_homeassistant_custom_component.test_util.aiohttp import AiohttpClientMocker

from .conftest import API_URL, INSTANCE, REPO, device_of, fire, payload, publish_engine

BLUEPRINTS = REPO / "blueprints" / "automation" / "rufina_alpr"
NAMES = ("alert_actionable", "hotlist_alert", "night_watch", "repeated_visits", "station_offline")
SS67 = "st01_ss67_est"
POMINO = "st09_pomino"
ROME = dt_util.get_time_zone("Europe/Rome")


def station_device(hass: HomeAssistant, station_id: str) -> str:
    device = device_of(hass, f"{INSTANCE}_{station_id}")
    assert device is not None
    return device.id


def station_events(station_id: str) -> str:
    """A station's transit event entity (the night watch and repeated visits listen to it)."""
    return f"event.{INSTANCE.replace('-', '_')}_{station_id}_transit"


def at(hour: int, minute: int = 0) -> datetime:
    """A time of 25 November 2026 in Rufina."""
    return datetime(2026, 11, 25, hour, minute, tzinfo=ROME)


@pytest.fixture
def notify(hass: HomeAssistant) -> list[ServiceCall]:
    """notify.pattuglia: the calls the automations make."""
    return async_mock_service(hass, "notify", "pattuglia")


@pytest.fixture
async def engine(
    hass: HomeAssistant, setup_integration: MockConfigEntry, tmp_path: Path
) -> AsyncGenerator[MockConfigEntry]:
    """The integration with the engine's retained topics, blueprints in the config folder."""
    await hass.config.async_set_time_zone("Europe/Rome")
    hass.config.config_dir = str(tmp_path)
    shutil.copytree(BLUEPRINTS, tmp_path / "blueprints" / "automation" / "rufina_alpr")
    await publish_engine(hass)
    yield setup_integration
    # automations off: their time triggers must not outlive the test
    if hass.services.has_service("automation", "turn_off"):
        await hass.services.async_call(
            "automation", "turn_off", {"entity_id": "all"}, blocking=True
        )
        await hass.async_block_till_done()


async def use_blueprint(hass: HomeAssistant, name: str, inputs: dict[str, Any]) -> str:
    """Create one automation from a blueprint; its entity id (checked to be valid and on)."""
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": [
                {
                    "id": name,
                    "alias": name,
                    "use_blueprint": {"path": f"rufina_alpr/{name}.yaml", "input": inputs},
                }
            ]
        },
    )
    await hass.async_block_till_done()
    entity_id = f"automation.{name}"
    state = hass.states.get(entity_id)
    assert state is not None and state.state == STATE_ON, f"{name}: {state}"
    return entity_id


# --------------------------------------------------------------------------------- validation
@pytest.mark.parametrize("name", NAMES)
def test_blueprint_is_valid(name: str) -> None:
    """Home Assistant's blueprint schema, domain, version and importable source URL."""
    path = BLUEPRINTS / f"{name}.yaml"
    blueprint = models.Blueprint(
        load_yaml_dict(path), path=str(path), expected_domain="automation",
        schema=AUTOMATION_BLUEPRINT_SCHEMA,
    )  # fmt: skip
    assert blueprint.validate() is None
    metadata = blueprint.metadata
    assert metadata["name"].startswith("Rufina ALPR - ")
    assert metadata["source_url"] == (
        "https://github.com/rufina-alpr/rufina-alpr/blob/main/blueprints/automation/"
        f"rufina_alpr/{name}.yaml"
    )
    assert len(metadata["description"]) > 80
    inputs = blueprint.inputs
    assert {"notify_actions", "notify_devices"} & set(inputs)
    for key, spec in inputs.items():
        assert spec and spec.get("name"), f"input {key} has no name"
        assert "/" in spec["name"], f"input {key}: English / Italian label"


def test_every_blueprint_is_tested() -> None:
    assert sorted(path.stem for path in BLUEPRINTS.glob("*.yaml")) == sorted(NAMES)


# ------------------------------------------------------------------------------ hotlist alert
@pytest.fixture
def channels(hass: HomeAssistant) -> tuple[list[ServiceCall], list[ServiceCall]]:
    """notify.send_message (notify entities) and Home Assistant's own notifications."""
    return (
        async_mock_service(hass, "notify", "send_message"),
        async_mock_service(hass, "persistent_notification", "create"),
    )


def _match(match: dict[str, Any], transit_id: str, time: str, **changes: Any) -> dict[str, Any]:
    """The fixture's match on another transit (the same vehicle passing again, or another)."""
    return {**match, "transit": {**match["transit"], "id": transit_id, "time": time}, **changes}


async def test_hotlist_alert_notifies_with_crop_and_urgency(
    hass: HomeAssistant,
    engine: MockConfigEntry,
    channels: tuple[list[ServiceCall], list[ServiceCall]],
) -> None:
    entities, persistent = channels
    await use_blueprint(
        hass,
        "hotlist_alert",
        {
            "lists": ["Veicoli rubati"],  # a list's name, as operators know it
            "stations": [station_device(hass, POMINO)],
            "notify_entities": ["notify.pattuglia"],
        },
    )
    fire(hass, "hotlist_match", payload("hotlist_match"))
    await hass.async_block_till_done()
    assert len(entities) == 1 and len(persistent) == 1
    data = entities[0].data
    assert data["entity_id"] == ["notify.pattuglia"]
    assert data["title"] == "URGENTE: Targa segnalata GA 456 BC (Veicoli rubati)"
    assert data["message"] == (
        "GA 456 BC letta a Pomino alle 08:33:21 (in uscita, auto): lista Veicoli rubati, "
        "corrispondenza esatta 100%, azione allarme - Furto denunciato il 2026-11-20."
    )
    assert persistent[0].data["title"] == data["title"]
    assert persistent[0].data["notification_id"] == (
        "rufina_alpr_5d1c0d6a-8b1e-5f5c-b0c4-2a6a8c3f1e77_stolen"
    )


async def test_hotlist_alert_on_patrol_phones(
    hass: HomeAssistant,
    engine: MockConfigEntry,
    channels: tuple[list[ServiceCall], list[ServiceCall]],
) -> None:
    """A companion-app phone chosen as a device gets a push with the crop and urgency; a phone
    whose app is gone does not keep Home Assistant's own notification from being made."""
    phones = MockConfigEntry(domain="mobile_app")
    phones.add_to_hass(hass)
    devices = dr.async_get(hass)
    patrol = devices.async_get_or_create(
        config_entry_id=phones.entry_id, identifiers={("mobile_app", "p1")}, name="Pattuglia 1"
    )
    gone = devices.async_get_or_create(
        config_entry_id=phones.entry_id, identifiers={("mobile_app", "p2")}, name="Vecchio tablet"
    )
    pushes = async_mock_service(hass, "notify", "mobile_app_pattuglia_1")
    await use_blueprint(hass, "hotlist_alert", {"notify_devices": [patrol.id, gone.id]})
    fire(hass, "hotlist_match", payload("hotlist_match"))
    await hass.async_block_till_done()
    assert len(pushes) == 1 and len(channels[1]) == 1
    data = pushes[0].data
    assert data["title"] == "URGENTE: Targa segnalata GA 456 BC (Veicoli rubati)"
    assert data["data"]["priority"] == "high"
    assert data["data"]["push"] == {"interruption-level": "time-sensitive"}
    assert data["data"]["image"] == "/api/image_proxy/image.rufina_01_st09_pomino_plate_crop"
    assert data["data"]["tag"] == "rufina_alpr_GA456BC_stolen"


async def test_hotlist_alert_in_english_without_persistent(
    hass: HomeAssistant,
    engine: MockConfigEntry,
    channels: tuple[list[ServiceCall], list[ServiceCall]],
) -> None:
    entities, persistent = channels
    await use_blueprint(
        hass,
        "hotlist_alert",
        {"notify_entities": ["notify.centrale"], "persistent": False, "language": "en"},
    )
    fire(hass, "hotlist_match", {**payload("hotlist_match"), "action": "stop_and_check"})
    await hass.async_block_till_done()
    assert persistent == []
    assert entities[0].data["message"] == (
        "GA 456 BC read at Pomino at 08:33:21 (outbound, car): list Veicoli rubati, match exact "
        "100%, "
        "action stop and check - Furto denunciato il 2026-11-20."
    )


async def test_hotlist_alert_never_drops_another_match(
    hass: HomeAssistant,
    engine: MockConfigEntry,
    channels: tuple[list[ServiceCall], list[ServiceCall]],
) -> None:
    """Matches close together are all notified (parallel runs, no automation-wide cooldown: the
    engine's own is per plate and station); lists and stations not chosen are not, and a
    redelivered match is dropped by the hub."""
    entities, _ = channels
    await use_blueprint(
        hass,
        "hotlist_alert",
        {
            "lists": ["stolen", "uninsured"],
            "stations": [station_device(hass, POMINO)],
            "notify_entities": ["notify.pattuglia"],
            "persistent": False,
            "urgent_priority": 1,
        },
    )
    match = payload("hotlist_match")
    fire(hass, "hotlist_match", _match(match, "5d1c0d6a-8b1e-5f5c-b0c4-2a6a8c3f1e70",
                                       "2026-11-25T08:30:00+01:00", list="watch"))  # fmt: skip
    elsewhere = {**match["transit"], "id": "5d1c0d6a-8b1e-5f5c-b0c4-2a6a8c3f1e71", "station": SS67}
    fire(hass, "hotlist_match", {**match, "transit": elsewhere})  # a station not chosen
    await hass.async_block_till_done()
    assert entities == []

    fire(hass, "hotlist_match", match)  # 08:33:21 stolen
    fire(  # 42 s later, another vehicle on another list
        hass,
        "hotlist_match",
        _match(
            match, "5d1c0d6a-8b1e-5f5c-b0c4-2a6a8c3f1e80", "2026-11-25T08:34:03+01:00",
            list="uninsured", list_name=None, entry_plate="EX407TR", read_plate="EX407TR",
            priority=3, alert_id="b1d4f0a3-2c5e-4d7f-8a9b-3c6e9f2b4e81",
        ),
    )  # fmt: skip
    fire(hass, "hotlist_match", match)  # a QoS 1 redelivery of the first
    await hass.async_block_till_done()
    assert sorted(call.data["title"] for call in entities) == [
        "Targa segnalata GA 456 BC (Senza assicurazione)",
        "URGENTE: Targa segnalata GA 456 BC (Veicoli rubati)",
    ]
    # the stolen car seen again two minutes later (a new match from the engine): notified
    fire(
        hass,
        "hotlist_match",
        _match(match, "5d1c0d6a-8b1e-5f5c-b0c4-2a6a8c3f1e78", "2026-11-25T08:35:21+01:00"),
    )
    await hass.async_block_till_done()
    assert len(entities) == 3


async def test_hotlist_alert_of_an_alert_with_no_list(
    hass: HomeAssistant,
    engine: MockConfigEntry,
    channels: tuple[list[ServiceCall], list[ServiceCall]],
) -> None:
    """An impossible journey has no list: its kind in the title, no list in the text."""
    entities, _ = channels
    await use_blueprint(
        hass, "hotlist_alert", {"notify_entities": ["notify.pattuglia"], "persistent": False}
    )
    fire(
        hass,
        "hotlist_match",
        payload(
            "hotlist_match", alert_kind="impossible_journey", list=None, list_name=None,
            entry_plate=None, priority=None, reason="vista a SS67 12 minuti prima",
        ),
    )  # fmt: skip
    await hass.async_block_till_done()
    (call,) = entities
    assert call.data["title"] == "Percorso impossibile GA 456 BC"
    assert call.data["message"] == (
        "GA 456 BC letta a Pomino alle 08:33:21 (in uscita, auto): corrispondenza esatta 100%, "
        "azione allarme - vista a SS67 12 minuti prima."
    )


# ------------------------------------------------------------------------- actionable alert
ALERT_ID = "a7c3e9d2-4f1b-4e8a-9c6d-2b5f8e1a3d70"
STEPS = f"/api/v1/alerts/{ALERT_ID}/steps"


@pytest.fixture
async def patrol(hass: HomeAssistant) -> tuple[str, list[ServiceCall]]:
    """A patrol phone with the companion app: its device id and the pushes it gets."""
    phones = MockConfigEntry(domain="mobile_app")
    phones.add_to_hass(hass)
    phone = dr.async_get(hass).async_get_or_create(
        config_entry_id=phones.entry_id, identifiers={("mobile_app", "p1")}, name="Pattuglia 1"
    )
    return phone.id, async_mock_service(hass, "notify", "mobile_app_pattuglia_1")


async def settle(hass: HomeAssistant) -> None:
    """Let the messages and the automation's runs go on as far as they can: up to their wait
    for a button (`async_block_till_done` would wait for the end of the wait, and time out)."""
    for _ in range(25):
        await asyncio.sleep(0.01)


def _press(hass: HomeAssistant, action: str, user_id: str | None) -> None:
    """A notification's button pressed on a phone: the app fires the event as the phone's user."""
    hass.bus.async_fire(
        "mobile_app_notification_action", {"action": action}, context=Context(user_id=user_id)
    )


def _steps(engine_api: AiohttpClientMocker) -> list[tuple[Any, ...]]:
    return [call for call in engine_api.mock_calls if call[1].path == STEPS]


@pytest.mark.parametrize(
    ("button", "body"),
    [
        ("ACK", {"step": "acknowledge"}),
        ("REJECT", {"step": "reject", "reason": "wrong_vehicle"}),
    ],
)
async def test_alert_actionable_records_the_answer_of_the_phones_user(
    hass: HomeAssistant,
    *,
    engine: MockConfigEntry,
    engine_api: AiohttpClientMocker,
    patrol: tuple[str, list[ServiceCall]],
    hass_read_only_user: MockUser,
    button: str,
    body: dict[str, Any],
) -> None:
    """The alert goes to the phone with two buttons; a press of one of them (by an operator)
    takes that step on the engine under the operator's name."""
    phone, pushes = patrol
    hass.config_entries.async_update_entry(
        engine, options={**engine.options, CONF_OPERATORS: [hass_read_only_user.id]}
    )
    engine_api.post(f"{API_URL}{STEPS}", json={"id": ALERT_ID, "state": "acknowledged"})
    await use_blueprint(
        hass,
        "alert_actionable",
        {"notify_devices": [phone], "reject_reason": "wrong_vehicle", "language": "en"},
    )
    fire(hass, "hotlist_match", payload("hotlist_match"))
    await settle(hass)
    (push,) = pushes
    assert push.data["title"] == "Hotlist plate GA 456 BC (Veicoli rubati)"
    assert push.data["message"] == (
        "GA 456 BC read at Pomino at 08:33:21, list Veicoli rubati - Furto denunciato il "
        "2026-11-20 (vehicle still in view, to be confirmed)"
    )
    extra = push.data["data"]
    assert extra["tag"] == f"rufina_alpr_alert_{ALERT_ID}"
    assert extra["actions"] == [
        {"action": f"RUFINA_ALPR_ACK_{ALERT_ID}", "title": "Acknowledge"},
        {"action": f"RUFINA_ALPR_REJECT_{ALERT_ID}", "title": "Reject"},
    ]

    _press(hass, "RUFINA_ALPR_ACK_another-alert", hass_read_only_user.id)  # another alert's
    await settle(hass)
    assert _steps(engine_api) == []
    _press(hass, f"RUFINA_ALPR_{button}_{ALERT_ID}", hass_read_only_user.id)
    await settle(hass)
    (call,) = _steps(engine_api)
    assert call[2] == body
    assert unquote(call[3][ACTING_USER_HEADER]) == (
        f"{hass_read_only_user.name} (Home Assistant user {hass_read_only_user.id})"
    )
    _press(hass, f"RUFINA_ALPR_{button}_{ALERT_ID}", hass_read_only_user.id)  # pressed again
    await settle(hass)
    assert len(_steps(engine_api)) == 1, "the run has ended"


async def test_alert_actionable_records_nothing_for_a_user_who_is_no_operator(
    hass: HomeAssistant,
    engine: MockConfigEntry,
    engine_api: AiohttpClientMocker,
    patrol: tuple[str, list[ServiceCall]],
    hass_read_only_user: MockUser,
) -> None:
    engine_api.post(f"{API_URL}{STEPS}", json={"id": ALERT_ID})
    await use_blueprint(hass, "alert_actionable", {"notify_devices": [patrol[0]]})
    fire(hass, "hotlist_match", payload("hotlist_match"))
    await settle(hass)
    _press(hass, f"RUFINA_ALPR_REJECT_{ALERT_ID}", hass_read_only_user.id)
    await settle(hass)
    assert _steps(engine_api) == []


async def test_alert_actionable_withdrawal_replaces_the_notification(
    hass: HomeAssistant,
    engine: MockConfigEntry,
    engine_api: AiohttpClientMocker,
    patrol: tuple[str, list[ServiceCall]],
    hass_admin_user: MockUser,
) -> None:
    """The vehicle's transit withdraws the alert: the phone's notification (same tag) says so
    and loses its buttons; alerts of other kinds or stations are not sent at all."""
    phone, pushes = patrol
    engine_api.post(f"{API_URL}{STEPS}", json={"id": ALERT_ID})
    await use_blueprint(
        hass,
        "alert_actionable",
        {
            "notify_devices": [phone],
            "alert_kinds": ["hotlist", "impossible_journey"],
            "stations": [station_device(hass, POMINO)],
        },
    )
    match = payload("hotlist_match")
    other = {**match["transit"], "id": "5d1c0d6a-8b1e-5f5c-b0c4-2a6a8c3f1e01"}
    fire(hass, "hotlist_match", {**match, "transit": other, "alert_kind": "not_authorised",
                                 "alert_id": "c0ffee00-0000-4000-8000-000000000002"})  # fmt: skip
    elsewhere = {**match["transit"], "id": "5d1c0d6a-8b1e-5f5c-b0c4-2a6a8c3f1e02", "station": SS67}
    fire(hass, "hotlist_match", {**match, "transit": elsewhere,
                                 "alert_id": "c0ffee00-0000-4000-8000-000000000003"})  # fmt: skip
    await settle(hass)
    assert pushes == []

    fire(hass, "hotlist_match", match)
    await settle(hass)
    assert len(pushes) == 1
    assert pushes[0].data["title"] == "Targa segnalata GA 456 BC (Veicoli rubati)"
    fire(hass, "alert", payload("alert", alert_id="c0ffee00-0000-4000-8000-000000000009"))
    await settle(hass)
    assert len(pushes) == 1, "another alert's withdrawal"
    fire(hass, "alert", payload("alert"))
    await settle(hass)
    assert len(pushes) == 2
    notice = pushes[1].data
    assert notice["title"] == "ALLARME RITIRATO: Targa segnalata GA 456 BC (Veicoli rubati)"
    assert notice["message"] == (
        "GA 456 BC: il transito del veicolo non conferma la lettura: non intervenire."
    )
    assert notice["data"]["tag"] == f"rufina_alpr_alert_{ALERT_ID}"
    assert "actions" not in notice["data"]
    _press(hass, f"RUFINA_ALPR_ACK_{ALERT_ID}", hass_admin_user.id)
    await settle(hass)
    assert _steps(engine_api) == [], "a withdrawn alert's buttons do nothing"


async def test_alert_actionable_tells_the_earlier_sighting(
    hass: HomeAssistant,
    engine: MockConfigEntry,
    patrol: tuple[str, list[ServiceCall]],
) -> None:
    """An impossible journey: no list, the earlier station and time instead."""
    phone, pushes = patrol
    await use_blueprint(hass, "alert_actionable", {"notify_devices": [phone]})
    earlier = {
        **payload("transit"),
        "id": "9e0b1c2d-3e4f-5a6b-7c8d-9e0f1a2b3c4d",
        "time": "2026-11-25T08:21:03.500+01:00",
    }
    fire(
        hass,
        "hotlist_match",
        payload(
            "hotlist_match", alert_kind="impossible_journey", status="confirmed", list=None,
            list_name=None, entry_plate=None, reason=None, related_transit=earlier,
        ),
    )  # fmt: skip
    await settle(hass)
    (push,) = pushes
    assert push.data["title"] == "Percorso impossibile GA 456 BC"
    assert push.data["message"] == (
        "GA 456 BC letta a Pomino alle 08:33:21, vista prima a SS67 ingresso est alle 08:21:03"
    )


# -------------------------------------------------------------------------------- night watch
async def test_night_watch(
    hass: HomeAssistant,
    engine: MockConfigEntry,
    notify: list[ServiceCall],
    freezer: FrozenDateTimeFactory,
) -> None:
    await use_blueprint(
        hass,
        "night_watch",
        {
            "stations": [station_events(SS67)],
            "start": "22:00:00",
            "end": "06:00:00",
            "unknown_only": True,
            "known_plates": ["AB 123 CD"],
            "notify_actions": ["notify.pattuglia"],
        },
    )
    night = "2026-11-25T23:41:07.500+01:00"
    freezer.move_to(at(23, 41))
    fire(hass, "transit", payload("transit", time=night, id="2a1c0d6a-8b1e-5f5c-b0c4-2a6a8c3f1e01"))
    await hass.async_block_till_done()
    assert len(notify) == 1
    assert notify[0].data["title"] == "Transito notturno a SS67 ingresso est"
    assert notify[0].data["message"] == "FB 123 XY alle 23:41 (car, inbound)."

    # a known plate, another station, daytime: nothing
    fire(
        hass,
        "transit",
        payload(
            "transit", plate="AB123CD", display="AB 123 CD", time=night,
            id="2a1c0d6a-8b1e-5f5c-b0c4-2a6a8c3f1e02",
        ),
    )  # fmt: skip
    fire(
        hass,
        "transit",
        payload(
            "transit", station=POMINO, station_name="Pomino", camera=POMINO, time=night,
            id="2a1c0d6a-8b1e-5f5c-b0c4-2a6a8c3f1e03",
        ),
    )  # fmt: skip
    freezer.move_to(at(14, 5))
    fire(
        hass,
        "transit",
        payload(
            "transit", time="2026-11-25T14:05:00+01:00", id="2a1c0d6a-8b1e-5f5c-b0c4-2a6a8c3f1e04"
        ),
    )
    await hass.async_block_till_done()
    assert len(notify) == 1

    # past midnight, an uncertain read
    freezer.move_to(at(2, 30) + timedelta(days=1))
    fire(
        hass,
        "transit",
        payload(
            "transit_low_confidence", time="2026-11-26T02:30:00+01:00",
            id="2a1c0d6a-8b1e-5f5c-b0c4-2a6a8c3f1e05",
        ),
    )  # fmt: skip
    await hass.async_block_till_done()
    assert len(notify) == 2
    assert notify[1].data["message"].endswith(", lettura incerta.")


# ---------------------------------------------------------------------------- repeated visits
async def test_repeated_visits_counts_through_the_engine_search(
    hass: HomeAssistant,
    engine: MockConfigEntry,
    notify: list[ServiceCall],
    engine_api: AiohttpClientMocker,
) -> None:
    transit = payload("transit")
    pages = [
        {"total": 2, "limit": 500, "offset": 0, "transits": [transit, transit]},
        {"total": 3, "limit": 500, "offset": 0, "transits": [transit, transit, transit]},
    ]
    engine_api.get(f"{API_URL}/api/v1/transits", json=pages[0])
    await use_blueprint(
        hass,
        "repeated_visits",
        {
            "stations": [station_events(SS67)],
            "visits": 3,
            "window": {"minutes": 30},
            "reason": "Controllo passaggi ripetuti scuola",
            "notify_actions": ["notify.pattuglia"],
        },
    )
    fire(hass, "transit", transit)
    await hass.async_block_till_done()
    assert notify == []  # two visits only
    search = [call for call in engine_api.mock_calls if call[1].path == "/api/v1/transits"]
    assert len(search) == 1
    query = search[0][1].query
    assert query["plate"] == "FB123XY" and query["station"] == SS67
    assert query["reason"] == "Controllo passaggi ripetuti scuola"
    assert datetime.fromisoformat(query["since"]) == datetime.fromisoformat(
        "2026-11-25T07:45:02.120+01:00"
    )

    engine_api.clear_requests()
    engine_api.get(f"{API_URL}/api/v1/info", json={"instance": INSTANCE})
    engine_api.get(f"{API_URL}/api/v1/transits", json=pages[1])
    fire(hass, "transit", payload("transit", id="c4294889-bcd1-5d73-bbe6-a4aa183fce71"))
    await hass.async_block_till_done()
    assert len(notify) == 1
    assert notify[0].data["title"] == "Passaggi ripetuti: FB 123 XY"
    assert notify[0].data["message"] == (
        "FB 123 XY è passata 3 volte da SS67 ingresso est in 30 minuti "
        "(ultimo passaggio alle 08:15)."
    )

    # a station not chosen: no search at all
    engine_api.clear_requests()
    fire(
        hass,
        "transit",
        payload(
            "transit", station=POMINO, station_name="Pomino", camera=POMINO,
            id="c4294889-bcd1-5d73-bbe6-a4aa183fce72",
        ),
    )  # fmt: skip
    await hass.async_block_till_done()
    assert engine_api.call_count == 0
    assert len(notify) == 1


# ------------------------------------------------------------------- engine / station offline
async def test_engine_offline_and_back(
    hass: HomeAssistant,
    engine: MockConfigEntry,
    notify: list[ServiceCall],
    freezer: FrozenDateTimeFactory,
) -> None:
    online = f"binary_sensor.{INSTANCE.replace('-', '_')}_online"
    assert hass.states.get(online).state == STATE_ON
    await use_blueprint(
        hass,
        "station_offline",
        {
            "engine_online": online,
            "offline_for": {"minutes": 5},
            "notify_actions": ["notify.pattuglia"],
        },
    )
    freezer.move_to(at(10, 0))
    fire(hass, "status", payload("status_offline"))
    await hass.async_block_till_done()
    assert hass.states.get(online).state == "off"
    freezer.tick(timedelta(minutes=2))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert notify == []  # not yet five minutes
    freezer.tick(timedelta(minutes=4))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert len(notify) == 1
    assert notify[0].data["title"] == "Rufina ALPR offline"
    assert notify[0].data["message"].startswith("Il motore di lettura targhe non risponde da 10:00")

    fire(hass, "status", payload("status_online"))
    await hass.async_block_till_done()
    assert len(notify) == 2
    assert notify[1].data["message"] == "Il motore di lettura targhe è di nuovo attivo."


async def test_silent_stations(
    hass: HomeAssistant,
    engine: MockConfigEntry,
    notify: list[ServiceCall],
    freezer: FrozenDateTimeFactory,
) -> None:
    online = f"binary_sensor.{INSTANCE.replace('-', '_')}_online"
    last_plate = [
        "sensor.rufina_01_st01_ss67_est_last_plate",
        "sensor.rufina_01_st09_pomino_last_plate",
    ]
    for entity_id in last_plate:
        assert hass.states.get(entity_id) is not None, entity_id
    await use_blueprint(
        hass,
        "station_offline",
        {
            "engine_online": online,
            "last_plate_sensors": last_plate,
            "silent_hours": 6,
            "notify_actions": ["notify.pattuglia"],
        },
    )
    freezer.tick(timedelta(hours=3))
    ss67 = payload(
        "transit", plate="EZ987KL", display="EZ 987 KL", id="c4294889-bcd1-5d73-bbe6-a4aa183fce79"
    )
    fire(hass, "transit", ss67)
    await hass.async_block_till_done()
    freezer.tick(timedelta(hours=4))  # Pomino silent for 7 h, SS67 for 4 h
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert len(notify) == 1
    assert notify[0].data["title"] == "Postazioni senza letture"
    assert notify[0].data["message"] == ("Nessuna targa letta da più di 6 ore: Pomino Last plate.")
    freezer.tick(timedelta(minutes=30))  # still silent: no second alert yet
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert len(notify) == 1
