"""Hotlists: named lists of plates the Polizia Municipale watches for, matched on every transit.

A list has a kind (stolen, police, uninsured, inspection, watch, authorised) and an action:
``alert``, ``stop_and_check`` (uninsured vehicles and expired inspections: under Italian law such a
hit is a reason to stop and check the vehicle, never an automatic fine) or ``allow`` (authorised
vehicles: matched and reported on the transit, never alerted). Each entry has a reason, an optional
priority (overriding the list's; 1 is the most urgent), expiry, notes, and an optional scope of
stations and hours of the day (the municipality's local time).

Matching is exact after normalisation (`normalize_plate`) or fuzzy: OCR-confusable substitutions
(O/0, I/1, B/8, D/0, S/5, Z/2, G/6) plus at most one other edit, on the fused plate and on its
alternatives. `Hotlists.record` stores the matches of a transit and decides which alert, with a
cooldown per entry plate and station. The matches table is also the alerts' outbox: an alert is
marked published once the broker acknowledged it (`docs/hotlists.md`).

All methods are synchronous: the engine runs them on its database thread (`Engine.in_db`).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import functools
import io
import logging
import re
import threading
from collections.abc import Callable, Collection, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any, Final, Literal, TypedDict, Unpack
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from rufina_alpr.csv_cells import safe_row, unescape_cell
from rufina_alpr.plate_formats import normalize_plate
from rufina_alpr.store import Store, hotlist_entries, hotlist_matches, hotlists, transits

_LOGGER = logging.getLogger(__name__)

Kind = Literal["stolen", "police", "uninsured", "inspection", "watch", "authorised"]
Action = Literal["alert", "stop_and_check", "allow"]
MatchKind = Literal["exact", "fuzzy"]

KINDS: Final[tuple[str, ...]] = (
    "stolen",
    "police",
    "uninsured",
    "inspection",
    "watch",
    "authorised",
)
ACTIONS: Final[tuple[str, ...]] = ("alert", "stop_and_check", "allow")
# What a list of each kind does when no action is given: insurance and inspection hits are
# "stop and check" (no automatic fines under Italian law), authorised vehicles are never alerted.
DEFAULT_ACTION: Final[dict[str, str]] = {
    "stolen": "alert",
    "police": "alert",
    "watch": "alert",
    "uninsured": "stop_and_check",
    "inspection": "stop_and_check",
    "authorised": "allow",
}
DEFAULT_PRIORITY: Final[dict[str, int]] = {
    "stolen": 1,
    "police": 2,
    "uninsured": 4,
    "inspection": 5,
    "watch": 6,
    "authorised": 9,
}
PRIORITY_RANGE: Final = (1, 9)
DEFAULT_TIMEZONE: Final = ZoneInfo("Europe/Rome")

# OCR look-alikes, pair by pair (D/0 and O/0 make O/D a look-alike only through two steps).
CONFUSABLE_PAIRS: Final[frozenset[frozenset[str]]] = frozenset(
    frozenset(pair) for pair in ("O0", "I1", "B8", "D0", "S5", "Z2", "G6")
)
# Each look-alike class to one character: the key of the fuzzy index (a superset, then checked).
_CANONICAL: Final = str.maketrans(
    {"O": "0", "D": "0", "I": "1", "B": "8", "S": "5", "Z": "2", "G": "6"}
)
CONFUSABLE_COST: Final = 0.05  # score lost per confusable substitution
EDIT_COST: Final = 0.15  # score lost for the one other edit (substitution, insertion, deletion)
MAX_CONFUSABLES: Final = 3
MAX_EDITS: Final = 1
MIN_FUZZY_LENGTH: Final = 5  # shorter plates match exactly or not at all
# A match found on one of the read's alternatives rather than on the fused plate is less certain:
# its score is the plate match times the alternative's own score, capped at this factor.
ALTERNATIVE_FACTOR: Final = 0.9

PLATE_PATTERN: Final = re.compile(r"[A-Z0-9]{2,12}")
# A plate as given (docs/openapi.yaml has the same): ASCII letters and digits, with spaces, dashes
# and dots between them, which normalising drops.
PLATE_TEXT: Final = re.compile(r"[ .\-]*(?:[A-Za-z0-9][ .\-]*){2,12}")
CSV_HEADER: Final[tuple[str, ...]] = (
    "plate",
    "reason",
    "priority",
    "expires",
    "notes",
    "stations",
    "hours",
)
SCNTT_COLUMNS: Final[tuple[str, ...]] = (
    "TARGA",
    "NAZIONE",
    "TIPO_VEICOLO",
    "MOTIVO",
    "DATA_SEGNALAZIONE",
    "DATA_SCADENZA",
    "ENTE",
    "NOTE",
)
ImportFormat = Literal["auto", "csv", "scntt"]
IMPORT_CHUNK: Final = 1000  # rows per import transaction
# Expiries typed outside these years are typing mistakes; near year 1 or 9999 a time zone
# conversion overflows, so given ones (API) are clamped into it, which every time zone can show.
EXPIRY_RANGE: Final = (datetime(1900, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC))
_HOURS = re.compile(r"(\d{1,2})(?::00)?\s*-\s*(\d{1,2})(?::00)?")
_MAX_REASON, _MAX_NOTES, _MAX_NAME, _MAX_ID = 500, 2000, 120, 64
_LIST_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


class HotlistError(ValueError):
    """A request the hotlists refuse (bad plate, kind, scope...): the caller's mistake."""


