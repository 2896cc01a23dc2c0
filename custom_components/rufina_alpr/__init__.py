"""Rufina ALPR: licence-plate transits from the Rufina ALPR engine, over MQTT.

The integration is thin on purpose: the engine (a separate service or add-on) reads the plates;
this side subscribes to its MQTT topics and checks its HTTP API token, nothing more.
"""

from __future__ import annotations

from homeassistant.components import mqtt
from homeassistant.const import CONF_API_TOKEN, CONF_URL, Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryNotReady
from homeassistant.helpers import config_validation as cv, device_registry as dr
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.typing import ConfigType

from .api import EngineInfo, RufinaAlprApiClient, RufinaAlprApiError, RufinaAlprAuthError
from .compat import OPTIONS_FLOW_RELOADS
from .const import DOMAIN, LOGGER
from .hub import RufinaAlprConfigEntry, RufinaAlprHub
from .services import async_setup_services

PLATFORMS: list[Platform] = [
    Platform.BINARY_SENSOR,
    Platform.EVENT,
    Platform.IMAGE,
    Platform.SENSOR,
    Platform.TODO,
]

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the integration's actions once, whatever the number of engines."""
    async_setup_services(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: RufinaAlprConfigEntry) -> bool:
    """Check MQTT and the engine's token, then subscribe to the engine's topics."""
    if not await mqtt.async_wait_for_mqtt_client(hass):
        raise ConfigEntryNotReady(translation_domain=DOMAIN, translation_key="mqtt_unavailable")

    client = RufinaAlprApiClient(
        async_get_clientsession(hass), entry.data[CONF_URL], entry.data[CONF_API_TOKEN]
    )
    info: EngineInfo | None = None
    refused = False
    try:
        info = await client.async_get_info()  # the hub's repairs say what it answered
    except RufinaAlprAuthError:
        # A rotated token must not take the devices down: MQTT carries the data (and the
        # signing key is kept in the entry); re-authentication is asked for at once.
        refused = True
    except RufinaAlprApiError as err:
        # The data path is MQTT: an engine that is down right now is shown as offline (its last
        # will) with unavailable entities, rather than hiding its devices behind a setup retry.
        LOGGER.warning("The engine's API is not reachable now (%s); waiting for it on MQTT", err)

    hub = RufinaAlprHub(hass, entry, client, info)
    entry.runtime_data = hub
    await hub.async_start()
    entry.async_on_unload(hub.async_stop)
    if refused:
        hub.async_token_refused()

    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    if not OPTIONS_FLOW_RELOADS:
        # Home Assistant before 2025.8: no OptionsFlowWithReload. With it, no update listener:
        # reconfigure and reauth (async_update_reload_and_abort) reload the entry themselves.
        entry.async_on_unload(entry.add_update_listener(_async_options_updated))
    return True


async def _async_options_updated(hass: HomeAssistant, entry: RufinaAlprConfigEntry) -> None:
    """Options change timers and thresholds: reload to apply them (before HA 2025.8).

    Entry updates also come from discovery (its keys), which must not reload the entry.
    """
    if dict(entry.options) != entry.runtime_data.options:
        await hass.config_entries.async_reload(entry.entry_id)


async def async_unload_entry(hass: HomeAssistant, entry: RufinaAlprConfigEntry) -> bool:
    """Unload the platforms; the hub's subscriptions go with `async_on_unload`."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def async_remove_config_entry_device(
    hass: HomeAssistant, entry: RufinaAlprConfigEntry, device: dr.DeviceEntry
) -> bool:
    """Allow deleting a station's device only when the engine no longer announces it."""
    hub = entry.runtime_data
    if hub.devices.engine_identifier() in device.identifiers:
        return False
    return not any(
        hub.devices.station_identifier(station_id) in device.identifiers
        for station_id in hub.stations
    )
