"""The logbook's lines of the integration's bus events: a transit, a hotlist match.

The logbook shows the recorder's events, so a line holds no more than its event: a transit's plate
only when the `plates_in_events` option put it there, a match's plate (an alarm's event carries
the plate the patrol acts on). Home Assistant translates no logbook text: the few words come from
`WORDS`, in the instance's language (English when it has none of its own).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from homeassistant.components.logbook.const import LOGBOOK_ENTRY_MESSAGE, LOGBOOK_ENTRY_NAME
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr

from .const import DOMAIN, EVENT_HOTLIST_MATCH, EVENT_TRANSIT

# The logbook's words, by language: its events' kinds, directions and vehicle classes.
WORDS: Final[Mapping[str, Mapping[str, str]]] = {
    "en": {
        "transit": "transit",
        "hotlist_match": "hotlist match",
        "priority": "priority {priority}",
        "low_confidence": "uncertain read",
        "inbound": "inbound",
        "outbound": "outbound",
        "car": "car",
        "motorcycle": "motorcycle",
        "bus": "bus",
        "truck": "truck",
        "bicycle": "bicycle",
        "van": "van",
    },
    "it": {
        "transit": "transito",
        "hotlist_match": "allarme lista",
        "priority": "priorità {priority}",
        "low_confidence": "lettura incerta",
        "inbound": "in entrata",
        "outbound": "in uscita",
        "car": "auto",
        "motorcycle": "moto",
        "bus": "autobus",
        "truck": "camion",
        "bicycle": "bicicletta",
        "van": "furgone",
    },
}


def words(language: str | None) -> Mapping[str, str]:
    """The logbook's words in a language (`it`, `it-IT`...); English for any other."""
    return WORDS.get((language or "en").split("-")[0].lower(), WORDS["en"])


def _station_name(hass: HomeAssistant, data: Mapping[str, Any], transit: Mapping[str, Any]) -> str:
    """The station's device name (as the user may have renamed it), else the engine's name."""
    device_id = data.get("device_id")
    if isinstance(device_id, str) and (device := dr.async_get(hass).async_get(device_id)):
        return device.name_by_user or device.name or device_id
    return str(transit.get("station_name") or transit.get("station") or DOMAIN)


def _plate(transit: Mapping[str, Any]) -> str | None:
    """The plate the event carries, as read (None when it carries none)."""
    plate = transit.get("display") or transit.get("plate")
    return str(plate) if plate else None


def _transit_parts(said: Mapping[str, str], transit: Mapping[str, Any]) -> list[str]:
    """A transit's direction, vehicle class, plate (if carried) and an uncertain read."""
    parts = [
        said.get(str(value), str(value))
        for value in (transit.get("direction"), transit.get("vehicle"))
        if value
    ]
    if plate := _plate(transit):
        parts.append(plate)
    if transit.get("low_confidence"):
        parts.append(said["low_confidence"])
    return parts


@callback
def async_describe_events(
    hass: HomeAssistant,
    async_describe_event: Callable[[str, str, Callable[[Event], dict[str, str]]], None],
) -> None:
    """Describe the transit and hotlist-match events."""

    @callback
    def describe_transit(event: Event) -> dict[str, str]:
        said = words(hass.config.language)
        data = event.data
        return {
            LOGBOOK_ENTRY_NAME: _station_name(hass, data, data),
            LOGBOOK_ENTRY_MESSAGE: ", ".join([said["transit"], *_transit_parts(said, data)]),
        }

    @callback
    def describe_hotlist_match(event: Event) -> dict[str, str]:
        said = words(hass.config.language)
        data = event.data
        transit = data.get("transit")
        transit = transit if isinstance(transit, Mapping) else {}
        parts = [str(data.get("list_name") or data.get("list") or "-")]
        if data.get("priority") is not None:
            parts.append(said["priority"].format(priority=data["priority"]))
        parts.extend(_transit_parts(said, transit))
        return {
            LOGBOOK_ENTRY_NAME: _station_name(hass, data, transit),
            LOGBOOK_ENTRY_MESSAGE: f"{said['hotlist_match']}: {', '.join(parts)}",
        }

    async_describe_event(DOMAIN, EVENT_TRANSIT, describe_transit)
    async_describe_event(DOMAIN, EVENT_HOTLIST_MATCH, describe_hotlist_match)
