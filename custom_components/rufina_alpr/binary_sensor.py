"""The engine's connectivity, from its retained status and MQTT last will."""

from __future__ import annotations

from typing import Any

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .entity import RufinaAlprEntity
from .hub import KEY_AVAILABILITY, KEY_STATUS, RufinaAlprConfigEntry

PARALLEL_UPDATES = 0

ONLINE = BinarySensorEntityDescription(
    key="online",
    translation_key="online",
    device_class=BinarySensorDeviceClass.CONNECTIVITY,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: RufinaAlprConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """One connectivity sensor per engine."""
    async_add_entities([RufinaAlprOnlineSensor(entry.runtime_data, ONLINE)])


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
