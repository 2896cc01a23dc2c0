"""Device triggers, so automations on a station's transits can be built from the UI."""

from __future__ import annotations

from typing import Any

from homeassistant.components.device_automation import DEVICE_TRIGGER_BASE_SCHEMA
from homeassistant.components.device_automation.exceptions import InvalidDeviceAutomationConfig
from homeassistant.const import CONF_DEVICE_ID, CONF_DOMAIN, CONF_PLATFORM, CONF_TYPE
from homeassistant.core import CALLBACK_TYPE, HassJob, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.trigger import TriggerActionType, TriggerInfo
from homeassistant.helpers.typing import ConfigType

from .compat import async_get_device_by_id, vol
from .const import (
    DOMAIN,
    EVENT_HOTLIST_MATCH,
    EVENT_TRANSIT,
    KIND_LPR,
    SIGNAL_TRIGGER,
    TRIGGER_HOTLIST_MATCH,
    TRIGGER_LOW_CONFIDENCE,
    TRIGGER_TRANSIT,
)

TRIGGER_TYPES = (TRIGGER_TRANSIT, TRIGGER_LOW_CONFIDENCE, TRIGGER_HOTLIST_MATCH)

TRIGGER_SCHEMA = DEVICE_TRIGGER_BASE_SCHEMA.extend({vol.Required(CONF_TYPE): vol.In(TRIGGER_TYPES)})

# Which of the hub's events each trigger type listens to, and what its data must contain.
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
    """Listen to the hub's transits and matches of this station, whole: the bus events leave a
    transit's plate out (the recorder keeps them), a device trigger's variables are not kept.
    `trigger.event.data` holds what the bus event would, plate included."""
    trigger_type = config[CONF_TYPE]
    event_type, extra = _EVENTS[trigger_type]
    device_id = config[CONF_DEVICE_ID]
    job = HassJob(action, f"{DOMAIN} device trigger {trigger_type}")

    @callback
    def dispatched(kind: str, data: dict[str, Any]) -> None:
        if kind != event_type or data.get(CONF_DEVICE_ID) != device_id:
            return
        if any(data.get(key) != value for key, value in extra.items()):
            return
        variables = {
            "trigger": {
                **trigger_info["trigger_data"],
                CONF_PLATFORM: "device",
                CONF_DOMAIN: DOMAIN,
                CONF_DEVICE_ID: device_id,
                CONF_TYPE: trigger_type,
                "event": {"event_type": event_type, "data": data},
                "description": f"{DOMAIN} {trigger_type}",
            }
        }
        hass.async_run_hass_job(job, variables)

    return async_dispatcher_connect(hass, SIGNAL_TRIGGER, dispatched)
