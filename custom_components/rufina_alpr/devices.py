"""The device registry of one engine: the engine's device and one device per station it announces.

The hub owns one `RufinaAlprDevices` and calls it when the engine's status or its stations change;
stations the engine no longer announces lose their device (and its entities).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr

from .api import EngineInfo
from .compat import async_get_device
from .const import DOMAIN, KIND_LPR, LOGGER, MANUFACTURER
from .models import EngineStatus, Station

# The devices' models, by language (Home Assistant translates device names, not models).
MODELS: Final[Mapping[str, Mapping[str, str]]] = {
    "en": {"engine": "ALPR engine", "lpr": "LPR station", "context": "Context station"},
    "it": {"engine": "Motore ALPR", "lpr": "Postazione LPR", "context": "Postazione di contesto"},
}


def model(language: str | None, kind: str) -> str:
    """A device's model (`engine`, `lpr`, `context`) in a language; English for any other."""
    return MODELS.get((language or "en").split("-")[0].lower(), MODELS["en"])[kind]


class RufinaAlprDevices:
    """The devices of one engine (one config entry)."""

    def __init__(
        self, hass: HomeAssistant, entry: ConfigEntry, instance: str, configuration_url: str
    ) -> None:
        self.hass = hass
        self.entry = entry
        self.instance = instance
        self.configuration_url = configuration_url
        self.engine_device_id: str | None = None

    def engine_identifier(self) -> tuple[str, str]:
        """Device registry identifier of the engine."""
        return (DOMAIN, self.instance)

    def station_identifier(self, station_id: str) -> tuple[str, str]:
        """Device registry identifier of a station: unique across engines."""
        return (DOMAIN, f"{self.instance}_{station_id}")

    def station_device_id(self, station_id: str) -> str | None:
        """Device registry id of a station, for events and device triggers."""
        device = async_get_device(
            self.hass, self.entry.entry_id, self.station_identifier(station_id)
        )
        return device.id if device else None

    @callback
    def async_update_engine(self, status: EngineStatus | None, info: EngineInfo | None) -> None:
        """The engine device: name ("Rufina ALPR (rufina)", its translation's), version (its
        status's, else its API's) and a link to its operator UI."""
        version = status.engine_version if status else None
        if version is None and info is not None:
            version = info.engine_version
        self.engine_device_id = (
            dr.async_get(self.hass)
            .async_get_or_create(
                config_entry_id=self.entry.entry_id,
                identifiers={self.engine_identifier()},
                translation_key="engine",
                translation_placeholders={"instance": self.entry.title},
                manufacturer=MANUFACTURER,
                model=model(self.hass.config.language, "engine"),
                sw_version=version,
                configuration_url=self.configuration_url,
            )
            .id
        )

    @callback
    def async_update_stations(self, stations: Mapping[str, Station]) -> None:
        """Create or refresh the devices of the stations the engine announces; remove the
        others' (stations it no longer announces)."""
        registry = dr.async_get(self.hass)
        for station in stations.values():
            self._update_station(registry, station)
        self._remove_stale(registry, set(stations))

    def _update_station(self, registry: dr.DeviceRegistry, station: Station) -> None:
        """Create or refresh a station's device: name, model, area suggestion, engine link.

        The link goes by the engine's device id (`via_device_id`), which every supported Home
        Assistant accepts when updating a device (`via_device`, by identifier, is deprecated).
        """
        device = registry.async_get_or_create(
            config_entry_id=self.entry.entry_id,
            identifiers={self.station_identifier(station.id)},
            name=station.name,
            manufacturer=MANUFACTURER,
            model=model(
                self.hass.config.language, "lpr" if station.kind == KIND_LPR else "context"
            ),
            model_id=station.kind,
            suggested_area=station.locality,
        )
        if device.via_device_id != self.engine_device_id:
            registry.async_update_device(device.id, via_device_id=self.engine_device_id)

    def _remove_stale(self, registry: dr.DeviceRegistry, keep: set[str]) -> None:
        """Stations the engine no longer announces lose their device (and its entities)."""
        keep_identifiers = {self.station_identifier(sid) for sid in keep}
        keep_identifiers.add(self.engine_identifier())
        for device in dr.async_entries_for_config_entry(registry, self.entry.entry_id):
            if device.identifiers & keep_identifiers:
                continue
            LOGGER.info(
                "Removing station device %s: the engine no longer announces it", device.name
            )
            registry.async_remove_device(device.id)  # a device belongs to this entry only
