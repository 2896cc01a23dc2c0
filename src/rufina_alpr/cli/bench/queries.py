"""`rufina-alpr bench queries`: query and purge times on a store holding a million transits.

(`rufina-alpr bench` without a sub-command is the engine benchmark: see `rufina_alpr.cli.bench`.)

It bulk-generates transits (with their passages) at the 15 plate-reading stations, about 12,000 a
day back from today, then times a route query, wildcard searches and the purge of one day of
traffic (the older days are rolled up and purged first, untimed, as a running engine would have).
"""

from __future__ import annotations

import random
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from rufina_alpr import privacy, tracking
from rufina_alpr.privacy.settings import Retention
from rufina_alpr.stations import default_registry_path, load_registry
from rufina_alpr.store import PASSAGE_READ, Store, passages, transits
from rufina_alpr.transits import transit_id

T = TypeVar("T")
PER_DAY = 12_000
_LETTERS = "ABCDEFGHJKLMNPRSTVWXYZ"


def _plates(rng: random.Random, count: int) -> list[str]:
    found: set[str] = set()
    while len(found) < count:
        found.add(
            "".join(rng.choice(_LETTERS) for _ in range(2))
            + f"{rng.randrange(1000):03d}"
            + "".join(rng.choice(_LETTERS) for _ in range(2))
        )
    return sorted(found)


def generate(store: Store, count: int, now: datetime, *, seed: int = 1) -> tuple[str, datetime]:
    """Insert ``count`` transits ending at ``now``; returns a busy plate and the oldest time."""
    rng = random.Random(seed)
    stations = [s.id for s in load_registry(default_registry_path()).stations if s.reads_plates]
    plates = _plates(rng, max(1000, count // 20))
    days = max(1, count // PER_DAY)
    oldest = now - timedelta(days=days)
    step = (now - oldest).total_seconds() / count
    busy = plates[0]
    created = datetime.now(UTC)
    batch_t: list[dict[str, Any]] = []
    batch_p: list[dict[str, Any]] = []

    def flush() -> None:
        with store.engine.begin() as connection:
            connection.execute(transits.insert(), batch_t)
            connection.execute(passages.insert(), batch_p)
        batch_t.clear()
        batch_p.clear()

    for index in range(count):
        moment = oldest + timedelta(seconds=index * step + rng.random() * step)
        plate = busy if index % 997 == 0 else plates[int(rng.paretovariate(1.2) * 7) % len(plates)]
        station = rng.choice(stations)
        event_id = f"{moment.timestamp():.6f}-b{index:07d}"
        tid = transit_id(station, event_id)
        batch_t.append(
            {
                "id": tid,
                "event_id": event_id,
                "station_id": station,
                "camera": station,
                "time": moment,
                "vehicle": "car",
                "plate": plate,
                "display": plate,
                "country": "IT",
                "format": "car",
                "confidence": 0.9,
                "low_confidence": False,
                "read_count": 2,
                "alternatives": [],
                "direction": "inbound" if station.endswith("_in") else "outbound",
                "frigate_plate": None,
                "hotlist": None,
                "worker": store.worker,
                "created_at": created,
                "published_at": created,
            }
        )
        batch_p.append(
            {
                "event_id": event_id,
                "station_id": station,
                "camera": station,
                "time": moment,
                "vehicle": "car",
                "direction": batch_t[-1]["direction"],
                "status": PASSAGE_READ,
                "reason": None,
                "transit_id": tid,
            }
        )
        if len(batch_t) >= 20_000:
            flush()
    if batch_t:
        flush()
    return busy, oldest


def _timed(function: Callable[[], T], repeat: int = 3) -> tuple[float, T]:
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - started)
    assert result is not None
    return best * 1000, result


def run(count: int, store_url: str | None) -> int:
    with tempfile.TemporaryDirectory(prefix="rufina-bench-") as folder:
        url = store_url or f"sqlite:///{Path(folder) / 'bench.db'}"
        store = Store(url, worker="bench")
        if store.count_transits():
            print("the store is not empty: give an empty database")
            return 2
        now = datetime.now(UTC).replace(microsecond=0)
        started = time.perf_counter()
        busy, oldest = generate(store, count, now)
        print(
            f"store {store.engine.dialect.name}: {store.count_transits():,} transits generated"
            f" in {time.perf_counter() - started:.1f} s"
        )
        if store.engine.dialect.name == "postgresql":
            with store.engine.begin() as connection:
                connection.exec_driver_sql("ANALYZE")
        week = (now - timedelta(days=7), now)
        ms, journeys = _timed(lambda: tracking.route(store, busy, oldest, now))
        stops = sum(len(j.transits) for j in journeys)
        print(
            f"route of one plate over all days: {ms:.1f} ms"
            f" ({len(journeys)} journeys, {stops} transits)"
        )
        for pattern in (busy[:3] + "*", "??" + busy[2:5] + "??", "*" + busy[-3:]):
            ms, found = _timed(lambda p=pattern: tracking.search(store, p, limit=100))  # type: ignore[misc]
            print(
                f"wildcard search {pattern!r} (all days, first 100): {ms:.1f} ms"
                f" ({len(found)} found)"
            )
            ms, found = _timed(
                lambda p=pattern: tracking.search(store, p, start=week[0], end=week[1], limit=100)  # type: ignore[misc]
            )
            print(
                f"wildcard search {pattern!r} (last 7 days, first 100): {ms:.1f} ms"
                f" ({len(found)} found)"
            )
        retention = Retention()  # 7 days of each kind, the defaults
        first_purge = oldest + retention.of("transits") + timedelta(days=count // PER_DAY - 8)
        started = time.perf_counter()
        report = privacy.purge(store, first_purge, retention)
        print(
            f"catch-up purge (older days, untimed in the figures): {report.transits:,} transits"
            f" in {time.perf_counter() - started:.1f} s"
        )
        started = time.perf_counter()
        report = privacy.purge(store, first_purge + timedelta(days=1), retention)
        elapsed = time.perf_counter() - started
        print(
            f"purge of one day of traffic: {elapsed * 1000:.0f} ms ({report.transits:,} transits,"
            f" {report.passages:,} passages, rollup included)"
        )
        store.close()
    return 0
