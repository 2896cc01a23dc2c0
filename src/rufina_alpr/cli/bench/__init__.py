"""`rufina-alpr bench`: the engine benchmark (`benchmark`) and `bench queries` (`queries`)."""

from __future__ import annotations

import argparse
from typing import Any

from rufina_alpr.cli.bench.queries import run


def cmd_bench_queries(args: argparse.Namespace) -> int:
    return run(args.transits, args.store_url)


def add_bench_commands(commands: Any) -> None:
    from rufina_alpr.cli.bench.benchmark import add_bench_arguments  # noqa: PLC0415

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
