"""The schema's migrations, v1 to v7, and `migrate`: one transaction that brings a database to
`SCHEMA_VERSION` (or refuses one from a newer engine)."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from rufina_alpr.store.schema import (
    GATE_COLUMNS,
    PG_PLATE_PATTERN_INDEX,
    SCHEMA_VERSION,
    SIGNING_KEY,
    V2_INDEXES,
    V2_TABLES,
    V6_TABLES,
    V7_TABLES,
    StoreError,
    crops,
    engine_meta,
    metadata,
    passages,
    reads,
    schema_version,
    transits,
)

_LOGGER = logging.getLogger(__name__)


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
    the old one dropped and the new one renamed. `migrate` has foreign keys off meanwhile,
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


def _create_alerts_v6(connection: Connection) -> None:
    """Alerts, their steps and frames, read corrections, the transits' ``original_plate`` and the
    authorised lists' gate (a database created at v6 has the columns already: v1 and v2 make
    those tables in their current shape)."""
    metadata.create_all(connection, tables=list(V6_TABLES))
    inspector = sa.inspect(connection)
    if "original_plate" not in {c["name"] for c in inspector.get_columns("transits")}:
        connection.execute(sa.text("ALTER TABLE transits ADD COLUMN original_plate VARCHAR(16)"))
    present = {c["name"] for c in inspector.get_columns("hotlists")}
    for column in GATE_COLUMNS:
        if column.split()[0] not in present:
            connection.execute(sa.text(f"ALTER TABLE hotlists ADD COLUMN {column}"))


def _create_privacy_v7(connection: Connection) -> None:
    """The data-subject requests' register and the privacy packs generated."""
    metadata.create_all(connection, tables=list(V7_TABLES))


MIGRATIONS: Final[tuple[Callable[[Connection], None], ...]] = (
    _create_v1,
    _create_v2,
    _key_events_by_camera_v3,
    _create_engine_meta_v4,
    _add_acting_user_v5,
    _create_alerts_v6,
    _create_privacy_v7,
)
if len(MIGRATIONS) != SCHEMA_VERSION:  # pragma: no cover - caught at import
    raise RuntimeError("one migration per schema version")


def migrate(engine: Engine) -> int:
    """Bring the schema to this engine's version; refuse a database from a newer engine.

    All of it is one transaction. On PostgreSQL several engine workers may start together on
    one empty database: a transaction-scoped advisory lock lets one of them migrate while the
    others wait. On SQLite the transaction is begun by hand (pysqlite would commit each DDL
    statement on its own) and takes the write lock, with foreign keys off meanwhile (v3
    rebuilds tables that others refer to), checked before the commit.
    """
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": 7717})
        try:
            _migrate(connection)
            if sqlite and connection.exec_driver_sql("PRAGMA foreign_key_check").first():
                raise StoreError("the schema migration left rows without their transit")
            connection.commit()
        finally:
            if sqlite:
                connection.rollback()  # nothing after the commit; all of it after a failure
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
    return SCHEMA_VERSION


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
