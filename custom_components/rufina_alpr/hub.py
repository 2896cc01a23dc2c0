"""The hub: the one object that owns an engine's MQTT subscriptions, its API client and its state.

Entities never touch MQTT themselves: they read the hub's state and listen (`listeners.py`) to the
keys they show, so one payload updates exactly the entities that depend on it. The hub tells
what happened to the objects it owns: its repair issues (`repairs.py`), its devices in the device
registry (`devices.py`), its hotlists (`hotlists.py`) and the alerts the engine raises
(`alerts.py`, whose handlers it subscribes); every message passes its `PayloadGate` (`signed.py`)
first, which acts only on what the engine signed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from homeassistant.components import mqtt
from homeassistant.components.mqtt.models import ReceiveMessage
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.util import dt as dt_util

from .alerts import RufinaAlprAlerts
from .api import EngineInfo, RufinaAlprApiClient
from .const import CONF_PLATES_IN_EVENTS, CONF_TOPIC_PREFIX, EVENT_TRANSIT, LOGGER, SIGNAL_TRIGGER
from .devices import RufinaAlprDevices
from .health import EngineHealth
from .hotlists import RufinaAlprHotlists
from .listeners import (
    KEY_AVAILABILITY,
    KEY_HEALTH,
    KEY_STATS,
    KEY_STATUS,
    RufinaAlprListeners,
    station_key,
)
from .models import (
    AlertUpdate,
    EngineStats,
    EngineStatus,
    Hotlist,
    HotlistMatch,
    HotlistsNotice,
    Station,
    Transit,
    parse_stations,
)
from .repairs import RufinaAlprRepairs
from .retention import async_purge_recorder, plate_entity_ids, strip_plates
from .signed import Handler, PayloadGate
from .signing import in_future

type RufinaAlprConfigEntry = ConfigEntry[RufinaAlprHub]

# Transit ids remembered to drop QoS 1 redeliveries (at-least-once on the wire).
SEEN_TRANSITS = 512

# How often what Home Assistant holds of plates is checked against the engine's retention.
PURGE_EVERY = timedelta(hours=1)


class RufinaAlprHub:
    """State and I/O of one engine (one config entry)."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: RufinaAlprConfigEntry,
        client: RufinaAlprApiClient,
        info: EngineInfo | None,
    ) -> None:
        self.hass = hass
        self.entry = entry
        self.client = client
        self.info = info
        assert entry.unique_id is not None
        self.instance: str = entry.unique_id
        self.prefix: str = entry.data[CONF_TOPIC_PREFIX]
        self.options: dict[str, Any] = dict(entry.options)
        self.status: EngineStatus | None = None
        self.stations: dict[str, Station] = {}
        self.stats: EngineStats | None = None
        self.health: EngineHealth | None = None
        self.last_transits: dict[str, Transit] = {}
        self.crops: dict[str, tuple[bytes, datetime]] = {}
        # The latest live transit per station, for the event entities.
        self.live_transits: dict[str, Transit] = {}
        self.token_refused = False
        """The engine answered 401 to this entry's token (`async_token_refused`)."""
        self.mqtt_connected = False
        self._seen: deque[str] = deque(maxlen=SEEN_TRANSITS)
        self._station_adders: list[Callable[[Station], None]] = []
        self._unsubscribe: list[CALLBACK_TYPE] = []
        self._unavailable_logged = False
        self.listeners = RufinaAlprListeners()
        self.repairs = RufinaAlprRepairs(hass, entry, self.instance)
        self.devices = RufinaAlprDevices(hass, entry, self.instance, client.url)
        self.gate = PayloadGate(hass, entry, client, self.repairs, self.async_token_refused)
        # The hotlists (from the API) and the latest match per list (from MQTT).
        self.lists = RufinaAlprHotlists(
            hass, entry, client, self.listeners, self.async_token_refused
        )
        # The alerts (hotlist matches and their updates, from MQTT), the latest per station.
        self.alerts = RufinaAlprAlerts(
            hass,
            self.gate,
            self.lists,
            self.listeners,
            event_data=self._event_data,
            station_known=lambda station_id: station_id in self.stations,
        )

    # -- lifecycle -------------------------------------------------------------------------

    async def async_start(self) -> None:
        """Create the engine device, read the signing key and subscribe to the contract's topics.

        With the API away the key kept from the last setup serves; without one, messages wait
        (the latest per topic) until the key is read.
        """
        self.devices.async_update_engine(self.status, self.info)
        if self.info is not None:
            self.repairs.async_token_accepted(self.info)
            await self.gate.async_read_key()
        self.mqtt_connected = mqtt.is_connected(self.hass)
        self._unsubscribe.append(
            mqtt.async_subscribe_connection_status(self.hass, self._async_mqtt_connection)
        )
        subscriptions: list[tuple[str, Handler, str | None]] = [
            (f"{self.prefix}/status", self._async_on_status, "utf-8"),
            (f"{self.prefix}/stations", self._async_on_stations, "utf-8"),
            (f"{self.prefix}/stats", self._async_on_stats, "utf-8"),
            (f"{self.prefix}/health", self._async_on_health, "utf-8"),
            (f"{self.prefix}/hotlists", self._async_on_hotlists, "utf-8"),
            (f"{self.prefix}/transit", self._async_on_transit, "utf-8"),
            (f"{self.prefix}/hotlist_match", self.alerts.async_on_hotlist_match, "utf-8"),
            (f"{self.prefix}/alert", self.alerts.async_on_alert, "utf-8"),
            (f"{self.prefix}/+/last", self._async_on_last, "utf-8"),
            (f"{self.prefix}/+/crop", self._async_on_crop, None),
        ]
        for topic, handler, encoding in subscriptions:
            self._unsubscribe.append(
                await mqtt.async_subscribe(self.hass, topic, handler, qos=1, encoding=encoding)
            )
        self._unsubscribe.append(self.lists.async_track_refresh())
        self._unsubscribe.append(
            async_track_time_interval(
                self.hass, self._async_purge_timer, PURGE_EVERY, cancel_on_shutdown=True
            )
        )
        self.lists.async_refresh_in_background()

    @callback
    def _async_purge_timer(self, _now: datetime) -> None:
        self.async_purge_plates()

    @property
    def retention(self) -> timedelta | None:
        """How long the engine keeps plates (from its `stats`); None until it says."""
        if self.stats is None or self.stats.retention_days is None:
            return None
        return timedelta(days=self.stats.retention_days)

    @callback
    def async_purge_plates(self) -> bool:
        """Forget, here and in the recorder, every plate older than the engine's retention:
        the last match of a list, the history of the plate entities, the integration's events
        and the action calls they led to. False while the retention is not known."""
        if (retention := self.retention) is None:
            return False
        cutoff = dt_util.utcnow() - retention
        self.lists.async_forget_before(cutoff)
        async_purge_recorder(self.hass, plate_entity_ids(self.hass, self.entry.entry_id), cutoff)
        return True

    async def async_refresh_hotlists(self) -> None:
        """Read the hotlists and their sizes from the API now (after an action changed them)."""
        await self.lists.async_refresh()

    @callback
    def async_token_refused(self) -> None:
        """The engine refused the API token (401, at set-up or any time after): ask for a new
        one at once (re-authentication, and a repair saying why). Everything MQTT brings keeps
        working meanwhile; only the actions and the hotlist sizes wait for the new token."""
        if not self.token_refused:
            self.token_refused = True
            LOGGER.warning("Engine %s refused the API token: asking for a new one", self.instance)
            self.repairs.async_token_refused()
        self.entry.async_start_reauth(self.hass)

    @callback
    def async_stop(self) -> None:
        """Drop subscriptions and timers (the entry is unloading)."""
        while self._unsubscribe:
            self._unsubscribe.pop()()
        self.gate.async_stop()
        self.repairs.async_stop()

    # -- entities --------------------------------------------------------------------------

    @callback
    def async_add_station_adder(self, adder: Callable[[Station], None]) -> CALLBACK_TYPE:
        """Let a platform create entities for every station, now and when new ones appear."""
        self._station_adders.append(adder)
        for station in self.stations.values():
            adder(station)

        @callback
        def remove() -> None:
            self._station_adders.remove(adder)

        return remove

    # -- state -----------------------------------------------------------------------------

    @property
    def online(self) -> bool | None:
        """The engine's own state from its retained status; None until it is known."""
        return None if self.status is None else self.status.online

    @property
    def hotlists(self) -> dict[str, Hotlist]:
        """The hotlists the API lists, by id (empty while it cannot be read)."""
        return self.lists.hotlists

    @property
    def list_matches(self) -> dict[str, HotlistMatch]:
        """The latest match of each listed hotlist, by list id."""
        return self.lists.list_matches

    @property
    def hotlist_matches(self) -> dict[str, HotlistMatch]:
        """The latest hotlist match (alert raised) per station, for the event entities."""
        return self.alerts.hotlist_matches

    @property
    def alert_updates(self) -> dict[str, AlertUpdate]:
        """The latest update of an alert per station (confirmed, withdrawn, handled)."""
        return self.alerts.alert_updates

    @property
    def hotlists_readable(self) -> bool | None:
        """Whether the token may read the hotlists; None until the API answered."""
        return self.lists.readable

    @property
    def received(self) -> dict[str, int]:
        """Messages acted on, by kind."""
        return self.gate.received

    @property
    def rejected(self) -> dict[str, int]:
        """Payloads that break the contract (malformed, another version), by kind."""
        return self.gate.rejected

    @property
    def refused(self) -> dict[str, int]:
        """Messages not acted on because the engine did not sign them (lately), by kind."""
        return self.gate.refused

    @property
    def signing_key(self) -> str | None:
        """The engine's signing key, None until read."""
        return self.gate.signing_key

    @property
    def held_count(self) -> int:
        """Messages waiting for the signing key."""
        return self.gate.held_count

    @property
    def available(self) -> bool:
        """Entities show data only while the broker is reachable and the engine is online."""
        return self.mqtt_connected and self.online is True

    def station_device_id(self, station_id: str) -> str | None:
        """Device registry id of a station, for events and device triggers."""
        return self.devices.station_device_id(station_id)

    # -- message handlers ------------------------------------------------------------------

    @callback
    def _async_mqtt_connection(self, connected: bool) -> None:
        self.mqtt_connected = connected
        self._log_availability()
        self._async_check_health()
        self.listeners.notify(KEY_AVAILABILITY)

    @callback
    def _async_on_status(self, msg: ReceiveMessage) -> None:
        status = self.gate.read("status", msg, self._async_on_status, EngineStatus.from_payload)
        if status is None:
            return
        if status.instance != self.instance:
            LOGGER.warning(
                "Ignoring the status of engine %r on %s: this entry is engine %r; give each "
                "engine its own topic prefix",
                status.instance,
                msg.topic,
                self.instance,
            )
            return
        self.gate.count("status")
        previous = self.status
        self.status = status
        self.repairs.async_contract_announced(status)
        if previous is None or previous.online != status.online:
            if status.online:
                self.repairs.async_engine_online()
            else:
                self.repairs.async_engine_offline()
        if previous is None or previous.engine_version != status.engine_version:
            self.devices.async_update_engine(self.status, self.info)
        self._log_availability()
        self._async_check_health()
        self.listeners.notify(KEY_STATUS)
        self.listeners.notify(KEY_AVAILABILITY)

    # -- Frigate's and the stations' health, the privacy reminders ------------------------

    @callback
    def _async_on_health(self, msg: ReceiveMessage) -> None:
        health = self.gate.read("health", msg, self._async_on_health, EngineHealth.from_payload)
        if health is None:
            return
        self.gate.count("health")
        previous = self.health
        self.health = health
        if previous is None or previous.frigate.state != health.frigate.state:
            LOGGER.debug("Engine %s sees Frigate %s", self.instance, health.frigate.state)
        self._async_check_health()
        self.repairs.async_privacy_changed(health.privacy)
        self.listeners.notify(KEY_HEALTH)

    @callback
    def _async_check_health(self) -> None:
        """Frigate's and the stations' health repairs follow the health while it is fresh."""
        self.repairs.async_health_changed(self.available, self.health, self.stations)

    def _log_availability(self) -> None:
        """Log once when the entities go unavailable and once when they are back."""
        if not self.available and not self._unavailable_logged and self.status is not None:
            self._unavailable_logged = True
            reason = "the MQTT broker is not connected" if not self.mqtt_connected else "offline"
            LOGGER.info("Rufina ALPR engine %s is unavailable: %s", self.instance, reason)
        elif self.available and self._unavailable_logged:
            self._unavailable_logged = False
            LOGGER.info("Rufina ALPR engine %s is back online", self.instance)

    @callback
    def _async_on_stations(self, msg: ReceiveMessage) -> None:
        stations = self.gate.read("stations", msg, self._async_on_stations, parse_stations)
        if stations is None:
            return
        self.gate.count("stations")
        self.devices.async_update_stations(stations)
        caches: tuple[dict[str, Any], ...] = (self.last_transits, self.crops, self.live_transits)
        for cache in caches:
            for station_id in set(cache) - set(stations):
                del cache[station_id]
        self.alerts.async_keep_stations(stations)
        new = [station for sid, station in stations.items() if sid not in self.stations]
        self.stations = stations
        for station in new:
            for adder in list(self._station_adders):
                adder(station)
        self._async_check_health()  # station names in the health repairs

    @callback
    def _async_on_hotlists(self, msg: ReceiveMessage) -> None:
        """The engine's hotlists changed: its lists are read again (`hotlists`)."""
        parse = HotlistsNotice.from_payload
        if (notice := self.gate.read("hotlists", msg, self._async_on_hotlists, parse)) is None:
            return
        self.gate.count("hotlists")
        self.lists.async_noticed(notice)

    @callback
    def _async_on_stats(self, msg: ReceiveMessage) -> None:
        known = self.retention is not None
        stats = self.gate.read("stats", msg, self._async_on_stats, EngineStats.from_payload)
        if stats is None:
            return
        self.stats = stats
        self.gate.count("stats")
        self.listeners.notify(KEY_STATS)
        self.repairs.async_read_quality_changed(stats, self.stations)
        if not known and self.retention is not None:
            self.async_purge_plates()  # the first the engine said of its retention

    def _store_last(self, transit: Transit) -> None:
        if in_future(transit.time):
            # Frigate's times reach the engine from the broker too: a transit dated ahead of the
            # clock would stay the station's latest until that date.
            LOGGER.debug("Transit %s is dated in the future: not the station's last", transit.id)
            return
        current = self.last_transits.get(transit.station)
        if current is not None and current.id == transit.id:
            return
        if current is not None and current.time and transit.time and transit.time < current.time:
            return  # an older transit published late (outbox): not the station's latest
        self.last_transits[transit.station] = transit
        self.listeners.notify(station_key("last", transit.station))

    def _clear_last(self, station_id: str) -> None:
        """The station's newest transit was purged: its plate leaves the entities too."""
        self.last_transits.pop(station_id, None)
        self.live_transits.pop(station_id, None)
        self.listeners.notify(station_key("last", station_id))

    @callback
    def _async_on_transit(self, msg: ReceiveMessage) -> None:
        transit = self.gate.read("transit", msg, self._async_on_transit, Transit.from_payload)
        if transit is None:
            return
        if transit.id in self._seen:
            LOGGER.debug("Dropping redelivered transit %s", transit.id)
            return
        self._seen.append(transit.id)
        self.gate.count("transit")
        self._store_last(transit)
        self.live_transits[transit.station] = transit
        data = self._event_data(transit.station, transit.payload)
        async_dispatcher_send(self.hass, SIGNAL_TRIGGER, EVENT_TRANSIT, data)
        if not self.options.get(CONF_PLATES_IN_EVENTS, False):
            data = strip_plates(data)
        self.hass.bus.async_fire(EVENT_TRANSIT, data)
        self.listeners.notify(station_key("transit", transit.station))

    @callback
    def _async_on_last(self, msg: ReceiveMessage) -> None:
        if not msg.payload:
            # The engine's retention purge deletes a purged plate's retained message.
            self._clear_last(msg.topic[len(self.prefix) + 1 : -len("/last")])
            self.gate.count("last")
            return
        transit = self.gate.read("last", msg, self._async_on_last, Transit.from_payload)
        if transit is None:
            return
        self.gate.count("last")
        self._store_last(transit)

    @callback
    def _async_on_crop(self, msg: ReceiveMessage) -> None:
        station_id = msg.topic[len(self.prefix) + 1 : -len("/crop")]
        if not isinstance(msg.payload, bytes) or not msg.payload:
            self.crops.pop(station_id, None)  # an empty retained message clears the crop
        else:
            self.crops[station_id] = (msg.payload, dt_util.utcnow())
        self.gate.count("crop")
        self.listeners.notify(station_key("crop", station_id))

    def _event_data(self, station_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        """The engine's full payload, plus the ids automations filter on."""
        return {
            **payload,
            "device_id": self.station_device_id(station_id),
            "config_entry_id": self.entry.entry_id,
            "instance": self.instance,
        }
