"""Base entities: the engine's and a station's, both pushed by the hub (no polling)."""

from __future__ import annotations

from homeassistant.const import Platform
from homeassistant.core import callback
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity, EntityDescription
from homeassistant.util import slugify

from .hub import RufinaAlprHub
from .listeners import KEY_AVAILABILITY, station_key
from .models import Station


def stable_entity_id(platform: Platform, unique_id: str) -> str:
    """The entity id the integration asks for: `<platform>.<unique id, slugified>`."""
    return f"{platform}.{slugify(unique_id)}"


class RufinaAlprEntity(Entity):
    """An entity of the engine device; subclasses name the hub keys they listen to.

    Entity ids are stable, made from the unique id (engine instance, station id, key) rather
    than generated from names: Home Assistant 2026.x puts the device's area in generated ids and
    every version the entity names of the language it runs in, so generated ids differ between
    installs and the shipped dashboard could not name them. Friendly names stay translated
    (has_entity_name); an id is only a suggestion for a new entity, so a user's rename in the
    registry, or an entity registered before, keeps its id.
    """

    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(
        self, hub: RufinaAlprHub, description: EntityDescription, unique_id: str | None = None
    ) -> None:
        self.hub = hub
        self.entity_description = description
        self._attr_unique_id = unique_id or f"{hub.instance}_{description.key}"
        self._attr_device_info = DeviceInfo(identifiers={hub.devices.engine_identifier()})
        # The platform is the module that defines the concrete class (sensor.py -> sensor).
        platform = Platform(type(self).__module__.rpartition(".")[2])
        self.entity_id = stable_entity_id(platform, self._attr_unique_id)

    def listen_keys(self) -> tuple[str, ...]:
        """Hub keys whose updates change this entity's state."""
        return (KEY_AVAILABILITY,)

    async def async_added_to_hass(self) -> None:
        """Subscribe to the hub; listeners go away with the entity."""
        await super().async_added_to_hass()
        for key in self.listen_keys():
            self.async_on_remove(self.hub.listeners.async_add(key, self._handle_update))

    @callback
    def _handle_update(self) -> None:
        self.async_write_ha_state()

    @property
    def available(self) -> bool:
        """Unavailable while the engine is offline or the broker is unreachable."""
        return self.hub.available


class RufinaAlprStationEntity(RufinaAlprEntity):
    """An entity of one station's device."""

    def __init__(
        self, hub: RufinaAlprHub, station: Station, description: EntityDescription
    ) -> None:
        super().__init__(hub, description, f"{hub.instance}_{station.id}_{description.key}")
        self.station_id = station.id
        self._attr_device_info = DeviceInfo(
            identifiers={hub.devices.station_identifier(station.id)}
        )

    @property
    def station(self) -> Station | None:
        """The station as last announced (None once the engine dropped it)."""
        return self.hub.stations.get(self.station_id)

    def station_key(self, kind: str) -> str:
        """This station's listener key for `last`, `crop`, `transit` or `hotlist`."""
        return station_key(kind, self.station_id)
