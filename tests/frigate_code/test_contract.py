"""The engine against Frigate 0.17.2's own code: tracker, camera state, events, MQTT and API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rufina_alpr import contract

from .conftest import labelled, plates_equal


async def test_vehicle_tracked_by_frigate_gives_one_transit_with_its_plate(
    frigate_factory: Any, engine_factory: Any, frigate_messages: Any, photos_dir: Path
) -> None:
    frigate = await frigate_factory()
    run = await engine_factory(frigate.internal_url)
    (photo,) = labelled(photos_dir, "test_002.jpg")
    event_id = await frigate.pass_vehicle(photo)

    transit = await run.one_transit(event_id)
    contract.validate("transit", transit)
    assert plates_equal(transit["plate"], photo.plate), transit
    assert transit["station"] == "st_pomino"
    # What Frigate's code published for it: new, updates, one end; all parsed.
    kinds = [m["type"] for m in frigate_messages.events(event_id)]
    assert kinds[0] == "new" and kinds[-1] == "end" and kinds.count("end") == 1, kinds
    assert run.engine.metrics.counters.get("events_malformed", 0) == 0
