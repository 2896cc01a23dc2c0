"""Diagnostics: the hub's state with plates, tokens and URLs redacted."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import CONF_API_TOKEN, CONF_URL
from homeassistant.core import HomeAssistant

from .const import CONF_SIGNING_KEY
from .hub import RufinaAlprConfigEntry

# Plates are personal data (Italian Garante rules); tokens and URLs are secrets of the site.
TO_REDACT = {
    CONF_API_TOKEN,
    CONF_URL,
    CONF_SIGNING_KEY,
    "api_url",
    "token",
    "plate",
    "display",
    "frigate_plate",
    "alternatives",
    "entry_plate",
    "read_plate",
    "hotlist",
}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: RufinaAlprConfigEntry
) -> dict[str, Any]:
    """What the integration knows about one engine, safe to paste into an issue."""
    hub = entry.runtime_data
    data: dict[str, Any] = {
        "entry": {"data": dict(entry.data), "options": dict(entry.options)},
        "mqtt_connected": hub.mqtt_connected,
        "api_info": asdict(hub.info) if hub.info else None,
        "status": asdict(hub.status) if hub.status else None,
        "stations": {sid: asdict(station) for sid, station in hub.stations.items()},
        "stats": asdict(hub.stats) if hub.stats else None,
        "health": asdict(hub.health) if hub.health else None,
        "last_transits": {sid: t.payload for sid, t in hub.last_transits.items()},
        "crops": {
            sid: {"bytes": len(crop), "received": received.isoformat()}
            for sid, (crop, received) in hub.crops.items()
        },
        "messages_received": dict(hub.received),
        "messages_rejected": dict(hub.rejected),
        "messages_refused_unsigned": dict(hub.refused),
        "signing_key_known": hub.signing_key is not None,
        "messages_held": hub.held_count,
    }
    return async_redact_data(data, TO_REDACT)
