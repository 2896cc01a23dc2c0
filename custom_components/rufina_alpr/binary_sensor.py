"""Connectivity: the engine (its retained status and MQTT last will), Frigate and each station's
camera (the engine's retained `health` payload)."""

from __future__ import annotations

from typing import Any

from homeassistant.components.binary_sensor import BinarySensorEntity, BinarySensorEntityDescription
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .compat import BinarySensorDeviceClass
from .entity import RufinaAlprEntity, RufinaAlprStationEntity
from .health import StationHealth
from .hub import RufinaAlprConfigEntry
from .listeners import KEY_AVAILABILITY, KEY_HEALTH, KEY_STATUS
from .models import Station

PARALLEL_UPDATES = 0

ONLINE = BinarySensorEntityDescription(
    key="online",
    translation_key="online",
    device_class=BinarySensorDeviceClass.CONNECTIVITY,
)
FRIGATE = BinarySensorEntityDescription(
    key="frigate",
    translation_key="frigate",
    device_class=BinarySensorDeviceClass.CONNECTIVITY,
)
CAMERA = BinarySensorEntityDescription(
    key="camera",
    translation_key="camera",
    device_class=BinarySensorDeviceClass.CONNECTIVITY,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: RufinaAlprConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """The engine's and Frigate's connectivity now; a camera's whenever a station appears."""
    hub = entry.runtime_data
    async_add_entities([RufinaAlprOnlineSensor(hub, ONLINE), RufinaAlprFrigateSensor(hub, FRIGATE)])

    @callback
    def add_station(station: Station) -> None:
        async_add_entities([RufinaAlprCameraSensor(hub, station, CAMERA)])

    entry.async_on_unload(hub.async_add_station_adder(add_station))


class RufinaAlprOnlineSensor(RufinaAlprEntity, BinarySensorEntity):
    """On while the engine says online; its last will turns it off when it dies."""

    def listen_keys(self) -> tuple[str, ...]:
        """The status topic drives it."""
        return (KEY_AVAILABILITY, KEY_STATUS)

    @property
    def available(self) -> bool:
        """It reports the engine's state itself, so it needs only the broker."""
        return self.hub.mqtt_connected

    @property
    def is_on(self) -> bool | None:
        """Unknown until the retained status arrives."""
        return self.hub.online

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Versions and the time of the last state change, as the engine reports them."""
        if (status := self.hub.status) is None:
            return None
        return {
            "engine_version": status.engine_version,
            "contract_version": status.contract_version,
            "since": status.since.isoformat() if status.since else None,
        }


class RufinaAlprFrigateSensor(RufinaAlprEntity, BinarySensorEntity):
    """Frigate as the engine sees it: its MQTT availability and fresh statistics.

    Unavailable while the engine is offline: then nobody is watching Frigate.
    """

    # Frigate sends its statistics every minute: no use in the history.
    _unrecorded_attributes = frozenset({"last_stats"})

    def listen_keys(self) -> tuple[str, ...]:
        """The health topic drives it."""
        return (KEY_AVAILABILITY, KEY_HEALTH)

    @property
    def is_on(self) -> bool | None:
        """Unknown until the engine has published its health or knows Frigate's state."""
        return self.hub.health.frigate.online if self.hub.health else None

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """What Frigate last said on `frigate/available`, its version and last statistics."""
        if (health := self.hub.health) is None:
            return None
        frigate = health.frigate
        return {
            "available": frigate.available,
            "version": frigate.version,
            "last_stats": frigate.last_stats.isoformat() if frigate.last_stats else None,
        }


class RufinaAlprCameraSensor(RufinaAlprStationEntity, BinarySensorEntity):
    """A station's camera: on while Frigate receives its frames; off with the engine's reason."""

    def listen_keys(self) -> tuple[str, ...]:
        """The health topic drives it."""
        return (KEY_AVAILABILITY, KEY_HEALTH)

    @property
    def _health(self) -> StationHealth | None:
        if self.hub.health is None:
            return None
        return self.hub.health.stations.get(self.station_id)

    @property
    def is_on(self) -> bool | None:
        """Unknown until the engine reports the station."""
        return health.online if (health := self._health) else None

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Why it is offline and the state of each of the camera's roles in Frigate."""
        if (health := self._health) is None:
            return None
        return {"reason": health.reason, "roles": dict(health.roles)}