class HotlistNotFound(HotlistError):
    """No list with that id (or no such plate on the list)."""


class HotlistConflict(HotlistError):
    """A list with that id exists already."""


class HotlistAlreadyListed(HotlistConflict):
    """The plate is on the list already and replacing it was not asked: a police list must not
    silently lose an entry's reason and who put it there. ``existing``: that entry."""

    def __init__(self, existing: HotlistEntry) -> None:
        self.existing = existing
        super().__init__(
            f"that plate is already on list {existing.list_id}, added by {existing.added_by} "
            f"on {existing.added_at:%Y-%m-%d %H:%M} UTC for: {existing.reason}"
        )


@dataclass(frozen=True, slots=True)
class HotlistInfo:
    """A list, with its count of active (unexpired) entries and of expired ones."""

    id: str
    name: str
    kind: str
    action: str
    priority: int
    description: str | None
    created_by: str
    created_at: datetime
    entries: int = 0
    expired: int = 0


@dataclass(frozen=True, slots=True)
class HotlistEntry:
    """One plate on a list. ``priority`` None: the list's. Hours: ``from_hour <= h < to_hour``,
    wrapping past midnight when ``from_hour > to_hour``, in the municipality's local time."""

    id: int
    list_id: str
    plate: str
    reason: str
    priority: int | None
    expires_at: datetime | None
    notes: str | None
    stations: tuple[str, ...] | None
    from_hour: int | None
    to_hour: int | None
    added_by: str
    added_at: datetime

    def active_at(self, moment: datetime) -> bool:
        return self.expires_at is None or moment < self.expires_at

    def in_scope(self, station_id: str, local: datetime) -> bool:
        if self.stations is not None and station_id not in self.stations:
            return False
        if self.from_hour is None or self.to_hour is None:
            return True
        hour = local.hour
        if self.from_hour < self.to_hour:
            return self.from_hour <= hour < self.to_hour
        return hour >= self.from_hour or hour < self.to_hour


class EntryOptions(TypedDict, total=False):
    """The optional values of an entry (`Hotlists.put_entry`'s keywords)."""

    priority: int | None
    expires_at: datetime | None
    notes: str | None
    stations: Iterable[str] | None
    from_hour: int | None
    to_hour: int | None
    replace: bool


@dataclass(frozen=True, slots=True)
class EntryChange:
    """What `Hotlists.put_entry` did: the entry as stored and, when it replaced one, the old."""

    entry: HotlistEntry
    replaced: HotlistEntry | None = None


@dataclass(frozen=True, slots=True)
class HotlistMatch:
    """A read that matched a list entry. ``read_plate``: the text that matched (the transit's
    plate or one of its alternatives). ``record_id``: the stored match, once recorded."""

    list_id: str
    list_name: str
    kind: str
    action: str
    priority: int
    entry_plate: str
    read_plate: str
    score: float
    match: MatchKind
    reason: str | None
    notes: str | None
    entry_id: int | None
    record_id: int | None = None

    @property
    def alerts(self) -> bool:
        """Whether this kind of match is ever alerted (allow-lists never are)."""
        return self.action != "allow"

    def summary(self) -> dict[str, Any]:
        """The transit's ``hotlist`` field for this (best) match."""
        return {
            "list": self.list_id,
            "list_name": self.list_name,
            "kind": self.kind,
            "action": self.action,
            "priority": self.priority,
            "entry_plate": self.entry_plate,
            "read_plate": self.read_plate,
            "score": self.score,
            "match": self.match,
        }


@dataclass(frozen=True, slots=True)
class PendingAlert:
    """A recorded alert whose `hotlist_match` message the broker has not acknowledged."""

    transit_id: str
    match: HotlistMatch


