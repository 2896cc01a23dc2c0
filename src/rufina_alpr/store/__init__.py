"""Persistent store (SQLAlchemy Core): SQLite by default, PostgreSQL to scale out; the only owner
of the database's connections, transactions and thread.

``schema`` (the tables, passage statuses, `SCHEMA_VERSION`, `StoreError`: what feature modules
import, with the mappers), ``migrations`` (v1 to v7), ``connection`` (the SQLAlchemy engine and
SQLite's pragmas), ``transits`` (`Store`: transits, passages, crops, reads, the outbox marks),
``search`` (the API's transit search and live transits) and ``database`` (`Database`: the single
database thread, and what a failed write means).
"""

from __future__ import annotations

from rufina_alpr.store.database import Database
from rufina_alpr.store.migrations import MIGRATIONS
from rufina_alpr.store.schema import (
    PASSAGE_COUNTED,
    PASSAGE_READ,
    PASSAGE_UNREAD,
    SCHEMA_VERSION,
    SIGNING_KEY,
    StoreError,
    alert_frames,
    alert_steps,
    alerts,
    audit_log,
    crops,
    engine_meta,
    held_transits,
    holds,
    hotlist_entries,
    hotlist_matches,
    hotlists,
    metadata,
    passages,
    privacy_packs,
    reads,
    schema_version,
    subject_requests,
    traffic_counts,
    traffic_rollup,
    traffic_unique,
    transit_corrections,
    transits,
    utc,
)
from rufina_alpr.store.transits import PassageCounts, Store, transit_from_row

__all__ = [
    "MIGRATIONS",
    "PASSAGE_COUNTED",
    "PASSAGE_READ",
    "PASSAGE_UNREAD",
    "SCHEMA_VERSION",
    "SIGNING_KEY",
    "Database",
    "PassageCounts",
    "Store",
    "StoreError",
    "alert_frames",
    "alert_steps",
    "alerts",
    "audit_log",
    "crops",
    "engine_meta",
    "held_transits",
    "holds",
    "hotlist_entries",
    "hotlist_matches",
    "hotlists",
    "metadata",
    "passages",
    "privacy_packs",
    "reads",
    "schema_version",
    "subject_requests",
    "traffic_counts",
    "traffic_rollup",
    "traffic_unique",
    "transit_corrections",
    "transit_from_row",
    "transits",
    "utc",
]
