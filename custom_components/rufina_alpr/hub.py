"""The hub: the one object that owns an engine's MQTT subscriptions, its API client and its state.

Entities never touch MQTT themselves: they read the hub's state and register listeners for the
keys they show, so one payload updates exactly the entities that depend on it. The hub tells
what happened to the two objects it owns: its repair issues (`repairs.py`) and its devices in the
device registry (`devices.py`).
"""

from __future__ import annotations

import asyncio
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

from .api import (
    EngineInfo,
    RufinaAlprApiClient,
    RufinaAlprApiError,
    RufinaAlprAuthError,
    RufinaAlprForbiddenError,
    RufinaAlprRequestError,
)
from .const import (
    CONF_PLATES_IN_EVENTS,
    CONF_SIGNING_KEY,
    CONF_TOPIC_PREFIX,
    DOMAIN,
    EVENT_HOTLIST_MATCH,
    EVENT_TRANSIT,
    LOGGER,
    SIGNAL_TRIGGER,
    SUPPORTED_CONTRACT_VERSION,
)
from .devices import RufinaAlprDevices
from .models import (
    EngineHealth,
    EngineStats,
    EngineStatus,
    Hotlist,
    HotlistMatch,
    PayloadError,
    Station,
    Transit,
    UnsupportedVersionError,
    decode,
    parse_stations,
)
from .repairs import RufinaAlprRepairs
from .retention import async_purge_recorder, plate_entity_ids, strip_plates
from .signing import MAX_EVENT_AGE, SIGNATURE_FIELDS, in_future, key_id, sent_at, verify

type RufinaAlprConfigEntry = ConfigEntry[RufinaAlprHub]

# Listener keys: entities subscribe to the parts of the state they show.
KEY_AVAILABILITY = "availability"
KEY_STATUS = "status"
KEY_STATS = "stats"
KEY_HOTLISTS = "hotlists"
KEY_HEALTH = "health"

# Hotlist sizes are polled from the API (they change only through operators' edits and imports,
# which the integration's own actions follow with an immediate refresh).
HOTLIST_REFRESH = timedelta(minutes=5)

# Transit ids remembered to drop QoS 1 redeliveries (at-least-once on the wire).
SEEN_TRANSITS = 512

# The signing key is asked again at most this often (a message signed with another key id, an
# engine whose API was away); hotlists likewise when a match names a list the API did not list.
KEY_RETRY = timedelta(seconds=60)
HOTLIST_RETRY = timedelta(seconds=60)
# Messages kept, the latest per topic, while the key is not known yet: judged once it is.
MAX_HELD = 64
# Kinds whose messages are events (not retained state): an old one is a replay.
EVENT_KINDS = frozenset({"transit", "hotlist_match"})
# How often what Home Assistant holds of plates is checked against the engine's retention.
PURGE_EVERY = timedelta(hours=1)

type Handler = Callable[[ReceiveMessage], None]


def station_key(kind: str, station_id: str) -> str:
    """Listener key of one station's `last`, `crop`, `transit` or `hotlist` updates."""
    return f"{kind}:{station_id}"


