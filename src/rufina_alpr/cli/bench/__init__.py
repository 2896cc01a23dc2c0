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
   subscription and one PostgreSQL, on the same events: speed-up, duplicates, losses;
6. accuracy per development set (`sets`): each labelled folder of ``--sets`` (by default the one
   holding ``--data``), its far-camera variant and its vehicles approaching the camera, for the
   engine through the replay and for fast-alpr on the same pixels (``--no-sets``: skipped).

It prints a table, and writes ``bench.json`` and ``bench.png`` (the load sweep) to ``--out``.

`rufina-alpr bench queries`: query and purge times on a large store (`queries`).
`rufina-alpr bench sets`: only the accuracy per development set.
`rufina-alpr bench alerts`: only the alert latency (`alerts`), also step 7 of the full run:

7. alert latency — every labelled plate on a hotlist, each photo a vehicle in view 3 s with
   Frigate 0.17.2's real timing: from the first message whose snapshot shows it to its alert on
   MQTT (``alert_latency_ms`` in ``bench.json``), with in-view alerts and with alerts at `end`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from pathlib import Path
from typing import Any

from rich.console import Console

from rufina_alpr.cli.bench.phases import (
    BenchOptions,
    bench_progress,
    measure_sets,
    run_alert_bench,
    run_bench,
)
from rufina_alpr.cli.bench.queries import run
from rufina_alpr.cli.bench.report import (
    print_alerts,
    print_report,
    print_sets,
    unwritable_folder,
)
from rufina_alpr.cli.bench.sets import FOLDERS, has_dev_sets
from rufina_alpr.paths import default_models_dir, default_photos_dir
from rufina_alpr.sim.broker import MosquittoBroker


def cmd_bench_queries(args: argparse.Namespace) -> int:
    return run(args.transits, args.store_url)


def add_bench_commands(commands: Any) -> None:
    bench = commands.add_parser(
        "bench",
        help="benchmarks: the full measurement (default) or `queries`",
        description="Without a sub-command: accuracy, throughput against raw fast-alpr, latency,"
        " memory, load sweep and (--workers N) scale-out. `bench queries`: store queries.",
    )
    add_bench_arguments(bench)
    sub = bench.add_subparsers(dest="bench_command", required=False, metavar="COMMAND")
    queries = sub.add_parser("queries", help="route, wildcard search and purge times")
    queries.add_argument("--transits", type=int, default=1_000_000, help="transits to generate")
    queries.add_argument("--store-url", help="empty database URL (default: a temporary SQLite)")
    queries.set_defaults(func=cmd_bench_queries)
    sets = sub.add_parser("sets", help="accuracy per development set only")
    sets.add_argument("--sets", help="the development sets' folder (default: ../shared/data)")
    sets.add_argument(
        "--models", help="models folder (default: $RUFINA_ALPR_MODELS, ../shared/models)"
    )
    sets.add_argument("--limit", type=int, help="use only the first N photos of each set")
    sets.add_argument("--out", help="folder for bench.json")
    sets.set_defaults(func=cmd_bench_sets)
    alerts = sub.add_parser("alerts", help="alert latency only (in view, and at end only)")
    alerts.add_argument("--data", help="labelled photos (default: ../shared/data/openalpr-eu-dev)")
    alerts.add_argument(
        "--models", help="models folder (default: $RUFINA_ALPR_MODELS, ../shared/models)"
    )
    alerts.add_argument("--limit", type=int, help="use only the first N photos")
    alerts.add_argument(
        "--rate", type=float, default=1.0, help="vehicles a second (default 1; each in view 3 s)"
    )
    alerts.add_argument(
        "--in-view-min-confidence",
        type=float,
        help="the engine's hotlists.in_view_min_confidence (default: the engine's, 0.85)",
    )
    alerts.add_argument("--out", help="folder for bench.json")
    alerts.set_defaults(func=cmd_bench_alerts)


def _sets_folder(data: Path | None) -> Path | None:
    """The folder holding the development sets: ``data``'s parent when it holds any."""
    if data is None:
        return None
    parent = data.parent
    return parent if has_dev_sets(parent) else None


def _can_run(out: Path | None, console: Console) -> bool:
    """The sub-commands' checks before minutes of benchmarking: ``out`` writable, Mosquitto."""
    if out is not None and (problem := unwritable_folder(out)) is not None:
        console.print(f"[red]error:[/] cannot write to {out}: {problem}", soft_wrap=True)
        return False
    if not MosquittoBroker.available():
        console.print("[red]error:[/] the benchmark needs mosquitto (apt-get install mosquitto)")
        return False
    return True


def cmd_bench_sets(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    console = Console()
    folder = Path(args.sets) if args.sets else _sets_folder(default_photos_dir())
    if folder is None or not has_dev_sets(folder):
        console.print(f"No development sets: give --sets DIR (a folder with {', '.join(FOLDERS)}).")
        return 2
    out = Path(args.out) if args.out else None
    if not _can_run(out, console):
        return 2
    models = Path(args.models).expanduser() if args.models else default_models_dir()
    with bench_progress(console) as progress:
        sets = measure_sets(folder, models, args.limit, progress)
    print_sets(sets, console)
    if out is not None:
        (out / "bench.json").write_text(json.dumps({"sets": sets}, indent=2))
        console.print(f"written: {out / 'bench.json'}")
    return 0


def cmd_bench_alerts(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    console = Console()
    data = Path(args.data) if args.data else default_photos_dir()
    if data is None or not (data / "labels.csv").is_file():
        console.print("No labelled photos: give --data DIR (a folder with labels.csv).")
        return 2
    out = Path(args.out) if args.out else None
    if not _can_run(out, console):
        return 2
    models = Path(args.models).expanduser() if args.models else default_models_dir()
    with bench_progress(console) as progress:
        alerts = asyncio.run(
            run_alert_bench(
                data,
                models,
                args.limit,
                args.rate,
                progress,
                min_confidence=args.in_view_min_confidence,
            )
        )
    print_alerts(alerts, console)
    if out is not None:
        payload = {"alerts": alerts, "alert_latency_ms": alerts["in_view"]["alert_latency_ms"]}
        (out / "bench.json").write_text(json.dumps(payload, indent=2))
        console.print(f"written: {out / 'bench.json'}")
    return 0


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
        sets=None if args.no_sets else (Path(args.sets) if args.sets else _sets_folder(data)),
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
    parser.add_argument(
        "--sets",
        help="development sets' folder for accuracy per set (default: the one holding --data)",
    )
    parser.add_argument(
        "--no-sets", action="store_true", help="skip the accuracy per development set"
    )
    parser.set_defaults(func=cmd_bench)
