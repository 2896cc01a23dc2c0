"""The one place for what differs between the oldest supported Home Assistant and current ones.

The integration supports Home Assistant 2025.4 (hacs.json) through current (2026.11). Home
Assistant 2026.x made a device belong to exactly one config entry (`DeviceEntry.config_entry_id`,
`config_entries` deprecated), looks devices up per config entry
(`async_get_device_by_identifier`; `async_get_device` deprecated) and reloads options through
`OptionsFlowWithReload` (an update listener next to a reconfigure or reauth flow stops working in
2026.12). 2025.4 has none of these. Everything else the integration calls exists in both.
Remove a shim once hacs.json's minimum version has the new API.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant import config_entries
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr

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


def device_config_entry_ids(device: dr.DeviceEntry) -> set[str]:
    """The config entries a device belongs to: exactly one since Home Assistant 2026.x."""
    entry_id: str | None = getattr(device, "config_entry_id", None)
    if entry_id is not None:
        return {entry_id}
    entry_ids: set[str] = device.config_entries  # before 2026.x
    return entry_ids
