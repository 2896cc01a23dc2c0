"""`rufina-alpr` command line: serve, demo, read, models check, stations, hotlist, privacy,
dashboard."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import resource
import signal
import sys
import time
from pathlib import Path
from typing import Final

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from rufina_alpr import __version__
from rufina_alpr.cli.bench import add_bench_commands
from rufina_alpr.cli.dashboard import add_dashboard_command
from rufina_alpr.cli.hotlists import add_hotlist_commands
from rufina_alpr.cli.privacy import add_privacy_commands
from rufina_alpr.cli.stations import add_stations_commands
from rufina_alpr.config import load_settings
from rufina_alpr.paths import default_models_dir, default_photos_dir, default_registry
from rufina_alpr.reads import Box
from rufina_alpr.recognizer import (
    ImageError,
    ModelError,
    Recognizer,
    decode_image,
    model_settings_for,
)
from rufina_alpr.settings_sources import SettingsError
from rufina_alpr.sim.broker import BrokerError
from rufina_alpr.store import StoreError

_LOGGER = logging.getLogger("rufina_alpr")


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _positive_int(text: str) -> int:
    number = int(text)
    if number < 1:
        raise argparse.ArgumentTypeError("at least 1")
    return number


def _positive_float(text: str) -> float:
    """A number above zero (``demo --rate 0`` divided by zero, a negative rate was accepted)."""
    try:
        number = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not number > 0 or number == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number above 0, not {text}")
    return number


async def _api_port_problem(host: str, port: int) -> str | None:
    """Why the API could not listen on ``host:port`` (in use, not allowed), checked the way
    aiohttp will listen, before the engine starts; None when it can."""
    if port == 0:
        return None
    try:
        server = await asyncio.get_running_loop().create_server(
            asyncio.Protocol, host, port, reuse_address=True
        )
    except OSError as err:
        return _api_port_message(host, port, err)
    server.close()
    await server.wait_closed()
    return None


def _api_port_message(host: str, port: int, err: OSError) -> str:
    return (
        f"the API cannot listen on {host}:{port} ({err.strerror or err}): choose another "
        "api.port (or api.host) in the settings, or set RUFINA_ALPR__API__PORT"
    )


def _models_dir(value: str | None) -> Path | None:
    return Path(value).expanduser() if value else default_models_dir()


# ---------------------------------------------------------------------------- serve
FILE_LIMIT: Final = 8192
"""Descriptors `serve` asks for (the soft limit, up to the hard one): Debian's soft default of
1,024 is what 1,100 slow API clients exhausted; the API's connection cap follows the limit."""


