"""Sensors: last plate and traffic counts per station, totals and diagnostics for the engine, and
the engine's privacy reminders (data-subject requests, the privacy pack)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import ATTR_LATITUDE, ATTR_LONGITUDE, EntityCategory, UnitOfTime
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.restore_state import RestoreEntity
from homeassistant.helpers.typing import StateType
from homeassistant.util import dt as dt_util

from .compliance import PACK_STATES, PrivacyHealth
from .const import CONF_SHOW_ON_MAP, KIND_CONTEXT, KIND_LPR
from .entity import RufinaAlprEntity, RufinaAlprStationEntity
from .hub import RufinaAlprConfigEntry, RufinaAlprHub
from .listeners import KEY_AVAILABILITY, KEY_HEALTH, KEY_HOTLISTS, KEY_STATS, list_key
from .models import Station, StationStats, Transit
from .station_sensors import STATION_SENSORS, RufinaAlprStationSensorDescription

# Push based: nothing to throttle.
PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class RufinaAlprEngineSensorDescription(SensorEntityDescription):
    """An engine sensor, read from the `stats` payload."""

    value_fn: Callable[[RufinaAlprHub], StateType | datetime]
    attrs_fn: Callable[[RufinaAlprHub], dict[str, Any]] | None = None


ENGINE_SENSORS: tuple[RufinaAlprEngineSensorDescription, ...] = (
    RufinaAlprEngineSensorDescription(
        key="transits_today",
        translation_key="engine_transits_today",
        state_class=SensorStateClass.TOTAL_INCREASING,
        value_fn=lambda hub: hub.stats.transits_today if hub.stats else None,
    ),
    RufinaAlprEngineSensorDescription(
        key="vehicles_today",
        translation_key="engine_vehicles_today",
        state_class=SensorStateClass.TOTAL_INCREASING,
        value_fn=lambda hub: hub.stats.vehicles_today if hub.stats else None,
    ),
    RufinaAlprEngineSensorDescription(
        key="unique_vehicles_yesterday",
        translation_key="unique_vehicles_yesterday",
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda hub: hub.stats.unique_vehicles_yesterday if hub.stats else None,
    ),
    RufinaAlprEngineSensorDescription(
        key="queue",
        translation_key="queue",
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda hub: hub.stats.queue if hub.stats else None,
    ),
    RufinaAlprEngineSensorDescription(
        key="latency_p50",
        translation_key="latency_p50",
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.MILLISECONDS,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda hub: hub.stats.latency_p50 if hub.stats else None,
    ),
    RufinaAlprEngineSensorDescription(
        key="latency_p95",
        translation_key="latency_p95",
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.MILLISECONDS,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=lambda hub: hub.stats.latency_p95 if hub.stats else None,
    ),
    RufinaAlprEngineSensorDescription(
        key="stats_updated",
        translation_key="stats_updated",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=lambda hub: hub.stats.time if hub.stats else None,
        attrs_fn=lambda hub: dict(hub.stats.counters) if hub.stats else {},
    ),
)


@dataclass(frozen=True, kw_only=True)
class RufinaAlprPrivacySensorDescription(SensorEntityDescription):
    """An engine sensor of its privacy reminders, read from the `health` payload's `privacy`."""

    value_fn: Callable[[PrivacyHealth], StateType]
    attrs_fn: Callable[[PrivacyHealth], dict[str, Any]]


