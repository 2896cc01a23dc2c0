"""Persistent store (SQLAlchemy Core): SQLite by default, PostgreSQL to scale out.

It is also the outbox: a transit is committed here before it is published, and stays marked
unpublished until the broker acknowledged it, so nothing is lost or published twice.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from rufina_alpr.errors import RufinaError
from rufina_alpr.metrics import Metrics
from rufina_alpr.reads import PlateRead
from rufina_alpr.transits import Transit

_LOGGER = logging.getLogger(__name__)

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

# PostgreSQL's text cannot hold NUL (the insert fails and the transit is lost) and no plate, OCR
# region or reason needs a control character: they are taken out where text enters the store.
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")


def _create_v1(connection: Connection) -> None:
    metadata.create_all(connection, tables=[schema_version, transits, crops, reads, passages])


def _create_v2(connection: Connection) -> None:
    metadata.create_all(connection, tables=list(V2_TABLES))
    for index in V2_INDEXES:
        index.create(connection, checkfirst=True)
    if connection.dialect.name == "postgresql":
        PG_PLATE_PATTERN_INDEX.create(connection, checkfirst=True)


def _key_events_by_camera_v3(connection: Connection) -> None:
    """Passages keyed by (camera, event id), transits no longer unique by event id alone (their
    id, derived from both, is the key). A database created at v3 has that shape already."""
    inspector = sa.inspect(connection)
    passage_key = inspector.get_pk_constraint("passages")
    old_passage_key = passage_key["constrained_columns"] == ["event_id"]
    old_transit_key = [
        constraint["name"]
        for constraint in inspector.get_unique_constraints("transits")
        if constraint["column_names"] == ["event_id"]
    ]
    if connection.dialect.name == "sqlite":  # a key cannot change in place: rebuild the table
        if old_passage_key:
            _rebuild_sqlite_table(connection, passages)
        if old_transit_key:
            _rebuild_sqlite_table(connection, transits)
        return
    if old_passage_key:
        name = passage_key["name"]
        connection.execute(sa.text(f'ALTER TABLE passages DROP CONSTRAINT "{name}"'))
        connection.execute(sa.text("ALTER TABLE passages ADD PRIMARY KEY (camera, event_id)"))
    for name in old_transit_key:
        connection.execute(sa.text(f'ALTER TABLE transits DROP CONSTRAINT "{name}"'))


def _rebuild_sqlite_table(connection: Connection, table: sa.Table) -> None:
    """SQLite's way to change a table's keys: a new table of the current shape, the rows copied,
    the old one dropped and the new one renamed. `Store.migrate` has foreign keys off meanwhile,
    so dropping `transits` deletes none of the crops, reads and matches that refer to it."""
    staging = f"{table.name}_rebuilt"
    connection.execute(sa.text(f"DROP TABLE IF EXISTS {staging}"))
    shape = table.to_metadata(sa.MetaData(), name=staging)
    for index in list(shape.indexes):  # index names are per database: made after the rename
        shape.indexes.discard(index)
    shape.create(connection)
    columns = ", ".join(column.name for column in table.columns)
    connection.execute(
        sa.text(f"INSERT INTO {staging} ({columns}) SELECT {columns} FROM {table.name}")
    )
    connection.execute(sa.text(f"DROP TABLE {table.name}"))
    connection.execute(sa.text(f"ALTER TABLE {staging} RENAME TO {table.name}"))
    for index in table.indexes:
        index.create(connection)


def _create_engine_meta_v4(connection: Connection) -> None:
    """The engine's shared settings, with the MQTT signing key made once (under the migration's
    lock: every worker on one PostgreSQL signs with the same key)."""
    engine_meta.create(connection, checkfirst=True)
    connection.execute(engine_meta.insert().values(key=SIGNING_KEY, value=secrets.token_hex(32)))


def _add_acting_user_v5(connection: Connection) -> None:
    """The audit log's ``acting_user``, NULL in the entries written before it. A database created
    at v5 has it already (v2 makes the audit log in its current shape)."""
    if "acting_user" not in {c["name"] for c in sa.inspect(connection).get_columns("audit_log")}:
        connection.execute(sa.text("ALTER TABLE audit_log ADD COLUMN acting_user VARCHAR(120)"))


MIGRATIONS: Final[tuple[Callable[[Connection], None], ...]] = (
    _create_v1,
    _create_v2,
    _key_events_by_camera_v3,
    _create_engine_meta_v4,
    _add_acting_user_v5,
)
SCHEMA_VERSION: Final = len(MIGRATIONS)


class StoreError(RufinaError, RuntimeError):
    """The database cannot be opened or is newer than this engine."""


@dataclass(frozen=True, slots=True)
class PassageCounts:
    read: int
    unread: int
    counted: int


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    # Deleted rows are overwritten with zeros: purged plates must not linger in free pages.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


class Store:
    """All database access. Methods are synchronous: the service runs them off the event loop.

    ``metrics``: where `store_text_cleaned` is counted (the engine's, when it passes them).
    """

    def __init__(self, url: str, *, worker: str, metrics: Metrics | None = None) -> None:
        self.url = url
        self.worker = worker
        self.metrics = metrics if metrics is not None else Metrics()
        self.engine: Engine = _make_engine(url)
        self.migrate()

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _begin(self) -> Iterator[Connection]:
        with self.engine.begin() as connection:
            yield connection

    def migrate(self) -> int:
        """Bring the schema to this engine's version; refuse a database from a newer engine.

        All of it is one transaction. On PostgreSQL several engine workers may start together on
        one empty database: a transaction-scoped advisory lock lets one of them migrate while the
        others wait. On SQLite the transaction is begun by hand (pysqlite would commit each DDL
        statement on its own) and takes the write lock, with foreign keys off meanwhile (v3
        rebuilds tables that others refer to), checked before the commit.
        """
        with self.engine.connect() as connection:
            sqlite = connection.dialect.name == "sqlite"
            if sqlite:
                connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": 7717})
            try:
                self._migrate(connection)
                if sqlite and connection.exec_driver_sql("PRAGMA foreign_key_check").first():
                    raise StoreError("the schema migration left rows without their transit")
                connection.commit()
            finally:
                if sqlite:
                    connection.rollback()  # nothing after the commit; all of it after a failure
                    connection.exec_driver_sql("PRAGMA foreign_keys=ON")
        return SCHEMA_VERSION

    @staticmethod
    def _migrate(connection: Connection) -> None:
        schema_version.create(connection, checkfirst=True)
        current = connection.scalar(sa.select(sa.func.max(schema_version.c.version))) or 0
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"database schema v{current} is newer than this engine (v{SCHEMA_VERSION})"
            )
        for version in range(current + 1, SCHEMA_VERSION + 1):
            MIGRATIONS[version - 1](connection)
            connection.execute(
                schema_version.insert().values(version=version, applied_at=datetime.now(UTC))
            )
            _LOGGER.info("database schema migrated to v%d", version)

    def signing_key(self) -> str:
        """The key that signs the engine's MQTT payloads (hex), made at the v4 migration."""
        with self._begin() as connection:
            key = connection.scalar(
                sa.select(engine_meta.c.value).where(engine_meta.c.key == SIGNING_KEY)
            )
        if key is None:
            raise StoreError("the store has no MQTT signing key")
        return str(key)

    def _clean(self, value: str | None, limit: int, what: str, owner: str) -> str | None:
        """Text without control characters, at most ``limit`` long; a cleaned value is counted
        and logged by field and owner (event or transit id), never with the text (a plate)."""
        if value is None:
            return None
        cleaned = _CONTROL.sub("", value)
        if cleaned != value:
            self.metrics.inc("store_text_cleaned")
            _LOGGER.warning("control characters removed from the %s of %s", what, owner)
        return cleaned[:limit]

    def add_transit(
        self, transit: Transit, plate_reads: list[PlateRead], *, settle_unread: bool = False
    ) -> bool:
        """Store a transit, its reads and crop atomically; False when the event already has an
        outcome. With ``settle_unread`` an unread passage of the event becomes this transit's
        (read again once Frigate answered, or a real `end` after a forged one), in place, so
        traffic counts and their rollups do not change."""
        owner = f"transit {transit.id}"
        row = {
            "id": transit.id,
            "event_id": transit.event_id,
            "station_id": transit.station_id,
            "camera": transit.camera,
            "time": _utc(transit.time),
            "vehicle": transit.vehicle,
            "plate": self._clean(transit.plate, 16, "plate", owner),
            "display": self._clean(transit.display, 24, "display", owner),
            "country": transit.country,
            "format": transit.format,
            "confidence": transit.confidence,
            "low_confidence": transit.low_confidence,
            "read_count": transit.read_count,
            "alternatives": [list(pair) for pair in transit.alternatives],
            "direction": transit.direction,
            # Frigate's own text, as it gave it (its API accepts up to 100 characters).
            "frigate_plate": self._clean(transit.frigate_plate or None, 16, "Frigate plate", owner),
            "hotlist": transit.hotlist,
            "worker": self.worker,
            "created_at": datetime.now(UTC),
            "published_at": None,
        }
        try:
            with self._begin() as connection:
                connection.execute(transits.insert().values(row))
                if transit.crop_jpeg:
                    connection.execute(
                        crops.insert().values(transit_id=transit.id, jpeg=transit.crop_jpeg)
                    )
                if plate_reads:
                    connection.execute(
                        reads.insert(),
                        [
                            {
                                "transit_id": transit.id,
                                "text": self._clean(read.text, 16, "read", owner),
                                "confidence": read.confidence,
                                "region": self._clean(read.region, 48, "read region", owner),
                                "source": read.source,
                                "frame_time": read.frame_time,
                            }
                            for read in plate_reads
                        ],
                    )
                settled = settle_unread and self._settle(
                    connection,
                    transit.camera,
                    transit.event_id,
                    status=PASSAGE_READ,
                    reason=None,
                    transit_id=transit.id,
                )
                if not settled:
                    self._insert_passage(
                        connection,
                        event_id=transit.event_id,
                        station_id=transit.station_id,
                        camera=transit.camera,
                        time=transit.time,
                        vehicle=transit.vehicle,
                        direction=transit.direction,
                        status=PASSAGE_READ,
                        reason=None,
                        transit_id=transit.id,
                    )
        except IntegrityError:
            return False
        return True

    @staticmethod
    def _settle(connection: Connection, camera: str, event_id: str, **values: Any) -> bool:
        """Change an unread passage's outcome in place; False when there is none."""
        changed = connection.execute(
            passages.update()
            .where(
                passages.c.camera == camera,
                passages.c.event_id == event_id,
                passages.c.status == PASSAGE_UNREAD,
            )
            .values(values)
        )
        return bool(changed.rowcount)

    def add_passage(
        self,
        *,
        event_id: str,
        station_id: str,
        camera: str,
        time: datetime,
        vehicle: str,
        direction: str | None,
        status: str,
        reason: str | None = None,
        settle_unread: bool = False,
    ) -> bool:
        """Record a vehicle event without a transit (unread, or a counting-only station); False
        if it has an outcome already. With ``settle_unread`` an unread passage of the event
        takes this (unread) outcome's reason instead: read again, still unread, but why."""
        cleaned = self._clean(reason, 200, "reason", f"event {event_id}") or None
        try:
            with self._begin() as connection:
                if settle_unread and self._settle(connection, camera, event_id, reason=cleaned):
                    return True
                self._insert_passage(
                    connection,
                    event_id=event_id,
                    station_id=station_id,
                    camera=camera,
                    time=time,
                    vehicle=vehicle,
                    direction=direction,
                    status=status,
                    reason=cleaned,
                    transit_id=None,
                )
        except IntegrityError:
            return False
        return True

    @staticmethod
    def _insert_passage(connection: Connection, **values: Any) -> None:
        values["time"] = _utc(values["time"])
        values["reason"] = values["reason"][:200] if values["reason"] else None
        connection.execute(passages.insert().values(values))

    def set_unread_reason(self, camera: str, event_id: str, reason: str) -> bool:
        """Say why an unread passage stays unread (False: no such unread passage)."""
        cleaned = self._clean(reason, 200, "reason", f"event {event_id}") or None
        with self._begin() as connection:
            return self._settle(connection, camera, event_id, reason=cleaned)

    def is_newest_transit(self, transit: Transit) -> bool:
        """Whether the transit is still stored and no later one of its station is: only that
        may be the station's retained `last` (an older one published late would stay there,
        plate and all, after the purge took it, as the purge clears `last` only when it removed
        the newest; one purged while the outbox published it, likewise)."""
        with self._begin() as connection:
            stored = connection.scalar(sa.select(transits.c.id).where(transits.c.id == transit.id))
            later = connection.scalar(
                sa.select(transits.c.id)
                .where(
                    transits.c.station_id == transit.station_id,
                    transits.c.time > _utc(transit.time),
                )
                .limit(1)
            )
        return stored is not None and later is None

    def event_handled(self, camera: str, event_id: str) -> bool:
        return self.event_outcome(camera, event_id) is not None

    def event_outcome(self, camera: str, event_id: str) -> str | None:
        """The status of the event's passage (``read``, ``unread``, ``counted``), None if none."""
        with self._begin() as connection:
            found = connection.scalar(
                sa.select(passages.c.status).where(
                    passages.c.camera == camera, passages.c.event_id == event_id
                )
            )
        return str(found) if found is not None else None

    def unread_passages(
        self, reason_prefix: str, since: datetime, limit: int = 500
    ) -> list[tuple[str, str, str]]:
        """(camera, event id, station id) of the unread passages since ``since`` whose reason
        starts with ``reason_prefix``, oldest first."""
        with self._begin() as connection:
            rows = connection.execute(
                sa.select(passages.c.camera, passages.c.event_id, passages.c.station_id)
                .where(
                    passages.c.status == PASSAGE_UNREAD,
                    passages.c.reason.startswith(reason_prefix, autoescape=True),
                    passages.c.time >= _utc(since),
                )
                .order_by(passages.c.time)
                .limit(limit)
            ).all()
        return [(row.camera, row.event_id, row.station_id) for row in rows]

    def unpublished(self, limit: int = 100) -> list[Transit]:
        """This worker's transits the broker has not acknowledged yet, oldest first."""
        query = (
            sa.select(transits, crops.c.jpeg)
            .select_from(transits.outerjoin(crops, crops.c.transit_id == transits.c.id))
            .where(transits.c.worker == self.worker, transits.c.published_at.is_(None))
            .order_by(transits.c.created_at)
            .limit(limit)
        )
        with self._begin() as connection:
            return [_transit_from_row(row._mapping) for row in connection.execute(query)]

    def mark_published(self, transit_id: str) -> None:
        with self._begin() as connection:
            connection.execute(
                transits.update()
                .where(transits.c.id == transit_id)
                .values(published_at=datetime.now(UTC))
            )

    def transit(self, transit_id: str) -> Transit | None:
        query = (
            sa.select(transits, crops.c.jpeg)
            .select_from(transits.outerjoin(crops, crops.c.transit_id == transits.c.id))
            .where(transits.c.id == transit_id)
        )
        with self._begin() as connection:
            row = connection.execute(query).first()
        return _transit_from_row(row._mapping) if row else None

    def transits(self, *, limit: int = 1000) -> list[Transit]:
        """Newest transits first, without crops."""
        query = sa.select(transits).order_by(transits.c.time.desc()).limit(limit)
        with self._begin() as connection:
            return [_transit_from_row(row._mapping) for row in connection.execute(query)]

    def count_transits(self, *, since: datetime | None = None) -> int:
        query = sa.select(sa.func.count()).select_from(transits)
        if since is not None:
            query = query.where(transits.c.time >= _utc(since))
        with self._begin() as connection:
            return int(connection.scalar(query) or 0)

    def station_counts(self, since: datetime) -> dict[str, dict[str, int]]:
        """Passages per station and vehicle class since a moment (read, unread and counted)."""
        query = (
            sa.select(passages.c.station_id, passages.c.vehicle, sa.func.count())
            .where(passages.c.time >= _utc(since))
            .group_by(passages.c.station_id, passages.c.vehicle)
        )
        counts: dict[str, dict[str, int]] = {}
        with self._begin() as connection:
            for station_id, vehicle, count in connection.execute(query):
                counts.setdefault(station_id, {})[vehicle] = int(count)
        return counts

    def transits_per_station(self, since: datetime) -> dict[str, int]:
        query = (
            sa.select(transits.c.station_id, sa.func.count())
            .where(transits.c.time >= _utc(since))
            .group_by(transits.c.station_id)
        )
        with self._begin() as connection:
            return {station: int(count) for station, count in connection.execute(query)}

    def passage_counts(self) -> PassageCounts:
        query = sa.select(passages.c.status, sa.func.count()).group_by(passages.c.status)
        with self._begin() as connection:
            counts = {status: int(count) for status, count in connection.execute(query)}
        return PassageCounts(
            read=counts.get(PASSAGE_READ, 0),
            unread=counts.get(PASSAGE_UNREAD, 0),
            counted=counts.get(PASSAGE_COUNTED, 0),
        )


def _make_engine(url: str) -> Engine:
    try:
        if url.startswith("sqlite"):
            database = sa.engine.make_url(url).database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            # hide_parameters: a database error's message must not carry the plates it was given.
            engine = sa.create_engine(url, connect_args={"timeout": 10}, hide_parameters=True)
            sa.event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = sa.create_engine(
                url, pool_pre_ping=True, pool_size=5, max_overflow=5, hide_parameters=True
            )
        with engine.connect():
            pass
    except Exception as err:
        raise StoreError(f"cannot open the store {_redact(url)}: {err}") from err
    return engine


def _redact(url: str) -> str:
    return sa.engine.make_url(url).render_as_string(hide_password=True)


def _transit_from_row(row: Any) -> Transit:
    return Transit(
        id=row["id"],
        event_id=row["event_id"],
        station_id=row["station_id"],
        camera=row["camera"],
        time=_utc(row["time"]),
        vehicle=row["vehicle"],
        plate=row["plate"],
        display=row["display"],
        country=row["country"],
        format=row["format"],
        confidence=row["confidence"],
        low_confidence=row["low_confidence"],
        read_count=row["read_count"],
        alternatives=tuple((str(p), float(s)) for p, s in row["alternatives"]),
        direction=row["direction"],
        frigate_plate=row["frigate_plate"],
        hotlist=row["hotlist"],
        crop_jpeg=row.get("jpeg"),
    )
