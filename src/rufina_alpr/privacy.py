"""Privacy controls (Italian Garante rules for municipal video surveillance): the retention purge,
investigation holds and the append-only audit log.

`purge` deletes what is older than the retention period: transits with their crops, reads and
hotlist matches, and the passages (the vehicle events) themselves, after rolling the traffic up so
the statistics do not change. Transits under an active hold survive, with their passages. Its log
line has counts only, never a plate. A station whose newest transit it purged still shows that plate
in its retained `<prefix>/<station>/last` and `crop` messages: `clear_retained` deletes them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, Final

import sqlalchemy as sa

from rufina_alpr import traffic
from rufina_alpr.contract import Topics
from rufina_alpr.errors import RufinaError
from rufina_alpr.mqtt import MqttLink
from rufina_alpr.store import (
    Store,
    alert_frames,
    alert_steps,
    alerts,
    audit_log,
    crops,
    held_transits,
    hotlist_matches,
    passages,
    reads,
    transit_corrections,
    transits,
)
from rufina_alpr.store import holds as holds_table

_LOGGER = logging.getLogger(__name__)
ROLES: Final = ("viewer", "operator", "admin", "system")


class UnknownTransitError(RufinaError, ValueError):
    """A hold names transits the store does not have (never stored, or already purged)."""

    def __init__(self, missing: int) -> None:
        super().__init__(f"{missing} of the transits to hold do not exist (or were purged)")
        self.missing = missing


@dataclass(frozen=True, slots=True)
class PurgeReport:
    cutoff: datetime
    transits: int
    crops: int
    reads: int
    hotlist_matches: int
    passages: int
    held: int
    rolled_up_passages: int
    audit_entries: int = 0
    alerts: int = 0
    # The stations whose newest transit was purged: their retained messages show a purged plate.
    cleared_stations: tuple[str, ...] = ()

    def describe(self) -> str:
        return (
            f"purged what is older than {self.cutoff.isoformat(timespec='seconds')}: "
            f"{self.transits} transits, {self.crops} crops, {self.reads} reads, "
            f"{self.hotlist_matches} hotlist matches, {self.alerts} alerts, "
            f"{self.passages} passages, "
            f"{self.audit_entries} audit entries past their own retention "
            f"({self.held} held transits kept; traffic rolled up first; "
            f"retained messages of {len(self.cleared_stations)} stations to clear)"
        )


@dataclass(frozen=True, slots=True)
class Hold:
    id: int
    case_number: str
    reason: str
    created_by: str
    created_at: datetime
    released_at: datetime | None
    transit_ids: tuple[str, ...]

    @property
    def active(self) -> bool:
        return self.released_at is None


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


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _held_ids() -> Any:
    """The ids of the transits under an active hold (a subquery)."""
    return (
        sa.select(held_transits.c.transit_id)
        .join(holds_table, holds_table.c.id == held_transits.c.hold_id)
        .where(holds_table.c.released_at.is_(None))
    )


def _is_held(transit_id: Any) -> Any:
    """EXISTS an active hold of this transit (NOT EXISTS becomes an anti-join on PostgreSQL,
    where NOT IN of a subquery cannot)."""
    return (
        sa.select(held_transits.c.transit_id)
        .join(holds_table, holds_table.c.id == held_transits.c.hold_id)
        .where(holds_table.c.released_at.is_(None), held_transits.c.transit_id == transit_id)
        .exists()
    )


def purge(
    store: Store,
    now: datetime,
    retention: timedelta,
    log: logging.Logger | None = None,
    *,
    tz: tzinfo = UTC,
    audit_retention: timedelta | None = None,
) -> PurgeReport:
    """Delete the personal data older than ``now - retention``, except held transits.

    The traffic rollups are brought up to the cutoff first, in their own transaction, so the
    aggregates are the same before and after. One INFO line (counts only) on ``log``.

    The audit log names the plates operators searched for: that is its purpose (who looked for
    whom, and why), so it outlives the transits and has its own, longer ``audit_retention``
    (None: kept). Nothing else ever deletes from it.
    """
    cutoff = _utc(now) - retention
    rolled = traffic.rollup(store, cutoff, tz=tz)
    old = sa.select(transits.c.id).where(transits.c.time < cutoff, ~_is_held(transits.c.id))
    with store.engine.begin() as connection:
        held = int(
            connection.scalar(
                sa.select(sa.func.count())
                .select_from(transits)
                .where(transits.c.time < cutoff, transits.c.id.in_(_held_ids()))
            )
            or 0
        )
        # An alert goes with its vehicle's transit (a held transit keeps its alerts); one whose
        # transit was never stored (its event lost) goes at the same age.
        old_alerts = sa.select(alerts.c.id).where(
            alerts.c.time < cutoff, ~_is_held(alerts.c.transit_id)
        )
        connection.execute(alert_steps.delete().where(alert_steps.c.alert_id.in_(old_alerts)))
        connection.execute(alert_frames.delete().where(alert_frames.c.alert_id.in_(old_alerts)))
        removed = {
            "alerts": connection.execute(
                alerts.delete().where(alerts.c.time < cutoff, ~_is_held(alerts.c.transit_id))
            ).rowcount,
            "hotlist_matches": connection.execute(
                hotlist_matches.delete().where(hotlist_matches.c.transit_id.in_(old))
            ).rowcount,
            "corrections": connection.execute(
                transit_corrections.delete().where(transit_corrections.c.transit_id.in_(old))
            ).rowcount,
            "reads": connection.execute(reads.delete().where(reads.c.transit_id.in_(old))).rowcount,
            "crops": connection.execute(crops.delete().where(crops.c.transit_id.in_(old))).rowcount,
            "held_links": connection.execute(
                held_transits.delete().where(held_transits.c.transit_id.in_(old))
            ).rowcount,
            # Passages are counted in the rollups now; those of held transits stay with them.
            "passages": connection.execute(
                passages.delete().where(
                    passages.c.time < cutoff,
                    sa.or_(passages.c.transit_id.is_(None), ~_is_held(passages.c.transit_id)),
                )
            ).rowcount,
        }
        newest = sa.select(transits.c.station_id, sa.func.max(transits.c.time)).group_by(
            transits.c.station_id
        )
        newest_purged: dict[str, datetime] = {
            station: moment
            for station, moment in connection.execute(
                newest.where(transits.c.time < cutoff, ~_is_held(transits.c.id))
            )
        }
        removed["transits"] = connection.execute(
            transits.delete().where(transits.c.time < cutoff, ~_is_held(transits.c.id))
        ).rowcount
        newest_left: dict[str, datetime] = {
            station: moment
            for station, moment in connection.execute(
                newest.where(transits.c.station_id.in_(list(newest_purged)))
            )
        }
        removed["audit_entries"] = (
            connection.execute(
                audit_log.delete().where(audit_log.c.time < _utc(now) - audit_retention)
            ).rowcount
            if audit_retention is not None
            else 0
        )
    if store.engine.dialect.name == "sqlite":
        # secure_delete zeroed the pages; the WAL still holds their old copies until truncated.
        with store.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    report = PurgeReport(
        cutoff=cutoff,
        transits=removed["transits"],
        crops=removed["crops"],
        reads=removed["reads"],
        hotlist_matches=removed["hotlist_matches"],
        passages=removed["passages"],
        held=held,
        rolled_up_passages=rolled.passages,
        audit_entries=removed["audit_entries"],
        alerts=removed["alerts"],
        cleared_stations=tuple(
            sorted(
                station
                for station, moment in newest_purged.items()
                if station not in newest_left or _utc(newest_left[station]) < _utc(moment)
            )
        ),
    )
    (log or _LOGGER).info("%s", report.describe())
    return report


def clear_retained(link: MqttLink, topics: Topics, report: PurgeReport) -> None:
    """Delete (empty retained payload) the `last` and `crop` messages of the stations whose newest
    transit the purge removed, so the broker stops handing the purged plate to every subscriber.
    Queued by paho while the broker is away; nothing to do for a link never started."""
    if not link.started:
        return
    for station in report.cleared_stations:
        link.publish(topics.station_last(station), b"", retain=True)
        link.publish(topics.station_crop(station), b"", retain=True)


# --------------------------------------------------------------------------- holds
def _hold_from(row: Any, transit_ids: Iterable[str]) -> Hold:
    return Hold(
        id=int(row.id),
        case_number=row.case_number,
        reason=row.reason,
        created_by=row.created_by,
        created_at=_utc(row.created_at),
        released_at=_utc(row.released_at) if row.released_at is not None else None,
        transit_ids=tuple(sorted(transit_ids)),
    )


def hold(
    store: Store,
    transit_ids: Iterable[str],
    case_number: str,
    reason: str,
    created_by: str,
    *,
    now: datetime | None = None,
) -> Hold:
    """Keep these transits past retention for an investigation, until the hold is released.

    Raises `UnknownTransitError` when one of them does not exist, ValueError on an empty list or
    a missing case number or reason.
    """
    wanted = sorted(set(transit_ids))
    if not wanted:
        raise ValueError("a hold needs at least one transit")
    if not case_number.strip() or not reason.strip():
        raise ValueError("a hold needs a case number and a reason")
    with store.engine.begin() as connection:
        found = set(connection.scalars(sa.select(transits.c.id).where(transits.c.id.in_(wanted))))
        if len(found) != len(wanted):
            raise UnknownTransitError(len(wanted) - len(found))
        created = _utc(now or datetime.now(UTC))
        hold_id = connection.execute(
            holds_table.insert()
            .values(
                case_number=case_number.strip(),
                reason=reason.strip(),
                created_by=created_by,
                created_at=created,
                released_at=None,
            )
            .returning(holds_table.c.id)
        ).scalar_one()
        connection.execute(
            held_transits.insert(), [{"hold_id": hold_id, "transit_id": t} for t in wanted]
        )
        row = connection.execute(sa.select(holds_table).where(holds_table.c.id == hold_id)).one()
    return _hold_from(row, wanted)


def release(store: Store, hold_id: int, *, now: datetime | None = None) -> Hold | None:
    """End a hold (its transits fall under the retention again); None when there is no such
    hold. Releasing a released hold changes nothing."""
    with store.engine.begin() as connection:
        connection.execute(
            holds_table.update()
            .where(holds_table.c.id == hold_id, holds_table.c.released_at.is_(None))
            .values(released_at=_utc(now or datetime.now(UTC)))
        )
    found = holds(store, hold_ids=[hold_id])
    return found[0] if found else None


def holds(
    store: Store,
    *,
    active_only: bool = False,
    case_number: str | None = None,
    hold_ids: Iterable[int] | None = None,
) -> list[Hold]:
    """Holds, newest first, with the ids of their (still stored) transits."""
    query = sa.select(holds_table).order_by(holds_table.c.id.desc())
    if active_only:
        query = query.where(holds_table.c.released_at.is_(None))
    if case_number is not None:
        query = query.where(holds_table.c.case_number == case_number)
    if hold_ids is not None:
        query = query.where(holds_table.c.id.in_(list(hold_ids)))
    with store.engine.connect() as connection:
        rows = list(connection.execute(query))
        links: dict[int, list[str]] = {}
        if rows:
            for hold_id, transit_id in connection.execute(
                sa.select(held_transits.c.hold_id, held_transits.c.transit_id).where(
                    held_transits.c.hold_id.in_([r.id for r in rows])
                )
            ):
                links.setdefault(int(hold_id), []).append(transit_id)
    return [_hold_from(row, links.get(int(row.id), ())) for row in rows]


# --------------------------------------------------------------------------- audit
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
                    time=_utc(now or datetime.now(UTC)),
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
            query = query.where(audit_log.c.time >= _utc(start))
        if end is not None:
            query = query.where(audit_log.c.time < _utc(end))
        query = query.order_by(audit_log.c.id.desc()).limit(limit).offset(offset)
        with self._store.engine.connect() as connection:
            return [
                AuditEntry(
                    id=int(row.id),
                    time=_utc(row.time),
                    actor=row.actor,
                    acting_user=row.acting_user,
                    role=row.role,
                    action=row.action,
                    query=dict(row.query),
                    reason=row.reason,
                    case_number=row.case_number,
                    results=row.results,
                )
                for row in connection.execute(query)
            ]


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
