"""Transits made for the tests that store them directly (no camera, no reading): one place for
the fields every such transit needs, so each test names only what it is about."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rufina_alpr.transits import Transit, transit_id


def a_transit(
    camera: str,
    event_id: str,
    moment: datetime,
    plate: str,
    *,
    station: str | None = None,
    confidence: float = 0.9,
    read_count: int = 2,
    **fields: Any,
) -> Transit:
    """A car's transit at ``camera``'s station (``station``, default the camera's name) with its
    id derived as the engine derives it; ``fields``: any other `Transit` field."""
    return Transit(
        id=transit_id(camera, event_id),
        event_id=event_id,
        station_id=station or camera,
        camera=camera,
        time=moment,
        vehicle="car",
        plate=plate,
        display=fields.pop("display", plate),
        country="IT",
        format="it_car",
        confidence=confidence,
        low_confidence=fields.pop("low_confidence", False),
        read_count=read_count,
        **fields,
    )
