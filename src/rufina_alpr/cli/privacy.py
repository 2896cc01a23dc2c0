"""``rufina-alpr privacy pack --out DIR [--check]``: the privacy pack from the engine's settings
(``-c config.yaml``, environment) and its store's hotlist definitions.

Generating writes ``DIR/{it,en}/{dpia,notices,informativa,record,todo}.{md,html}`` and
``DIR/manifest.json``, and records the pack in the store (``privacy_packs``, the audit log);
``--check`` compares ``DIR``'s manifest with the configuration now: exit 0 when it is current, 1
listing each document out of date and the sections that changed, 2 when it cannot tell.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rufina_alpr.cli.hotlists import AUDIT_ROLE, cli_actor
from rufina_alpr.config import load_settings
from rufina_alpr.privacy import Audit
from rufina_alpr.privacy.pack import (
    DOCUMENTS,
    LANGS,
    MANIFEST,
    ManifestError,
    PackInputs,
    build_pack,
    check_manifest,
    list_definitions,
    pack_inputs,
    read_manifest,
    record_pack,
    write_pack,
)
from rufina_alpr.settings_sources import SettingsError
from rufina_alpr.store import Store, StoreError


def add_privacy_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``privacy`` and its sub-commands on the main CLI's sub-parsers."""
    privacy = subparsers.add_parser("privacy", help="privacy: the documents the comune keeps")
    commands = privacy.add_subparsers(dest="privacy_command", required=True, metavar="COMMAND")
    pack = commands.add_parser(
        "pack",
        help="write the privacy pack (DPIA, notices, informativa, record, to-do), or --check it",
    )
    pack.add_argument("-c", "--config", type=Path, help="the engine's settings YAML file")
    pack.add_argument("--store", help="database URL (default: the settings' store)")
    pack.add_argument("--out", type=Path, required=True, help="the pack's folder")
    pack.add_argument(
        "--check",
        action="store_true",
        help="compare the pack in --out with the configuration now (exit 1: out of date)",
    )
    pack.add_argument("--by", default=None, help="who generates it (default: cli:<user name>)")
    pack.set_defaults(func=pack_command)


def pack_command(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.config)
    except SettingsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        store = Store(args.store or settings.store_url, worker="cli")
    except StoreError as err:
        if args.check:
            print(f"error: cannot check without the store's hotlists: {err}", file=sys.stderr)
            return 2
        print(f"warning: {err}: the pack states no hotlist and is not recorded", file=sys.stderr)
        return _generate(args, pack_inputs(settings, []), None)
    try:
        inputs = pack_inputs(settings, list_definitions(store))
        return _check(args.out, inputs) if args.check else _generate(args, inputs, store)
    finally:
        store.close()


def _generate(args: argparse.Namespace, inputs: PackInputs, store: Store | None) -> int:
    who = cli_actor(args)
    pack = build_pack(inputs, generated_by=who)
    try:
        write_pack(pack, args.out)
    except OSError as err:
        print(f"error: cannot write the pack to {args.out}: {err.strerror or err}", file=sys.stderr)
        return 2
    if store is not None:
        record_pack(store, pack)
        Audit(store).record(who, AUDIT_ROLE, "privacy_pack", {"sections": pack.sections})
    print(
        f"wrote {len(DOCUMENTS)} documents in {', '.join(LANGS)} (Markdown and HTML) and "
        f"{MANIFEST} to {args.out}"
    )
    if inputs.missing:
        print(
            f"{len(inputs.missing)} particulars still to complete: "
            f"{args.out / 'en' / 'todo.md'} ({args.out / 'it' / 'todo.md'})"
        )
    return 0


def _check(folder: Path, inputs: PackInputs) -> int:
    try:
        manifest = read_manifest(folder)
    except ManifestError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    stale = check_manifest(manifest, inputs)
    generated = f"the pack in {folder} (generated {manifest['generated_at']})"
    if stale.current:
        print(f"{generated} matches the configuration")
        return 0
    print(f"{generated} is out of date; changed: {', '.join(stale.changed) or 'documents'}")
    for doc, sections in stale.outdated.items():
        print(f"  {doc}: out of date ({', '.join(sections) or 'regenerate'})")
    print(f"generate it again: rufina-alpr privacy pack --out {folder}")
    return 1
