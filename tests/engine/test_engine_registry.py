"""The engine driven by the real station registry (frigate_config/stations.yaml).

The registry is the single source of truth: the engine listens to its 34 cameras only, reads
plates on the 15 LPR stations, counts vehicles on the 19 context ones, takes the direction of
travel from the Frigate zone a vehicle entered, and announces the stations (retained) for Home
Assistant's devices.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any

from rufina_alpr import contract
from rufina_alpr.mqtt import Message, MqttLink
from rufina_alpr.sim.frigate_mqtt import TrackedObject
from rufina_alpr.sim.photos import load_photos
from rufina_alpr.stations import default_registry_path, load_registry

REGISTRY = default_registry_path()


async def _publish_object(harness: Any, tracked: TrackedObject) -> None:
    for message in tracked.messages(updates=1):
        await harness.replay.publish_tracked(message)


async def _retained(host: str, port: int, topic: str) -> dict[str, Any]:
    """The retained message on ``topic``, as a fresh subscriber (Home Assistant) receives it."""
    received: list[bytes] = []
    arrived = threading.Event()

    def keep(message: Message) -> None:  # called on the MQTT client's thread
        received.append(message.payload)
        arrived.set()

    link = MqttLink(
        host=host,
        port=port,
        client_id=f"test-retained-{time.monotonic_ns()}",
        subscriptions=((topic, 1),),
        on_message=keep,
        manual_ack=False,
    )
    await link.start()
    try:
        await asyncio.to_thread(arrived.wait, 10)
    finally:
        await link.stop()
    assert received, f"nothing retained on {topic}"
    payload: dict[str, Any] = json.loads(received[-1])
    return payload


async def test_engine_follows_the_registry(harness_factory: Any, photos_dir: Path) -> None:
    registry = load_registry(REGISTRY)
    lpr = next(s for s in registry.stations if s.id == "pomino_in")
    context = next(s for s in registry.stations if s.kind == "context")
    photo = load_photos(photos_dir)[0]
    harness = await harness_factory([photo], stations_file=REGISTRY)
    engine = harness.engine
    assert {s.id for s in harness.settings.stations} == {s.id for s in registry.stations}

    # Home Assistant's device list: every station, retained, valid against the contract.
    stations = await _retained(harness.broker.host, harness.broker.port, engine.topics.stations)
    contract.validate("stations", stations)
    announced = {s["id"]: s for s in stations["stations"]}
    assert len(announced) == 34
    assert sum(s["kind"] == "lpr" for s in announced.values()) == 15
    assert announced["pomino_in"]["camera"] == lpr.camera
    # Area and map position for the Home Assistant device.
    assert announced["pomino_in"]["locality"] == "Pomino"
    assert (announced["pomino_in"]["latitude"], announced["pomino_in"]["longitude"]) == (
        lpr.latitude,
        lpr.longitude,
    )

    # An unknown camera and a context camera first: neither becomes a transit.
    before = engine.metrics.snapshot()
    start = time.time()
    stray = TrackedObject(
        "1700000000.0-stray1", "garage_del_vicino", "car", [0, 0, 400, 300], start
    )
    await _publish_object(harness, stray)
    counted = TrackedObject(
        "1700000000.0-count1", context.camera, "car", [0, 0, 400, 300], start, zones=[]
    )
    await _publish_object(harness, counted)
    # Then a vehicle entering the inbound lane zone of Pomino.
    tracked = harness.replay.tracked_object(photo, lpr.camera, start)
    tracked.zones = [lpr.zones[0].name]
    await _publish_object(harness, tracked)

    await harness.wait_handled(2)
    await harness.wait_for(lambda: len(harness.received) == 1, what="the Pomino transit")
    transit = harness.received[0]
    contract.validate("transit", transit)
    assert transit["station"] == "pomino_in"
    assert transit["camera"] == lpr.camera
    assert transit["direction"] == "inbound"
    assert transit["event_id"] == tracked.id

    after = engine.metrics.snapshot()
    assert after.get("events_unknown_camera", 0) - before.get("events_unknown_camera", 0) == 3
    counts = await engine.db.run(engine.store.passage_counts)
    assert (counts.read, counts.counted) == (1, 1)
    assert not [r for r in harness.replay.requests if counted.id in r], "no OCR on context cameras"
    await asyncio.sleep(1)
    assert len(harness.received) == 1
