"""`rufina-alpr bench`: accuracy, throughput against raw fast-alpr, latency, memory, scale-out.

One run on a folder of labelled photos (``labels.csv``: ``file,x,y,w,h,plate``):

1. **raw baseline** — fast-alpr called directly on each photo (the same models), one caller thread
   (onnxruntime with as many threads as the engine uses in all), then as many caller threads as
   the engine has recognition workers (one onnxruntime thread each, as the engine runs);
2. **engine end to end** — a real Mosquitto, the Frigate replay serving the photos through
   Frigate's HTTP paths and MQTT messages, and the engine as its own process(es) (``rufina-alpr
   serve``): latency from Frigate's ``end`` to the transit on MQTT at a moderate load, sustained
   vehicles per second under a saturating load, peak RSS and CPU seconds per vehicle;
3. the ratio engine ÷ raw, and the accuracy of both (exact with O = 0, at most one character
   wrong, no read);
4. a load sweep — offered events per second from 1 to past saturation: achieved rate, latency,
   queue (events ended but not yet answered), late and lost events;
5. with ``--workers N`` (N > 1): N engine processes sharing Frigate's events through an MQTT shared
   subscription and one PostgreSQL, on the same events: speed-up, duplicates, losses.

It prints a table, and writes ``bench.json`` and ``bench.png`` (the load sweep) to ``--out``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from rufina_alpr.cli.demo import TransitCollector, demo_stations
from rufina_alpr.mqtt import Message, MqttLink
from rufina_alpr.paths import default_models_dir, default_photos_dir, default_registry
from rufina_alpr.plate_formats import edit_distance
from rufina_alpr.sim.broker import MosquittoBroker
from rufina_alpr.sim.replay import FrigateReplay, Photo, load_photos
from rufina_alpr.stations import Station

_LOGGER = logging.getLogger(__name__)
BENCH_TOKEN = "bench-token-not-for-production"
RECOGNITION_WORKERS = 2


# ----------------------------------------------------------------------------------- accuracy
def _norm(plate: str) -> str:
    return plate.upper().replace(" ", "").replace("-", "").replace("O", "0")


@dataclass(slots=True)
class Accuracy:
    """Counts over labelled photos: ``within_one`` includes ``exact``."""

    labelled: int = 0
    exact: int = 0
    within_one: int = 0
    wrong: int = 0
    no_read: int = 0

    def add(self, read: str | None, label: str | None) -> None:
        if not label:
            return
        self.labelled += 1
        if not read:
            self.no_read += 1
            return
        distance = edit_distance(_norm(read), _norm(label))
        self.exact += distance == 0
        self.within_one += distance <= 1
        self.wrong += distance > 1


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "p99": None}
    cuts = np.percentile(np.array(values), [50, 95, 99])
    return {
        "p50": round(float(cuts[0]), 1),
        "p95": round(float(cuts[1]), 1),
        "p99": round(float(cuts[2]), 1),
    }


# ----------------------------------------------------------------------------------- raw
@dataclass(slots=True)
class RawResult:
    callers: int
    onnx_threads: int
    images: int
    seconds: float
    images_per_s: float
    latency_ms: dict[str, float | None]


def direct_alpr(models_dir: Path, threads: int, detector: str | None = None) -> Any:
    """fast-alpr's ALPR with the engine's offline models (``detector``: a file in
    ``models_dir``, by default the whole-frame one), as a user would call it."""
    from fast_alpr import ALPR  # noqa: PLC0415
    from fast_alpr.default_ocr import DefaultOCR  # noqa: PLC0415

    from rufina_alpr.detectors import YoloV8OnnxDetector  # noqa: PLC0415
    from rufina_alpr.recognizer import (  # noqa: PLC0415
        OFFLINE_DETECTOR,
        OFFLINE_OCR,
        OFFLINE_OCR_CONFIG,
        session_options,
    )

    options = session_options(threads)
    return ALPR(
        detector=YoloV8OnnxDetector(
            models_dir / (detector or OFFLINE_DETECTOR), sess_options=options
        ),
        ocr=DefaultOCR(
            model_path=models_dir / OFFLINE_OCR,
            config_path=models_dir / OFFLINE_OCR_CONFIG,
            device="cpu",
            sess_options=options,
        ),
    )


def direct_plate(alpr: Any, photo: Photo) -> str | None:
    """fast-alpr's most confident plate on the photo (detector confidence), None: no read."""
    results = [r for r in alpr.predict(str(photo.path)) if r.ocr and r.ocr.text]
    results.sort(key=lambda r: r.detection.confidence, reverse=True)
    return str(results[0].ocr.text) if results else None


