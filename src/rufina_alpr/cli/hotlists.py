"""``rufina-alpr hotlist lists | create | gate | delete | add | remove | import | export``.

The engine's store, as the settings (``-c config.yaml``, environment, add-on options) name it.
Plates are personal data: these commands print them only where asked (``export``).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from functools import partial
from pathlib import Path

from rufina_alpr.config import load_settings
from rufina_alpr.hotlists import (
    ACTIONS,
    KINDS,
    Gate,
    HotlistAlreadyListed,
    HotlistEntry,
    HotlistError,
    HotlistInfo,
    Hotlists,
    parse_hours,
)
from rufina_alpr.privacy import Audit
from rufina_alpr.settings_sources import SettingsError
from rufina_alpr.store import Store, StoreError

AUDIT_ROLE = "cli"
"""The audit log's role for changes made here (straight on the store, no API user)."""


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
    _gate_arguments(create, "an authorised list: make it a gate")
    create.set_defaults(func=partial(_run, action="create"))

    gate = commands.add_parser(
        "gate", parents=[common], help="make an authorised list a gate, or a plain one again"
    )
    gate.add_argument("list_id", metavar="LIST")
    _gate_arguments(gate, "the gate (replaces the list's)")
    gate.add_argument("--clear", action="store_true", help="the list is no gate any more")
    gate.set_defaults(func=partial(_run, action="gate"))

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
    add.add_argument(
        "--replace",
        action="store_true",
        help="the plate is on the list already: replace its entry (the old one goes to the "
        "audit log)",
    )
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


def _gate_arguments(parser: argparse.ArgumentParser, title: str) -> None:
    group = parser.add_argument_group(title, "docs/hotlists.md, Gates")
    group.add_argument(
        "--gate-stations",
        help="the gate's station ids, comma separated: it alerts there on "
        "every plate NOT on the list",
    )
    group.add_argument(
        "--gate-days", help="ISO weekdays, e.g. 12345 = Monday to Friday (default: every day)"
    )
    group.add_argument("--gate-hours", help="local hours, e.g. 7-20 (default: all day)")
    group.add_argument(
        "--gate-drop-authorised",
        action="store_true",
        help="the authorised vehicles' transits at the gate are not stored (ZTL practice)",
    )


def _gate_of(args: argparse.Namespace) -> Gate | None:
    """The gate the options give; None without ``--gate-stations`` (the others need it)."""
    if not args.gate_stations:
        if args.gate_days or args.gate_hours or args.gate_drop_authorised:
            raise HotlistError("a gate needs its stations (--gate-stations)")
        return None
    from_hour, to_hour = parse_hours(args.gate_hours or "")
    return Gate(
        stations=tuple(args.gate_stations.split(",")),
        days=args.gate_days or None,
        from_hour=from_hour,
        to_hour=to_hour,
        keep_authorised=not args.gate_drop_authorised,
    )


def _gate_text(info: HotlistInfo) -> str:
    gate = info.gate
    if gate is None:
        return "-"
    hours = f" {gate.from_hour}-{gate.to_hour}" if gate.from_hour is not None else ""
    days = f" days {gate.days}" if gate.days is not None else ""
    dropped = "" if gate.keep_authorised else " (authorised not stored)"
    return f"{','.join(gate.stations)}{days}{hours}{dropped}"


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
    # The settings' stations, none included: a scope naming a station the engine does not
    # have would never match (it used to be accepted when the settings named no stations).
    hotlists = Hotlists(
        store,
        timezone=settings.timezone,
        fuzzy_min_score=settings.hotlists.fuzzy_min_score,
        known_stations=[s.id for s in settings.stations],
    )
    return store, hotlists


