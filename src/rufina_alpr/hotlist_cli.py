"""``rufina-alpr hotlist lists | create | delete | add | remove | import | export``.

The engine's store, as the settings (``-c config.yaml``, environment, add-on options) name it.
Plates are personal data: these commands print them only where asked (``export``).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from functools import partial
from pathlib import Path

from rufina_alpr.config import SettingsError, load_settings
from rufina_alpr.hotlist import ACTIONS, KINDS, HotlistError, Hotlists, parse_hours
from rufina_alpr.store import Store, StoreError


def add_hotlist_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``hotlist`` and its sub-commands on the main CLI's sub-parsers."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-c", "--config", type=Path, help="the engine's settings YAML file")
    common.add_argument("--store", help="database URL (default: the settings' store)")
    common.add_argument(
        "--by", default=None, help="who makes the change (default: cli:<user name>)"
    )

    hotlist = subparsers.add_parser("hotlist", help="hotlists: list, edit, import, export")
    commands = hotlist.add_subparsers(dest="hotlist_command", required=True, metavar="COMMAND")

    lists = commands.add_parser("lists", parents=[common], help="the lists and their sizes")
    lists.set_defaults(func=partial(_run, action="lists"))

    create = commands.add_parser("create", parents=[common], help="create a list")
    create.add_argument("list_id", metavar="LIST")
    create.add_argument("--name", required=True)
    create.add_argument("--kind", required=True, choices=KINDS)
    create.add_argument("--action", choices=ACTIONS, help="default: the kind's")
    create.add_argument("--priority", type=int, help="1 (most urgent) to 9; default: the kind's")
    create.add_argument("--description")
    create.set_defaults(func=partial(_run, action="create"))

    delete = commands.add_parser("delete", parents=[common], help="delete a list and its plates")
    delete.add_argument("list_id", metavar="LIST")
    delete.set_defaults(func=partial(_run, action="delete"))

    add = commands.add_parser("add", parents=[common], help="put a plate on a list")
    add.add_argument("list_id", metavar="LIST")
    add.add_argument("plate")
    add.add_argument("--reason", required=True)
    add.add_argument("--priority", type=int)
    add.add_argument("--expires", help="YYYY-MM-DD (through that day) or an ISO date and time")
    add.add_argument("--notes")
    add.add_argument("--stations", help="station ids, comma separated (default: all)")
    add.add_argument("--hours", help="local hours, e.g. 22-06 (default: all day)")
    add.set_defaults(func=partial(_run, action="add"))

    remove = commands.add_parser("remove", parents=[common], help="take a plate off a list")
    remove.add_argument("list_id", metavar="LIST")
    remove.add_argument("plate")
    remove.set_defaults(func=partial(_run, action="remove"))

    imported = commands.add_parser(
        "import", parents=[common], help="import a CSV file or an SCNTT export (docs/hotlists.md)"
    )
    imported.add_argument("list_id", metavar="LIST")
    imported.add_argument("file", help="the file, or - for standard input")
    imported.add_argument("--format", choices=("auto", "csv", "scntt"), default="auto")
    imported.add_argument(
        "--replace", action="store_true", help="the list becomes exactly the file's valid rows"
    )
    imported.set_defaults(func=partial(_run, action="import"))

    export = commands.add_parser("export", parents=[common], help="write a list as CSV")
    export.add_argument("list_id", metavar="LIST")
    export.add_argument("-o", "--output", type=Path, help="write to this file instead of stdout")
    export.set_defaults(func=partial(_run, action="export"))


def _open(args: argparse.Namespace) -> tuple[Store, Hotlists] | None:
    try:
        settings = load_settings(args.config)
    except SettingsError as err:
        print(f"error: {err}", file=sys.stderr)
        return None
    try:
        store = Store(args.store or settings.store_url, worker="cli")
    except StoreError as err:
        print(f"error: {err}", file=sys.stderr)
        return None
    hotlists = Hotlists(
        store,
        timezone=settings.timezone,
        fuzzy_min_score=settings.hotlists.fuzzy_min_score,
        known_stations=[s.id for s in settings.stations] or None,
    )
    return store, hotlists


def _actor(args: argparse.Namespace) -> str:
    if args.by:
        return str(args.by)
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _run(args: argparse.Namespace, action: str) -> int:
    opened = _open(args)
    if opened is None:
        return 2
    store, hotlists = opened
    try:
        return _COMMANDS[action](args, hotlists)
    except HotlistError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    finally:
        store.close()


def _lists(_args: argparse.Namespace, hotlists: Hotlists) -> int:
    header = ("ID", "KIND", "ACTION", "PRIORITY", "ENTRIES", "EXPIRED", "NAME")
    rows = [
        (i.id, i.kind, i.action, str(i.priority), str(i.entries), str(i.expired), i.name)
        for i in hotlists.lists()
    ]
    widths = [max(len(row[c]) for row in [header, *rows]) for c in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return 0


def _create(args: argparse.Namespace, hotlists: Hotlists) -> int:
    info = hotlists.create_list(
        args.list_id,
        args.name,
        args.kind,
        action=args.action,
        priority=args.priority,
        description=args.description,
        created_by=_actor(args),
    )
    print(f"created list {info.id} ({info.kind}, {info.action}, priority {info.priority})")
    return 0


def _delete(args: argparse.Namespace, hotlists: Hotlists) -> int:
    if not hotlists.delete_list(args.list_id):
        print(f"error: no list {args.list_id}", file=sys.stderr)
        return 1
    print(f"deleted list {args.list_id}")
    return 0


def _add(args: argparse.Namespace, hotlists: Hotlists) -> int:
    from_hour, to_hour = parse_hours(args.hours or "")
    entry = hotlists.add_entry(
        args.list_id,
        args.plate,
        args.reason,
        priority=args.priority,
        expires_at=hotlists.parse_expiry(args.expires or ""),
        notes=args.notes,
        stations=args.stations.split(",") if args.stations else None,
        from_hour=from_hour,
        to_hour=to_hour,
        added_by=_actor(args),
    )
    print(f"{entry.plate} on list {entry.list_id}")
    return 0


def _remove(args: argparse.Namespace, hotlists: Hotlists) -> int:
    if not hotlists.remove_entry(args.list_id, args.plate):
        print(f"error: that plate is not on list {args.list_id}", file=sys.stderr)
        return 1
    print(f"removed from list {args.list_id}")
    return 0


def _import(args: argparse.Namespace, hotlists: Hotlists) -> int:
    try:
        text = (
            sys.stdin.read()
            if args.file == "-"
            else Path(args.file).read_text(encoding="utf-8-sig")
        )
    except (OSError, UnicodeDecodeError) as err:
        print(f"error: cannot read {args.file}: {err}", file=sys.stderr)
        return 2
    report = hotlists.import_csv(
        args.list_id, text, added_by=_actor(args), replace=args.replace, format=args.format
    )
    print(report.describe())
    for row in report.rejected:
        print(f"  line {row.line}: {row.reason}")
    return 1 if report.rejected else 0


def _export(args: argparse.Namespace, hotlists: Hotlists) -> int:
    text = hotlists.export_csv(args.list_id)
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text, encoding="utf-8")
        print(f"wrote {args.output}", file=sys.stderr)
    return 0


_COMMANDS = {
    "lists": _lists,
    "create": _create,
    "delete": _delete,
    "add": _add,
    "remove": _remove,
    "import": _import,
    "export": _export,
}