@dataclass(frozen=True, slots=True)
class RejectedRow:
    line: int
    reason: str


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import did. ``removed``: entries dropped because ``replace`` was asked."""

    list_id: str
    format: str
    added: int = 0
    updated: int = 0
    removed: int = 0
    rejected: tuple[RejectedRow, ...] = ()

    def describe(self) -> str:
        return (
            f"{self.format} import into {self.list_id}: {self.added} added, "
            f"{self.updated} updated, {self.removed} removed, {len(self.rejected)} rejected"
        )


@dataclass(slots=True)
class HotlistImport:
    """A parsed import, written in transactions of `IMPORT_CHUNK` rows: the engine runs each of
    `steps` on its single store thread, so transits are stored between them (a 100k-row import
    in one transaction held that thread for most of a minute)."""

    hotlists: Hotlists
    list_id: str
    format: str
    rows: list[dict[str, Any]]
    rejected: tuple[RejectedRow, ...]
    replace: bool
    added: int = 0
    updated: int = 0
    removed: int = 0
    _stale: list[int] = field(default_factory=list)

    @property
    def report(self) -> ImportReport:
        return ImportReport(
            self.list_id, self.format, self.added, self.updated, self.removed, self.rejected
        )

    def steps(self) -> Generator[Callable[[], None]]:
        """The import's database steps, in order, each a short transaction. With ``replace``,
        the entries not in the file go last: meanwhile the list holds old and new entries."""
        with self.hotlists._importing():
            yield self._check
            for start in range(0, len(self.rows), IMPORT_CHUNK):
                yield functools.partial(self._write, self.rows[start : start + IMPORT_CHUNK])
            if self.replace:
                yield self._find_stale
                for start in range(0, len(self._stale), IMPORT_CHUNK):
                    yield functools.partial(self._delete, self._stale[start : start + IMPORT_CHUNK])
        _LOGGER.info("hotlist %s", self.report.describe())

    def _check(self) -> None:
        with self.hotlists.store.engine.begin() as connection:
            Hotlists._require_list(connection, self.list_id)

    def _write(self, chunk: list[dict[str, Any]]) -> None:
        with self.hotlists.store.engine.begin() as connection:
            Hotlists._require_list(connection, self.list_id)  # deleted meanwhile: stop there
            existing: dict[str, int] = {
                plate: entry_id
                for plate, entry_id in connection.execute(
                    sa.select(hotlist_entries.c.plate, hotlist_entries.c.id).where(
                        hotlist_entries.c.list_id == self.list_id,
                        hotlist_entries.c.plate.in_([values["plate"] for values in chunk]),
                    )
                )
            }
            new = [{"list_id": self.list_id, **v} for v in chunk if v["plate"] not in existing]
            changed = [
                {"entry_id": existing[v["plate"]], **v} for v in chunk if v["plate"] in existing
            ]
            if new:
                connection.execute(hotlist_entries.insert(), new)
            if changed:
                connection.execute(
                    hotlist_entries.update().where(
                        hotlist_entries.c.id == sa.bindparam("entry_id")
                    ),
                    changed,
                )
        self.added += len(new)
        self.updated += len(changed)

    def _find_stale(self) -> None:
        kept = {values["plate"] for values in self.rows}
        with self.hotlists.store.engine.begin() as connection:
            self._stale = [
                entry_id
                for plate, entry_id in connection.execute(
                    sa.select(hotlist_entries.c.plate, hotlist_entries.c.id).where(
                        hotlist_entries.c.list_id == self.list_id
                    )
                )
                if plate not in kept
            ]

    def _delete(self, entry_ids: list[int]) -> None:
        with self.hotlists.store.engine.begin() as connection:
            connection.execute(hotlist_entries.delete().where(hotlist_entries.c.id.in_(entry_ids)))
        self.removed += len(entry_ids)


def hotlist_summary(matches: Sequence[HotlistMatch]) -> dict[str, Any] | None:
    """The transit's ``hotlist`` field: its best match (``matches`` sorted as `match` returns
    them), the number of matches and the lists they are on; None without a match."""
    if not matches:
        return None
    summary = matches[0].summary()
    summary["count"] = len(matches)
    summary["lists"] = list(dict.fromkeys(m.list_id for m in matches))
    return summary


# ----------------------------------------------------------------------------- scoring
def _substitution(a: str, b: str) -> tuple[int, int]:
    if a == b:
        return (0, 0)
    if frozenset((a, b)) in CONFUSABLE_PAIRS:
        return (0, 1)
    return (1, 0)


def _edit_cost(read: str, entry: str) -> tuple[int, int]:
    """Fewest (other edits, confusable substitutions) turning ``read`` into ``entry``."""
    previous = [(j, 0) for j in range(len(entry) + 1)]
    for i, r in enumerate(read, start=1):
        current = [(i, 0)]
        for j, e in enumerate(entry, start=1):
            sub = _substitution(r, e)
            diagonal = previous[j - 1]
            up, left = previous[j], current[j - 1]
            current.append(
                min(
                    (diagonal[0] + sub[0], diagonal[1] + sub[1]),
                    (up[0] + 1, up[1]),
                    (left[0] + 1, left[1]),
                )
            )
        previous = current
    return previous[-1]


def match_score(read: str, entry: str) -> tuple[float, MatchKind] | None:
    """How well a read matches an entry plate: ``(1.0, "exact")`` when equal after normalisation;
    ``(score < 1, "fuzzy")`` for up to three OCR-confusable substitutions (-0.05 each) plus at most
    one other edit (-0.15); None when the plates are unrelated."""
    a, b = normalize_plate(read), normalize_plate(entry)
    if not a or not b:
        return None
    if a == b:
        return (1.0, "exact")
    if min(len(a), len(b)) < MIN_FUZZY_LENGTH or abs(len(a) - len(b)) > MAX_EDITS:
        return None
    edits, confusables = _edit_cost(a, b)
    if edits > MAX_EDITS or confusables > MAX_CONFUSABLES:
        return None
    return (round(1.0 - CONFUSABLE_COST * confusables - EDIT_COST * edits, 4), "fuzzy")


def _canonical(plate: str) -> str:
    return plate.translate(_CANONICAL)


def _fuzzy_keys(plate: str) -> set[str]:
    """The canonical form and its one-character deletions: two plates within one edit of each
    other (look-alikes aside) share at least one key."""
    canonical = _canonical(plate)
    keys = {canonical}
    keys.update(canonical[:i] + canonical[i + 1 :] for i in range(len(canonical)))
    return keys


# ----------------------------------------------------------------------------- the lists
@dataclass(slots=True)
class _Index:
    """Every entry in memory, with the lookups `match` needs; rebuilt when the tables change."""

    fingerprint: tuple[Any, ...]
    lists: dict[str, HotlistInfo]
    entries: list[HotlistEntry]
    exact: dict[str, list[int]] = field(default_factory=dict)
    fuzzy: dict[str, set[int]] = field(default_factory=dict)

    def candidates(self, plate: str) -> set[int]:
        found = set(self.exact.get(plate, ()))
        if len(plate) >= MIN_FUZZY_LENGTH - MAX_EDITS:
            for key in _fuzzy_keys(plate):
                found.update(self.fuzzy.get(key, ()))
        return found


class Hotlists:
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
        self._index: _Index | None = None
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
    ) -> HotlistInfo:
        """Create a list; ``action`` and ``priority`` default to the kind's (`DEFAULT_ACTION`)."""
        if not _LIST_ID.fullmatch(list_id or ""):
            raise HotlistError("list id: lowercase letters, digits, '_' or '-', at most 64")
        if kind not in KINDS:
            raise HotlistError(f"kind must be one of {', '.join(KINDS)}")
        action = action or DEFAULT_ACTION[kind]
        if action not in ACTIONS:
            raise HotlistError(f"action must be one of {', '.join(ACTIONS)}")
        priority = DEFAULT_PRIORITY[kind] if priority is None else _priority(priority)
        name = _text(name, "name", _MAX_NAME, required=True) or list_id
        row: dict[str, Any] = {
            "id": list_id,
            "name": name,
            "kind": kind,
            "action": action,
            "priority": priority,
            "description": _text(description, "description", _MAX_REASON),
            "created_by": _text(created_by, "created_by", _MAX_NAME, required=True),
            "created_at": datetime.now(UTC),
        }
        with self.store.engine.begin() as connection:
            if connection.scalar(sa.select(hotlists.c.id).where(hotlists.c.id == list_id)):
                raise HotlistConflict(f"list {list_id} exists already")
            connection.execute(hotlists.insert().values(row))
        _LOGGER.info("hotlist %s (%s, %s) created by %s", list_id, kind, action, created_by)
        return HotlistInfo(**row)

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
            .group_by(*hotlists.c)
            .order_by(hotlists.c.priority, hotlists.c.id)
        )
        with self.store.engine.begin() as connection:
            rows = connection.execute(query).all()
        return [
            _info(row._mapping, entries=int(row.active), expired=int(row.total) - int(row.active))
            for row in rows
        ]

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
            previous = _entry(found._mapping) if found is not None else None
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
        return EntryChange(_entry(row._mapping), previous)

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
            return [_entry(row._mapping) for row in connection.execute(query)]

    # ------------------------------------------------------------------ CSV
    def import_csv(
        self,
        list_id: str,
        text: str,
        *,
        added_by: str,
        replace: bool = False,
        format: ImportFormat = "auto",
    ) -> ImportReport:
        """Import entries from CSV text, all steps in a row (see `prepare_import`)."""
        job = self.prepare_import(list_id, text, added_by=added_by, replace=replace, format=format)
        with contextlib.closing(job.steps()) as steps:
            for step in steps:
                step()
        return job.report

    def prepare_import(
        self,
        list_id: str,
        text: str,
        *,
        added_by: str,
        replace: bool = False,
        format: ImportFormat = "auto",
    ) -> HotlistImport:
        """Parse CSV text (no database: any thread): this engine's format (`CSV_HEADER`) or an
        SCNTT export (`SCNTT_COLUMNS`, detected by its ``TARGA`` column). Good rows are imported,
        bad ones are reported with their line number; ``replace``: the list becomes exactly the
        good rows. A file that is not such a list (empty, or its header without the column of
        plates) has its first line rejected and changes nothing, ``replace`` or not: a wrong
        file must never empty a list. The `HotlistImport` writes them in steps."""
        text = text.removeprefix("\ufeff")
        if "\r" in text and "\n" not in text:  # classic Mac line ends: a line per carriage return
            text = text.replace("\r", "\n")
        first = text.split("\n", 1)[0]
        kind = format
        if kind == "auto":
            kind = "scntt" if "TARGA" in first.upper() else "csv"
        if kind not in ("csv", "scntt"):
            raise HotlistError("format must be auto, csv or scntt")
        delimiter = ";" if first.count(";") > first.count(",") else ","
        reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
        try:
            fieldnames = reader.fieldnames
        except csv.Error as err:
            return HotlistImport(
                self, list_id, kind, [], (RejectedRow(1, _csv_problem(err)),), False
            )
        header = [name.strip().lower() for name in fieldnames or []]
        required = "targa" if kind == "scntt" else "plate"
        if required not in header:
            problem = (
                f"the header has no '{required}' column" if any(header) else "the file is empty"
            )
            return HotlistImport(self, list_id, kind, [], (RejectedRow(1, problem),), False)
        rows: dict[str, dict[str, Any]] = {}
        lines: dict[str, int] = {}
        rejected: list[RejectedRow] = []
        parse = self._scntt_row if kind == "scntt" else self._csv_row
        while True:
            try:
                raw = next(reader)
            except StopIteration:
                break
            except csv.Error as err:  # the reader goes on with the next line
                rejected.append(RejectedRow(reader.line_num + 1, _csv_problem(err)))
                continue
            line = reader.line_num
            record = {
                (key or "").strip().lower(): unescape_cell((value or "").strip())
                for key, value in raw.items()
                if key is not None
            }
            if not any(record.values()):
                continue
            try:
                values = parse(record, added_by)
            except HotlistError as err:
                rejected.append(RejectedRow(line, str(err)))
                continue
            if values["plate"] in rows:
                rejected.append(
                    RejectedRow(line, f"plate repeated from line {lines[values['plate']]}")
                )
                continue
            rows[values["plate"]] = values
            lines[values["plate"]] = line
        return HotlistImport(self, list_id, kind, list(rows.values()), tuple(rejected), replace)

    @contextlib.contextmanager
    def _importing(self) -> Iterator[None]:
        """While an import runs, matching keeps the index it has (rebuilding it after every chunk
        would cost each transit seconds on a large list): transits meet the lists as they were."""
        with self._lock:
            self._imports += 1
        try:
            yield
        finally:
            with self._lock:
                self._imports -= 1

    def export_csv(self, list_id: str) -> str:
        """Every entry of a list (expired ones too) in this engine's CSV format."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_HEADER)
        for entry in self.entries(list_id, include_expired=True):
            writer.writerow(
                safe_row(
                    (
                        entry.plate,
                        entry.reason,
                        "" if entry.priority is None else entry.priority,
                        self._format_expiry(entry.expires_at),
                        entry.notes or "",
                        "|".join(entry.stations or ()),
                        ""
                        if entry.from_hour is None
                        else f"{entry.from_hour:02d}-{entry.to_hour:02d}",
                    )
                )
            )
        return out.getvalue()

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
                best[entry.id] = HotlistMatch(
                    list_id=info.id,
                    list_name=info.name,
                    kind=info.kind,
                    action=info.action,
                    priority=entry.priority if entry.priority is not None else info.priority,
                    entry_plate=entry.plate,
                    read_plate=read,
                    score=score,
                    match=kind,
                    reason=entry.reason,
                    notes=entry.notes,
                    entry_id=entry.id,
                )
        return sorted(best.values(), key=lambda m: (m.priority, -m.score, m.list_id))

    def record(
        self,
        transit_id: str,
        station_id: str,
        at: datetime,
        matches: Sequence[HotlistMatch],
        cooldown: float,
    ) -> list[HotlistMatch]:
        """Store a stored transit's matches; return those that must alert now (with their
        ``record_id``): not on an allow-list, and no alert for the same entry plate at the same
        station within ``cooldown`` seconds. Calling it again for the same transit stores nothing
        and returns its alerts not yet published."""
        moment = self._aware(at).astimezone(UTC)
        window = timedelta(seconds=cooldown)
        with self.store.engine.begin() as connection:
            done = connection.scalar(
                sa.select(sa.func.count())
                .select_from(hotlist_matches)
                .where(hotlist_matches.c.transit_id == transit_id)
            )
            if done:
                return [
                    pending.match for pending in self._pending(connection, transit_id=transit_id)
                ]
            alerts: list[HotlistMatch] = []
            for match in matches:
                alerted = match.alerts and not connection.scalar(
                    sa.select(sa.func.count())
                    .select_from(hotlist_matches)
                    .where(
                        hotlist_matches.c.entry_plate == match.entry_plate,
                        hotlist_matches.c.station_id == station_id,
                        hotlist_matches.c.alerted.is_(True),
                        hotlist_matches.c.transit_id != transit_id,
                        hotlist_matches.c.time > moment - window,
                        hotlist_matches.c.time < moment + window,
                    )
                )
                inserted = connection.execute(
                    hotlist_matches.insert().values(
                        transit_id=transit_id,
                        list_id=match.list_id,
                        entry_id=match.entry_id,
                        entry_plate=match.entry_plate,
                        read_plate=match.read_plate[:16],
                        score=match.score,
                        match=match.match,
                        action=match.action,
                        priority=match.priority,
                        reason=(match.reason or "")[:_MAX_REASON] or None,
                        station_id=station_id,
                        time=moment,
                        alerted=alerted,
                        published_at=None,
                    )
                )
                if alerted:
                    record_id = (
                        inserted.inserted_primary_key[0] if inserted.inserted_primary_key else None
                    )
                    alerts.append(_with_record(match, record_id))
        return alerts

    def pending_alerts(self, limit: int = 500) -> list[PendingAlert]:
        """Alerts of this worker's transits that the broker has not acknowledged, oldest first."""
        with self.store.engine.begin() as connection:
            return self._pending(connection, worker=self.store.worker, limit=limit)

    def mark_alert_published(self, record_id: int) -> None:
        with self.store.engine.begin() as connection:
            connection.execute(
                hotlist_matches.update()
                .where(hotlist_matches.c.id == record_id)
                .values(published_at=datetime.now(UTC))
            )

    def transit_matches(self, transit_id: str) -> list[HotlistMatch]:
        """Every recorded match of a transit, alerted or not."""
        with self.store.engine.begin() as connection:
            rows = connection.execute(
                self._matches_query().where(hotlist_matches.c.transit_id == transit_id)
            ).all()
        return [_stored_match(row._mapping) for row in rows]

    # ------------------------------------------------------------------ internals
    def _aware(self, moment: datetime) -> datetime:
        return moment.replace(tzinfo=self.timezone) if moment.tzinfo is None else moment

    @staticmethod
    def _require_list(connection: Connection, list_id: str) -> None:
        if connection.scalar(sa.select(hotlists.c.id).where(hotlists.c.id == list_id)) is None:
            raise HotlistNotFound(f"no list {list_id}")

    @staticmethod
    def _matches_query() -> sa.Select[Any]:
        return (
            sa.select(
                hotlist_matches,
                hotlists.c.name.label("list_name"),
                hotlists.c.kind.label("list_kind"),
                hotlist_entries.c.notes.label("notes"),
            )
            .select_from(
                hotlist_matches.outerjoin(
                    hotlists, hotlists.c.id == hotlist_matches.c.list_id
                ).outerjoin(hotlist_entries, hotlist_entries.c.id == hotlist_matches.c.entry_id)
            )
            .order_by(hotlist_matches.c.id)
        )

    def _pending(
        self,
        connection: Connection,
        *,
        transit_id: str | None = None,
        worker: str | None = None,
        limit: int = 500,
    ) -> list[PendingAlert]:
        query = self._matches_query().where(
            hotlist_matches.c.alerted.is_(True), hotlist_matches.c.published_at.is_(None)
        )
        if transit_id is not None:
            query = query.where(hotlist_matches.c.transit_id == transit_id)
        if worker is not None:
            query = query.where(
                hotlist_matches.c.transit_id.in_(
                    sa.select(transits.c.id).where(transits.c.worker == worker)
                )
            )
        rows = connection.execute(query.limit(limit)).all()
        return [PendingAlert(row.transit_id, _stored_match(row._mapping)) for row in rows]

    def _fingerprint(self, connection: Connection) -> tuple[Any, ...]:
        entries = connection.execute(
            sa.select(
                sa.func.count(),
                sa.func.max(hotlist_entries.c.id),
                sa.func.max(hotlist_entries.c.added_at),
            )
        ).one()
        lists = connection.execute(
            sa.select(sa.func.count(), sa.func.max(hotlists.c.created_at))
        ).one()
        return (*entries, *lists)

    def _current_index(self) -> _Index:
        """The in-memory index, rebuilt when another call (or another worker) changed the lists."""
        with self._lock, self.store.engine.begin() as connection:
            fingerprint = self._fingerprint(connection)
            if self._index is not None and (
                self._imports or self._index.fingerprint == fingerprint
            ):
                return self._index
            lists = {row.id: _info(row._mapping) for row in connection.execute(sa.select(hotlists))}
            entries = [
                _entry(row._mapping)
                for row in connection.execute(
                    sa.select(hotlist_entries).order_by(hotlist_entries.c.id)
                )
                if row.list_id in lists
            ]
            index = _Index(fingerprint, lists, entries)
            for position, entry in enumerate(entries):
                index.exact.setdefault(entry.plate, []).append(position)
                if len(entry.plate) >= MIN_FUZZY_LENGTH:
                    for key in _fuzzy_keys(entry.plate):
                        index.fuzzy.setdefault(key, set()).add(position)
            self._index = index
            return index

    def _entry_values(
        self,
        *,
        plate: str,
        reason: str,
        priority: int | None,
        expires_at: datetime | None,
        notes: str | None,
        stations: Iterable[str] | None,
        from_hour: int | None,
        to_hour: int | None,
        added_by: str,
    ) -> dict[str, Any]:
        normalized = normalize_plate(plate or "")
        if not PLATE_TEXT.fullmatch(plate or "") or not PLATE_PATTERN.fullmatch(normalized):
            raise HotlistError("plate: 2 to 12 letters or digits")
        scope: list[str] | None = None
        if stations is not None:
            scope = sorted({s.strip() for s in stations if s.strip()}) or None
            unknown = (
                [s for s in scope or () if s not in self.known_stations]
                if self.known_stations is not None
                else []
            )
            if unknown:
                raise HotlistError(f"unknown station {', '.join(unknown)}")
        if (from_hour is None) != (to_hour is None):
            raise HotlistError("hours: give both the first hour and the end hour, or neither")
        if (
            from_hour is not None
            and to_hour is not None
            and (not (0 <= from_hour <= 23 and 0 <= to_hour <= 24) or from_hour == to_hour % 24)
        ):
            raise HotlistError("hours: from 0-23 to 0-24, not the same hour")
        return {
            "plate": normalized,
            "reason": _text(reason, "reason", _MAX_REASON, required=True),
            "priority": None if priority is None else _priority(priority),
            "expires_at": None if expires_at is None else self._expiry(expires_at),
            "notes": _text(notes, "notes", _MAX_NOTES),
            "stations": scope,
            "from_hour": from_hour,
            "to_hour": to_hour,
            "added_by": _text(added_by, "added_by", _MAX_NAME, required=True),
            "added_at": datetime.now(UTC),
        }

    def _csv_row(self, record: dict[str, str], added_by: str) -> dict[str, Any]:
        from_hour, to_hour = parse_hours(record.get("hours", ""))
        stations = record.get("stations", "")
        return self._entry_values(
            plate=record.get("plate", ""),
            reason=record.get("reason", ""),
            priority=_int(record.get("priority", ""), "priority"),
            expires_at=self.parse_expiry(record.get("expires", "")),
            notes=record.get("notes") or None,
            stations=re.split(r"[|\s]+", stations) if stations else None,
            from_hour=from_hour,
            to_hour=to_hour,
            added_by=added_by,
        )

    def _scntt_row(self, record: dict[str, str], added_by: str) -> dict[str, Any]:
        details = [
            f"{label}: {record[key]}"
            for key, label in (
                ("nazione", "nazione"),
                ("tipo_veicolo", "veicolo"),
                ("data_segnalazione", "segnalato il"),
                ("ente", "ente"),
            )
            if record.get(key)
        ]
        if record.get("note"):
            details.append(record["note"])
        details.append("fonte: SCNTT")
        return self._entry_values(
            plate=record.get("targa", ""),
            reason=record.get("motivo") or "segnalazione SCNTT",
            priority=None,
            expires_at=self.parse_expiry(record.get("data_scadenza", "")),
            notes="; ".join(details),
            stations=None,
            from_hour=None,
            to_hour=None,
            added_by=added_by,
        )

    def parse_expiry(self, text: str) -> datetime | None:
        """A date means "through that day" (expires at the next local midnight); a date and time
        without an offset is local time. Italian ``dd/mm/yyyy`` is accepted too."""
        text = text.strip()
        if not text:
            return None
        italian = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", text)
        try:
            if italian:
                day = date(int(italian[3]), int(italian[2]), int(italian[1]))
            elif re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
                day = date.fromisoformat(text)
            else:
                day = None
                moment = self._aware(datetime.fromisoformat(text))
            if day is not None:
                moment = datetime.combine(day + timedelta(days=1), time(), tzinfo=self.timezone)
        except (ValueError, OverflowError) as err:
            raise HotlistError(f"expires: not a date ({text})") from err
        # A typed year 1 or 9999 is a typing mistake (and overflowed on conversion: a 500).
        if not EXPIRY_RANGE[0].year <= moment.year < EXPIRY_RANGE[1].year:
            raise HotlistError(
                f"expires: a year from {EXPIRY_RANGE[0].year} to {EXPIRY_RANGE[1].year - 1} "
                f"({text})"
            )
        return moment

    def _expiry(self, moment: datetime) -> datetime:
        """An expiry in UTC, clamped into `EXPIRY_RANGE` (a year-1 or year-9999 time overflowed
        on conversion; clamped, it expires as it would have: long ago, or never in practice),
        as the store clamps times outside its years."""
        try:
            utc = self._aware(moment).astimezone(UTC)
        except OverflowError:
            utc = EXPIRY_RANGE[0] if moment.year < EXPIRY_RANGE[0].year else EXPIRY_RANGE[1]
        return min(max(utc, EXPIRY_RANGE[0]), EXPIRY_RANGE[1])

    def _format_expiry(self, moment: datetime | None) -> str:
        if moment is None:
            return ""
        local = moment.astimezone(self.timezone)
        if local.time() == time():
            return (local.date() - timedelta(days=1)).isoformat()
        return local.isoformat()


