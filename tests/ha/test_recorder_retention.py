"""Home Assistant's recorder keeps no plate of the integration's past the engine's retention
(issue 21, 3): transit events carry none, attributes holding plates are not recorded, and the
plate states and events are deleted once older than the retention the engine announces."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
import pytest

from custom_components.rufina_alpr.const import EVENT_HOTLIST_MATCH, EVENT_TRANSIT
from homeassistant.core import HomeAssistant
from homeassistant.helpers.recorder import get_instance, session_scope
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_mock_service
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from .conftest import fire, payload, publish_engine

LAST_PLATE = "sensor.rufina_01_st01_ss67_est_last_plate"


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(recorder_mock: Any, enable_custom_integrations: None) -> None:
    """The recorder first: it must be set up before Home Assistant is (the harness' rule)."""


def _plates_in_recorder(hass: HomeAssistant) -> dict[str, int]:
    """Rows of the recorder that hold this test's plates: events and states, by kind."""
    from sqlalchemy import func  # noqa: PLC0415

    from homeassistant.components.recorder.db_schema import (  # noqa: PLC0415
        EventData,
        Events,
        EventTypes,
        StateAttributes,
        States,
        StatesMeta,
    )

    with session_scope(hass=hass, read_only=True) as session:
        events = (
            session.query(Events)
            .join(EventTypes, Events.event_type_id == EventTypes.event_type_id)
            .filter(EventTypes.event_type.in_((EVENT_TRANSIT, EVENT_HOTLIST_MATCH)))
            .count()
        )
        plate_data = (
            session.query(EventData)
            .filter(func.replace(EventData.shared_data, " ", "").like("%GA456BC%"))
            .count()
        )
        states = (
            session.query(States)
            .join(StatesMeta, States.metadata_id == StatesMeta.metadata_id)
            .filter(StatesMeta.entity_id == LAST_PLATE, States.state.in_(("FB123XY", "GA456BC")))
            .count()
        )
        attributes = (
            session.query(StateAttributes)
            .filter(StateAttributes.shared_attrs.like("%GA456BC%"))
            .count()
        )
    return {"events": events, "event_data": plate_data, "states": states, "attributes": attributes}


async def test_the_recorder_keeps_no_plate_past_the_engine_retention(
    hass: HomeAssistant,
    setup_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A hotlist match, its event and the notification an automation sent for it are in the
    recorder; past the retention none is."""
    async_mock_service(hass, "notify", "pattuglia")
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": {
                "triggers": {"trigger": "event", "event_type": EVENT_HOTLIST_MATCH},
                "actions": {
                    "action": "notify.pattuglia",
                    "data": {"message": "{{ trigger.event.data.transit.display }}"},
                },
            }
        },
    )
    await publish_engine(hass)
    fire(hass, "transit", payload("transit", id="2a1c0d6a-8b1e-5f5c-b0c4-2a6a8c3f1e11"))
    fire(hass, "hotlist_match", payload("hotlist_match"))
    await hass.async_block_till_done()
    await async_wait_recording_done(hass)
    held = await get_instance(hass).async_add_executor_job(_plates_in_recorder, hass)
    # the match's event and the notification: the transit's event has no plate
    assert held["events"] == 2 and held["event_data"] == 2
    assert held["states"] >= 1
    assert held["attributes"] == 0, "plates in attributes stay out of the recorder"

    # the engine keeps plates 6 hours; 7 hours later, the integration's hourly check
    fire(hass, "stats", payload("stats", retention_days=0.25))
    await hass.async_block_till_done()
    freezer.tick(timedelta(hours=7))
    assert setup_integration.runtime_data.async_purge_plates()
    await hass.async_block_till_done()
    await async_wait_recording_done(hass)
    held = await get_instance(hass).async_add_executor_job(_plates_in_recorder, hass)
    assert held == {"events": 0, "event_data": 0, "states": 0, "attributes": 0}
