"""The plate crop of each LPR station's latest transit (retained JPEG on `<station>/crop`)."""

from __future__ import annotations

from datetime import datetime

from homeassistant.components.image import ImageEntity, ImageEntityDescription
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .entity import RufinaAlprStationEntity
from .hub import RufinaAlprConfigEntry, RufinaAlprHub
from .listeners import KEY_AVAILABILITY
from .models import Station

PARALLEL_UPDATES = 0

PLATE_CROP = ImageEntityDescription(key="plate_crop", translation_key="plate_crop")


async def async_setup_entry(
    hass: HomeAssistant,
    entry: RufinaAlprConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """One crop image per plate-reading station."""
    hub = entry.runtime_data

    @callback
    def add_station(station: Station) -> None:
        if station.reads_plates:
            async_add_entities([RufinaAlprPlateCrop(hass, hub, station)])

    entry.async_on_unload(hub.async_add_station_adder(add_station))


class RufinaAlprPlateCrop(RufinaAlprStationEntity, ImageEntity):
    """Serves the crop bytes held by the hub; no fetching, the engine pushes them."""

    _attr_content_type = "image/jpeg"

    def __init__(self, hass: HomeAssistant, hub: RufinaAlprHub, station: Station) -> None:
        RufinaAlprStationEntity.__init__(self, hub, station, PLATE_CROP)
        ImageEntity.__init__(self, hass)

    def listen_keys(self) -> tuple[str, ...]:
        """The retained crop topic drives it."""
        return (KEY_AVAILABILITY, self.station_key("crop"))

    @property
    def image_last_updated(self) -> datetime | None:
        """When the current crop arrived; changes the image's URL so dashboards refresh."""
        crop = self.hub.crops.get(self.station_id)
        return crop[1] if crop else None

    def image(self) -> bytes | None:
        """The JPEG bytes of the latest crop."""
        crop = self.hub.crops.get(self.station_id)
        return crop[0] if crop else None
