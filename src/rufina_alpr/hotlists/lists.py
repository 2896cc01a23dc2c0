"""The `Hotlists` class over the store: lists and entries, matching a read, recording a transit's
matches; its base `HotlistsCsv` (`csv_io`) holds the CSV import and export.

`Hotlists.match` finds the entries a read matches; `Hotlists.record_matches` stores a transit's
matches (the alert they raise is `rufina_alpr.alerts`'s); `Hotlists.gate_check` judges a read at
the gates (`gates`) closed at its station and time.

All methods are synchronous: the engine runs them on its database thread (`Database.run`).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Collection, Iterable, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any, Unpack

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from rufina_alpr.hotlists import recorded
from rufina_alpr.hotlists.csv_io import HotlistsCsv
from rufina_alpr.hotlists.gates import GateVerdict, checked_gate, gate_columns, gate_verdict
from rufina_alpr.hotlists.matching import (
    ALTERNATIVE_FACTOR,
    MIN_FUZZY_LENGTH,
    FuzzyIndex,
    fuzzy_keys,
    match_score,
)
from rufina_alpr.hotlists.models import (
    ACTIONS,
    DEFAULT_ACTION,
    DEFAULT_PRIORITY,
    DEFAULT_TIMEZONE,
    KINDS,
    LIST_ID,
    MAX_NAME,
    MAX_REASON,
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
    checked_priority,
    checked_text,
    entry_from_row,
    entry_match,
    info_from_row,
    match_from_row,
)
from rufina_alpr.plate_formats import normalize_plate
from rufina_alpr.store import Store, hotlist_entries, hotlist_matches, hotlists

_LOGGER = logging.getLogger(__name__)


def _revision(*parts: Any) -> str:
    """A short, stable hash of a list's state (`Hotlists.revisions`)."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


