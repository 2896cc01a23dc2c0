"""Hotlist values: errors, lists, entries, matches and pending alerts, the kinds, actions and
limits, and the conversions from stored rows.

A list has a kind (stolen, police, uninsured, inspection, watch, authorised) and an action:
``alert``, ``stop_and_check`` (uninsured vehicles and expired inspections: under Italian law such a
hit is a reason to stop and check the vehicle, never an automatic fine) or ``allow`` (authorised
vehicles: matched and reported on the transit, never alerted; a gate, `Gate`, alerts on the plates
NOT on such a list, `gates`). Each entry has a reason, an optional
priority (overriding the list's; 1 is the most urgent), expiry, notes, and an optional scope of
stations and hours of the day (the municipality's local time).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal, TypedDict
from zoneinfo import ZoneInfo

from rufina_alpr.errors import RufinaError

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
MAX_REASON, MAX_NOTES, MAX_NAME, MAX_ID = 500, 2000, 120, 64
LIST_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


class HotlistError(RufinaError, ValueError):
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
class Gate:
    """Where and when an ``authorised`` list is a gate (ZTL, closed road, school street): every
    plate NOT on it alerts there (`gates`). ``stations``: the gate's stations (at least one);
    ``days``: ISO weekdays as digits ("12345" Monday to Friday; None every day); hours:
    ``from_hour <= h < to_hour`` local time, wrapping past midnight (None: all day);
    ``keep_authorised`` False: the authorised vehicles' transits there are not stored."""

    stations: tuple[str, ...]
    days: str | None = None
    from_hour: int | None = None
    to_hour: int | None = None
    keep_authorised: bool = True

    def applies(self, station_id: str, local: datetime) -> bool:
        """Whether the gate is closed at this station and local time."""
        if station_id not in self.stations:
            return False
        if self.days is not None and str(local.isoweekday()) not in self.days:
            return False
        if self.from_hour is None or self.to_hour is None:
            return True
        return hour_in(local.hour, self.from_hour, self.to_hour)


def hour_in(hour: int, from_hour: int, to_hour: int) -> bool:
    """``from_hour <= hour < to_hour``, wrapping past midnight when ``from_hour > to_hour``."""
    if from_hour < to_hour:
        return from_hour <= hour < to_hour
    return hour >= from_hour or hour < to_hour


@dataclass(frozen=True, slots=True)
class HotlistInfo:
    """A list, with its count of active (unexpired) entries and of expired ones, and its gate
    (``authorised`` lists only; None: none)."""

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
    gate: Gate | None = None


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
        return hour_in(local.hour, self.from_hour, self.to_hour)


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


def entry_match(
    info: HotlistInfo, entry: HotlistEntry, read: str, score: float, kind: MatchKind
) -> HotlistMatch:
    """A read's match of a list's entry (the entry's priority, else the list's)."""
    return HotlistMatch(
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


def hotlist_summary(matches: Sequence[HotlistMatch]) -> dict[str, Any] | None:
    """The transit's ``hotlist`` field: its best match (``matches`` sorted as `match` returns
    them), the number of matches and the lists they are on; None without a match."""
    if not matches:
        return None
    summary = matches[0].summary()
    summary["count"] = len(matches)
    summary["lists"] = list(dict.fromkeys(m.list_id for m in matches))
    return summary


def checked_priority(value: int) -> int:
    low, high = PRIORITY_RANGE
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise HotlistError(f"priority: a whole number from {low} (most urgent) to {high}")
    return value


def checked_text(value: str | None, what: str, limit: int, *, required: bool = False) -> str | None:
    value = (value or "").strip()
    if not value:
        if required:
            raise HotlistError(f"{what} is required")
        return None
    if len(value) > limit:
        raise HotlistError(f"{what}: at most {limit} characters")
    return value


def as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def info_from_row(row: Any, *, entries: int = 0, expired: int = 0) -> HotlistInfo:
    return HotlistInfo(
        id=row["id"],
        name=row["name"],
        kind=row["kind"],
        action=row["action"],
        priority=row["priority"],
        description=row["description"],
        created_by=row["created_by"],
        created_at=as_utc(row["created_at"]),
        entries=entries,
        expired=expired,
        gate=gate_from_row(row),
    )


def gate_from_row(row: Any) -> Gate | None:
    """A list row's gate (`Gate`); None when it has none (no stations)."""
    stations = row["gate_stations"]
    if not stations:
        return None
    return Gate(
        stations=tuple(stations),
        days=row["gate_days"],
        from_hour=row["gate_from_hour"],
        to_hour=row["gate_to_hour"],
        keep_authorised=row["gate_keep_authorised"] is not False,
    )


def entry_from_row(row: Any) -> HotlistEntry:
    stations = row["stations"]
    return HotlistEntry(
        id=row["id"],
        list_id=row["list_id"],
        plate=row["plate"],
        reason=row["reason"],
        priority=row["priority"],
        expires_at=as_utc(row["expires_at"]) if row["expires_at"] is not None else None,
        notes=row["notes"],
        stations=tuple(stations) if stations is not None else None,
        from_hour=row["from_hour"],
        to_hour=row["to_hour"],
        added_by=row["added_by"],
        added_at=as_utc(row["added_at"]),
    )


def match_from_row(row: Any) -> HotlistMatch:
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
