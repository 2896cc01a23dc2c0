"""Transits: one vehicle passage at a plate-reading station, the engine's unit of output."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rufina_alpr.fusion import FusedPlate

# Transit ids are derived from the event (its camera and Frigate's id), so every worker and every
# redelivery of the same event computes the same id and the store's primary key refuses the second
# copy, while a message reusing the id on another camera is another event, not a copy.
_TRANSIT_NAMESPACE = uuid.UUID("5b0f8f57-4a5e-4c4e-9a41-7d1f5e0c2a11")


def transit_id(camera: str, event_id: str) -> str:
    return str(uuid.uuid5(_TRANSIT_NAMESPACE, f"{camera}/{event_id}"))


@dataclass(frozen=True, slots=True)
class Transit:
    """A stored transit. ``alternatives`` are (plate, score) pairs, best first."""

    id: str
    event_id: str
    station_id: str
    camera: str
    time: datetime
    vehicle: str
    plate: str
    display: str
    country: str | None
    format: str | None
    confidence: float
    low_confidence: bool
    read_count: int
    alternatives: tuple[tuple[str, float], ...] = ()
    direction: str | None = None
    frigate_plate: str | None = None
    hotlist: dict[str, Any] | None = None
    original_plate: str | None = None
    """The plate as read, when an operator corrected ``plate`` (`store.corrections`)."""
    crop_jpeg: bytes | None = field(default=None, repr=False, compare=False)

    @classmethod
    def of_fused(
        cls,
        fused: FusedPlate,
        *,
        event_id: str,
        station_id: str,
        camera: str,
        time: datetime,
        vehicle: str,
        direction: str | None,
        frigate_plate: str | None = None,
    ) -> Transit:
        """The transit of one event whose reads fused into ``fused``; its crop is the best read."""
        return cls(
            id=transit_id(camera, event_id),
            event_id=event_id,
            station_id=station_id,
            camera=camera,
            time=time,
            vehicle=vehicle,
            plate=fused.plate,
            display=fused.display,
            country=fused.country,
            format=fused.format,
            confidence=fused.confidence,
            low_confidence=fused.low_confidence,
            read_count=fused.read_count,
            alternatives=tuple((alt.plate, alt.score) for alt in fused.alternatives),
            direction=direction,
            frigate_plate=frigate_plate,
            crop_jpeg=fused.best_read.crop_jpeg,
        )
