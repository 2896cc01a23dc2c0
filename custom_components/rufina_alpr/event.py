"""Event entities: each plate-reading station's transits, alerts and what became of them."""

from __future__ import annotations

from typing import Any

from homeassistant.components.event import EventEntity, EventEntityDescription
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import (
    EVENT_TYPE_ALERT_CONFIRMED,
    EVENT_TYPE_ALERT_HANDLED,
    EVENT_TYPE_ALERT_WITHDRAWN,
    TRIGGER_HOTLIST_MATCH,
    TRIGGER_TRANSIT,
)
from .entity import RufinaAlprStationEntity
from .hub import RufinaAlprConfigEntry
from .models import AlertUpdate, Station, Transit

PARALLEL_UPDATES = 0

TRANSIT = EventEntityDescription(
    key="transit",
    translation_key="transit",
    event_types=[
        TRIGGER_TRANSIT,
        TRIGGER_HOTLIST_MATCH,
        EVENT_TYPE_ALERT_CONFIRMED,
        EVENT_TYPE_ALERT_WITHDRAWN,
        EVENT_TYPE_ALERT_HANDLED,
    ],
)

# The event type of each `change` of an alert; the other changes are steps of its handling.
_ALERT_EVENT_TYPES = {
    "confirmed": EVENT_TYPE_ALERT_CONFIRMED,
    "withdrawn": EVENT_TYPE_ALERT_WITHDRAWN,
}


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


def _alert_attributes(update: AlertUpdate) -> dict[str, Any]:
    return {
        "alert_id": update.alert_id,
        "alert_kind": update.alert_kind,
        "status": update.status,
        "state": update.state,
        "change": update.change,
        "transit_id": update.transit_id,
        "station": update.station,
        "list": update.list,
        "priority": update.priority,
        "plate": update.plate,
        "reason": update.reason,
        "outcome": update.outcome,
        "by": update.by,
        "time": update.time.isoformat() if update.time else None,
    }


class RufinaAlprTransitEvent(RufinaAlprStationEntity, EventEntity):
    """Fires `transit` for every vehicle passage, `hotlist_match` for alerts, and
    `alert_confirmed`, `alert_withdrawn` (no one should act on it) or `alert_handled` (a step
    of an operator) for what became of them.

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
        self.async_on_remove(
            self.hub.listeners.async_add(self.station_key("alert"), self._handle_alert)
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
        related = match.related_transit
        attributes.update(
            {
                "list": match.list,
                "list_name": self.hub.lists.list_name(match),
                "score": match.score,
                "match": match.match,
                "action": match.action,
                "alert_id": match.alert_id,
                "status": match.status,
                "alert_kind": match.alert_kind,
                "related_transit_id": related.id if related else None,
                "related_station": related.station if related else None,
                "related_time": related.time.isoformat() if related and related.time else None,
            }
        )
        self._trigger_event(TRIGGER_HOTLIST_MATCH, attributes)
        self.async_write_ha_state()

    @callback
    def _handle_alert(self) -> None:
        update = self.hub.alert_updates[self.station_id]
        event_type = _ALERT_EVENT_TYPES.get(update.change, EVENT_TYPE_ALERT_HANDLED)
        self._trigger_event(event_type, _alert_attributes(update))
        self.async_write_ha_state()
