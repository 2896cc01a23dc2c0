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
    # v6: the plate as read, when an operator corrected ``plate`` (`transit_corrections`).
    sa.Column("original_plate", sa.String(16)),
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
    # v6, authorised lists only: a gate (ZTL, closed road, school street) alerts on every plate
    # NOT on the list at ``gate_stations`` on ``gate_days`` (ISO weekdays, "12345" Monday to
    # Friday; NULL every day) in ``gate_from_hour`` <= hour < ``gate_to_hour`` (NULL: all day);
    # ``gate_keep_authorised`` false: the authorised vehicles' transits there are not stored.
    sa.Column("gate_stations", sa.JSON),
    sa.Column("gate_days", sa.String(7)),
    sa.Column("gate_from_hour", sa.Integer),
    sa.Column("gate_to_hour", sa.Integer),
    sa.Column("gate_keep_authorised", sa.Boolean),
)
GATE_COLUMNS: Final = (
    "gate_stations JSON",
    "gate_days VARCHAR(7)",
    "gate_from_hour INTEGER",
    "gate_to_hour INTEGER",
    "gate_keep_authorised BOOLEAN",
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

# --- v6: alerts and their handling, evidence frames, read corrections ---------------------------

# One alert per vehicle and kind (its id derives from the transit's): raised while the vehicle is
# in view (``status`` provisional) or with its transit (confirmed); the transit confirms or
# withdraws a provisional one. ``state``: its handling (new, acknowledged, accepted, rejected,
# closed). ``transit_id`` is the vehicle's transit, which a provisional alert precedes (no foreign
# key: the purge removes an alert with its transit). ``published``: the last status the broker
# acknowledged (the alerts' outbox).
alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("kind", sa.String(24), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("transit_id", sa.String(36), nullable=False),
    sa.Column("event_id", sa.String(64), nullable=False),
    sa.Column("camera", sa.String(64), nullable=False),
    sa.Column("station_id", sa.String(64), nullable=False),
    sa.Column("time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("plate", sa.String(16), nullable=False),
    sa.Column("list_id", sa.String(64)),
    sa.Column("list_name", sa.String(120)),
    sa.Column("list_kind", sa.String(32)),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("priority", sa.Integer, nullable=False),
    sa.Column("entry_id", sa.Integer),
    sa.Column("entry_plate", sa.String(16)),
    sa.Column("read_plate", sa.String(16), nullable=False),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("match", sa.String(16), nullable=False),
    sa.Column("reason", sa.String(500)),
    sa.Column("related_transit_id", sa.String(36)),
    sa.Column("worker", sa.String(96), nullable=False),
    sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("settled_at", sa.DateTime(timezone=True)),
    sa.Column("published", sa.String(16)),
    sa.Column("handled_by", sa.String(120)),
    sa.Column("handled_at", sa.DateTime(timezone=True)),
    sa.Column("reject_reason", sa.String(32)),
    sa.Column("outcome", sa.String(32)),
    sa.Column("note", sa.String(500)),
    sa.Index("ix_alerts_time", "time"),
    sa.Index("ix_alerts_transit", "transit_id"),
    sa.Index("ix_alerts_station_time", "station_id", "time"),
    sa.Index("ix_alerts_outbox", "worker", "published"),
)

# Each step of an alert's handling, who (the token's user and the person it acted for) and when.
alert_steps = sa.Table(
    "alert_steps",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "alert_id", sa.String(36), sa.ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("step", sa.String(16), nullable=False),
    sa.Column("actor", sa.String(120), nullable=False),
    sa.Column("acting_user", sa.String(120)),
    sa.Column("reason", sa.String(32)),
    sa.Column("outcome", sa.String(32)),
    sa.Column("note", sa.String(500)),
    sa.Index("ix_alert_steps_alert", "alert_id"),
)

# The full frame Frigate had of an alert's vehicle, fetched when the alert was raised, with its
# SHA-256 computed at capture (the evidence ZIP carries both).
alert_frames = sa.Table(
    "alert_frames",
    metadata,
    sa.Column(
        "alert_id", sa.String(36), sa.ForeignKey("alerts.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("jpeg", sa.LargeBinary, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("captured_at", sa.DateTime(timezone=True), nullable=False),
)

# An operator's correction of a transit's plate: ``transits.plate`` takes the corrected plate
# (routes, searches and statistics use it), ``transits.original_plate`` keeps the read.
transit_corrections = sa.Table(
    "transit_corrections",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "transit_id",
        sa.String(36),
        sa.ForeignKey("transits.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("previous_plate", sa.String(16), nullable=False),
    sa.Column("plate", sa.String(16), nullable=False),
    sa.Column("reason", sa.String(500), nullable=False),
    sa.Column("actor", sa.String(120), nullable=False),
    sa.Column("acting_user", sa.String(120)),
    sa.Index("ix_transit_corrections_transit", "transit_id"),
)
V6_TABLES: Final = (alerts, alert_steps, alert_frames, transit_corrections)

# --- v7: data-subject requests, the privacy packs generated -------------------------------------

# A data subject's request (GDPR art. 15 access, art. 17 erasure) about a plate: received on
# ``received_at``, answered by ``due_at`` (art. 12(3): one month), ``status`` open, fulfilled or
# refused, with who handled it and what the answer did (``result``: counts, holds that kept data).
subject_requests = sa.Table(
    "subject_requests",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("plate", sa.String(16), nullable=False),
    sa.Column("requester", sa.String(200), nullable=False),
    sa.Column("reference", sa.String(64)),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_by", sa.String(120), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("handled_by", sa.String(120)),
    sa.Column("handled_at", sa.DateTime(timezone=True)),
    sa.Column("note", sa.String(2000)),
    sa.Column("result", sa.JSON),
    sa.Index("ix_subject_requests_status_due", "status", "due_at"),
)

# Each privacy pack generated: when, by whom, and the hash of each part of the configuration it
# was generated from (``sections``) and of each document (``documents``), so a later change of
# stations, retention or lists shows which documents are out of date.
privacy_packs = sa.Table(
    "privacy_packs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("generated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("generated_by", sa.String(120), nullable=False),
    sa.Column("sections", sa.JSON, nullable=False),
    sa.Column("documents", sa.JSON, nullable=False),
)
V7_TABLES: Final = (subject_requests, privacy_packs)

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

SCHEMA_VERSION: Final = 7
"""The schema this engine writes: one migration per version (`rufina_alpr.store.migrations`)."""


class StoreError(RufinaError, RuntimeError):
    """The database cannot be opened or is newer than this engine, or it refused a write or a read
    (disk full, database away: then the message that brought the outcome stays unacknowledged and
    the outcome is stored again later)."""


def utc(moment: datetime) -> datetime:
    """The moment in UTC; a naive one (as SQLite gives it back) is taken as UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
