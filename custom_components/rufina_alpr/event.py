"""Event entities: each plate-reading station's transits and hotlist matches."""

from __future__ import annotations

from typing import Any

from homeassistant.components.event import EventEntity, EventEntityDescription
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import TRIGGER_HOTLIST_MATCH, TRIGGER_TRANSIT
from .entity import RufinaAlprStationEntity
from .hub import RufinaAlprConfigEntry
from .models import Station, Transit

PARALLEL_UPDATES = 0

TRANSIT = EventEntityDescription(
    key="transit",
    translation_key="transit",
    event_types=[TRIGGER_TRANSIT, TRIGGER_HOTLIST_MATCH],
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: RufinaAlprConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """One transit event entity per plate-reading station."""
    hub = entry.runtime_data

    @callback
    def add_station(station: Station) -> None:
        if station.reads_plates:
            async_add_entities([RufinaAlprTransitEvent(hub, station, TRANSIT)])

    entry.async_on_unload(hub.async_add_station_adder(add_station))


def _transit_attributes(transit: Transit) -> dict[str, Any]:
    return {
        "plate": transit.plate,
        "display": transit.display,
        "confidence": transit.confidence,
        "low_confidence": transit.low_confidence,
        "vehicle_class": transit.vehicle,
        "direction": transit.direction,
        "time": transit.time.isoformat() if transit.time else None,
        "transit_id": transit.id,
        "frigate_event_id": transit.event_id,
        "station": transit.station,
        "station_name": transit.payload.get("station_name"),
    }


class RufinaAlprTransitEvent(RufinaAlprStationEntity, EventEntity):
    """Fires `transit` for every vehicle passage and `hotlist_match` for alerts.

    Automations triggered by its state read the plate; the recorder keeps none of it.
    """

    _unrecorded_attributes = frozenset({"plate", "display", "transit_id", "frigate_event_id"})

    async def async_added_to_hass(self) -> None:
        """Listen to live transits and hotlist matches (not to the retained `last`)."""
        await super().async_added_to_hass()
        self.async_on_remove(
            self.hub.listeners.async_add(self.station_key("transit"), self._handle_transit)
        )
        self.async_on_remove(
            self.hub.listeners.async_add(self.station_key("hotlist"), self._handle_hotlist)
        )

    @callback
    def _handle_transit(self) -> None:
        transit = self.hub.live_transits[self.station_id]
        self._trigger_event(TRIGGER_TRANSIT, _transit_attributes(transit))
        self.async_write_ha_state()

    @callback
    def _handle_hotlist(self) -> None:
        match = self.hub.hotlist_matches[self.station_id]
        attributes = _transit_attributes(match.transit)
        attributes.update(
            {"list": match.list, "score": match.score, "match": match.match, "action": match.action}
        )
        self._trigger_event(TRIGGER_HOTLIST_MATCH, attributes)
        self.async_write_ha_state()
