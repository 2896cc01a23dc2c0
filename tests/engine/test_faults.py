"""Faults: the broker restarting, Frigate's HTTP API failing, the engine being killed."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from rufina_alpr.cli.demo import TransitCollector
from rufina_alpr.sim.broker import MosquittoBroker
from rufina_alpr.sim.photos import load_photos
from rufina_alpr.sim.replay import FrigateReplay
from rufina_alpr.store import Store

from .conftest import engine_process, write_engine_config


def _assert_exactly_once(harness: Any, event_ids: list[str]) -> None:
    events = Counter(t["event_id"] for t in harness.received)
    assert harness.collector.duplicates == 0, "a transit id arrived twice"
    assert all(n == 1 for n in events.values())
    assert set(events) <= set(event_ids)


@pytest.mark.slow
async def test_broker_restart_mid_replay_loses_nothing(
    harness_factory: Any, photos_dir: Path, mosquitto: MosquittoBroker
) -> None:
    photos = load_photos(photos_dir)[:24]
    harness = await harness_factory(photos)
    replay_task = asyncio.create_task(harness.replay.run(rate=4))
    await asyncio.sleep(2.5)
    await mosquitto.stop()
    await asyncio.sleep(3)
    await mosquitto.start()
    event_ids = await asyncio.wait_for(replay_task, 120)
    await harness.wait_handled(len(event_ids))
    stored = harness.engine.metrics.counters["transits_stored"]
    await harness.wait_for(lambda: len(harness.received) >= stored, what="all transits delivered")
    await asyncio.sleep(1)
    assert harness.engine.mqtt.disconnects >= 1
    _assert_exactly_once(harness, event_ids)
    assert len(harness.received) == stored == 24
    assert await harness.engine.db.run(harness.engine.store.unpublished) == []


@pytest.mark.slow
async def test_frigate_http_errors_and_timeouts_then_recovery(
    harness_factory: Any, photos_dir: Path
) -> None:
    photos = load_photos(photos_dir)[:12]
    harness = await harness_factory(photos, extra={"frigate": {"timeout": 1.0, "retries": 2}})
    replay = harness.replay
    # Transient: two failures and one stall per fetch are absorbed by the retries.
    replay.faults.fail_next, replay.faults.stall_next, replay.faults.stall_seconds = 2, 1, 3.0
    first = await replay.run(rate=2, limit=4)
    await harness.wait_handled(4)
    # Down: every request fails for the next vehicles; they are recorded as unread, not lost.
    replay.faults.fail_next = 10_000
    down = [await replay.replay_one(photo, "cam_pomino") for photo in photos[4:7]]
    await harness.wait_handled(7)
    counts = await harness.engine.db.run(harness.engine.store.passage_counts)
    assert counts.unread == 3
    unread = await harness.engine.db.run(
        harness.engine.store.unread_passages,
        "frigate unreachable",
        datetime(2000, 1, 1, tzinfo=UTC),
    )
    assert {event for _camera, event, _station in unread} == set(down)
    # Recovered: the three are read again (Frigate kept their snapshots), and the next vehicles.
    replay.faults.fail_next = 0
    after = [await replay.replay_one(photo, "cam_roma") for photo in photos[7:12]]
    await harness.wait_handled(12)
    counters = harness.engine.metrics.counters
    await harness.wait_for(lambda: counters["passages_read_again"] == 3, what="the re-reads")
    counts = await harness.engine.db.run(harness.engine.store.passage_counts)
    assert (counts.read, counts.unread) == (12, 0)
    await harness.wait_for(lambda: len(harness.received) == 12, what="transits")
    transit_events = [t["event_id"] for t in harness.received]
    assert sorted(transit_events) == sorted([*first, *down, *after])
    assert counters["images_failed"] >= 3


@pytest.mark.slow
async def test_engine_killed_and_restarted_loses_and_duplicates_nothing(
    mosquitto: MosquittoBroker, photos_dir: Path, models_dir: Path, tmp_path: Path
) -> None:
    photos = load_photos(photos_dir)[:30]
    replay = FrigateReplay(
        photos,
        cameras=["cam_pomino", "cam_roma"],
        mqtt_host=mosquitto.host,
        mqtt_port=mosquitto.port,
        qos=1,
    )
    await replay.start()
    received: list[dict[str, Any]] = []
    collector = TransitCollector(
        mosquitto.host,
        mosquitto.port,
        "rufina_alpr/transit",
        received.append,
        client_id="kill-test-collector",
        persistent=True,
    )
    await collector.link.start()
    db = tmp_path / "engine" / "rufina_alpr.db"
    config = write_engine_config(
        tmp_path / "engine.yaml",
        data_dir=tmp_path / "engine",
        broker=mosquitto,
        frigate_url=replay.url,
        models_dir=models_dir,
    )
    log = tmp_path / "engine.log"
    engine = engine_process(config, log)
    try:
        await _wait_for_file_text(log, "connected to MQTT broker", 60)
        replay_task = asyncio.create_task(replay.run(rate=3))
        await asyncio.sleep(4)
        os.kill(engine.pid, signal.SIGKILL)
        engine.wait()
        await asyncio.sleep(2)
        engine = engine_process(config, log)
        event_ids = await asyncio.wait_for(replay_task, 120)
        store = Store(f"sqlite:///{db}", worker="test-reader")
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            counts = store.passage_counts()
            if counts.read + counts.unread >= len(event_ids) and len(received) >= counts.read:
                break
            await asyncio.sleep(0.3)
        await asyncio.sleep(1.5)
        counts = store.passage_counts()
        transits = store.transits()
        store.close()
    finally:
        engine.send_signal(signal.SIGTERM)
        engine.wait(timeout=30)
        await collector.link.stop()
        await replay.stop()
    print(
        f"\nafter SIGKILL: {counts.read} read, {counts.unread} unread of {len(event_ids)} events; "
        f"{len(received)} transits received, {collector.duplicates} duplicates"
    )
    assert counts.read + counts.unread == len(event_ids)
    assert counts.read >= len(event_ids) - 2
    assert len({t.event_id for t in transits}) == len(transits) == counts.read
    assert collector.duplicates == 0
    assert sorted(t["id"] for t in received) == sorted(t.id for t in transits)
    assert "Traceback" not in log.read_text()


async def _wait_for_file_text(path: Path, text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{text!r} not in {path}: {path.read_text() if path.exists() else ''}")
