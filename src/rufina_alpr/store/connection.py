"""The SQLAlchemy engine of a store: SQLite (with its pragmas) or PostgreSQL (a small pool)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from rufina_alpr.store.schema import StoreError


def open_engine(url: str) -> Engine:
    """An engine on ``url`` that has connected once; StoreError (the password hidden) if not."""
    try:
        if url.startswith("sqlite"):
            database = sa.engine.make_url(url).database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            # hide_parameters: a database error's message must not carry the plates it was given.
            engine = sa.create_engine(url, connect_args={"timeout": 10}, hide_parameters=True)
            sa.event.listen(engine, "connect", sqlite_pragmas)
        else:
            engine = sa.create_engine(
                url, pool_pre_ping=True, pool_size=5, max_overflow=5, hide_parameters=True
            )
        with engine.connect():
            pass
    except Exception as err:
        raise StoreError(f"cannot open the store {redact(url)}: {err}") from err
    return engine


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    return sa.engine.make_url(url).render_as_string(hide_password=True)


def sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """Every new SQLite connection: WAL, foreign keys, a busy timeout, secure deletes."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    # Deleted rows are overwritten with zeros: purged plates must not linger in free pages.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()
