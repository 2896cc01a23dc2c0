"""A vehicle's outcome is one transaction (issue 22): the engine killed while it stores a transit
that matched a hotlist leaves neither half; after the restart the redelivered `end` stores the
transit with its matches, and its alert is published once, neither lost nor doubled."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from rufina_alpr.hotlists import Hotlists
from rufina_alpr.mqtt import Message, MqttLink
from rufina_alpr.sim.broker import MosquittoBroker
from rufina_alpr.sim.photos import load_photos
from rufina_alpr.sim.replay import FrigateReplay
from rufina_alpr.store import Store, hotlist_matches

from .conftest import engine_process, write_engine_config

# Dies (as a SIGKILL would: no clean-up, no commit) at the moment a transit's hotlist matches
# are about to be recorded, after its own rows were written.
CRASH = """
import os
from rufina_alpr.hotlists import recorded
def crash(*args, **kwargs):
    os._exit(9)
recorded.record_matches = crash
"""


def _matched_transits(store: Store) -> dict[str, tuple[int, int]]:
    """Stored transits whose hotlist summary says they matched: their recorded matches, and
    how many of those alert."""
    alerted = sa.func.sum(sa.case((hotlist_matches.c.alerted.is_(True), 1), else_=0))
    with store.engine.connect() as connection:
        rows = connection.execute(
            sa.select(hotlist_matches.c.transit_id, sa.func.count(), alerted).group_by(
                hotlist_matches.c.transit_id
            )
        ).all()
    counts = {row[0]: (int(row[1]), int(row[2])) for row in rows}
    return {t.id: counts.get(t.id, (0, 0)) for t in store.transits() if t.hotlist is not None}


@pytest.mark.slow
async def test_engine_killed_while_storing_an_outcome_leaves_no_half_and_loses_no_alert(
    mosquitto: MosquittoBroker, photos_dir: Path, models_dir: Path, tmp_path: Path
) -> None:
    photos = list({p.plate: p for p in load_photos(photos_dir) if p.plate}.values())[:6]
    data = tmp_path / "engine"
    data.mkdir()
    url = f"sqlite:///{data / 'rufina_alpr.db'}"
    seed = Store(url, worker="test-seed")
    hotlists = Hotlists(seed)
    hotlists.create_list("stolen", "Stolen", "stolen", created_by="test")
    for photo in photos:
        assert photo.plate is not None
        hotlists.add_entry("stolen", photo.plate, "reported stolen", added_by="test")
    seed.close()

    replay = FrigateReplay(
        photos, cameras=["cam_pomino"], mqtt_host=mosquitto.host, mqtt_port=mosquitto.port, qos=1
    )
    await replay.start()
    alerts: list[dict[str, Any]] = []

    def on_alert(message: Message) -> None:
        alerts.append(json.loads(message.payload))

    collector = MqttLink(
        host=mosquitto.host,
        port=mosquitto.port,
        client_id="crash-test-alerts",
        subscriptions=(("rufina_alpr/hotlist_match", 1),),
        on_message=on_alert,
        clean_session=False,
        manual_ack=False,
    )
    await collector.start()
    config = write_engine_config(
        tmp_path / "engine.yaml",
        data_dir=data,
        broker=mosquitto,
        frigate_url=replay.url,
        models_dir=models_dir,
    )
    log = tmp_path / "engine.log"
    engine = engine_process(config, log, prelude=CRASH)
    try:
        replay_task = asyncio.create_task(replay.run(rate=2))
        returncode = await asyncio.to_thread(engine.wait, 300)
        assert returncode == 9, log.read_text()
        store = Store(url, worker="test-reader")
        # The transit being stored when the engine died is not there without its matches.
        assert all(found for found, _ in _matched_transits(store).values())
        before = store.passage_counts()
        store.close()

        engine = engine_process(config, log)
        event_ids = await asyncio.wait_for(replay_task, 180)
        store = Store(url, worker="test-reader")
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            counts = store.passage_counts()
            matched = _matched_transits(store)
            expected = sum(alerting for _, alerting in matched.values())
            if counts.read + counts.unread >= len(event_ids) and len(alerts) >= expected:
                break
            await asyncio.sleep(0.3)
        await asyncio.sleep(1.5)  # an alert sent twice would arrive meanwhile
        counts = store.passage_counts()
        matched = _matched_transits(store)
        store.close()
    finally:
        if engine.poll() is None:
            engine.terminate()
            engine.wait(timeout=30)
        await collector.stop()
        await replay.stop()
    print(
        f"\nbefore the restart {before.read} read; after it {counts.read} read, "
        f"{counts.unread} unread of {len(event_ids)}; {len(matched)} matched, "
        f"{len(alerts)} alerts"
    )
    assert counts.read + counts.unread == len(event_ids)
    assert counts.read > before.read  # the vehicle that was being stored, and the rest
    assert matched and all(found for found, _ in matched.values()), matched
    # Each alerting match raised once (provisional or confirmed): none lost, none doubled.
    published = Counter(alert["transit"]["id"] for alert in alerts)
    assert published == Counter({tid: n for tid, (_, n) in matched.items() if n})
    assert "Traceback" not in log.read_text()
