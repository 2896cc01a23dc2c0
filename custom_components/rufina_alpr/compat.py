"""The one place for what differs between the oldest supported Home Assistant and current ones.

The integration supports Home Assistant 2025.4 (hacs.json) through current (2026.11). Home
Assistant 2026.x made a device belong to exactly one config entry (`DeviceEntry.config_entry_id`,
`config_entries` deprecated), looks devices up per config entry
(`async_get_device_by_identifier`; `async_get_device` deprecated), has child devices in the
registry, and validates with probatio (voluptuous's API; `import voluptuous` gives probatio's
shim, but the types are probatio's); options reload through `OptionsFlowWithReload` (2025.8+; an
update listener next to a reconfigure or reauth flow stops working in 2026.12). 2025.4 has none
of these. Everything else the integration calls exists in both.

Runtime checks detect each feature. The imports whose types differ hang on PROBATIO, which mypy
is told (`--always-true PROBATIO` / `--always-false PROBATIO`, scripts/ha-test.sh) so that each
Home Assistant version is type-checked against its own API. Remove a shim once hacs.json's
minimum version has the new API.
"""

from __future__ import annotations

from importlib.util import find_spec
from typing import TYPE_CHECKING, Final

from homeassistant import config_entries
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr

# Home Assistant 2026.10+ requires probatio instead of voluptuous.
PROBATIO: Final = find_spec("probatio") is not None
if PROBATIO:
    import probatio as vol

    from homeassistant.components.binary_sensor.const import BinarySensorDeviceClass
else:
    import voluptuous as vol

    from homeassistant.components.binary_sensor import BinarySensorDeviceClass

__all__ = [
    "OPTIONS_FLOW_RELOADS",
    "BinarySensorDeviceClass",
    "OptionsFlowBase",
    "async_get_device",
    "async_get_device_by_id",
    "device_config_entry_ids",
    "vol",
]

# Home Assistant 2025.8+: the options flow reloads the entry itself when its options changed.
# Before that an update listener does it (see __init__.py).
OPTIONS_FLOW_RELOADS: bool = hasattr(config_entries, "OptionsFlowWithReload")
if TYPE_CHECKING:  # the same API as OptionsFlow, plus its class flag `automatic_reload`
    OptionsFlowBase = config_entries.OptionsFlow
else:
    OptionsFlowBase = getattr(config_entries, "OptionsFlowWithReload", config_entries.OptionsFlow)


def async_get_device(
    hass: HomeAssistant, config_entry_id: str, identifier: tuple[str, str]
) -> dr.DeviceEntry | None:
    """The config entry's device with this identifier."""
    registry = dr.async_get(hass)
    if hasattr(registry, "async_get_device_by_identifier"):  # Home Assistant 2026.x
        device: dr.DeviceEntry | None = registry.async_get_device_by_identifier(
            identifier, config_entry_id
        )
        return device
    return registry.async_get_device(identifiers={identifier})


def async_get_device_by_id(hass: HomeAssistant, device_id: str) -> dr.DeviceEntry | None:
    """A device by its registry id; None for an unknown id and for a 2026.x child device."""
    device = dr.async_get(hass).async_get(device_id)
    return device if isinstance(device, dr.DeviceEntry) else None


def device_config_entry_ids(device: dr.DeviceEntry) -> set[str]:
    """The config entries a device belongs to: exactly one since Home Assistant 2026.x."""
    entry_id: str | None = getattr(device, "config_entry_id", None)
    if entry_id is not None:
        return {entry_id}
    entry_ids: set[str] = device.config_entries  # before 2026.x
    return entry_ids
