"""The descriptions of a station's sensors read from its part of the `stats` payload: traffic
counts (plate-reading and context stations) and read quality (plate-reading stations). The
entities are sensor.py's `RufinaAlprStationSensor`; kept apart so sensor.py stays small."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import PERCENTAGE, EntityCategory
from homeassistant.helpers.typing import StateType

from .const import KIND_CONTEXT, KIND_LPR, VEHICLE_CLASSES
from .models import StationStats
from .read_quality import UNREAD_REASONS, percent


@dataclass(frozen=True, kw_only=True)
class RufinaAlprStationSensorDescription(SensorEntityDescription):
    """A station sensor, read from the station's part of the `stats` payload."""

    kinds: tuple[str, ...]
    value_fn: Callable[[StationStats], StateType]
    attrs_fn: Callable[[StationStats], dict[str, Any]] | None = None


def _per_class(vehicle: str) -> Callable[[StationStats], StateType]:
    """Read one vehicle class from the per-class counts (0 when none passed)."""
    return lambda stats: stats.vehicles_last_hour_by_class.get(vehicle, 0)


STATION_SENSORS: tuple[RufinaAlprStationSensorDescription, ...] = (
    RufinaAlprStationSensorDescription(
        key="transits_today",
        translation_key="transits_today",
        state_class=SensorStateClass.TOTAL_INCREASING,
        kinds=(KIND_LPR,),
        value_fn=lambda stats: stats.transits_today,
    ),
    RufinaAlprStationSensorDescription(
        key="vehicles_today",
        translation_key="vehicles_today",
        state_class=SensorStateClass.TOTAL_INCREASING,
        kinds=(KIND_LPR, KIND_CONTEXT),
        value_fn=lambda stats: stats.vehicles_today,
        attrs_fn=lambda stats: {
            "by_class": dict(stats.vehicles_today_by_class),
            "by_direction": dict(stats.vehicles_today_by_direction),
        },
    ),
    RufinaAlprStationSensorDescription(
        key="vehicles_per_hour",
        translation_key="vehicles_per_hour",
        state_class=SensorStateClass.MEASUREMENT,
        kinds=(KIND_LPR, KIND_CONTEXT),
        value_fn=lambda stats: stats.vehicles_last_hour,
        attrs_fn=lambda stats: {"by_class": dict(stats.vehicles_last_hour_by_class)},
    ),
    *(
        RufinaAlprStationSensorDescription(
            key=f"vehicles_per_hour_{vehicle}",
            translation_key=f"vehicles_per_hour_{vehicle}",
            state_class=SensorStateClass.MEASUREMENT,
            kinds=(KIND_CONTEXT,),
            # Cars and trucks are what the technical office watches; the rest on demand.
            entity_registry_enabled_default=vehicle in ("car", "truck"),
            value_fn=_per_class(vehicle),
        )
        for vehicle in VEHICLE_CLASSES
    ),
    # -- read quality (issue 26): unknown while the engine reports none ---------------------
    RufinaAlprStationSensorDescription(
        key="read_rate",
        translation_key="read_rate",
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        entity_category=EntityCategory.DIAGNOSTIC,
        kinds=(KIND_LPR,),
        value_fn=lambda stats: percent(stats.read_quality.share) if stats.read_quality else None,
        attrs_fn=lambda stats: stats.read_quality.attributes() if stats.read_quality else {},
    ),
    RufinaAlprStationSensorDescription(
        key="commonest_unread_reason",
        translation_key="commonest_unread_reason",
        device_class=SensorDeviceClass.ENUM,
        options=list(UNREAD_REASONS),
        entity_category=EntityCategory.DIAGNOSTIC,
        kinds=(KIND_LPR,),
        value_fn=lambda stats: (
            stats.read_quality.commonest_unread_reason if stats.read_quality else None
        ),
    ),
)
