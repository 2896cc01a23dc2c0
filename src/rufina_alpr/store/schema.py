"""The database's tables and the names every module that queries them shares.

This module (with the mappers of `rufina_alpr.store.transits`) is what feature modules import from
the store: tables, passage statuses, the schema version and `StoreError`, the one store failure.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

import sqlalchemy as sa

from rufina_alpr.errors import RufinaError

metadata = sa.MetaData()

schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
)

transits = sa.Table(
    "transits",
    metadata,
    # Derived from (camera, event id): one transit per event (`transit_id`).
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("event_id", sa.String(64), nullable=False),
    sa.Column("station_id", sa.String(64), nullable=False),
    sa.Column("camera", sa.String(64), nullable=False),
    sa.Column("time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("vehicle", sa.String(32), nullable=False),
    sa.Column("plate", sa.String(16), nullable=False),
    sa.Column("display", sa.String(24), nullable=False),
    sa.Column("country", sa.String(2)),
    sa.Column("format", sa.String(16)),
    sa.Column("confidence", sa.Float, nullable=False),
    sa.Column("low_confidence", sa.Boolean, nullable=False),
    sa.Column("read_count", sa.Integer, nullable=False),
    sa.Column("alternatives", sa.JSON, nullable=False),
    sa.Column("direction", sa.String(32)),
    sa.Column("frigate_plate", sa.String(16)),
    sa.Column("hotlist", sa.JSON),
    sa.Column("worker", sa.String(96), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("published_at", sa.DateTime(timezone=True)),
    sa.Index("ix_transits_time", "time"),
    sa.Index("ix_transits_plate_time", "plate", "time"),
    sa.Index("ix_transits_station_time", "station_id", "time"),
    sa.Index("ix_transits_outbox", "worker", "published_at"),
)

crops = sa.Table(
    "crops",
    metadata,
    sa.Column(
        "transit_id",
        sa.String(36),
        sa.ForeignKey("transits.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("jpeg", sa.LargeBinary, nullable=False),
)

reads = sa.Table(
    "reads",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "transit_id",
        sa.String(36),
        sa.ForeignKey("transits.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("text", sa.String(16), nullable=False),
    sa.Column("confidence", sa.Float, nullable=False),
    sa.Column("region", sa.String(48)),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("frame_time", sa.Float),
    sa.Index("ix_reads_transit", "transit_id"),
)

# Every vehicle event of every station, read or not: the basis of traffic counts, and the record
# that an event was handled (so a redelivered `end` is recognised and an unread vehicle is counted).
# Keyed by camera and event id (v3; v1-v2: the id alone, which a message reusing a real event's id
# on another camera could take first).
passages = sa.Table(
    "passages",
    metadata,
    sa.Column("camera", sa.String(64), primary_key=True),
    sa.Column("event_id", sa.String(64), primary_key=True),
    sa.Column("station_id", sa.String(64), nullable=False),
    sa.Column("time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("vehicle", sa.String(32), nullable=False),
    sa.Column("direction", sa.String(32)),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("reason", sa.String(200)),
    sa.Column("transit_id", sa.String(36)),
    sa.Index("ix_passages_station_time", "station_id", "time"),
)

# --- v2: hotlists, alerts, holds, audit log, traffic rollups --------------------------------------

# A named list of plates the police watch for (or allow). ``action``: "alert" (stolen, flagged,
# watch), "stop_and_check" (uninsured, expired inspection: no automatic fine under Italian law) or
# "allow" (authorised/whitelist: matched and reported, never alerted).
hotlists = sa.Table(
    "hotlists",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(120), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("priority", sa.Integer, nullable=False),
    sa.Column("description", sa.String(500)),
    sa.Column("created_by", sa.String(120), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

# One plate on a list; ``plate`` is normalised (``normalize_plate``). Optional scope: the stations
# and the hours of day (``from_hour`` <= hour < ``to_hour``, wrapping past midnight) it applies to.
hotlist_entries = sa.Table(
    "hotlist_entries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "list_id", sa.String(64), sa.ForeignKey("hotlists.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("plate", sa.String(16), nullable=False),
    sa.Column("reason", sa.String(500), nullable=False),
    sa.Column("priority", sa.Integer),
    sa.Column("expires_at", sa.DateTime(timezone=True)),
    sa.Column("notes", sa.String(2000)),
    sa.Column("stations", sa.JSON),
    sa.Column("from_hour", sa.Integer),
    sa.Column("to_hour", sa.Integer),
    sa.Column("added_by", sa.String(120), nullable=False),
    sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("list_id", "plate", name="uq_hotlist_entries_list_plate"),
    sa.Index("ix_hotlist_entries_plate", "plate"),
)

# Every hotlist match of a transit (personal data: purged with the transit), the cooldown
# memory (the last alert per entry plate and station) and the alerts' outbox (``published_at``).
hotlist_matches = sa.Table(
    "hotlist_matches",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "transit_id",
        sa.String(36),
        sa.ForeignKey("transits.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("list_id", sa.String(64), nullable=False),
    # The entry as it was when matched (the list may change or go before the alert is published).
    sa.Column("entry_id", sa.Integer),
    sa.Column("entry_plate", sa.String(16), nullable=False),
    sa.Column("read_plate", sa.String(16), nullable=False),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("match", sa.String(16), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("priority", sa.Integer, nullable=False),
    sa.Column("reason", sa.String(500)),
    sa.Column("station_id", sa.String(64), nullable=False),
    sa.Column("time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("alerted", sa.Boolean, nullable=False),
    # The alert's outbox: set when the broker acknowledged its `hotlist_match` message.
    sa.Column("published_at", sa.DateTime(timezone=True)),
    sa.Index("ix_hotlist_matches_cooldown", "entry_plate", "station_id", "time"),
    sa.Index("ix_hotlist_matches_transit", "transit_id"),
)

# An investigation's hold: its transits outlive the retention period until it is released.
holds = sa.Table(
    "holds",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("case_number", sa.String(64), nullable=False),
    sa.Column("reason", sa.String(500), nullable=False),
    sa.Column("created_by", sa.String(120), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("released_at", sa.DateTime(timezone=True)),
)

held_transits = sa.Table(
    "held_transits",
    metadata,
    sa.Column(
        "hold_id", sa.Integer, sa.ForeignKey("holds.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column(
        "transit_id",
        sa.String(36),
        sa.ForeignKey("transits.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Index("ix_held_transits_transit", "transit_id"),
)

# Append-only record of every search, route query, export and hotlist change (the store has no
# method that updates or deletes it): who, when, what, and why. ``actor`` is the token's user;
# ``acting_user`` (v5) the person a delegate's token acted for (Home Assistant's user), if any.
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor", sa.String(120), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("action", sa.String(48), nullable=False),
    sa.Column("query", sa.JSON, nullable=False),
    sa.Column("reason", sa.String(500)),
    sa.Column("case_number", sa.String(64)),
    sa.Column("results", sa.Integer),
    sa.Column("acting_user", sa.String(120)),  # last, where the v5 migration adds it
    sa.Index("ix_audit_log_time", "time"),
)

# Traffic aggregates: they survive the purge and hold no plate, hashed or not. ``period`` is
# "15m", "1h" or "1d"; ``direction`` is "" when unknown so that the key has no NULL.
traffic_counts = sa.Table(
    "traffic_counts",
    metadata,
    sa.Column("station_id", sa.String(64), primary_key=True),
    sa.Column("period", sa.String(4), primary_key=True),
    sa.Column("start", sa.DateTime(timezone=True), primary_key=True),
    sa.Column("vehicle", sa.String(32), primary_key=True),
    sa.Column("direction", sa.String(32), primary_key=True),
    sa.Column("count", sa.Integer, nullable=False),
)

# Distinct plates per station (``"*"``: the whole network) and day, counted before the purge.
traffic_unique = sa.Table(
    "traffic_unique",
    metadata,
    sa.Column("station_id", sa.String(64), primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("vehicles", sa.Integer, nullable=False),
)

# How far the rollups have gone: ``name`` "counts" (passages before ``until`` are in
# ``traffic_counts``) or "unique" (the days before ``until`` are in ``traffic_unique``).
traffic_rollup = sa.Table(
    "traffic_rollup",
    metadata,
    sa.Column("name", sa.String(16), primary_key=True),
    sa.Column("until", sa.DateTime(timezone=True), nullable=False),
)

# v4: the engine's own settings shared by every worker on one database (the MQTT signing key).
engine_meta = sa.Table(
    "engine_meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
SIGNING_KEY: Final = "mqtt_signing_key"

# v2 indexes on v1 tables, for the purge, the rollups and wildcard plate searches on millions of
# transits. Not attached to the tables: the v2 migration creates them on v1 databases too.
V2_INDEXES: Final = (
    sa.Index("ix_passages_time", passages.c.time),
    sa.Index("ix_passages_transit", passages.c.transit_id),
)
# PostgreSQL only: LIKE 'AB1%' uses a B-tree index whatever the database's collation.
PG_PLATE_PATTERN_INDEX: Final = sa.Index(
    "ix_transits_plate_pattern",
    transits.c.plate,
    transits.c.time,
    postgresql_ops={"plate": "varchar_pattern_ops"},
)
transits.indexes.discard(PG_PLATE_PATTERN_INDEX)  # not on SQLite: (plate, time) serves there

V2_TABLES: Final = (
    hotlists,
    hotlist_entries,
    hotlist_matches,
    holds,
    held_transits,
    audit_log,
    traffic_counts,
    traffic_unique,
    traffic_rollup,
)

PASSAGE_READ: Final = "read"
PASSAGE_UNREAD: Final = "unread"
PASSAGE_COUNTED: Final = "counted"

SCHEMA_VERSION: Final = 5
"""The schema this engine writes: one migration per version (`rufina_alpr.store.migrations`)."""


class StoreError(RufinaError, RuntimeError):
    """The database cannot be opened or is newer than this engine, or it refused a write or a read
    (disk full, database away: then the message that brought the outcome stays unacknowledged and
    the outcome is stored again later)."""


def utc(moment: datetime) -> datetime:
    """The moment in UTC; a naive one (as SQLite gives it back) is taken as UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
