"""How well each plate-reading station reads: the share of its vehicles read in the last hour, the
commonest reason for the unread ones, its own normal share, and whether it is reading well below
that normal (a dirty lens, a camera knocked out of aim, night IR failing).

Counts come from ``passages`` (every vehicle event): an ``unread`` passage is a vehicle nothing was
read of; every other outcome at a plate-reading station was read (``counted`` there is an
authorised vehicle a gate keeps no transit of). Aggregates only, never a plate. A station is
judged against itself, since a gate under a lamp and a bend at dusk read differently for good.

`ReadQualityWatch.measure` runs on the database thread (as every store call): one grouped query of
the last hour per call, and the normal's query once an hour. It keeps the `low` flags between
calls, so a flag set on one refresh stays until the share recovers past the higher mark.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

import sqlalchemy as sa

from rufina_alpr.store import PASSAGE_UNREAD, Store, passages, utc
from rufina_alpr.verification import UNREACHABLE

WINDOW: Final = timedelta(hours=1)
"""The read share is of the vehicles of the last hour: fresh enough to raise a repair within the
hour a lens gets dirty, long enough to hold tens of vehicles at a busy station."""
NORMAL_WINDOW: Final = timedelta(days=7)
"""A station's normal is its share over the 7 days before the last hour: a whole week, so nights
and weekends weigh as they do (as far as the retention keeps passages)."""
NORMAL_REFRESH: Final = timedelta(hours=1)
"""The normal moves slowly: computed again once an hour, not on every stats refresh (a week of
passages is the costly query)."""
NORMAL_MIN_VEHICLES: Final = 200
"""Fewer vehicles in the normal window make no normal (a new or very quiet station): nothing to
fall below, so never `low`."""
MIN_VEHICLES: Final = 20
"""Fewer vehicles in the last hour are not judged: the flag stays as it was. At a normal of 90 %,
20 vehicles fall under the low mark by chance about once in 400 hours; 5 vehicles at night would
raise and clear a repair all night long."""
LOW_FACTOR: Final = 0.7
"""`low` when the share falls under 70 % of the station's normal (90 % -> under 63 %): well below,
not a bad quarter of an hour."""
RECOVER_FACTOR: Final = 0.85
"""A `low` station clears only once its share is back to 85 % of its normal (90 % -> 76.5 %): the
gap between the two marks keeps a station near one of them from flapping."""

# Why a vehicle stayed unread, from how the engine words the passage's reason (`outcomes`,
# `reads`, `verification`, `reconcile`): a stable code the consumers translate, first match wins.
REASON_PREFIXES: Final[tuple[tuple[str, str], ...]] = (
    (UNREACHABLE, "frigate_unreachable"),
    ("frigate:", "frigate_error"),
    ("not in Frigate's events", "not_in_frigate"),
    ("image:", "image_unusable"),
    ("recognizer:", "recognizer_failed"),
    ("no snapshot", "no_snapshot"),
    ("no plate read", "no_plate"),
)
OTHER_REASON: Final = "other"
REASONS: Final[tuple[str, ...]] = (*(code for _, code in REASON_PREFIXES), OTHER_REASON)
"""Every code `commonest_unread_reason` may take (the `stats` schema lists the same)."""


@dataclass(frozen=True, slots=True)
class ReadCounts:
    """A station's vehicles in a window, the unread ones, and those by reason code."""

    vehicles: int = 0
    unread: int = 0
    reasons: Mapping[str, int] = field(default_factory=dict)

    @property
    def share(self) -> float | None:
        """The share read, None without vehicles."""
        return (self.vehicles - self.unread) / self.vehicles if self.vehicles else None

    @property
    def commonest_reason(self) -> str | None:
        """The reason of most unread vehicles (ties: the first in `REASONS`)."""
        found = [code for code in REASONS if self.reasons.get(code)]
        return max(found, key=lambda code: self.reasons[code]) if found else None