def _isoformat(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


PRIVACY_SENSORS: tuple[RufinaAlprPrivacySensorDescription, ...] = (
    RufinaAlprPrivacySensorDescription(
        key="subject_requests_open",
        translation_key="subject_requests_open",
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda privacy: privacy.requests.open,
        attrs_fn=lambda privacy: {
            "due_soon": privacy.requests.due_soon,
            "overdue": privacy.requests.overdue,
            "next_due": _isoformat(privacy.requests.next_due),
        },
    ),
    RufinaAlprPrivacySensorDescription(
        key="privacy_pack",
        translation_key="privacy_pack",
        device_class=SensorDeviceClass.ENUM,
        options=list(PACK_STATES),
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda privacy: privacy.pack.state,
        attrs_fn=lambda privacy: {
            "generated_at": _isoformat(privacy.pack.generated_at),
            "outdated": list(privacy.pack.outdated),
            "changed": list(privacy.pack.changed),
        },
    ),
)


LAST_PLATE = SensorEntityDescription(key="last_plate", translation_key="last_plate")
# True on a value kept while the engine is offline (or restored): the last known, not live.
ATTR_STALE: Final = "stale"
# The hotlist size's unit, by language: fixed while the entity lives (its statistics keep one
# unit), so a plural whatever the count, like the queue's "images".
HOTLIST_UNITS: Final[Mapping[str, str]] = {"en": "plates", "it": "targhe"}
HOTLIST_SIZE = SensorEntityDescription(
    key="hotlist_size",
    translation_key="hotlist_size",
    state_class=SensorStateClass.MEASUREMENT,
)
HOTLIST_LAST_MATCH = SensorEntityDescription(
    key="hotlist_last_match",
    translation_key="hotlist_last_match",
    device_class=SensorDeviceClass.TIMESTAMP,
)

# The entity that carries a station's coordinates (so a map card shows each station once).
LOCATED_KEY = {KIND_LPR: "last_plate", KIND_CONTEXT: "vehicles_per_hour"}


async def async_setup_entry(
    hass: HomeAssistant,
    entry: RufinaAlprConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Engine sensors now; station sensors whenever the engine announces a station."""
    hub = entry.runtime_data
    async_add_entities(RufinaAlprEngineSensor(hub, description) for description in ENGINE_SENSORS)
    async_add_entities(RufinaAlprPrivacySensor(hub, description) for description in PRIVACY_SENSORS)

    @callback
    def add_station(station: Station) -> None:
        entities: list[SensorEntity] = [
            RufinaAlprStationSensor(hub, station, description)
            for description in STATION_SENSORS
            if station.kind in description.kinds
        ]
        if station.reads_plates:
            entities.append(RufinaAlprLastPlateSensor(hub, station, LAST_PLATE))
        async_add_entities(entities)

    entry.async_on_unload(hub.async_add_station_adder(add_station))

    @callback
    def add_hotlist(list_id: str) -> None:
        async_add_entities(
            [
                RufinaAlprHotlistSizeSensor(hub, list_id, HOTLIST_SIZE),
                RufinaAlprHotlistMatchSensor(hub, list_id, HOTLIST_LAST_MATCH),
            ]
        )

    entry.async_on_unload(hub.lists.async_add_adder(add_hotlist))


class _HotlistEntity(RufinaAlprEntity):
    """An entity of one hotlist, on the engine device; named after the list."""

    def __init__(
        self, hub: RufinaAlprHub, list_id: str, description: SensorEntityDescription
    ) -> None:
        super().__init__(hub, description, f"{hub.instance}_{description.key}_{list_id}")
        self.list_id = list_id
        hotlist = hub.hotlists.get(list_id)
        self._attr_translation_placeholders = {"list": hotlist.name if hotlist else list_id}


class RufinaAlprHotlistSizeSensor(_HotlistEntity, SensorEntity):
    """Active (unexpired) entries of a hotlist, from the API (no plates), in "plates" or "targhe"
    (the instance's language: Home Assistant's translated units are always English)."""

    def __init__(
        self, hub: RufinaAlprHub, list_id: str, description: SensorEntityDescription
    ) -> None:
        super().__init__(hub, list_id, description)
        language = (hub.hass.config.language or "en").split("-")[0].lower()
        self._attr_native_unit_of_measurement = HOTLIST_UNITS.get(language, HOTLIST_UNITS["en"])

    def listen_keys(self) -> tuple[str, ...]:
        """Refreshed with the hotlists."""
        return (KEY_HOTLISTS,)

    @property
    def available(self) -> bool:
        """Known while the API lists the hotlist (MQTT plays no part)."""
        return self.list_id in self.hub.hotlists

    @property
    def native_value(self) -> StateType:
        """The list's active entries."""
        hotlist = self.hub.hotlists.get(self.list_id)
        return hotlist.entries if hotlist else None

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Kind, action and expired entries."""
        hotlist = self.hub.hotlists.get(self.list_id)
        if hotlist is None:
            return None
        return {
            "list_id": hotlist.id,
            "kind": hotlist.kind,
            "action": hotlist.action,
            "expired": hotlist.expired,
        }


class RufinaAlprHotlistMatchSensor(_HotlistEntity, SensorEntity, RestoreEntity):
    """When the list last matched a transit, with the match as attributes.

    Restored after a restart or a reload (the transit's own time, not the restart's), and
    forgotten once older than the engine's retention, like the engine forgets it.
    """

    # Plates stay out of the recorder (its history keeps the match times only).
    _unrecorded_attributes = frozenset(
        {"entry_plate", "read_plate", "display", "transit_id", "score"}
    )

    def __init__(
        self, hub: RufinaAlprHub, list_id: str, description: SensorEntityDescription
    ) -> None:
        super().__init__(hub, list_id, description)
        self._restored: tuple[datetime, dict[str, Any]] | None = None

    def listen_keys(self) -> tuple[str, ...]:
        """A hotlist match on this list updates it."""
        return (KEY_AVAILABILITY, list_key(self.list_id))

    async def async_added_to_hass(self) -> None:
        """Take the last match back from before the restart or reload."""
        await super().async_added_to_hass()
        last = await self.async_get_last_state()
        if last is None or (moment := dt_util.parse_datetime(last.state)) is None:
            return
        attributes = {key: last.attributes.get(key) for key in _MATCH_ATTRIBUTES}
        self._restored = (moment, attributes)
        self.async_write_ha_state()

    @property
    def _match(self) -> tuple[datetime, dict[str, Any]] | None:
        """The live match, else the restored one while the engine still keeps it."""
        match = self.hub.list_matches.get(self.list_id)
        if match is not None and match.transit.time is not None:
            station = self.hub.stations.get(match.transit.station)
            return match.transit.time, {
                "list_id": self.list_id,
                "entry_plate": match.payload.get("entry_plate"),
                "read_plate": match.payload.get("read_plate"),
                "display": match.transit.display,
                "station": match.transit.station,
                "station_name": station.name if station else match.transit.station,
                "list_name": self.hub.lists.list_name(match) or self.list_id,
                "score": match.score,
                "match": match.match,
                "action": match.action,
                "transit_id": match.transit.id,
            }
        if self._restored is None:
            return None
        retention = self.hub.retention
        if retention is not None and self._restored[0] < dt_util.utcnow() - retention:
            self._restored = None
        return self._restored

    @property
    def available(self) -> bool:
        """A match stays while the engine is offline: the alarm is no less true."""
        return self.hub.available or self._match is not None

    @property
    def native_value(self) -> datetime | None:
        """The matched transit's time."""
        match = self._match
        return match[0] if match else None

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Plates, station, score and what to do."""
        match = self._match
        return match[1] if match else None


_MATCH_ATTRIBUTES: tuple[str, ...] = (
    "list_id",
    "entry_plate",
    "read_plate",
    "display",
    "station",
    "station_name",
    "list_name",
    "score",
    "match",
    "action",
    "transit_id",
)


class RufinaAlprEngineSensor(RufinaAlprEntity, SensorEntity):
    """A sensor of the engine device."""

    entity_description: RufinaAlprEngineSensorDescription

    def listen_keys(self) -> tuple[str, ...]:
        """Stats refresh these sensors."""
        return (KEY_AVAILABILITY, KEY_STATS)

    @property
    def native_value(self) -> StateType | datetime:
        """The value from the latest stats."""
        return self.entity_description.value_fn(self.hub)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Extra values some sensors carry (the engine's counters)."""
        if self.entity_description.attrs_fn is None:
            return None
        return self.entity_description.attrs_fn(self.hub)


class RufinaAlprPrivacySensor(RufinaAlprEntity, SensorEntity):
    """A privacy reminder of the engine device: counts and states, never a plate. Unknown while
    the engine sends no `privacy` section (older than issue 25)."""

    entity_description: RufinaAlprPrivacySensorDescription

    def listen_keys(self) -> tuple[str, ...]:
        """The health payload carries the reminders."""
        return (KEY_AVAILABILITY, KEY_HEALTH)

    @property
    def _privacy(self) -> PrivacyHealth | None:
        return self.hub.health.privacy if self.hub.health else None

    @property
    def native_value(self) -> StateType:
        """The count or state from the latest health."""
        privacy = self._privacy
        return self.entity_description.value_fn(privacy) if privacy else None

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Deadlines, or the documents out of date and what changed."""
        privacy = self._privacy
        return self.entity_description.attrs_fn(privacy) if privacy else None


class _StationAttributesMixin(RufinaAlprStationEntity):
    """Station facts on the station's located entity, and its coordinates when the option
    `CONF_SHOW_ON_MAP` asks: Home Assistant's Map panel shows every entity that has them."""

    def station_attributes(self) -> dict[str, Any]:
        station = self.station
        if station is None or LOCATED_KEY.get(station.kind) != self.entity_description.key:
            return {}
        located: dict[str, Any] = {}
        if self.hub.entry.options.get(CONF_SHOW_ON_MAP, False):
            located = {ATTR_LATITUDE: station.latitude, ATTR_LONGITUDE: station.longitude}
        return {
            **located,
            "camera": station.camera,
            "zone": station.zone,
            "station_direction": station.direction,
            "locality": station.locality,
        }


class RufinaAlprStationSensor(_StationAttributesMixin, SensorEntity):
    """A traffic count of one station, from the engine's stats."""

    entity_description: RufinaAlprStationSensorDescription

    def listen_keys(self) -> tuple[str, ...]:
        """Stats refresh these sensors."""
        return (KEY_AVAILABILITY, KEY_STATS)

    def _stats(self) -> StationStats | None:
        if self.hub.stats is None:
            return None
        return self.hub.stats.stations.get(self.station_id)

    @property
    def available(self) -> bool:
        """The last count stays, marked stale, while the engine is offline."""
        return self.hub.available or self._stats() is not None

    @property
    def native_value(self) -> StateType:
        """The count from the latest stats; unknown until the engine reports the station."""
        if (stats := self._stats()) is None:
            return None
        return self.entity_description.value_fn(stats)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Per-class counts, whether they are stale and, on the located entity, the station's
        coordinates."""
        attrs = self.station_attributes()
        if (stats := self._stats()) is not None:
            if self.entity_description.attrs_fn:
                attrs.update(self.entity_description.attrs_fn(stats))
            attrs[ATTR_STALE] = not self.hub.available
        return attrs or None


class RufinaAlprLastPlateSensor(_StationAttributesMixin, SensorEntity, RestoreEntity):
    """The plate of the station's latest transit, with the read's details as attributes.

    Kept, marked stale, while the engine is offline (when the operator needs the last plates
    most), and restored after a restart of Home Assistant while the engine's retention keeps it.
    """

    # Its state, the plate, is purged from the recorder at the engine's retention (hub); the
    # other plates and the ids change on every transit and are of no use in history.
    _unrecorded_attributes = frozenset(
        {"display", "alternatives", "hotlist", "frigate_event_id", "transit_id"}
    )

    def __init__(
        self, hub: RufinaAlprHub, station: Station, description: SensorEntityDescription
    ) -> None:
        super().__init__(hub, station, description)
        self._restored: tuple[str, dict[str, Any]] | None = None

    def listen_keys(self) -> tuple[str, ...]:
        """Stats bring the retention a restored plate is checked against; `last` is below."""
        return (KEY_AVAILABILITY, KEY_STATS)

    async def async_added_to_hass(self) -> None:
        """Listen to the station's `last` key; take the plate back from before the restart."""
        await super().async_added_to_hass()
        self.async_on_remove(self.hub.listeners.async_add(self.station_key("last"), self._on_last))
        last = await self.async_get_last_state()  # a plate has its time; unknown has none
        if last is not None and self._transit is None and last.attributes.get("time"):
            restored = {key: last.attributes.get(key) for key in _RESTORED_ATTRIBUTES}
            self._restored = (last.state, restored)
            self.async_write_ha_state()

    @callback
    def _on_last(self) -> None:
        """The engine's word on the station's last transit (or its purge) replaces the restored
        plate."""
        self._restored = None
        self.async_write_ha_state()

    @property
    def _transit(self) -> Transit | None:
        return self.hub.last_transits.get(self.station_id)

    @property
    def _reading(self) -> tuple[str, dict[str, Any]] | None:
        """The live plate and its details, else the restored ones within the retention."""
        if (transit := self._transit) is not None:
            return transit.plate, {
                "display": transit.display,
                "confidence": transit.confidence,
                "low_confidence": transit.low_confidence,
                "time": transit.time.isoformat() if transit.time else None,
                "vehicle_class": transit.vehicle,
                "direction": transit.direction,
                "country": transit.country,
                "frigate_event_id": transit.event_id,
                "transit_id": transit.id,
                "alternatives": transit.alternatives,
                "hotlist": transit.hotlist,
            }
        if self._restored is not None and (retention := self.hub.retention) is not None:
            moment = dt_util.parse_datetime(str(self._restored[1]["time"]))
            if moment is None or moment < dt_util.utcnow() - retention:
                self._restored = None
        return self._restored

    @property
    def available(self) -> bool:
        """Kept while the engine is offline and the station known: the last plate, marked
        stale, else unknown (a map keeps the station's marker)."""
        return self.hub.available or self.station is not None

    @property
    def native_value(self) -> str | None:
        """The normalised plate (A-Z, 0-9), as automations compare it."""
        reading = self._reading
        return reading[0] if reading else None

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Confidence, time, vehicle class, direction, Frigate event id, alternatives; stale
        while the engine is offline or the plate is the one restored."""
        attrs = self.station_attributes()
        if (reading := self._reading) is not None:
            attrs.update(reading[1])
            attrs[ATTR_STALE] = not self.hub.available or self._transit is None
        return attrs or None


# What a restart keeps of the last plate's details (the plate is the state).
_RESTORED_ATTRIBUTES = ("display", "confidence", "low_confidence", "time", "vehicle_class")
