"""The append-only audit log: who searched for whom, for whom they acted, and why."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from rufina_alpr.store import Store, audit_log
from rufina_alpr.store.schema import utc


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """``actor``: the token's user; ``acting_user``: the person it acted for (a delegate's)."""

    id: int
    time: datetime
    actor: str
    acting_user: str | None
    role: str
    action: str
    query: dict[str, Any]
    reason: str | None
    case_number: str | None
    results: int | None


class Audit:
    """The append-only audit log: `record` adds an entry, `entries` reads them. There is
    deliberately no way to change or delete an entry through this class (or the store)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def record(
        self,
        actor: str,
        role: str,
        action: str,
        query: Mapping[str, Any],
        *,
        acting_user: str | None = None,
        reason: str | None = None,
        case_number: str | None = None,
        results: int | None = None,
        now: datetime | None = None,
    ) -> int:
        """Append one entry (who, for whom, what, why, how many results); returns its id."""
        if not actor or not action:
            raise ValueError("an audit entry needs an actor and an action")
        with self._store.engine.begin() as connection:
            entry_id = connection.execute(
                audit_log.insert()
                .values(
                    time=utc(now or datetime.now(UTC)),
                    actor=actor[:120],
                    acting_user=acting_user[:120] if acting_user else None,
                    role=role[:16],
                    action=action[:48],
                    query=_jsonable(query),
                    reason=reason[:500] if reason else None,
                    case_number=case_number[:64] if case_number else None,
                    results=results,
                )
                .returning(audit_log.c.id)
            ).scalar_one()
        return int(entry_id)

    def entries(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        case_number: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[AuditEntry]:
        """Entries matching every filter given, newest first; time window [start, end).

        ``actor``: the token's user by name, or the person it acted for by any part of theirs
        ("Bianchi" finds "Comandante Bianchi (Home Assistant user 6b0f...)"), case aside.
        """
        query = sa.select(audit_log)
        if actor is not None:
            query = query.where(
                sa.or_(
                    audit_log.c.actor == actor,
                    audit_log.c.acting_user.icontains(actor, autoescape=True),
                )
            )
        if action is not None:
            query = query.where(audit_log.c.action == action)
        if case_number is not None:
            query = query.where(audit_log.c.case_number == case_number)
        if start is not None:
            query = query.where(audit_log.c.time >= utc(start))
        if end is not None:
            query = query.where(audit_log.c.time < utc(end))
        query = query.order_by(audit_log.c.id.desc()).limit(limit).offset(offset)
        with self._store.engine.connect() as connection:
            return [entry_from_row(row) for row in connection.execute(query)]


def _jsonable(value: Any) -> Any:
    """A query as JSON: datetimes as ISO 8601, tuples and sets as lists."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    return value


def entry_from_row(row: Any) -> AuditEntry:
    """An `audit_log` row as an entry."""
    return AuditEntry(
        id=int(row.id),
        time=utc(row.time),
        actor=row.actor,
        acting_user=row.acting_user,
        role=row.role,
        action=row.action,
        query=dict(row.query),
        reason=row.reason,
        case_number=row.case_number,
        results=row.results,
    )
