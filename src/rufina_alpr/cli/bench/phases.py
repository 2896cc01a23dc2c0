"""`rufina-alpr bench`: the run — raw baseline, engine phases, load sweep, scale-out."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from rufina_alpr.cli.bench.accuracy import Accuracy, direct_alpr, raw_run
from rufina_alpr.cli.bench.alerts import measure_alerts
from rufina_alpr.cli.bench.report import draw_chart
from rufina_alpr.cli.bench.rig import RECOGNITION_WORKERS, PhaseResult, Rig
from rufina_alpr.cli.bench.sets import run_accuracy, sets_json
from rufina_alpr.cli.demo import demo_stations
from rufina_alpr.paths import default_registry
from rufina_alpr.sim.broker import MosquittoBroker
from rufina_alpr.sim.photos import Photo, load_photos
from rufina_alpr.stations import Station


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
    sets: Path | None = None
    """The folder of the development sets (`sets`); None: accuracy per set is not measured."""


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


def bench_progress(console: Console) -> Progress:
    """The bench's progress bars: one per phase."""
    return Progress(
        TextColumn("{task.description:<32}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def measure_sets(
    data: Path, models_dir: Path | None, limit: int | None, progress: Progress
) -> dict[str, Any]:
    """Accuracy per development set (`sets.run_accuracy`), as ``bench.json``'s ``sets``."""

    def task(description: str, total: int) -> Callable[[], None]:
        task_id = progress.add_task(description, total=total)
        return lambda: progress.advance(task_id)

    started = time.monotonic()
    results = asyncio.run(run_accuracy(data, models_dir, _stations(), limit=limit, progress=task))
    return sets_json(results, time.monotonic() - started)


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
            task = progress.add_task("engine: alert latency", total=2 * len(photos))
            report["alerts"] = await measure_alerts(
                rig, photos, store_for, rate=1.0, advance=lambda: progress.advance(task)
            )
            report["alert_latency_ms"] = report["alerts"]["in_view"]["alert_latency_ms"]
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


async def run_alert_bench(
    data: Path,
    models_dir: Path | None,
    limit: int | None,
    rate: float,
    progress: Progress,
    *,
    min_confidence: float | None = None,
) -> dict[str, Any]:
    """`rufina-alpr bench alerts`: the alert phases alone, on a rig of their own."""
    photos = load_photos(data)[: limit or None]
    if not photos:
        raise FileNotFoundError(f"no photos in {data}")
    broker = MosquittoBroker()
    await broker.start()
    with tempfile.TemporaryDirectory(prefix="rufina-bench-") as folder:
        rig = Rig(
            broker=broker,
            stations=_stations(),
            models_dir=models_dir,
            photos=photos,
            folder=Path(folder),
            late_ms=1000.0,
        )
        await rig.start()
        try:
            task = progress.add_task("engine: alert latency", total=2 * len(photos))
            return await measure_alerts(
                rig,
                photos,
                lambda tag: f"sqlite:///{Path(folder) / f'{tag}.db'}",
                rate=rate,
                advance=lambda: progress.advance(task),
                min_confidence=min_confidence,
            )
        finally:
            await rig.stop()
            await broker.stop()
            broker.cleanup()


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
    with bench_progress(console) as progress:
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
        if options.sets is not None:
            report["sets"] = measure_sets(options.sets, options.models_dir, options.limit, progress)
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