def raise_file_limit(wanted: int = FILE_LIMIT) -> int:
    """Raise this process's soft RLIMIT_NOFILE towards ``wanted`` (never above the hard limit,
    never lower); the soft limit in force after."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (OSError, ValueError):
            return soft
        return target
    return soft


def cmd_serve(args: argparse.Namespace) -> int:
    from rufina_alpr.api import start_api  # noqa: PLC0415 - heavy imports only for serve
    from rufina_alpr.engine.app import Engine  # noqa: PLC0415

    try:
        settings = load_settings(args.config, addon_options=args.addon_options)
    except SettingsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    _configure_logging(settings.log_level)
    _LOGGER.debug("file descriptors: %d", raise_file_limit())
    models_dir = settings.models_dir or default_models_dir()
    try:
        recognizer = Recognizer(
            model_settings_for(
                models_dir,
                detector=settings.detector,
                crop_detector=settings.crop_detector,
                ocr=settings.ocr,
                detector_threshold=settings.detector_threshold,
                threads=settings.model_threads,
                second_pass=settings.second_pass,
            )
        )
    except ModelError as err:
        _LOGGER.error("cannot start: %s", err)
        return 3

    async def serve() -> int:
        problem = await _api_port_problem(settings.api.host, settings.api.port)
        if problem is not None:
            _LOGGER.error("cannot start: %s", problem)
            return 5
        try:
            engine = Engine(settings, recognizer)
        except StoreError as err:
            _LOGGER.error("cannot start: %s", err)
            return 4
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await engine.start()
        try:
            runner = await start_api(engine)
        except OSError as err:  # taken between the check and now
            _LOGGER.error(
                "cannot start: %s", _api_port_message(settings.api.host, settings.api.port, err)
            )
            await engine.stop()
            return 5
        await stop.wait()
        _LOGGER.info("stopping")
        await runner.cleanup()
        await engine.stop()
        return 0

    return asyncio.run(serve())


# ---------------------------------------------------------------------------- read
def cmd_read(args: argparse.Namespace) -> int:
    try:
        recognizer = Recognizer(
            model_settings_for(_models_dir(args.models), detector=args.detector, threads=2)
        )
    except ModelError as err:
        print(f"error: {err}", file=sys.stderr)
        return 3
    from rufina_alpr.fusion import fuse  # noqa: PLC0415

    results = []
    status = 0
    for name in args.images:
        path = Path(name)
        started = time.perf_counter()
        try:
            image = decode_image(path.read_bytes(), max_pixels=60_000_000)
        except (OSError, ImageError) as err:
            results.append({"file": name, "error": str(err)})
            status = 1
            continue
        reads = recognizer.read(image)
        plates = _group_reads(reads)
        fused = [f for f in (fuse(group) for group in plates) if f is not None]
        results.append(
            {
                "file": name,
                "seconds": round(time.perf_counter() - started, 3),
                "plates": [
                    {
                        "plate": f.plate,
                        "display": f.display,
                        "country": f.country,
                        "format": f.format,
                        "confidence": round(f.confidence, 3),
                        "low_confidence": f.low_confidence,
                        "box": f.best_read.box,
                        "alternatives": [a.plate for a in f.alternatives],
                    }
                    for f in fused
                ],
            }
        )
    if args.json:
        print(json.dumps(results, indent=2))
        return status
    table = Table(title="Plates")
    for column in ("file", "plate", "country", "confidence", "box", "time"):
        table.add_column(column)
    for result in results:
        if "error" in result:
            table.add_row(Path(result["file"]).name, f"[red]{result['error']}", "", "", "", "")
            continue
        if not result["plates"]:
            table.add_row(
                Path(result["file"]).name, "[yellow]no plate", "", "", "", f"{result['seconds']} s"
            )
        for plate in result["plates"]:
            flag = " (low)" if plate["low_confidence"] else ""
            table.add_row(
                Path(result["file"]).name,
                plate["display"],
                plate["country"] or "-",
                f"{plate['confidence']:.2f}{flag}",
                str(plate["box"]),
                f"{result['seconds']} s",
            )
    Console().print(table)
    return status


def _group_reads(reads: list) -> list[list]:  # type: ignore[type-arg]
    """Reads of one image grouped by plate box (each detected plate was read on several crops)."""
    groups: dict[Box | None, list] = {}  # type: ignore[type-arg]
    for read in reads:
        groups.setdefault(read.box, []).append(read)
    return list(groups.values())


# ---------------------------------------------------------------------------- models check
def cmd_models_check(args: argparse.Namespace) -> int:
    models_dir = _models_dir(args.models)
    print(f"models folder: {models_dir or 'none (fast-alpr download)'}")
    try:
        recognizer = Recognizer(model_settings_for(models_dir, detector=args.detector, threads=2))
    except ModelError as err:
        print(f"FAILED: {err}", file=sys.stderr)
        return 3
    import numpy as np  # noqa: PLC0415

    probe = np.full((720, 1280, 3), 127, dtype=np.uint8)
    vehicle = (400, 200, 880, 560)

    def per_read(box: Box | None) -> float:
        recognizer.read(probe, vehicle_box=box)
        started = time.perf_counter()
        for _ in range(3):
            recognizer.read(probe, vehicle_box=box)
        return (time.perf_counter() - started) / 3 * 1000

    whole, boxed = per_read(None), per_read(vehicle)
    info = recognizer.info
    print(f"detector: {info.detector}")
    print(f"inside vehicle boxes: {info.crop_detector or 'the same detector'}")
    print(f"OCR:      {info.ocr}")
    print(
        f"loaded in {info.load_seconds:.2f} s; {whole:.0f} ms per 1280x720 frame, "
        f"{boxed:.0f} ms per vehicle box in it"
    )
    print("OK")
    return 0


# ---------------------------------------------------------------------------- demo
def cmd_demo(args: argparse.Namespace) -> int:
    from rufina_alpr.cli.demo import print_summary, run_demo  # noqa: PLC0415
    from rufina_alpr.sim.photos import PHOTO_SUFFIXES, load_photos  # noqa: PLC0415

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    console = Console()
    folder = Path(args.photos) if args.photos else default_photos_dir()
    if folder is None or not folder.is_dir():
        console.print(
            "No photos to replay. Point the demo at a folder of vehicle photos with "
            "--photos DIR (optionally with a labels.csv: file,x,y,w,h,plate)."
        )
        return 2
    photos = load_photos(folder)[: args.limit]
    if not photos:
        console.print(
            f"No photos in {escape(str(folder))}: the demo replays {', '.join(PHOTO_SUFFIXES)} "
            "files (optionally with a labels.csv: file,x,y,w,h,plate)."
        )
        return 2
    models_dir = _models_dir(args.models)
    try:
        result = asyncio.run(
            run_demo(
                photos,
                source=folder,
                models_dir=models_dir,
                registry=default_registry(),
                rate=args.rate,
                console=console,
            )
        )
    except ModelError as err:
        console.print(f"[red]error:[/] {escape(str(err))}")
        return 3
    except BrokerError as err:
        console.print(f"[red]error:[/] {escape(str(err))}")
        return 4
    print_summary(result, console)
    return 0 if result.transits else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rufina-alpr", description=__doc__)
    parser.add_argument("--version", action="version", version=f"rufina-alpr {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the engine")
    serve.add_argument("-c", "--config", type=Path, help="settings YAML file")
    serve.add_argument(
        "--addon-options", type=Path, help="Home Assistant add-on options.json to merge"
    )
    serve.set_defaults(func=cmd_serve)

    models_arg = argparse.ArgumentParser(add_help=False)
    models_arg.add_argument(
        "--models", help="models folder (default: $RUFINA_ALPR_MODELS, ../shared/models, download)"
    )
    models_arg.add_argument("--detector", default="auto", help="detector file or 'none'")

    demo = commands.add_parser("demo", parents=[models_arg], help="replay photos end to end")
    demo.add_argument("--photos", help="folder of photos (default: ../shared/data/openalpr-eu-dev)")
    demo.add_argument(
        "--rate", type=_positive_float, default=2.0, help="vehicles per second (default 2)"
    )
    demo.add_argument("--limit", type=_positive_int, help="replay only the first N photos")
    demo.set_defaults(func=cmd_demo)

    read = commands.add_parser("read", parents=[models_arg], help="read plates on image files")
    read.add_argument("images", nargs="+", help="image files")
    read.add_argument("--json", action="store_true", help="print JSON instead of a table")
    read.set_defaults(func=cmd_read)

    models = commands.add_parser("models", help="model management")
    models_commands = models.add_subparsers(dest="models_command", required=True, metavar="COMMAND")
    check = models_commands.add_parser(
        "check", parents=[models_arg], help="load the models and time them"
    )
    check.set_defaults(func=cmd_models_check)

    add_stations_commands(commands)
    add_hotlist_commands(commands)
    add_privacy_commands(commands)
    add_bench_commands(commands)
    add_dashboard_command(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        code: int = args.func(args)
        return code
    return 130