def cli_actor(args: argparse.Namespace) -> str:
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
    header = ("ID", "KIND", "ACTION", "PRIORITY", "ENTRIES", "EXPIRED", "NAME", "GATE")
    rows = [_list_row(i) for i in hotlists.lists()]
    widths = [max(len(row[c]) for row in [header, *rows]) for c in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return 0


def _list_row(i: HotlistInfo) -> tuple[str, ...]:
    counts = (str(i.priority), str(i.entries), str(i.expired))
    return (i.id, i.kind, i.action, *counts, i.name, _gate_text(i))


def _create(args: argparse.Namespace, hotlists: Hotlists) -> int:
    info = hotlists.create_list(
        args.list_id,
        args.name,
        args.kind,
        action=args.action,
        priority=args.priority,
        description=args.description,
        created_by=cli_actor(args),
        gate=_gate_of(args),
    )
    gate = f"; gate at {_gate_text(info)}" if info.gate is not None else ""
    print(f"created list {info.id} ({info.kind}, {info.action}, priority {info.priority}){gate}")
    return 0


def _gate(args: argparse.Namespace, hotlists: Hotlists) -> int:
    gate = _gate_of(args)
    if (gate is None) != args.clear:
        print("error: give the gate (--gate-stations ...) or --clear", file=sys.stderr)
        return 2
    before = hotlists.get_list(args.list_id)
    info = hotlists.set_gate(args.list_id, gate)
    shown = info if gate is not None else before
    record: dict[str, object] = {"list": info.id, "gate": _gate_record(shown)}
    _audit(args, hotlists, "hotlist_gate_set" if gate else "hotlist_gate_clear", record)
    print(f"list {info.id}: gate {'at ' + _gate_text(info) if gate else 'cleared'}")
    return 0


def _gate_record(info: HotlistInfo) -> dict[str, object] | None:
    """A gate as the audit log keeps it (as the API writes it)."""
    gate = info.gate
    if gate is None:
        return None
    return {
        "stations": list(gate.stations),
        "days": gate.days,
        "from_hour": gate.from_hour,
        "to_hour": gate.to_hour,
        "keep_authorised": gate.keep_authorised,
    }


def _delete(args: argparse.Namespace, hotlists: Hotlists) -> int:
    if not hotlists.delete_list(args.list_id):
        print(f"error: no list {args.list_id}", file=sys.stderr)
        return 1
    _audit(args, hotlists, "hotlist_delete", {"list": args.list_id})
    print(f"deleted list {args.list_id}")
    return 0


def _audit(
    args: argparse.Namespace,
    hotlists: Hotlists,
    action: str,
    query: dict[str, object],
    *,
    results: int = 1,
) -> None:
    """A change made here goes to the audit log as one made through the API would."""
    Audit(hotlists.store).record(cli_actor(args), AUDIT_ROLE, action, query, results=results)


def _entry_record(entry: HotlistEntry) -> dict[str, object]:
    """An entry as the audit log keeps it (what a replacement must not lose)."""
    return {
        "reason": entry.reason,
        "priority": entry.priority,
        "expires_at": entry.expires_at,
        "notes": entry.notes,
        "stations": list(entry.stations) if entry.stations is not None else None,
        "added_by": entry.added_by,
        "added_at": entry.added_at,
    }


def _unknown_stations(args: argparse.Namespace, hotlists: Hotlists) -> list[str]:
    known = hotlists.known_stations or frozenset()
    return [s.strip() for s in args.stations.split(",") if s.strip() and s.strip() not in known]


def _add(args: argparse.Namespace, hotlists: Hotlists) -> int:
    from_hour, to_hour = parse_hours(args.hours or "")
    if args.stations and (unknown := _unknown_stations(args, hotlists)):
        known = sorted(hotlists.known_stations or ())
        listed = (
            f"known stations: {', '.join(known)}"
            if known
            else "the settings name no stations (give the engine's settings with -c)"
        )
        print(f"error: unknown station {', '.join(unknown)}; {listed}", file=sys.stderr)
        return 1
    try:
        change = hotlists.put_entry(
            args.list_id,
            args.plate,
            args.reason,
            priority=args.priority,
            expires_at=hotlists.parse_expiry(args.expires or ""),
            notes=args.notes,
            stations=args.stations.split(",") if args.stations else None,
            from_hour=from_hour,
            to_hour=to_hour,
            added_by=cli_actor(args),
            replace=args.replace,
        )
    except HotlistAlreadyListed as err:
        print(f"error: {err}; give --replace to replace it", file=sys.stderr)
        return 1
    entry = change.entry
    query: dict[str, object] = {
        "list": entry.list_id,
        "plate": entry.plate,
        "replace": args.replace,
    }
    if change.replaced is not None:
        query["replaced"] = _entry_record(change.replaced)
    _audit(args, hotlists, "hotlist_add", query)
    replaced = (
        f" (replaced the entry added by {change.replaced.added_by})" if change.replaced else ""
    )
    print(f"{entry.plate} on list {entry.list_id}{replaced}")
    return 0


def _remove(args: argparse.Namespace, hotlists: Hotlists) -> int:
    if not hotlists.remove_entry(args.list_id, args.plate):
        print(f"error: that plate is not on list {args.list_id}", file=sys.stderr)
        return 1
    _audit(args, hotlists, "hotlist_remove", {"list": args.list_id, "plate": args.plate})
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
        args.list_id, text, added_by=cli_actor(args), replace=args.replace, format=args.format
    )
    _audit(
        args,
        hotlists,
        "hotlist_import",
        {"list": args.list_id, "format": report.format, "replace": args.replace},
        results=report.added + report.updated,
    )
    print(report.describe())
    for row in report.rejected:
        print(f"  line {row.line}: {row.reason}")
    return 1 if report.rejected else 0


def _export(args: argparse.Namespace, hotlists: Hotlists) -> int:
    text = hotlists.export_csv(args.list_id)
    if args.output is None:
        sys.stdout.write(text)
        return 0
    try:
        args.output.write_text(text, encoding="utf-8")
    except OSError as err:
        print(f"error: cannot write {args.output}: {err.strerror or err}", file=sys.stderr)
        return 2
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


_COMMANDS = {
    "lists": _lists,
    "create": _create,
    "gate": _gate,
    "delete": _delete,
    "add": _add,
    "remove": _remove,
    "import": _import,
    "export": _export,
}
