"""``rufina-alpr stations check | list | frigate-config | engine-config``: the registry at work."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from rufina_alpr.frigate.config_gen import (
    DEFAULT_FRIGATE_VERSION,
    DEFAULT_MQTT_HOST,
    DEFAULT_RETENTION_DAYS,
    DETECTORS,
    FRIGATE_VERSIONS,
    generate_frigate_config,
)
from rufina_alpr.stations import Registry, RegistryError, default_registry_path, load_registry


def add_stations_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``stations`` and its sub-commands on the main CLI's sub-parsers."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--file",
        type=Path,
        default=None,
        help=f"station registry (default: {default_registry_path()})",
    )
    output = argparse.ArgumentParser(add_help=False)
    output.add_argument(
        "-o", "--output", type=Path, default=None, help="write to this file instead of stdout"
    )

    stations = subparsers.add_parser(
        "stations", help="station registry: check it, list it, generate Frigate/engine settings"
    )
    commands = stations.add_subparsers(dest="stations_command", required=True, metavar="COMMAND")

    check = commands.add_parser("check", parents=[common], help="check the registry")
    check.set_defaults(func=check_command)

    listing = commands.add_parser("list", parents=[common], help="print the stations as a table")
    listing.set_defaults(func=list_command)

    frigate = commands.add_parser(
        "frigate-config", parents=[common, output], help="write Frigate's config.yml"
    )
    frigate.add_argument(
        "--frigate-version",
        choices=FRIGATE_VERSIONS,
        default=DEFAULT_FRIGATE_VERSION,
        help="Frigate release line (default: %(default)s, the stable one)",
    )
    frigate.add_argument("--mqtt-host", default=DEFAULT_MQTT_HOST, help="default: %(default)s")
    frigate.add_argument("--mqtt-port", type=int, default=1883, help="default: %(default)s")
    frigate.add_argument(
        "--mqtt-no-auth",
        action="store_true",
        help="broker without login (else FRIGATE_MQTT_USER/PASSWORD placeholders)",
    )
    frigate.add_argument("--topic-prefix", default="frigate", help="default: %(default)s")
    frigate.add_argument("--detector", choices=DETECTORS, default="openvino")
    frigate.add_argument(
        "--openvino-device", default="CPU", help="CPU, GPU or AUTO (default: %(default)s)"
    )
    frigate.add_argument(
        "--frigate-lpr",
        action="store_true",
        help="also enable Frigate's own plate reader on the lpr stations",
    )
    frigate.add_argument(
        "--retain-days",
        type=_days,
        default=DEFAULT_RETENTION_DAYS,
        help="recordings and snapshots retention, as the privacy settings (default: %(default)s)",
    )
    frigate.set_defaults(func=frigate_config_command)

    engine = commands.add_parser(
        "engine-config", parents=[common, output], help="print the engine's stations settings"
    )
    engine.set_defaults(func=engine_config_command)


def check_command(args: argparse.Namespace) -> int:
    registry = _load(args)
    if registry is None:
        return 1
    print(f"{registry.summary()}; 0 errors")
    return 0


def list_command(args: argparse.Namespace) -> int:
    registry = _load(args)
    if registry is None:
        return 1
    header = ("ID", "KIND", "NEW", "LOCALITY", "ROAD", "DIRECTION", "LAT", "LON", "NAME")
    rows = [
        (
            station.id,
            station.kind,
            "yes" if station.new else "",
            station.locality or "",
            station.road or "",
            station.direction or "",
            f"{station.latitude:.4f}" if station.latitude is not None else "",
            f"{station.longitude:.4f}" if station.longitude is not None else "",
            station.name,
        )
        for station in registry.stations
    ]
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header))]
    for row in [header, *rows]:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    print(registry.summary())
    return 0


def frigate_config_command(args: argparse.Namespace) -> int:
    registry = _load(args)
    if registry is None:
        return 1
    text = generate_frigate_config(
        registry,
        version=args.frigate_version,
        mqtt_host=args.mqtt_host,
        mqtt_port=args.mqtt_port,
        mqtt_auth=not args.mqtt_no_auth,
        topic_prefix=args.topic_prefix,
        detector=args.detector,
        openvino_device=args.openvino_device,
        frigate_lpr=args.frigate_lpr,
        retention_days=args.retain_days,
    )
    return _write(text, args.output)


def engine_config_command(args: argparse.Namespace) -> int:
    registry = _load(args)
    if registry is None:
        return 1
    header = (
        f"# Engine station settings derived from {registry.source}.\n"
        "# Better: point the engine's `stations_file` at the registry: no second list to keep.\n"
    )
    body = yaml.safe_dump(registry.engine_settings(), sort_keys=False, allow_unicode=True)
    return _write(header + body, args.output)


def _days(text: str) -> int:
    days = int(text)
    if days < 1:
        raise argparse.ArgumentTypeError("at least 1 day")
    return days


def _load(args: argparse.Namespace) -> Registry | None:
    """The registry, or None after printing every problem found in it."""
    path = args.file if args.file is not None else default_registry_path()
    try:
        return load_registry(path)
    except RegistryError as exc:
        print(exc, file=sys.stderr)
        return None


def _write(text: str, output: Path | None) -> int:
    """Print ``text`` or write it to ``output``; the command's exit status (2: cannot write)."""
    if output is None:
        sys.stdout.write(text)
        return 0
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as err:
        print(f"error: cannot write {output}: {err.strerror or err}", file=sys.stderr)
        return 2
    print(f"wrote {output}", file=sys.stderr)
    return 0
