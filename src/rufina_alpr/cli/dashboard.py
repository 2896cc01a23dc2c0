"""``rufina-alpr dashboard``: print the Home Assistant dashboard for a registry and an engine."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rufina_alpr.dashboard import render_dashboard
from rufina_alpr.dashboard_words import LANGUAGES
from rufina_alpr.stations import RegistryError, default_registry_path, load_registry


def add_dashboard_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``dashboard`` on the main CLI's sub-parsers."""
    dashboard = subparsers.add_parser(
        "dashboard", help="print the Home Assistant dashboard (Lovelace YAML) for the stations"
    )
    dashboard.add_argument("--language", choices=LANGUAGES, default="it")
    dashboard.add_argument(
        "--instance", default="rufina", help="the engine's instance id (default: %(default)s)"
    )
    dashboard.add_argument(
        "--stations",
        type=Path,
        default=None,
        help=f"station registry (default: {default_registry_path()})",
    )
    dashboard.set_defaults(func=dashboard_command)


def dashboard_command(args: argparse.Namespace) -> int:
    """Print the dashboard; 1 when the registry has mistakes (listed on stderr)."""
    try:
        registry = load_registry(args.stations or default_registry_path())
    except RegistryError as err:
        print(err, file=sys.stderr)
        return 1
    sys.stdout.write(render_dashboard(registry, args.instance, args.language))
    return 0