def _csv_problem(err: csv.Error) -> str:
    """A line the CSV reader cannot split, said for the person who exported the file."""
    if "new-line character" in str(err):
        return "a carriage return or line break inside a cell that is not quoted"
    return f"not valid CSV: {err}"


def _priority(value: int) -> int:
    low, high = PRIORITY_RANGE
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise HotlistError(f"priority: a whole number from {low} (most urgent) to {high}")
    return value


def _int(text: str, what: str) -> int | None:
    if not text:
        return None
    try:
        return int(text)
    except ValueError as err:
        raise HotlistError(f"{what}: not a whole number ({text})") from err


def parse_hours(text: str) -> tuple[int | None, int | None]:
    text = text.strip()
    if not text:
        return None, None
    found = _HOURS.fullmatch(text)
    if not found:
        raise HotlistError(f"hours: expected HH-HH, e.g. 22-06 ({text})")
    return int(found[1]), int(found[2])


def _text(value: str | None, what: str, limit: int, *, required: bool = False) -> str | None:
    value = (value or "").strip()
    if not value:
        if required:
            raise HotlistError(f"{what} is required")
        return None
    if len(value) > limit:
        raise HotlistError(f"{what}: at most {limit} characters")
    return value


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _info(row: Any, *, entries: int = 0, expired: int = 0) -> HotlistInfo:
    return HotlistInfo(
        id=row["id"],
        name=row["name"],
        kind=row["kind"],
        action=row["action"],
        priority=row["priority"],
        description=row["description"],
        created_by=row["created_by"],
        created_at=_utc(row["created_at"]),
        entries=entries,
        expired=expired,
    )


def _entry(row: Any) -> HotlistEntry:
    stations = row["stations"]
    return HotlistEntry(
        id=row["id"],
        list_id=row["list_id"],
        plate=row["plate"],
        reason=row["reason"],
        priority=row["priority"],
        expires_at=_utc(row["expires_at"]) if row["expires_at"] is not None else None,
        notes=row["notes"],
        stations=tuple(stations) if stations is not None else None,
        from_hour=row["from_hour"],
        to_hour=row["to_hour"],
        added_by=row["added_by"],
        added_at=_utc(row["added_at"]),
    )


def _stored_match(row: Any) -> HotlistMatch:
    return HotlistMatch(
        list_id=row["list_id"],
        list_name=row["list_name"] or row["list_id"],
        kind=row["list_kind"] or "",
        action=row["action"],
        priority=row["priority"],
        entry_plate=row["entry_plate"],
        read_plate=row["read_plate"],
        score=row["score"],
        match=row["match"],
        reason=row["reason"],
        notes=row["notes"],
        entry_id=row["entry_id"],
        record_id=row["id"],
    )


def _with_record(match: HotlistMatch, record_id: int | None) -> HotlistMatch:
    return dataclasses.replace(match, record_id=record_id)