class Hotlists(HotlistsCsv):
    """Hotlists over the store. ``timezone``: where the hours scope is read (the municipality's).
    ``known_stations``: when given, an entry's station scope must name known stations."""

    def __init__(
        self,
        store: Store,
        *,
        timezone: tzinfo = DEFAULT_TIMEZONE,
        fuzzy_min_score: float = 0.8,
        known_stations: Collection[str] | None = None,
    ) -> None:
        self.store = store
        self.timezone = timezone
        self.fuzzy_min_score = fuzzy_min_score
        self.known_stations = frozenset(known_stations) if known_stations is not None else None
        self._index: FuzzyIndex | None = None
        self._imports = 0
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ lists
    def create_list(
        self,
        list_id: str,
        name: str,
        kind: str,
        *,
        action: str | None = None,
        priority: int | None = None,
        description: str | None = None,
        created_by: str,
        gate: Gate | None = None,
    ) -> HotlistInfo:
        """Create a list; ``action`` and ``priority`` default to the kind's (`DEFAULT_ACTION`);
        ``gate``: an ``authorised`` list's gate (`gates.checked_gate`)."""
        if not LIST_ID.fullmatch(list_id or ""):
            raise HotlistError("list id: lowercase letters, digits, '_' or '-', at most 64")
        if kind not in KINDS:
            raise HotlistError(f"kind must be one of {', '.join(KINDS)}")
        action = action or DEFAULT_ACTION[kind]
        if action not in ACTIONS:
            raise HotlistError(f"action must be one of {', '.join(ACTIONS)}")
        priority = DEFAULT_PRIORITY[kind] if priority is None else checked_priority(priority)
        name = checked_text(name, "name", MAX_NAME, required=True) or list_id
        gate = checked_gate(gate, kind, self.known_stations) if gate is not None else None
        row: dict[str, Any] = {
            "id": list_id,
            "name": name,
            "kind": kind,
            "action": action,
            "priority": priority,
            "description": checked_text(description, "description", MAX_REASON),
            "created_by": checked_text(created_by, "created_by", MAX_NAME, required=True),
            "created_at": datetime.now(UTC),
        }
        with self.store.engine.begin() as connection:
            if connection.scalar(sa.select(hotlists.c.id).where(hotlists.c.id == list_id)):
                raise HotlistConflict(f"list {list_id} exists already")
            connection.execute(hotlists.insert().values(row | gate_columns(gate)))
        _LOGGER.info("hotlist %s (%s, %s) created by %s", list_id, kind, action, created_by)
        return HotlistInfo(**row, gate=gate)

    def set_gate(self, list_id: str, gate: Gate | None) -> HotlistInfo:
        """Make an ``authorised`` list a gate (`gates.checked_gate`), change its gate, or, with
        None, make it a plain allow-list again; the list as it now is."""
        with self.store.engine.begin() as connection:
            kind = connection.scalar(sa.select(hotlists.c.kind).where(hotlists.c.id == list_id))
            if kind is None:
                raise HotlistNotFound(f"no list {list_id}")
            gate = checked_gate(gate, kind, self.known_stations) if gate is not None else None
            connection.execute(
                hotlists.update().where(hotlists.c.id == list_id).values(gate_columns(gate))
            )
        _LOGGER.info("hotlist %s: gate %s", list_id, "set" if gate is not None else "cleared")
        return self.get_list(list_id)

    def lists(self) -> list[HotlistInfo]:
        """Every list, by priority then id, with its active and expired entry counts."""
        now = datetime.now(UTC)
        # The outer join gives an empty list one row of NULLs: without the id test its NULL
        # expiry counted as one active entry (and -1 expired).
        active = sa.case(
            (
                sa.and_(
                    hotlist_entries.c.id.is_not(None),
                    sa.or_(
                        hotlist_entries.c.expires_at.is_(None), hotlist_entries.c.expires_at > now
                    ),
                ),
                1,
            ),
            else_=0,
        )
        query = (
            sa.select(
                hotlists,
                sa.func.coalesce(sa.func.sum(active), 0).label("active"),
                sa.func.count(hotlist_entries.c.id).label("total"),
            )
            .select_from(
                hotlists.outerjoin(hotlist_entries, hotlist_entries.c.list_id == hotlists.c.id)
            )
            .group_by(hotlists.c.id)  # the key: PostgreSQL cannot group JSON columns
            .order_by(hotlists.c.priority, hotlists.c.id)
        )
        with self.store.engine.begin() as connection:
            rows = connection.execute(query).all()
        return [
            info_from_row(
                row._mapping, entries=int(row.active), expired=int(row.total) - int(row.active)
            )
            for row in rows
        ]

    def revisions(self) -> dict[str, str]:
        """Each list's revision: a short hash of its row and of its entries' count, newest id and
        newest write, so it changes with any change of the list (a replaced entry included)."""
        query = sa.select(
            hotlist_entries.c.list_id,
            sa.func.count(),
            sa.func.max(hotlist_entries.c.id),
            sa.func.max(hotlist_entries.c.added_at),
        ).group_by(hotlist_entries.c.list_id)
        with self.store.engine.begin() as connection:
            entries = {row[0]: tuple(row[1:]) for row in connection.execute(query)}
            rows = connection.execute(sa.select(hotlists)).all()
        return {row.id: _revision(tuple(row), entries.get(row.id)) for row in rows}

    def get_list(self, list_id: str) -> HotlistInfo:
        for info in self.lists():
            if info.id == list_id:
                return info
        raise HotlistNotFound(f"no list {list_id}")

    def delete_list(self, list_id: str) -> bool:
        """Delete a list and its entries (its past matches stay with their transits)."""
        with self.store.engine.begin() as connection:
            connection.execute(hotlist_entries.delete().where(hotlist_entries.c.list_id == list_id))
            deleted = connection.execute(hotlists.delete().where(hotlists.c.id == list_id))
        if deleted.rowcount:
            _LOGGER.info("hotlist %s deleted", list_id)
        return bool(deleted.rowcount)

    # ------------------------------------------------------------------ entries
    def add_entry(
        self,
        list_id: str,
        plate: str,
        reason: str,
        *,
        added_by: str,
        **options: Unpack[EntryOptions],
    ) -> HotlistEntry:
        """Put a plate on a list (see `put_entry`); the entry as stored."""
        return self.put_entry(list_id, plate, reason, added_by=added_by, **options).entry

    def put_entry(
        self,
        list_id: str,
        plate: str,
        reason: str,
        *,
        priority: int | None = None,
        expires_at: datetime | None = None,
        notes: str | None = None,
        stations: Iterable[str] | None = None,
        from_hour: int | None = None,
        to_hour: int | None = None,
        added_by: str,
        replace: bool = False,
    ) -> EntryChange:
        """Put a plate on a list. A plate already there is refused (`HotlistAlreadyListed`, with
        the entry) unless ``replace``: then it takes the new values (same id) and the old entry
        comes back with the new one, for the caller's audit log."""
        values = self._entry_values(
            plate=plate,
            reason=reason,
            priority=priority,
            expires_at=expires_at,
            notes=notes,
            stations=stations,
            from_hour=from_hour,
            to_hour=to_hour,
            added_by=added_by,
        )
        with self.store.engine.begin() as connection:
            self._require_list(connection, list_id)
            found = connection.execute(
                sa.select(hotlist_entries).where(
                    hotlist_entries.c.list_id == list_id,
                    hotlist_entries.c.plate == values["plate"],
                )
            ).one_or_none()
            previous = entry_from_row(found._mapping) if found is not None else None
            if previous is None:
                connection.execute(hotlist_entries.insert().values(list_id=list_id, **values))
            elif not replace:
                raise HotlistAlreadyListed(previous)
            else:
                connection.execute(
                    hotlist_entries.update()
                    .where(hotlist_entries.c.id == previous.id)
                    .values(**values)
                )
            row = connection.execute(
                sa.select(hotlist_entries).where(
                    hotlist_entries.c.list_id == list_id,
                    hotlist_entries.c.plate == values["plate"],
                )
            ).one()
        if previous is not None:
            _LOGGER.info(
                "hotlist %s: entry %d replaced by %s (was added by %s)",
                list_id,
                previous.id,
                values["added_by"],
                previous.added_by,
            )
        return EntryChange(entry_from_row(row._mapping), previous)

    def remove_entry(self, list_id: str, plate: str) -> bool:
        """Take a plate off a list; False when it was not there."""
        with self.store.engine.begin() as connection:
            self._require_list(connection, list_id)
            deleted = connection.execute(
                hotlist_entries.delete().where(
                    hotlist_entries.c.list_id == list_id,
                    hotlist_entries.c.plate == normalize_plate(plate),
                )
            )
        return bool(deleted.rowcount)

    def entries(self, list_id: str, *, include_expired: bool = False) -> list[HotlistEntry]:
        """A list's entries by plate; expired ones only when asked."""
        query = (
            sa.select(hotlist_entries)
            .where(hotlist_entries.c.list_id == list_id)
            .order_by(hotlist_entries.c.plate)
        )
        if not include_expired:
            query = query.where(
                sa.or_(
                    hotlist_entries.c.expires_at.is_(None),
                    hotlist_entries.c.expires_at > datetime.now(UTC),
                )
            )
        with self.store.engine.begin() as connection:
            self._require_list(connection, list_id)
            return [entry_from_row(row._mapping) for row in connection.execute(query)]

    # ------------------------------------------------------------------ matching
    def match(
        self,
        plate: str,
        alternatives: Iterable[tuple[str, float]],
        station_id: str,
        at: datetime,
    ) -> list[HotlistMatch]:
        """The entries a read matches at a station and moment: unexpired, in scope, exact or fuzzy
        (at least ``fuzzy_min_score``) on the plate or, less certain, on an alternative ``(text,
        score)``, whose own score scales the match (a runner-up read at 0.17 is no alert). One
        match per entry (the best), most urgent priority first, then highest score."""
        index = self._current_index()
        if not index.entries:
            return []
        moment = self._aware(at)
        local = moment.astimezone(self.timezone)
        reads: list[tuple[str, float]] = [(normalize_plate(plate), 1.0)]
        for text, score in alternatives:
            reads.append((normalize_plate(text), min(ALTERNATIVE_FACTOR, max(0.0, score))))
        best: dict[int, HotlistMatch] = {}
        for read, factor in reads:
            if not read:
                continue
            for position in index.candidates(read):
                entry = index.entries[position]
                scored = match_score(read, entry.plate)
                if scored is None:
                    continue
                score, kind = scored
                if factor < 1.0:
                    score, kind = round(score * factor, 4), "fuzzy"
                if kind == "fuzzy" and score < self.fuzzy_min_score:
                    continue
                if not entry.active_at(moment) or not entry.in_scope(station_id, local):
                    continue
                previous = best.get(entry.id)
                if previous is not None and previous.score >= score:
                    continue
                info = index.lists[entry.list_id]
                best[entry.id] = entry_match(info, entry, read, score, kind)
        return sorted(best.values(), key=lambda m: (m.priority, -m.score, m.list_id))

    def gate_check(
        self,
        plate: str,
        alternatives: Iterable[tuple[str, float]],
        station_id: str,
        at: datetime,
    ) -> GateVerdict | None:
        """The read's verdict at the gates closed at ``station_id`` on ``at``'s local weekday
        and hour (``timezone``): None when there is none; else ``authorised``, ``review`` (only a
        fuzzy match, in the vehicle's favour) or ``not_authorised`` (`gates.gate_verdict`)."""
        moment = self._aware(at)
        return gate_verdict(
            self._current_index(),
            plate,
            alternatives,
            station_id,
            moment=moment,
            local=moment.astimezone(self.timezone),
            fuzzy_min_score=self.fuzzy_min_score,
        )

    def record_matches(
        self,
        connection: Connection,
        transit_id: str,
        station_id: str,
        at: datetime,
        matches: Sequence[HotlistMatch],
        *,
        alerted_entry: int | None,
    ) -> None:
        """`recorded.record_matches` in the caller's transaction (the one that stores the
        transit: `engine.outcomes.record_transit`)."""
        moment = self._aware(at).astimezone(UTC)
        recorded.record_matches(
            connection, transit_id, station_id, moment, matches, alerted_entry=alerted_entry
        )

    def transit_matches(self, transit_id: str) -> list[HotlistMatch]:
        """Every recorded match of a transit, alerted or not."""
        with self.store.engine.begin() as connection:
            rows = connection.execute(
                recorded.matches_query().where(hotlist_matches.c.transit_id == transit_id)
            ).all()
        return [match_from_row(row._mapping) for row in rows]

    # ------------------------------------------------------------------ internals
    def _fingerprint(self, connection: Connection) -> tuple[Any, ...]:
        entries = connection.execute(
            sa.select(
                sa.func.count(),
                sa.func.max(hotlist_entries.c.id),
                sa.func.max(hotlist_entries.c.added_at),
            )
        ).one()
        # Every list's row (a few): a gate set or cleared changes it.
        lists = connection.execute(sa.select(hotlists).order_by(hotlists.c.id)).all()
        return (*entries, *(tuple(row) for row in lists))

    def _current_index(self) -> FuzzyIndex:
        """The in-memory index, rebuilt when another call (or another worker) changed the lists."""
        with self._lock, self.store.engine.begin() as connection:
            fingerprint = self._fingerprint(connection)
            if self._index is not None and (
                self._imports or self._index.fingerprint == fingerprint
            ):
                return self._index
            lists = {
                row.id: info_from_row(row._mapping)
                for row in connection.execute(sa.select(hotlists))
            }
            entries = [
                entry_from_row(row._mapping)
                for row in connection.execute(
                    sa.select(hotlist_entries).order_by(hotlist_entries.c.id)
                )
                if row.list_id in lists
            ]
            index = FuzzyIndex(fingerprint, lists, entries)
            for position, entry in enumerate(entries):
                index.exact.setdefault(entry.plate, []).append(position)
                if len(entry.plate) >= MIN_FUZZY_LENGTH:
                    for key in fuzzy_keys(entry.plate):
                        index.fuzzy.setdefault(key, set()).add(position)
            self._index = index
            return index
