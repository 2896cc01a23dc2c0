"""Hotlists: named lists of plates the Polizia Municipale watches for, matched on every transit.

`models` holds the values (lists, entries, matches, alerts, errors, kinds and actions), `matching`
the match score and the fuzzy index, `lists` the `Hotlists` class over the store, `gates` the
verdicts of ``authorised`` lists that are gates (`Hotlists.gate_check`), and `csv_io` the CSV import
and export (`docs/hotlists.md`).
"""

from rufina_alpr.hotlists.csv_io import (
    HotlistImport,
    HotlistsCsv,
    ImportReport,
    RejectedRow,
    parse_hours,
)
from rufina_alpr.hotlists.gates import GateOutcome, GateVerdict
from rufina_alpr.hotlists.lists import Hotlists
from rufina_alpr.hotlists.matching import match_score
from rufina_alpr.hotlists.models import (
    ACTIONS,
    CSV_HEADER,
    DEFAULT_ACTION,
    DEFAULT_PRIORITY,
    EXPIRY_RANGE,
    IMPORT_CHUNK,
    KINDS,
    SCNTT_COLUMNS,
    EntryChange,
    EntryOptions,
    Gate,
    HotlistAlreadyListed,
    HotlistConflict,
    HotlistEntry,
    HotlistError,
    HotlistInfo,
    HotlistMatch,
    HotlistNotFound,
    hotlist_summary,
)

__all__ = [
    "ACTIONS",
    "CSV_HEADER",
    "DEFAULT_ACTION",
    "DEFAULT_PRIORITY",
    "EXPIRY_RANGE",
    "IMPORT_CHUNK",
    "KINDS",
    "SCNTT_COLUMNS",
    "EntryChange",
    "EntryOptions",
    "Gate",
    "GateOutcome",
    "GateVerdict",
    "HotlistAlreadyListed",
    "HotlistConflict",
    "HotlistEntry",
    "HotlistError",
    "HotlistImport",
    "HotlistInfo",
    "HotlistMatch",
    "HotlistNotFound",
    "Hotlists",
    "HotlistsCsv",
    "ImportReport",
    "RejectedRow",
    "hotlist_summary",
    "match_score",
    "parse_hours",
]
