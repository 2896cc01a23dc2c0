"""Actions: read what the integration holds about a station, for scripts and notifications."""

from __future__ import annotations

import voluptuous as vol

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_DEVICE_ID
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv, device_registry as dr

from .const import DOMAIN
from .hub import RufinaAlprConfigEntry

SERVICE_GET_LAST_TRANSIT = "get_last_transit"

GET_LAST_TRANSIT_SCHEMA = vol.Schema({vol.Required(CONF_DEVICE_ID): cv.string})


def _station_of(hass: HomeAssistant, device_id: str) -> tuple[RufinaAlprConfigEntry, str]:
    """The loaded entry and station id behind a station device, or a translated error."""
    device = dr.async_get(hass).async_get(device_id)
    if device is None:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="device_not_found",
            translation_placeholders={"device_id": device_id},
        )
    for entry_id in device.config_entries:
        entry: RufinaAlprConfigEntry | None = hass.config_entries.async_get_entry(entry_id)
        if entry is None or entry.domain != DOMAIN:
            continue
        if entry.state is not ConfigEntryState.LOADED:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="entry_not_loaded",
                translation_placeholders={"name": entry.title},
            )
        hub = entry.runtime_data
        for station_id in hub.stations:
            if hub.station_identifier(station_id) in device.identifiers:
                return entry, station_id
    raise ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key="not_a_station",
        translation_placeholders={"name": device.name_by_user or device.name or device_id},
    )


async def _async_get_last_transit(call: ServiceCall) -> ServiceResponse:
    """The station's latest transit payload as the engine published it (or None)."""
    entry, station_id = _station_of(call.hass, call.data[CONF_DEVICE_ID])
    transit = entry.runtime_data.last_transits.get(station_id)
    return {
        "station": station_id,
        "transit": transit.payload if transit else None,
    }


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the integration's actions (once, in async_setup)."""
    hass.services.async_register(
        DOMAIN,
        SERVICE_GET_LAST_TRANSIT,
        _async_get_last_transit,
        schema=GET_LAST_TRANSIT_SCHEMA,
        supports_response=SupportsResponse.ONLY,
    )
