"""Device triggers, so automations on a station's transits can be built from the UI."""

from __future__ import annotations

from typing import Any

from homeassistant.components.device_automation import DEVICE_TRIGGER_BASE_SCHEMA
from homeassistant.components.device_automation.exceptions import InvalidDeviceAutomationConfig
from homeassistant.components.homeassistant.triggers import event as event_trigger
from homeassistant.const import CONF_DEVICE_ID, CONF_DOMAIN, CONF_PLATFORM, CONF_TYPE
from homeassistant.core import CALLBACK_TYPE, HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.trigger import TriggerActionType, TriggerInfo
from homeassistant.helpers.typing import ConfigType

from .compat import async_get_device_by_id, vol
from .const import (
    DOMAIN,
    EVENT_HOTLIST_MATCH,
    EVENT_TRANSIT,
    KIND_LPR,
    TRIGGER_HOTLIST_MATCH,
    TRIGGER_LOW_CONFIDENCE,
    TRIGGER_TRANSIT,
)

TRIGGER_TYPES = (TRIGGER_TRANSIT, TRIGGER_LOW_CONFIDENCE, TRIGGER_HOTLIST_MATCH)

TRIGGER_SCHEMA = DEVICE_TRIGGER_BASE_SCHEMA.extend({vol.Required(CONF_TYPE): vol.In(TRIGGER_TYPES)})

# Which bus event each trigger type listens to, and what the event data must contain.
_EVENTS: dict[str, tuple[str, dict[str, Any]]] = {
    TRIGGER_TRANSIT: (EVENT_TRANSIT, {}),
    TRIGGER_LOW_CONFIDENCE: (EVENT_TRANSIT, {"low_confidence": True}),
    TRIGGER_HOTLIST_MATCH: (EVENT_HOTLIST_MATCH, {}),
}


def _is_lpr_station(device: dr.DeviceEntry | None) -> bool:
    return (
        device is not None
        and any(domain == DOMAIN for domain, _ in device.identifiers)
        and device.model_id == KIND_LPR
    )


async def async_validate_trigger_config(hass: HomeAssistant, config: ConfigType) -> ConfigType:
    """Refuse triggers on devices that are not plate-reading stations."""
    config = TRIGGER_SCHEMA(config)
    device = async_get_device_by_id(hass, config[CONF_DEVICE_ID])
    if not _is_lpr_station(device):
        raise InvalidDeviceAutomationConfig(
            f"Device {config[CONF_DEVICE_ID]} is not a Rufina ALPR plate-reading station"
        )
    return config


async def async_get_triggers(hass: HomeAssistant, device_id: str) -> list[dict[str, Any]]:
    """Plate-reading stations offer transit, low-confidence transit and hotlist match."""
    if not _is_lpr_station(async_get_device_by_id(hass, device_id)):
        return []
    return [
        {
            CONF_PLATFORM: "device",
            CONF_DOMAIN: DOMAIN,
            CONF_DEVICE_ID: device_id,
            CONF_TYPE: trigger_type,
        }
        for trigger_type in TRIGGER_TYPES
    ]


async def async_attach_trigger(
    hass: HomeAssistant,
    config: ConfigType,
    action: TriggerActionType,
    trigger_info: TriggerInfo,
) -> CALLBACK_TYPE:
    """Listen to the bus event the hub fires, filtered on the station's device id."""
    event_type, extra = _EVENTS[config[CONF_TYPE]]
    event_config = event_trigger.TRIGGER_SCHEMA(
        {
            CONF_PLATFORM: "event",
            event_trigger.CONF_EVENT_TYPE: event_type,
            "event_data": {CONF_DEVICE_ID: config[CONF_DEVICE_ID], **extra},
        }
    )
    return await event_trigger.async_attach_trigger(
        hass, event_config, action, trigger_info, platform_type="device"
    )
