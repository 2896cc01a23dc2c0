"""The alerts the engine raises and what becomes of them: hotlist matches and alert updates.

The hub owns the MQTT subscriptions and hands the `hotlist_match` and `alert` topics' messages to
its `RufinaAlprAlerts`, which reads them through the hub's `PayloadGate` (only what the engine
signed), drops QoS 1 redeliveries, fires the bus events and device triggers, keeps the latest
match and update per station for the event entities and tells the hotlists (`hotlists.py`) of
matches and withdrawn alerts.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from homeassistant.components.mqtt.models import ReceiveMessage
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_send

from .const import EVENT_ALERT_UPDATE, EVENT_HOTLIST_MATCH, LOGGER, SIGNAL_TRIGGER
from .hotlists import RufinaAlprHotlists
from .listeners import RufinaAlprListeners, station_key
from .models import AlertUpdate, HotlistMatch
from .signed import PayloadGate

# Alerts and alert updates remembered to drop QoS 1 redeliveries (at-least-once on the wire).
SEEN_ALERTS = 512


class RufinaAlprAlerts:
    """The alerts of one engine (one config entry): the latest match and update per station."""

    def __init__(
        self,
        hass: HomeAssistant,
        gate: PayloadGate,
        lists: RufinaAlprHotlists,
        listeners: RufinaAlprListeners,
        *,
        event_data: Callable[[str, dict[str, Any]], dict[str, Any]],
        station_known: Callable[[str], bool],
    ) -> None:
        self.hass = hass
        # The hub's: its gate reads and counts, its hotlists and entities are told, its event
        # data carries the ids automations filter on, its stations are the ones kept.
        self.gate = gate
        self.lists = lists
        self.listeners = listeners
        self._event_data = event_data
        self._station_known = station_known
        # The latest hotlist match and alert update (confirmed, withdrawn, handled) per station.
        self.hotlist_matches: dict[str, HotlistMatch] = {}
        self.alert_updates: dict[str, AlertUpdate] = {}
        self._seen_alerts: deque[tuple[str, str, str, str]] = deque(maxlen=SEEN_ALERTS)
        self._seen_updates: deque[tuple[str, str, str]] = deque(maxlen=SEEN_ALERTS)

    @callback
    def async_keep_stations(self, station_ids: Iterable[str]) -> None:
        """Forget the matches and updates of the stations the engine no longer announces."""
        kept = set(station_ids)
        for cache in (self.hotlist_matches, self.alert_updates):
            for station_id in set(cache) - kept:
                del cache[station_id]

    @callback
    def async_on_hotlist_match(self, msg: ReceiveMessage) -> None:
        """A hotlist match (an alert raised): its event, its trigger, its list's latest match."""
        match = self.gate.read(
            "hotlist_match", msg, self.async_on_hotlist_match, HotlistMatch.from_payload
        )
        if match is None:
            return
        # A QoS 1 redelivery repeats the alert (an older engine's has no id).
        alert = (
            str(match.alert_id),
            match.transit.id,
            str(match.list),
            str(match.payload.get("entry_plate")),
        )
        if alert in self._seen_alerts:
            LOGGER.debug("Dropping a repeated hotlist match of transit %s", match.transit.id)
            return
        self._seen_alerts.append(alert)
        self.gate.count("hotlist_match")
        station_id = match.transit.station
        LOGGER.debug(
            "Alert %s (%s, %s) on list %s at station %s",
            match.alert_id,
            match.alert_kind,
            match.status,
            match.list,
            station_id,
        )
        data = self._event_data(station_id, match.payload) | self._alert_context(match)
        async_dispatcher_send(self.hass, SIGNAL_TRIGGER, EVENT_HOTLIST_MATCH, data)
        # An alarm's event carries the plate the patrol acts on (purged at the retention).
        self.hass.bus.async_fire(EVENT_HOTLIST_MATCH, data)
        self.hotlist_matches[station_id] = match
        self.listeners.notify(station_key("hotlist", station_id))
        self.lists.async_matched(match)

    def _alert_context(self, match: HotlistMatch) -> dict[str, Any]:
        """What automations filter and act on besides the payload: the list's name, the alert's
        id, status and kind (an older engine's match: a confirmed hotlist alert with no id), and
        the earlier sighting of an impossible journey."""
        related = match.related_transit
        return {
            "list_name": self.lists.list_name(match),
            "alert_id": match.alert_id,
            "status": match.status,
            "alert_kind": match.alert_kind,
            "related_transit_id": related.id if related else None,
            "related_station": related.station if related else None,
            "related_time": related.payload.get("time") if related else None,
        }

    @callback
    def async_on_alert(self, msg: ReceiveMessage) -> None:
        """An alert's update (confirmed, withdrawn, handled): its event, its station's latest."""
        update = self.gate.read("alert", msg, self.async_on_alert, AlertUpdate.from_payload)
        if update is None:
            return
        seen = (update.alert_id, update.change, str(update.payload.get("time")))
        if seen in self._seen_updates:
            LOGGER.debug("Dropping a repeated update of alert %s", update.alert_id)
            return
        self._seen_updates.append(seen)
        self.gate.count("alert")
        LOGGER.debug(
            "Alert %s %s (status %s, state %s)",
            update.alert_id,
            update.change,
            update.status,
            update.state,
        )
        # It carries the plate a confirmation read (purged at the retention, like the alert's).
        self.hass.bus.async_fire(
            EVENT_ALERT_UPDATE, self._event_data(update.station, update.payload)
        )
        if update.status == "withdrawn":
            self.lists.async_withdrawn(update.alert_id)
        if self._station_known(update.station):
            self.alert_updates[update.station] = update
            self.listeners.notify(station_key("alert", update.station))
