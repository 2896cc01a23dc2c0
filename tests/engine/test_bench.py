"""`rufina-alpr bench` on a small sample, and engine workers sharing Frigate's events.

No timing assertions: the figures depend on the machine. The structure of the JSON and the
table, and the accuracy counts against fast-alpr called directly, are checked.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from rufina_alpr.cli.demo import TransitCollector, engine_settings
from rufina_alpr.engine.app import Engine
from rufina_alpr.recognizer import OFFLINE_CROP_DETECTOR, OFFLINE_DETECTOR, Recognizer
from rufina_alpr.sim.broker import MosquittoBroker
from rufina_alpr.sim.pgtemp import TemporaryPostgres
from rufina_alpr.sim.photos import load_photos
from rufina_alpr.sim.replay import FrigateReplay
from rufina_alpr.store import passages, transits

from .conftest import TEST_STATIONS, direct_fast_alpr_count, require

pytestmark = pytest.mark.slow
SAMPLE = 6


def _bench(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """`rufina-alpr bench` in a process of its own, its table wide enough to read."""
    return subprocess.run(
        [sys.executable, "-m", "rufina_alpr", "bench", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
    )


def test_bench_sets_on_a_sample(tmp_path: Path, models_dir: Path, photos_dir: Path) -> None:
    """Accuracy per development set: each shared folder as it is, far and approaching, for the
    engine and for fast-alpr on the same pixels (whole frame, and the crop where there is a
    vehicle box), in the table and in bench.json."""
    require(MosquittoBroker.available(), "mosquitto (apt-get install mosquitto)")
    out = tmp_path / "out"
    completed = _bench(
        "sets",
        "--sets",
        str(photos_dir.parent),
        "--models",
        str(models_dir),
        "--limit",
        "2",
        "--out",
        str(out),
        timeout=600,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert "accuracy per set" in completed.stdout
    sets = {
        row["name"]: row for row in json.loads((out / "bench.json").read_text())["sets"]["sets"]
    }
    folders = [
        f for f in ("openalpr-eu-dev", "openalpr-us-dev") if (photos_dir.parent / f).is_dir()
    ]
    assert set(sets) == {f"{f}{kind}" for f in folders for kind in ("", " far", " approaching")}
    for name, row in sets.items():
        assert row["vehicles"] == 2, name
        for who in ("engine", "fast_alpr_frame", "fast_alpr_crop"):
            counts = row[who]
            if counts is None:  # no vehicle boxes: the crop is the frame
                assert who == "fast_alpr_crop" and not name.endswith((" far", " approaching"))
                continue
            assert counts["labelled"] == 2, (name, who)
            assert counts["exact"] + counts["wrong"] + counts["no_read"] <= 2
            assert counts["within_one"] >= counts["exact"]
        assert row["engine_cpu_ms_per_vehicle"] > 0
        # Approaching vehicles are read on record frames and, for comparison, on Frigate's
        # detect-stream snapshots (the default image_source); the other sets once.
        detect = row["engine_detect"]
        if name.endswith(" approaching"):
            assert detect["labelled"] == 2 and detect["within_one"] >= detect["exact"], name
        else:
            assert detect is None, name
    assert "engine, detect snapshots" in completed.stdout


def test_bench_command_on_a_sample(tmp_path: Path, models_dir: Path, photos_dir: Path) -> None:
    require(MosquittoBroker.available(), "mosquitto (apt-get install mosquitto)")
    require(TemporaryPostgres.available(), "PostgreSQL (apt-get install postgresql)")
    out = tmp_path / "out"
    completed = _bench(
        "--data",
        str(photos_dir),
        "--models",
        str(models_dir),
        "--limit",
        str(SAMPLE),
        "--events",
        "8",
        "--sweep-rates",
        "1,4",
        "--sweep-seconds",
        "2",
        "--workers",
        "2",
        "--out",
        str(out),
        "--no-sets",
        timeout=280,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    for heading in ("rufina-alpr bench", "raw fast-alpr", "ratio engine", "load sweep", "speed-up"):
        assert heading in completed.stdout
    report = json.loads((out / "bench.json").read_text())
    assert (out / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert report["options"]["photos"] == SAMPLE
    assert report["raw"]["detector"] == Path(OFFLINE_DETECTOR).stem
    assert report["raw_same_models"]["detector"] == Path(OFFLINE_CROP_DETECTOR).stem
    for run in ("raw", "raw_same_models"):
        for mode in ("single", "workers"):
            raw = report[run][mode]
            assert raw["images"] == SAMPLE
            assert raw["images_per_s"] > 0
            assert set(raw["latency_ms"]) == {"p50", "p95", "p99"}
        assert report[run]["workers"]["callers"] == report["options"]["recognition_workers"]
    engine = report["engine"]
    for key in (
        "vehicles_per_s",
        "latency_ms",
        "peak_rss_mb",
        "cpu_seconds_per_vehicle",
        "rig_cpu_seconds_per_vehicle",
    ):
        assert engine[key] is not None, key
    assert engine["burst"]["lost"] == 0
    assert engine["burst"]["duplicates"] == 0
    assert set(report["ratio"]) >= {
        "engine_vs_raw_throughput",
        "engine_vs_raw_same_models",
        "p95_latency_vs_one_inference",
    }
    ratio = report["ratio"]
    assert ratio["engine_vs_raw_throughput"] == round(
        engine["vehicles_per_s"] / ratio["raw_images_per_s_best"], 2
    )
    assert [s["offered_per_s"] for s in report["sweep"]] == [1.0, 4.0]
    for step in report["sweep"]:
        assert step["events"] == step["transits"] + step["unread"] + step["lost"]
    # Accuracy: the raw count is fast-alpr's own, as counted directly in the tests.
    photos = load_photos(photos_dir)[:SAMPLE]
    hits, _ = direct_fast_alpr_count(models_dir, photos)
    accuracy = report["accuracy"]
    assert accuracy["raw"]["exact"] == hits
    same_hits, _ = direct_fast_alpr_count(models_dir, photos, OFFLINE_CROP_DETECTOR)
    assert accuracy["raw_same_models"]["exact"] == same_hits
    for who in ("raw", "raw_same_models", "engine"):
        counts = accuracy[who]
        assert counts["labelled"] == SAMPLE
        assert counts["exact"] <= counts["within_one"]
        assert counts["within_one"] + counts["wrong"] + counts["no_read"] == SAMPLE
    scale = report["scale_out"]
    assert scale["processes"] == 2
    assert scale["duplicates"] == 0
    assert scale["lost"] == 0
    assert scale["events_with_outcome"] == scale["events_offered"]
    assert scale["speed_up"] is not None


async def test_two_workers_share_events_through_a_shared_subscription(  # noqa: PLR0917
    mosquitto: MosquittoBroker,
    recognizer: Recognizer,
    models_dir: Path,
    photos_dir: Path,
    fresh_postgres_url: str,
    tmp_path: Path,
) -> None:
    """Two engines on `$share/<group>/frigate/events` and one PostgreSQL: each event has exactly
    one outcome, no transit is published twice, none is lost, and both workers get work."""
    photos = load_photos(photos_dir)[:12] * 2
    replay = FrigateReplay(
        photos,
        cameras=[s.camera for s in TEST_STATIONS if s.reads_plates],
        mqtt_host=mosquitto.host,
        mqtt_port=mosquitto.port,
        qos=1,
    )
    await replay.start()
    received: list[dict[str, Any]] = []
    collector = TransitCollector(
        mosquitto.host, mosquitto.port, "rufina_alpr/transit", received.append
    )
    await collector.link.start()
    engines = []
    for name in ("w1", "w2"):
        settings = engine_settings(
            broker_host=mosquitto.host,
            broker_port=mosquitto.port,
            frigate_url=replay.url,
            data_dir=tmp_path / name,
            stations=TEST_STATIONS,
            models_dir=models_dir,
            extra={
                "store": {"url": fresh_postgres_url},
                "mqtt": {"shared_group": "rufina_test", "client_id": f"rufina-{name}"},
            },
        )
        engines.append(Engine(settings, recognizer))
    try:
        await asyncio.gather(*(engine.start() for engine in engines))
        await asyncio.wait_for(collector.link.connected.wait(), 10)
        for engine in engines:
            await asyncio.wait_for(engine.mqtt.connected.wait(), 10)
        await asyncio.sleep(0.5)
        ids = await replay.run(rate=4.0)
        db = sa.create_engine(fresh_postgres_url)

        def outcomes() -> list[str]:
            with db.connect() as connection:
                return [row[0] for row in connection.execute(sa.select(passages.c.event_id))]

        for _ in range(600):
            if len(await asyncio.to_thread(outcomes)) >= len(ids):
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)  # late duplicates, if any, would arrive now
        stored = await asyncio.to_thread(outcomes)
        assert sorted(stored) == sorted(ids)  # one outcome per event: none twice, none lost
        with db.connect() as connection:
            rows = connection.execute(sa.select(transits.c.event_id, transits.c.worker)).all()
        db.dispose()
        assert len({row[0] for row in rows}) == len(rows)
        assert {row[1].rsplit("/", 1)[-1] for row in rows} == {"rufina-w1", "rufina-w2"}
        assert collector.duplicates == 0
        assert sorted(t["event_id"] for t in received) == sorted(row[0] for row in rows)
        received_events = sum(e.metrics.counters["events_received"] for e in engines)
        assert received_events == 3 * len(ids)  # new, update, end: each delivered once
    finally:
        for engine in engines:
            await engine.stop(drain_timeout=2)
        await collector.link.stop()
        await replay.stop()