def raw_run(
    alpr: Any, photos: list[Photo], callers: int, threads: int, advance: Callable[[], None]
) -> tuple[RawResult, list[str | None]]:
    def one(photo: Photo) -> tuple[float, str | None]:
        started = time.perf_counter()
        plate = direct_plate(alpr, photo)
        elapsed = time.perf_counter() - started
        advance()
        return elapsed, plate

    direct_plate(alpr, photos[0])  # warm-up (first run allocates)
    started = time.perf_counter()
    with ThreadPoolExecutor(callers) as pool:
        done = list(pool.map(one, photos))
    seconds = time.perf_counter() - started
    result = RawResult(
        callers=callers,
        onnx_threads=threads,
        images=len(photos),
        seconds=round(seconds, 3),
        images_per_s=round(len(photos) / seconds, 2),
        latency_ms=percentiles([d[0] * 1000 for d in done]),
    )
    return result, [d[1] for d in done]


# ----------------------------------------------------------------------------------- engine
def _proc_cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime, stime


def _proc_peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return 0.0


class EngineProcess:
    """``rufina-alpr serve`` with a generated settings file, as its own process."""

    def __init__(self, name: str, folder: Path, settings: dict[str, Any]) -> None:
        self.name = name
        folder.mkdir(parents=True, exist_ok=True)
        self.config = folder / "settings.yaml"
        self.config.write_text(yaml.safe_dump(settings))
        self.log = folder / "engine.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.peak_rss_mb = 0.0
        self.cpu_seconds = 0.0

    def start(self) -> None:
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "rufina_alpr", "serve", "-c", str(self.config)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    async def ready(self, wait_s: float = 60.0) -> None:
        deadline = time.monotonic() + wait_s
        assert self.process is not None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"engine {self.name} exited: {self.log.read_text()[-2000:]}")
            if "connected to MQTT broker" in self.log.read_text(errors="replace"):
                await asyncio.sleep(0.5)  # its subscriptions
                return
            await asyncio.sleep(0.1)
        raise RuntimeError(f"engine {self.name} did not connect: {self.log.read_text()[-2000:]}")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def cpu(self) -> float:
        return _proc_cpu_seconds(self.pid)

    def stop(self) -> None:
        if self.process is None:
            return
        self.peak_rss_mb = _proc_peak_rss_mb(self.process.pid)
        self.cpu_seconds = _proc_cpu_seconds(self.process.pid)
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class TimedReplay(FrigateReplay):
    """The Frigate replay, noting when each event's ``end`` went out."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ended: dict[str, float] = {}

    async def publish(self, message: dict[str, Any] | bytes) -> None:
        if isinstance(message, dict) and message.get("type") == "end":
            self.ended[message["after"]["id"]] = time.monotonic()
        await super().publish(message)


@dataclass(slots=True)
class PhaseResult:
    """What happened to a batch of offered events."""

    offered_per_s: float
    events: int
    transits: int
    unread: int
    lost: int
    late: int
    duplicates: int
    vehicles_per_s: float | None
    latency_ms: dict[str, float | None]
    max_queue: int
    seconds: float
    cpu_seconds_per_vehicle: float | None = None
    rig_cpu_seconds_per_vehicle: float | None = None
    """The benchmark's own part on the same cores: the Frigate replay, the transit subscriber
    and Mosquitto (raw fast-alpr runs without it)."""
    plates: dict[str, str | None] = field(default_factory=dict)


class Rig:
    """Mosquitto + the replay + a transit subscriber + engine process(es) on one store."""

    def __init__(
        self,
        *,
        broker: MosquittoBroker,
        stations: list[Station],
        models_dir: Path | None,
        photos: list[Photo],
        folder: Path,
        late_ms: float,
        model_threads: int = 1,
    ) -> None:
        self.model_threads = model_threads
        self.broker = broker
        self.stations = stations
        self.models_dir = models_dir
        self.photos = photos
        self.folder = folder
        self.late_ms = late_ms
        self.replay = TimedReplay(
            photos,
            cameras=[s.camera for s in stations],
            mqtt_host=broker.host,
            mqtt_port=broker.port,
            qos=1,
        )
        self.arrived: dict[str, float] = {}
        self.plates: dict[str, str] = {}
        self.counters: dict[str, dict[str, int]] = {}
        self.collector = TransitCollector(
            broker.host, broker.port, "rufina_alpr/transit", self._on_transit
        )
        self.stats_link = MqttLink(
            host=broker.host,
            port=broker.port,
            client_id=f"rufina-bench-stats-{time.monotonic_ns()}",
            subscriptions=(("rufina_alpr/stats", 0),),
            on_message=self._on_stats,
            clean_session=True,
            manual_ack=False,
        )
        self.engines: list[EngineProcess] = []
        self.store_url: str | None = None
        self._cycle = itertools.cycle(photos)
        self._camera = itertools.cycle([s.camera for s in stations])

    def _on_transit(self, payload: dict[str, Any]) -> None:
        self.arrived[payload["event_id"]] = time.monotonic()
        self.plates[payload["event_id"]] = payload["plate"]

    def _on_stats(self, message: Message) -> None:
        try:
            payload = json.loads(message.payload)
            self.counters[message.topic] = payload.get("counters", {})
        except ValueError:
            pass

    async def start(self) -> None:
        await asyncio.to_thread(self.replay.preload_clean_copies)
        await self.replay.start()
        await self.collector.link.start()
        await self.stats_link.start()
        await asyncio.wait_for(self.collector.link.connected.wait(), 15)

    async def stop(self) -> None:
        self.stop_engines()
        await self.collector.link.stop()
        await self.stats_link.stop()
        await self.replay.stop()

    def settings(self, name: str, store_url: str, shared_group: str | None) -> dict[str, Any]:
        return {
            "instance": "bench",
            "log_level": "info",
            "data_dir": str(self.folder / name),
            "mqtt": {
                "host": self.broker.host,
                "port": self.broker.port,
                "client_id": f"rufina-bench-{name}",
                **({"shared_group": shared_group} if shared_group else {}),
            },
            "frigate": {"url": self.replay.url, "timeout": 10, "retries": 2},
            "models": {
                "dir": str(self.models_dir) if self.models_dir else None,
                "threads": self.model_threads,
            },
            "recognition": {"workers": RECOGNITION_WORKERS},
            "store": {"url": store_url},
            "api": {"port": 0, "token": BENCH_TOKEN},
            "stats_interval": 1,
            "stations": [
                {
                    "id": s.id,
                    "name": s.name,
                    "camera": s.camera,
                    "kind": s.kind,
                    **({"direction": s.direction} if s.direction else {}),
                }
                for s in self.stations
            ],
        }

    async def start_engines(self, count: int, store_url: str, tag: str) -> None:
        self.store_url = store_url
        group = "rufina_bench" if count > 1 else None
        self.engines = [
            EngineProcess(
                f"{tag}-{n}",
                self.folder / f"{tag}-{n}",
                self.settings(f"{tag}-{n}", store_url, group),
            )
            for n in range(1, count + 1)
        ]
        for engine in self.engines:
            engine.start()
        for engine in self.engines:
            await engine.ready()

    def stop_engines(self) -> None:
        for engine in self.engines:
            engine.stop()

    def _outcomes(self, ids: list[str]) -> dict[str, str]:
        """event id -> passage status, from the store (every outcome has a passage row)."""
        import sqlalchemy as sa  # noqa: PLC0415

        from rufina_alpr.store import passages  # noqa: PLC0415

        assert self.store_url is not None
        engine = sa.create_engine(self.store_url)
        found: dict[str, str] = {}
        try:
            with engine.connect() as connection:
                for start in range(0, len(ids), 500):
                    chunk = ids[start : start + 500]
                    rows = connection.execute(
                        sa.select(passages.c.event_id, passages.c.status).where(
                            passages.c.event_id.in_(chunk)
                        )
                    )
                    found.update({row[0]: row[1] for row in rows})
        finally:
            engine.dispose()
        return found

    def count_passages(self) -> tuple[int, int]:
        """(passage rows, distinct event ids) in the store."""
        import sqlalchemy as sa  # noqa: PLC0415

        from rufina_alpr.store import passages  # noqa: PLC0415

        assert self.store_url is not None
        engine = sa.create_engine(self.store_url)
        try:
            with engine.connect() as connection:
                rows = connection.execute(sa.select(sa.func.count()).select_from(passages))
                distinct = connection.execute(
                    sa.select(sa.func.count(sa.distinct(passages.c.event_id)))
                )
                return int(rows.scalar_one()), int(distinct.scalar_one())
        finally:
            engine.dispose()

    async def offer(
        self,
        count: int,
        rate: float,
        advance: Callable[[], None] | None = None,
        photos: list[Photo] | None = None,
        drain_timeout: float | None = None,
    ) -> PhaseResult:
        """Offer ``count`` vehicles at ``rate`` a second (photos in turn), wait for outcomes."""
        cpu_before = sum(e.cpu() for e in self.engines)
        rig_before = self._rig_cpu()
        duplicates_before = self.collector.duplicates
        source = iter(photos) if photos is not None else self._cycle
        started = time.monotonic()
        tasks: list[asyncio.Task[str]] = []
        max_queue = 0
        for index in range(count):
            due = started + index / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            photo = next(source)
            tasks.append(asyncio.create_task(self.replay.replay_one(photo, next(self._camera))))
            max_queue = max(max_queue, self._queue(tasks))
        ids = list(await asyncio.gather(*tasks))
        timeout = drain_timeout or 60 + count * 1.0
        deadline = time.monotonic() + timeout
        statuses: dict[str, str] = {}
        while time.monotonic() < deadline:
            statuses = await asyncio.to_thread(self._outcomes, ids)
            read = [i for i, s in statuses.items() if s == "read"]
            done = len(statuses)
            max_queue = max(max_queue, len(ids) - done)
            if advance is not None:
                for _ in range(done - getattr(self, "_advanced", 0)):
                    advance()
                self._advanced = done
            if done >= len(ids) and all(i in self.arrived for i in read):
                break
            await asyncio.sleep(0.25)
        self._advanced = 0
        seconds = time.monotonic() - started
        cpu = sum(e.cpu() for e in self.engines) - cpu_before
        rig = self._rig_cpu() - rig_before
        latencies = [
            (self.arrived[i] - self.replay.ended[i]) * 1000
            for i in ids
            if i in self.arrived and i in self.replay.ended
        ]
        arrivals = sorted(self.arrived[i] for i in ids if i in self.arrived)
        rate_done = (
            (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])
            if len(arrivals) > 2 and arrivals[-1] > arrivals[0]
            else None
        )
        transits = sum(1 for i in ids if i in self.arrived)
        unread = sum(1 for i in ids if statuses.get(i) == "unread")
        return PhaseResult(
            offered_per_s=rate,
            events=count,
            transits=transits,
            unread=unread,
            lost=len(ids) - len(statuses),
            late=sum(1 for value in latencies if value > self.late_ms),
            duplicates=self.collector.duplicates - duplicates_before,
            vehicles_per_s=round(rate_done, 2) if rate_done else None,
            latency_ms=percentiles(latencies),
            max_queue=max_queue,
            seconds=round(seconds, 2),
            cpu_seconds_per_vehicle=round(cpu / count, 4) if self.engines else None,
            rig_cpu_seconds_per_vehicle=round(rig / count, 4),
            plates={i: self.plates.get(i) for i in ids},
        )

    def _rig_cpu(self) -> float:
        own = time.process_time()
        return own + (_proc_cpu_seconds(self.broker.pid) if self.broker.pid else 0.0)

    def _queue(self, tasks: list[asyncio.Task[str]]) -> int:
        ended = [i for i in self.replay.ended if i not in self.arrived]
        return len(ended)


# ----------------------------------------------------------------------------------- the run
@dataclass(slots=True)
class BenchOptions:
    data: Path
    models_dir: Path | None
    limit: int | None = None
    workers: int = 1
    out: Path | None = None
    events: int | None = None
    sweep_rates: list[float] | None = None
    sweep_seconds: float = 8.0
    late_ms: float = 1000.0
    store_url: str | None = None
    model_threads: int = 1


@contextmanager
def _postgres_when(needed: bool) -> Iterator[Any]:
    if not needed:
        yield None
        return
    from rufina_alpr.sim.pgtemp import TemporaryPostgres  # noqa: PLC0415

    server = TemporaryPostgres()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _stations() -> list[Station]:
    return demo_stations(default_registry(), 15)


def _engine_accuracy(photos: list[Photo], result: PhaseResult) -> Accuracy:
    accuracy = Accuracy()
    for (_event, plate), photo in zip(result.plates.items(), photos, strict=True):
        accuracy.add(plate, photo.plate)
    return accuracy


async def _engine_phases(
    options: BenchOptions,
    photos: list[Photo],
    rates: tuple[float, float],
    progress: Progress,
    report: dict[str, Any],
) -> None:
    """``rates``: raw fast-alpr's best images/s with the whole-frame detector (the latency is
    measured at half of it) and the best of all raw runs (the burst and the load sweep go past
    it, so that they reach the engine's saturation)."""
    raw_rate, top_rate = rates
    broker = MosquittoBroker()
    await broker.start()
    with (
        tempfile.TemporaryDirectory(prefix="rufina-bench-") as folder,
        _postgres_when(options.workers > 1 and not options.store_url) as postgres,
    ):
        rig = Rig(
            broker=broker,
            stations=_stations(),
            models_dir=options.models_dir,
            photos=photos,
            folder=Path(folder),
            late_ms=options.late_ms,
            model_threads=options.model_threads,
        )
        await rig.start()
        try:

            def store_for(tag: str) -> str:
                if postgres is not None:
                    return str(postgres.create_database(f"bench_{tag}"))
                if options.store_url:
                    return options.store_url
                return f"sqlite:///{Path(folder) / f'{tag}.db'}"

            await rig.start_engines(1, store_for("one"), "one")
            warm = min(4, len(photos))
            await rig.offer(warm, 2.0)
            # Latency and accuracy: every photo once, at half the raw throughput.
            task = progress.add_task("engine: latency, accuracy", total=len(photos))
            latency_rate = max(1.0, round(raw_rate / 2, 1))
            latency = await rig.offer(
                len(photos), latency_rate, lambda: progress.advance(task), photos=photos
            )
            # Throughput: a saturating burst (three times the raw throughput).
            events = options.events or max(3 * len(photos), 30)
            task = progress.add_task("engine: throughput", total=events)
            burst_rate = max(2.0, round(3 * top_rate, 1))
            burst = await rig.offer(events, burst_rate, lambda: progress.advance(task))
            one = rig.engines[0]
            # Load sweep.
            sweep_rates = options.sweep_rates or sorted(
                {1.0, *(round(top_rate * f, 1) for f in (0.25, 0.5, 0.75, 0.9, 1.1, 1.5))}
            )
            sweep_rates = [r for r in sweep_rates if r >= 1.0] or [1.0]
            counts = [max(4, round(r * options.sweep_seconds)) for r in sweep_rates]
            task = progress.add_task("engine: load sweep", total=sum(counts))
            sweep = []
            for rate, count in zip(sweep_rates, counts, strict=True):
                step = await rig.offer(count, rate, lambda: progress.advance(task))
                sweep.append(step)
            rig.stop_engines()
            counters = dict(rig.counters.get("rufina_alpr/stats", {}))
            report["engine"] = {
                "processes": 1,
                "recognition_workers": RECOGNITION_WORKERS,
                "store": rig.store_url.split("://")[0] if rig.store_url else None,
                "vehicles_per_s": burst.vehicles_per_s,
                "burst": _phase_json(burst),
                "latency_load_per_s": latency_rate,
                "latency_ms": latency.latency_ms,
                "latency": _phase_json(latency),
                "peak_rss_mb": one.peak_rss_mb,
                "cpu_seconds_per_vehicle": burst.cpu_seconds_per_vehicle,
                "rig_cpu_seconds_per_vehicle": burst.rig_cpu_seconds_per_vehicle,
                "counters": counters,
            }
            report["accuracy"]["engine"] = asdict(_engine_accuracy(photos, latency))
            report["sweep"] = [_phase_json(step) for step in sweep]
            if options.workers > 1:
                # Frigate's event list without the earlier phases: the new workers would
                # reconcile them (a fresh database has no outcome for them).
                rig.replay.records.clear()
                await rig.start_engines(options.workers, store_for("many"), "many")
                await rig.offer(warm * options.workers, 2.0)
                task = progress.add_task(f"engine x{options.workers}: throughput", total=events)
                many = await rig.offer(events, burst_rate, lambda: progress.advance(task))
                rows, distinct = await asyncio.to_thread(rig.count_passages)
                rig.stop_engines()
                offered = events + warm * options.workers
                report["scale_out"] = {
                    "processes": options.workers,
                    "shared_group": "rufina_bench",
                    "store": "postgresql",
                    "vehicles_per_s_one": burst.vehicles_per_s,
                    "vehicles_per_s": many.vehicles_per_s,
                    "speed_up": (
                        round(many.vehicles_per_s / burst.vehicles_per_s, 2)
                        if many.vehicles_per_s and burst.vehicles_per_s
                        else None
                    ),
                    "events_offered": offered,
                    "passages_stored": rows,
                    "events_with_outcome": distinct,
                    "duplicates": rows - distinct + many.duplicates,
                    "lost": offered - distinct,
                    "transits_by_process": _transits_by_worker(rig),
                    "peak_rss_mb": [e.peak_rss_mb for e in rig.engines],
                    "cpu_seconds_per_vehicle": many.cpu_seconds_per_vehicle,
                    "burst": _phase_json(many),
                }
        finally:
            await rig.stop()
            await broker.stop()
            broker.cleanup()


def _transits_by_worker(rig: Rig) -> dict[str, int]:
    import sqlalchemy as sa  # noqa: PLC0415

    from rufina_alpr.store import transits  # noqa: PLC0415

    assert rig.store_url is not None
    engine = sa.create_engine(rig.store_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.select(transits.c.worker, sa.func.count()).group_by(transits.c.worker)
            )
            return {str(row[0]): int(row[1]) for row in rows}
    finally:
        engine.dispose()


def _phase_json(phase: PhaseResult) -> dict[str, Any]:
    data = asdict(phase)
    data.pop("plates")
    return data


def _raw_phase(
    models_dir: Path, detector: str, photos: list[Photo], progress: Progress
) -> dict[str, Any]:
    """fast-alpr called directly with ``detector``: one caller with the engine's worker count of
    onnxruntime threads, then as many callers as workers with one thread each."""
    name = Path(detector).stem
    result: dict[str, Any] = {"detector": name}
    task = progress.add_task(f"raw {name}, 1 caller", total=len(photos))
    alpr = direct_alpr(models_dir, RECOGNITION_WORKERS, detector)
    single, plates = raw_run(alpr, photos, 1, RECOGNITION_WORKERS, lambda: progress.advance(task))
    del alpr
    accuracy = Accuracy()
    for plate, photo in zip(plates, photos, strict=True):
        accuracy.add(plate, photo.plate)
    task = progress.add_task(f"raw {name}, {RECOGNITION_WORKERS} callers", total=len(photos))
    alpr = direct_alpr(models_dir, 1, detector)
    pooled, _ = raw_run(alpr, photos, RECOGNITION_WORKERS, 1, lambda: progress.advance(task))
    del alpr
    result.update(single=asdict(single), workers=asdict(pooled), accuracy=asdict(accuracy))
    return result


def _best_raw(raw: dict[str, Any]) -> float:
    return float(max(raw["single"]["images_per_s"], raw["workers"]["images_per_s"]))


def run_bench(options: BenchOptions, console: Console) -> dict[str, Any]:
    from rufina_alpr.recognizer import OFFLINE_CROP_DETECTOR, OFFLINE_DETECTOR  # noqa: PLC0415

    photos = load_photos(options.data)
    if options.limit:
        photos = photos[: options.limit]
    if not photos:
        raise FileNotFoundError(f"no photos in {options.data}")
    if options.models_dir is None:
        raise FileNotFoundError("the benchmark needs the offline models folder (--models)")
    if not MosquittoBroker.available():
        raise RuntimeError("the benchmark needs mosquitto (apt-get install mosquitto)")
    report: dict[str, Any] = {
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average": [round(v, 2) for v in os.getloadavg()],
        },
        "options": {
            "data": str(options.data),
            "photos": len(photos),
            "workers": options.workers,
            "recognition_workers": RECOGNITION_WORKERS,
            "late_ms": options.late_ms,
            "model_threads": options.model_threads,
        },
        "accuracy": {},
    }
    progress = Progress(
        TextColumn("{task.description:<32}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )
    with progress:
        raw = _raw_phase(options.models_dir, OFFLINE_DETECTOR, photos, progress)
        report["raw"] = raw
        report["accuracy"]["raw"] = raw.pop("accuracy")
        # The engine reads inside vehicle boxes with its crop detector: fast-alpr with that
        # same model tells the engine's own overhead apart from the choice of model.
        if (options.models_dir / OFFLINE_CROP_DETECTOR).is_file():
            same = _raw_phase(options.models_dir, OFFLINE_CROP_DETECTOR, photos, progress)
            report["raw_same_models"] = same
            report["accuracy"]["raw_same_models"] = same.pop("accuracy")
        same = report.get("raw_same_models") or raw
        best = _best_raw(raw)
        asyncio.run(
            _engine_phases(options, photos, (best, max(best, _best_raw(same))), progress, report)
        )
    engine = report["engine"]
    one_inference = same["single"]["latency_ms"]["p50"] or 0.0
    rate = engine["vehicles_per_s"]
    report["ratio"] = {
        "engine_vs_raw_throughput": round(rate / best, 2) if rate else None,
        "raw_images_per_s_best": best,
        "engine_vs_raw_same_models": round(rate / _best_raw(same), 2) if rate else None,
        "raw_same_models_images_per_s_best": _best_raw(same),
        "one_inference_ms": one_inference,
        "p95_latency_vs_one_inference": (
            round(engine["latency_ms"]["p95"] / one_inference, 2)
            if engine["latency_ms"]["p95"] and one_inference
            else None
        ),
    }
    report.setdefault("scale_out", None)
    if options.out is not None:
        options.out.mkdir(parents=True, exist_ok=True)
        (options.out / "bench.json").write_text(json.dumps(report, indent=2))
        draw_chart(report, options.out / "bench.png")
    return report


# ----------------------------------------------------------------------------------- output
def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


def print_report(report: dict[str, Any], console: Console) -> None:
    raw, engine, ratio = report["raw"], report["engine"], report["ratio"]
    table = Table(
        title=f"rufina-alpr bench — {report['options']['photos']} photos", show_lines=False
    )
    table.add_column("measure")
    table.add_column("value", justify="right")
    for run in (raw, report.get("raw_same_models")):
        if run is None:
            continue
        single, pooled = run["single"], run["workers"]
        table.add_row(
            f"raw fast-alpr {run['detector']}, 1 caller ({single['onnx_threads']} onnx threads):"
            " images/s",
            f"{single['images_per_s']:.2f}",
        )
        table.add_row(
            "  per-image latency p50 / p95",
            f"{_ms(single['latency_ms']['p50'])} / {_ms(single['latency_ms']['p95'])}",
        )
        table.add_row(
            f"raw fast-alpr {run['detector']}, {pooled['callers']} callers (1 onnx thread each):"
            " images/s",
            f"{pooled['images_per_s']:.2f}",
        )
        table.add_row(
            "  per-image latency p50 / p95",
            f"{_ms(pooled['latency_ms']['p50'])} / {_ms(pooled['latency_ms']['p95'])}",
        )
    table.add_row("engine (1 process): vehicles/s sustained", f"{engine['vehicles_per_s']}")
    table.add_row(
        f"ratio engine ÷ best raw {raw['detector']}", f"{ratio['engine_vs_raw_throughput']}"
    )
    if report.get("raw_same_models"):
        table.add_row(
            f"ratio engine ÷ best raw {report['raw_same_models']['detector']} (same models)",
            f"{ratio['engine_vs_raw_same_models']}",
        )
    lat = engine["latency_ms"]
    table.add_row(
        f"end → transit latency p50 / p95 / p99 (at {engine['latency_load_per_s']} ev/s)",
        f"{_ms(lat['p50'])} / {_ms(lat['p95'])} / {_ms(lat['p99'])}",
    )
    table.add_row(
        f"p95 ÷ one inference (raw p50 {ratio['one_inference_ms']:.0f} ms)",
        f"{ratio['p95_latency_vs_one_inference']}",
    )
    table.add_row("engine peak RSS", f"{engine['peak_rss_mb']:.0f} MB")
    table.add_row("engine CPU per vehicle (saturated)", f"{engine['cpu_seconds_per_vehicle']} s")
    table.add_row(
        "  benchmark rig CPU per vehicle (replay, subscriber, Mosquitto)",
        f"{engine['rig_cpu_seconds_per_vehicle']} s",
    )
    counters = engine.get("counters") or {}
    if counters:
        table.add_row(
            "engine reads done / optional reads skipped",
            f"{counters.get('reads_done', 0)} / {counters.get('reads_skipped_busy', 0)}",
        )
    for who in ("raw", "raw_same_models", "engine"):
        acc = report["accuracy"].get(who)
        if acc is None:
            continue
        table.add_row(
            f"accuracy {who}: exact / ≤1 char wrong / no read (of {acc['labelled']})",
            f"{acc['exact']} / {acc['within_one']} / {acc['no_read']}",
        )
    scale = report.get("scale_out")
    if scale:
        table.add_row(
            f"{scale['processes']} processes (shared subscription, PostgreSQL): vehicles/s",
            f"{scale['vehicles_per_s']} (1 process: {scale['vehicles_per_s_one']})",
        )
        table.add_row("  speed-up", f"{scale['speed_up']}")
        table.add_row(
            "  events offered / with outcome / duplicates / lost",
            f"{scale['events_offered']} / {scale['events_with_outcome']} / "
            f"{scale['duplicates']} / {scale['lost']}",
        )
        table.add_row(
            "  transits by process",
            ", ".join(f"{k.split('/')[-1]}: {v}" for k, v in scale["transits_by_process"].items()),
        )
        table.add_row(
            "  peak RSS per process", ", ".join(f"{v:.0f} MB" for v in scale["peak_rss_mb"])
        )
    console.print(table)
    sweep = Table(title=f"load sweep (late: latency > {report['options']['late_ms']:.0f} ms)")
    for column in (
        "offered/s",
        "events",
        "done/s",
        "p50",
        "p95",
        "p99",
        "max queue",
        "late",
        "unread",
        "lost",
    ):
        sweep.add_column(column, justify="right")
    for step in report["sweep"]:
        sweep.add_row(
            f"{step['offered_per_s']}",
            str(step["events"]),
            "-" if step["vehicles_per_s"] is None else f"{step['vehicles_per_s']}",
            _ms(step["latency_ms"]["p50"]),
            _ms(step["latency_ms"]["p95"]),
            _ms(step["latency_ms"]["p99"]),
            str(step["max_queue"]),
            str(step["late"]),
            str(step["unread"]),
            str(step["lost"]),
        )
    console.print(sweep)


def draw_chart(report: dict[str, Any], path: Path) -> None:
    """The load sweep as a PNG (OpenCV, already needed by the recognizer): p95 latency and
    achieved rate against the offered rate."""
    import cv2  # noqa: PLC0415

    width, height, left, bottom, top, right = 900, 520, 80, 60, 50, 80
    image = np.full((height, width, 3), 255, dtype=np.uint8)
    steps = report["sweep"]
    xs = [s["offered_per_s"] for s in steps]
    p95 = [s["latency_ms"]["p95"] or 0.0 for s in steps]
    done = [s["vehicles_per_s"] or 0.0 for s in steps]
    x_max = max([*xs, 1.0]) * 1.05
    y_max = max([*p95, 1.0]) * 1.1
    r_max = max([*done, *xs, 1.0]) * 1.1

    def point(x: float, y: float, top_value: float) -> tuple[int, int]:
        px = left + int((width - left - right) * x / x_max)
        py = height - bottom - int((height - bottom - top) * y / top_value)
        return px, py

    black, blue, red = (0, 0, 0), (200, 80, 0), (0, 0, 200)
    cv2.line(image, (left, height - bottom), (width - right, height - bottom), black, 1)
    cv2.line(image, (left, top), (left, height - bottom), black, 1)
    cv2.line(image, (width - right, top), (width - right, height - bottom), black, 1)
    font = cv2.FONT_HERSHEY_SIMPLEX
    for fraction in (0, 0.25, 0.5, 0.75, 1.0):
        _, y = point(0, y_max * fraction, y_max)
        cv2.putText(image, f"{y_max * fraction:.0f}", (5, y + 4), font, 0.4, red, 1)
        cv2.putText(
            image, f"{r_max * fraction:.1f}", (width - right + 5, y + 4), font, 0.4, blue, 1
        )
    for x in xs:
        px, _ = point(x, 0, 1)
        cv2.putText(image, f"{x:g}", (px - 8, height - bottom + 18), font, 0.4, black, 1)
    for series, top_value, colour in ((p95, y_max, red), (done, r_max, blue)):
        points = [point(x, y, top_value) for x, y in zip(xs, series, strict=True)]
        for a, b in itertools.pairwise(points):
            cv2.line(image, a, b, colour, 2, cv2.LINE_AA)
        for p in points:
            cv2.circle(image, p, 4, colour, -1)
    cv2.putText(image, "offered events/s", (width // 2 - 60, height - 15), font, 0.5, black, 1)
    cv2.putText(image, "p95 end->transit latency (ms)", (left, 25), font, 0.5, red, 1)
    cv2.putText(image, "vehicles/s done", (width - right - 130, 25), font, 0.5, blue, 1)
    cv2.putText(image, "rufina-alpr bench: load sweep", (left, 42), font, 0.45, black, 1)
    cv2.imwrite(str(path), image)


def unwritable_folder(folder: Path) -> str | None:
    """Why the report could not be written to ``folder`` (made if missing), None if it can."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        return err.strerror or type(err).__name__
    return None


def cmd_bench(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    console = Console()
    data = Path(args.data) if args.data else default_photos_dir()
    if data is None or not (data / "labels.csv").is_file():
        console.print("No labelled photos: give --data DIR (a folder with labels.csv).")
        return 2
    models = Path(args.models).expanduser() if args.models else default_models_dir()
    if args.out and (problem := unwritable_folder(Path(args.out))) is not None:
        console.print(f"[red]error:[/] cannot write to {args.out}: {problem}", soft_wrap=True)
        return 2  # before minutes of benchmarking, not after
    options = BenchOptions(
        data=data,
        models_dir=models,
        limit=args.limit,
        workers=args.workers,
        out=Path(args.out) if args.out else None,
        events=args.events,
        sweep_rates=[float(r) for r in args.sweep_rates.split(",")] if args.sweep_rates else None,
        sweep_seconds=args.sweep_seconds,
        late_ms=args.late_ms,
        store_url=args.store_url,
        model_threads=args.model_threads,
    )
    try:
        report = run_bench(options, console)
    except (FileNotFoundError, RuntimeError) as err:
        console.print(f"[red]error:[/] {err}")
        return 2
    print_report(report, console)
    if options.out is not None:
        console.print(f"written: {options.out / 'bench.json'}, {options.out / 'bench.png'}")
    return 0


def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", help="labelled photos (default: ../shared/data/openalpr-eu-dev)")
    parser.add_argument(
        "--models", help="models folder (default: $RUFINA_ALPR_MODELS, ../shared/models)"
    )
    parser.add_argument("--limit", type=int, help="use only the first N photos")
    parser.add_argument(
        "--workers", type=int, default=1, help="engine processes for the scale-out run (default 1)"
    )
    parser.add_argument("--out", help="folder for bench.json and bench.png")
    parser.add_argument("--events", type=int, help="vehicles in the throughput burst")
    parser.add_argument("--sweep-rates", help="offered events/s of the load sweep, e.g. 1,4,8")
    parser.add_argument(
        "--sweep-seconds", type=float, default=8.0, help="seconds of load per sweep step"
    )
    parser.add_argument(
        "--late-ms", type=float, default=1000.0, help="a transit later than this is late"
    )
    parser.add_argument(
        "--store-url", help="empty database for the engines (default: SQLite, or PostgreSQL)"
    )
    parser.add_argument(
        "--model-threads",
        type=int,
        default=1,
        help="onnxruntime threads per recognition worker (models.threads; 1 as in the engine)",
    )
    parser.set_defaults(func=cmd_bench)