@dataclass(frozen=True, slots=True)
class ReadQuality:
    """A station's read quality as the `stats` payload carries it."""

    hour: ReadCounts
    normal_share: float | None
    low: bool

    def payload(self) -> dict[str, Any]:
        share = self.hour.share
        return {
            "vehicles": self.hour.vehicles,
            "read": self.hour.vehicles - self.hour.unread,
            "share": None if share is None else round(share, 3),
            "commonest_unread_reason": self.hour.commonest_reason,
            "unread_by_reason": dict(self.hour.reasons),
            "normal_share": None if self.normal_share is None else round(self.normal_share, 3),
            "low": self.low,
        }


def judge(was_low: bool, hour: ReadCounts, normal_share: float | None) -> bool:
    """Whether the station reads well below its normal now: no normal, never; too few vehicles,
    as it was; else under the low mark, or still under the recovery mark after being low."""
    share = hour.share
    if normal_share is None:
        return False
    if share is None or hour.vehicles < MIN_VEHICLES:
        return was_low
    if share < normal_share * LOW_FACTOR:
        return True
    return was_low and share < normal_share * RECOVER_FACTOR


def _reason_code() -> sa.ColumnElement[str]:
    """The passage's reason as a code, in SQL, so the grouping has a row per code, not one per
    error message."""
    return sa.case(
        *(
            (passages.c.reason.startswith(prefix, autoescape=True), code)
            for prefix, code in REASON_PREFIXES
        ),
        else_=OTHER_REASON,
    )


def read_counts(store: Store, start: datetime, end: datetime) -> dict[str, ReadCounts]:
    """Each station's vehicles in [start, end), unread ones by reason code: one grouped query
    (served by the passages' time index)."""
    unread = passages.c.status == PASSAGE_UNREAD
    reason = sa.case((unread, _reason_code()), else_=None).label("code")
    query = (
        sa.select(passages.c.station_id, reason, sa.func.count())
        .where(passages.c.time >= utc(start), passages.c.time < utc(end))
        .group_by(passages.c.station_id, reason)
    )
    totals: dict[str, tuple[int, dict[str, int]]] = {}
    with store.engine.connect() as connection:
        for station_id, code, count in connection.execute(query):
            vehicles, reasons = totals.setdefault(station_id, (0, {}))
            if code is not None:
                reasons[code] = reasons.get(code, 0) + int(count)
            totals[station_id] = (vehicles + int(count), reasons)
    return {
        station_id: ReadCounts(vehicles, sum(reasons.values()), reasons)
        for station_id, (vehicles, reasons) in totals.items()
    }


class ReadQualityWatch:
    """The stations' read quality, refresh after refresh: the normals (cached for an hour) and
    the `low` flags (kept in memory: after a restart a station still well below is flagged on
    the first refresh with enough vehicles)."""

    def __init__(self) -> None:
        self._normals: dict[str, ReadCounts] = {}
        self._normals_at: datetime | None = None
        self._low: set[str] = set()

    def measure(
        self, store: Store, now: datetime, stations: Collection[str]
    ) -> dict[str, ReadQuality]:
        """The read quality of each of ``stations`` (the plate-reading ones) now."""
        start = now - WINDOW
        if self._normals_at is None or now - self._normals_at >= NORMAL_REFRESH:
            self._normals = read_counts(store, start - NORMAL_WINDOW, start)
            self._normals_at = now
        hour = read_counts(store, start, now)
        found: dict[str, ReadQuality] = {}
        for station_id in stations:
            counts = hour.get(station_id, ReadCounts())
            normal = self._normals.get(station_id, ReadCounts())
            normal_share = normal.share if normal.vehicles >= NORMAL_MIN_VEHICLES else None
            low = judge(station_id in self._low, counts, normal_share)
            (self._low.add if low else self._low.discard)(station_id)
            found[station_id] = ReadQuality(counts, normal_share, low)
        return found