def list_key(list_id: str) -> str:
    """Listener key of one hotlist's latest match."""
    return f"hotlist_list:{list_id}"


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
        # The latest live transit and hotlist match per station, for the event entities.
        self.live_transits: dict[str, Transit] = {}
        self.hotlist_matches: dict[str, HotlistMatch] = {}
        # Hotlists (from the API) and the latest match per list (from MQTT).
        self.hotlists: dict[str, Hotlist] = {}
        self.list_matches: dict[str, HotlistMatch] = {}
        self.hotlists_readable: bool | None = None
        self.token_refused = False
        """The engine answered 401 to this entry's token (`async_token_refused`)."""
        self._hotlist_adders: list[Callable[[str], None]] = []
        self._known_lists: set[str] = set()
        self.mqtt_connected = False
        self.received: dict[str, int] = {}
        self.rejected: dict[str, int] = {}
        # Messages not acted on because the engine did not sign them (or too late, or too early).
        self.refused: dict[str, int] = {}
        self.signing_key: str | None = entry.data.get(CONF_SIGNING_KEY)
        self._held: dict[str, tuple[Handler, ReceiveMessage]] = {}
        self._key_task: asyncio.Task[None] | None = None
        self._key_asked: datetime | None = None
        self._hotlists_asked: datetime | None = None
        self._unlisted_matches: dict[str, HotlistMatch] = {}
        self._seen: deque[str] = deque(maxlen=SEEN_TRANSITS)
        self._seen_alerts: deque[tuple[str, str, str]] = deque(maxlen=SEEN_TRANSITS)
        self._listeners: dict[str, list[CALLBACK_TYPE]] = {}
        self._station_adders: list[Callable[[Station], None]] = []
        self._unsubscribe: list[CALLBACK_TYPE] = []
        self._unavailable_logged = False
        self._warned_versions: set[str] = set()
        self.repairs = RufinaAlprRepairs(hass, entry, self.instance)
        self.devices = RufinaAlprDevices(hass, entry, self.instance, client.url)

    # -- lifecycle -------------------------------------------------------------------------

    async def async_start(self) -> None:
        """Create the engine device, read the signing key and subscribe to the contract's topics.

        With the API away the key kept from the last setup serves; without one, messages wait
        (the latest per topic) until the key is read.
        """
        self.devices.async_update_engine(self.status, self.info)
        if self.info is not None:
            self.repairs.async_token_accepted(self.info)
            self._key_asked = dt_util.utcnow()
            await self._async_fetch_key()
        self.mqtt_connected = mqtt.is_connected(self.hass)
        self._unsubscribe.append(
            mqtt.async_subscribe_connection_status(self.hass, self._async_mqtt_connection)
        )
        subscriptions: list[tuple[str, Handler, str | None]] = [
            (f"{self.prefix}/status", self._async_on_status, "utf-8"),
            (f"{self.prefix}/stations", self._async_on_stations, "utf-8"),
            (f"{self.prefix}/stats", self._async_on_stats, "utf-8"),
            (f"{self.prefix}/health", self._async_on_health, "utf-8"),
            (f"{self.prefix}/transit", self._async_on_transit, "utf-8"),
            (f"{self.prefix}/hotlist_match", self._async_on_hotlist_match, "utf-8"),
            (f"{self.prefix}/+/last", self._async_on_last, "utf-8"),
            (f"{self.prefix}/+/crop", self._async_on_crop, None),
        ]
        for topic, handler, encoding in subscriptions:
            self._unsubscribe.append(
                await mqtt.async_subscribe(self.hass, topic, handler, qos=1, encoding=encoding)
            )
        self._unsubscribe.append(
            async_track_time_interval(
                self.hass,
                self._async_refresh_hotlists_timer,
                HOTLIST_REFRESH,
                cancel_on_shutdown=True,
            )
        )
        self._unsubscribe.append(
            async_track_time_interval(
                self.hass, self._async_purge_timer, PURGE_EVERY, cancel_on_shutdown=True
            )
        )
        self.entry.async_create_background_task(
            self.hass, self.async_refresh_hotlists(), f"{DOMAIN} hotlists"
        )

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
        for list_id, match in list(self.list_matches.items()):
            if match.transit.time is None or match.transit.time < cutoff:
                del self.list_matches[list_id]
        for list_id in self.hotlists:  # a match restored after a restart expires too
            self._notify(list_key(list_id))
        async_purge_recorder(self.hass, plate_entity_ids(self.hass, self.entry.entry_id), cutoff)
        return True

    async def _async_refresh_hotlists_timer(self, _now: datetime) -> None:
        await self.async_refresh_hotlists()

    async def async_refresh_hotlists(self) -> None:
        """Read the hotlists and their sizes from the API (a viewer token cannot: no entities)."""
        try:
            lists = await self.client.async_list_hotlists()
        except RufinaAlprForbiddenError:
            if self.hotlists_readable is not False:
                LOGGER.info("The engine's API token may not read hotlists: no hotlist sensors")
            self.hotlists_readable = False
            return
        except RufinaAlprAuthError:
            self.async_token_refused()
            return
        except RufinaAlprApiError as err:
            LOGGER.debug("Hotlists not refreshed: %s", err)
            return
        self.hotlists_readable = True
        self.hotlists = {}
        for item in lists:
            hotlist = Hotlist.from_dict(item)
            if hotlist is not None:
                self.hotlists[hotlist.id] = hotlist
        # A match that named a list before the API listed it (a new list) now has its entities;
        # matches of lists the API does not list are forgotten (see _async_on_hotlist_match).
        unlisted, self._unlisted_matches = self._unlisted_matches, {}
        self.list_matches = {k: v for k, v in self.list_matches.items() if k in self.hotlists}
        self.list_matches |= {k: v for k, v in unlisted.items() if k in self.hotlists}
        for list_id in self.hotlists:
            self._announce_list(list_id)
        self._notify(KEY_HOTLISTS)

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

    def _announce_list(self, list_id: str) -> None:
        if list_id in self._known_lists:
            return
        self._known_lists.add(list_id)
        for adder in list(self._hotlist_adders):
            adder(list_id)

    @callback
    def async_add_hotlist_adder(self, adder: Callable[[str], None]) -> CALLBACK_TYPE:
        """Let a platform create entities for every hotlist, now and when new ones appear."""
        self._hotlist_adders.append(adder)
        for list_id in self._known_lists:
            adder(list_id)

        @callback
        def remove() -> None:
            self._hotlist_adders.remove(adder)

        return remove

    @callback
    def async_stop(self) -> None:
        """Drop subscriptions and timers (the entry is unloading)."""
        while self._unsubscribe:
            self._unsubscribe.pop()()
        if self._key_task is not None:
            self._key_task.cancel()
        self._held.clear()
        self.repairs.async_stop()

    # -- listeners -------------------------------------------------------------------------

    @callback
    def async_add_listener(self, key: str, update: CALLBACK_TYPE) -> CALLBACK_TYPE:
        """Call `update` whenever the state under `key` changes; returns the remover."""
        self._listeners.setdefault(key, []).append(update)

        @callback
        def remove() -> None:
            self._listeners[key].remove(update)

        return remove

    @callback
    def _notify(self, key: str) -> None:
        for update in list(self._listeners.get(key, ())):
            update()

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
    def held_count(self) -> int:
        """Messages waiting for the signing key."""
        return len(self._held)

    @property
    def available(self) -> bool:
        """Entities show data only while the broker is reachable and the engine is online."""
        return self.mqtt_connected and self.online is True

    def engine_identifier(self) -> tuple[str, str]:
        """Device registry identifier of the engine."""
        return self.devices.engine_identifier()

    def station_identifier(self, station_id: str) -> tuple[str, str]:
        """Device registry identifier of a station: unique across engines."""
        return self.devices.station_identifier(station_id)

    def station_device_id(self, station_id: str) -> str | None:
        """Device registry id of a station, for events and device triggers."""
        return self.devices.station_device_id(station_id)

    def station_issue_id(self, station_id: str) -> str:
        """Repair issue id of a station offline for long."""
        return self.repairs.station_issue_id(station_id)

    # -- signatures ------------------------------------------------------------------------

    def _accept(self, kind: str, msg: ReceiveMessage, handler: Handler) -> dict[str, Any] | None:
        """The message's payload when the engine signed it, recently; None otherwise.

        Anyone who may publish on the prefix can send anything: only what the engine signed with
        the key its authenticated API gave is acted on. A message signed with another key id may
        come from an engine whose key changed: it waits while the key is read again.
        """
        try:
            data = decode(msg.payload)
        except PayloadError as err:
            self._reject(kind, msg.topic, err)
            return None
        key = self.signing_key
        if key is None:
            self._hold(msg, handler)
            self._async_request_key()
            return None
        if not verify(data, key):
            kid = data.get("kid")
            if isinstance(kid, str) and kid != key_id(key) and self._may_request_key():
                self._hold(msg, handler)  # first: the reading may end before this returns
                self._async_request_key()
                return None
            self._refuse(kind, msg.topic, "not signed by the engine")
            return None
        sent = sent_at(data)
        now = dt_util.utcnow()
        if sent is None or in_future(sent, now):
            self._refuse(kind, msg.topic, "no signing time, or one in the future")
            return None
        if kind in EVENT_KINDS and sent < now - MAX_EVENT_AGE:
            self._refuse(kind, msg.topic, "signed too long ago (a replay?)")
            return None
        # The signature is the transport's: events, actions and attributes carry the payload.
        return {k: v for k, v in data.items() if k not in SIGNATURE_FIELDS}

    def _hold(self, msg: ReceiveMessage, handler: Handler) -> None:
        """Keep the latest message per topic until the key is known (bounded)."""
        if msg.topic in self._held or len(self._held) < MAX_HELD:
            self._held[msg.topic] = (handler, msg)

    def _refuse(self, kind: str, topic: str, why: str) -> None:
        """Count and log a message not acted on; the first one raises a repair issue."""
        self.refused[kind] = self.refused.get(kind, 0) + 1
        LOGGER.debug("Ignoring a %s message on %s: %s", kind, topic, why)
        self.repairs.async_message_refused(self.prefix, kind, topic)

    def _reading_key(self) -> bool:
        return self._key_task is not None and not self._key_task.done()

    def _may_request_key(self) -> bool:
        """True while the key is being read or may be read again (not lately)."""
        asked = self._key_asked
        return self._reading_key() or asked is None or dt_util.utcnow() - asked >= KEY_RETRY

    @callback
    def _async_request_key(self) -> None:
        """Read the key again (the held messages are judged then), unless that was done lately."""
        if self._reading_key() or not self._may_request_key():
            return
        self._key_asked = dt_util.utcnow()
        self._key_task = self.entry.async_create_background_task(
            self.hass, self._async_fetch_key(replay=True), f"{DOMAIN} signing key"
        )

    async def _async_fetch_key(self, *, replay: bool = False) -> None:
        """Read the signing key from the API; keep it in the entry for a start without the API."""
        try:
            key = await self.client.async_get_signing_key()
        except RufinaAlprRequestError as err:
            if err.status != 404:
                LOGGER.warning("The engine's signing key cannot be read: %s", err)
                return
            LOGGER.error(
                "Engine %s does not sign its messages (no /api/v1/contract): nothing it "
                "publishes is used until it is updated",
                self.instance,
            )
            self.repairs.async_engine_unsigned()
            return
        except RufinaAlprForbiddenError as err:
            LOGGER.warning("The engine's signing key cannot be read now: %s", err)
            return
        except RufinaAlprAuthError:
            self.async_token_refused()
            return
        except RufinaAlprApiError as err:
            LOGGER.warning("The engine's signing key cannot be read now: %s", err)
            return
        self.repairs.async_engine_signs()
        if key != self.signing_key:
            if self.signing_key is not None:
                LOGGER.info("Engine %s signs with a new key", self.instance)
            self.signing_key = key
            self.hass.config_entries.async_update_entry(
                self.entry, data={**self.entry.data, CONF_SIGNING_KEY: key}
            )
        if replay:
            self._key_task = None  # judged with this key now: no second reading for them
            held, self._held = self._held, {}
            for handler, msg in held.values():
                handler(msg)

    # -- message handlers ------------------------------------------------------------------

    def _count(self, kind: str) -> None:
        self.received[kind] = self.received.get(kind, 0) + 1

    def _reject(self, kind: str, topic: str, err: PayloadError) -> None:
        """Log a payload that breaks the contract; a version mismatch is logged once."""
        self.rejected[kind] = self.rejected.get(kind, 0) + 1
        if isinstance(err, UnsupportedVersionError):
            if kind not in self._warned_versions:
                self._warned_versions.add(kind)
                LOGGER.warning(
                    "Ignoring %s payloads of contract version %s on %s; this integration reads "
                    "version %s: update the engine or the integration",
                    kind,
                    err.version,
                    topic,
                    SUPPORTED_CONTRACT_VERSION,
                )
            return
        LOGGER.warning("Ignoring a malformed %s payload on %s: %s", kind, topic, err)

    @callback
    def _async_mqtt_connection(self, connected: bool) -> None:
        self.mqtt_connected = connected
        self._log_availability()
        self._async_check_health()
        self._notify(KEY_AVAILABILITY)

    @callback
    def _async_on_status(self, msg: ReceiveMessage) -> None:
        if (data := self._accept("status", msg, self._async_on_status)) is None:
            return
        try:
            status = EngineStatus.from_payload(data)
        except PayloadError as err:
            self._reject("status", msg.topic, err)
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
        self._count("status")
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
        self._notify(KEY_STATUS)
        self._notify(KEY_AVAILABILITY)

    # -- Frigate's and the stations' health ------------------------------------------------

    @callback
    def _async_on_health(self, msg: ReceiveMessage) -> None:
        if (data := self._accept("health", msg, self._async_on_health)) is None:
            return
        try:
            health = EngineHealth.from_payload(data)
        except PayloadError as err:
            self._reject("health", msg.topic, err)
            return
        self._count("health")
        previous = self.health
        self.health = health
        if previous is None or previous.frigate.state != health.frigate.state:
            LOGGER.debug("Engine %s sees Frigate %s", self.instance, health.frigate.state)
        self._async_check_health()
        self._notify(KEY_HEALTH)

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
        if (data := self._accept("stations", msg, self._async_on_stations)) is None:
            return
        try:
            stations = parse_stations(data)
        except PayloadError as err:
            self._reject("stations", msg.topic, err)
            return
        self._count("stations")
        self.devices.async_update_stations(stations)
        for cache in (self.last_transits, self.crops, self.live_transits, self.hotlist_matches):
            for station_id in set(cache) - set(stations):
                del cache[station_id]
        new = [station for sid, station in stations.items() if sid not in self.stations]
        self.stations = stations
        for station in new:
            for adder in list(self._station_adders):
                adder(station)
        self._async_check_health()  # station names in the health repairs

    @callback
    def _async_on_stats(self, msg: ReceiveMessage) -> None:
        if (data := self._accept("stats", msg, self._async_on_stats)) is None:
            return
        known = self.retention is not None
        try:
            self.stats = EngineStats.from_payload(data)
        except PayloadError as err:
            self._reject("stats", msg.topic, err)
            return
        self._count("stats")
        self._notify(KEY_STATS)
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
        self._notify(station_key("last", transit.station))

    def _clear_last(self, station_id: str) -> None:
        """The station's newest transit was purged: its plate leaves the entities too."""
        self.last_transits.pop(station_id, None)
        self.live_transits.pop(station_id, None)
        self._notify(station_key("last", station_id))

    @callback
    def _async_on_transit(self, msg: ReceiveMessage) -> None:
        if (data := self._accept("transit", msg, self._async_on_transit)) is None:
            return
        try:
            transit = Transit.from_payload(data)
        except PayloadError as err:
            self._reject("transit", msg.topic, err)
            return
        if transit.id in self._seen:
            LOGGER.debug("Dropping redelivered transit %s", transit.id)
            return
        self._seen.append(transit.id)
        self._count("transit")
        self._store_last(transit)
        self.live_transits[transit.station] = transit
        data = self._event_data(transit.station, transit.payload)
        async_dispatcher_send(self.hass, SIGNAL_TRIGGER, EVENT_TRANSIT, data)
        if not self.options.get(CONF_PLATES_IN_EVENTS, False):
            data = strip_plates(data)
        self.hass.bus.async_fire(EVENT_TRANSIT, data)
        self._notify(station_key("transit", transit.station))

    @callback
    def _async_on_last(self, msg: ReceiveMessage) -> None:
        if not msg.payload:
            # The engine's retention purge deletes a purged plate's retained message.
            self._clear_last(msg.topic[len(self.prefix) + 1 : -len("/last")])
            self._count("last")
            return
        if (data := self._accept("last", msg, self._async_on_last)) is None:
            return
        try:
            transit = Transit.from_payload(data)
        except PayloadError as err:
            self._reject("last", msg.topic, err)
            return
        self._count("last")
        self._store_last(transit)

    @callback
    def _async_on_crop(self, msg: ReceiveMessage) -> None:
        station_id = msg.topic[len(self.prefix) + 1 : -len("/crop")]
        if not isinstance(msg.payload, bytes) or not msg.payload:
            self.crops.pop(station_id, None)  # an empty retained message clears the crop
        else:
            self.crops[station_id] = (msg.payload, dt_util.utcnow())
        self._count("crop")
        self._notify(station_key("crop", station_id))

    @callback
    def _async_on_hotlist_match(self, msg: ReceiveMessage) -> None:
        if (data := self._accept("hotlist_match", msg, self._async_on_hotlist_match)) is None:
            return
        try:
            match = HotlistMatch.from_payload(data)
        except PayloadError as err:
            self._reject("hotlist_match", msg.topic, err)
            return
        alert = (match.transit.id, match.list, str(match.payload.get("entry_plate")))
        if alert in self._seen_alerts:
            LOGGER.debug("Dropping a repeated hotlist match of transit %s", match.transit.id)
            return
        self._seen_alerts.append(alert)
        self._count("hotlist_match")
        station_id = match.transit.station
        LOGGER.debug("Hotlist match on list %s at station %s", match.list, station_id)
        data = self._event_data(station_id, match.payload) | self._match_context(match)
        async_dispatcher_send(self.hass, SIGNAL_TRIGGER, EVENT_HOTLIST_MATCH, data)
        # An alarm's event carries the plate the patrol acts on (purged at the retention).
        self.hass.bus.async_fire(EVENT_HOTLIST_MATCH, data)
        self.hotlist_matches[station_id] = match
        self._notify(station_key("hotlist", station_id))
        if match.list in self.hotlists:
            self.list_matches[match.list] = match
            self._announce_list(match.list)
            self._notify(list_key(match.list))
            return
        if match.list in self._unlisted_matches or len(self._unlisted_matches) < MAX_HELD:
            self._unlisted_matches[match.list] = match
        self._async_request_hotlists()

    @callback
    def _async_request_hotlists(self) -> None:
        """A match names a list the API did not list (a new one?): read the lists again, at
        most once a minute. Entities are made for the lists the API lists, never from MQTT."""
        now = dt_util.utcnow()
        if self._hotlists_asked is not None and now - self._hotlists_asked < HOTLIST_RETRY:
            return
        self._hotlists_asked = now
        self.entry.async_create_background_task(
            self.hass, self.async_refresh_hotlists(), f"{DOMAIN} hotlists"
        )

    def _match_context(self, match: HotlistMatch) -> dict[str, Any]:
        """The list's name as the API lists it, for alarm messages (operators know lists by
        name, not by id)."""
        hotlist = self.hotlists.get(match.list)
        return {"list_name": hotlist.name if hotlist else match.list}

    def _event_data(self, station_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        """The engine's full payload, plus the ids automations filter on."""
        return {
            **payload,
            "device_id": self.station_device_id(station_id),
            "config_entry_id": self.entry.entry_id,
            "instance": self.instance,
        }
