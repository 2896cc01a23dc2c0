"""Impossible journeys: a plate seen at two stations sooner than anyone could drive between them.

Two cars carrying one plate (a cloned plate), or a misread that gave one car another's plate,
look the same from here: the plate is at station B before it could have driven there from A.
`JourneyCheck.check` runs on the engine's database thread, inside the transaction that stores a
transit, and returns the alert of kind ``impossible_journey`` for the caller to raise (with the
cooldown); it writes nothing itself.

The fastest plausible drive between two stations comes from measured journeys where the pair has
at least ``journey_min_samples`` of them (either direction), else from the great-circle distance
at ``journey_speed_kmh`` (`docs/hotlists.md`, "Impossible journeys"). Measured journeys are
consecutive transits of one plate at two stations within ``journey_gap``, as in
`rufina_alpr.tracking.travel_times`; the fastest plausible drive from them is
`MEASURED_SHARE` of their `MEASURED_PERCENTILE` (nearest rank):

* a percentile and not the minimum: the fastest measured legs include the very misreads and
  clones this check is for, and one of them must not teach it that the impossible is normal;
* the low tail and not the median: a measured leg is the direct drive plus whatever stops and
  detours the vehicle made, so only the fastest legs say how long the drive itself takes;
* half of it: the fastest honest drivers (an empty road at night) go well above the usual
  speed, and an alert on them would be a false accusation; a clone is almost always far
  faster than half (it is elsewhere, not on the road).

The measured times are a cache, never a scan per transit (a town stores about 20,000 transits
a day): the legs are kept in buckets by the hour they end, and one number per station pair is
derived from them. The first check (or `JourneyCheck.refresh` at start) loads the last
`WINDOW` with one query (three columns, in the order of the time index; low-confidence
transits and those that raised an impossible-journey alert left out): 14 days of 20,000
transits, 280,000 rows, take 3 to 4 s on a 2-core test machine's SQLite, once. After that a
refresh, at most every `REFRESH`, reads only the hours since the last one (less `LATE`, for
transits stored late, and less ``journey_gap``, for the legs' starts): a few thousand rows,
some tens of milliseconds. Buckets older than `WINDOW` are dropped; the cache holds one float
per leg (a few MB for 14 days of such a town).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from rufina_alpr.alerts import Alert
from rufina_alpr.alerts.ledger import new_alert
from rufina_alpr.config import TrackingSettings
from rufina_alpr.stations import Station
from rufina_alpr.store import alerts, transits, utc
from rufina_alpr.transits import Transit

KIND: Final = "impossible_journey"
MIN_PLATE: Final = 5
"""Shorter plates (partial reads) are shared by too many vehicles to accuse one of them."""
EARTH_RADIUS_KM: Final = 6371.0088
MEASURED_PERCENTILE: Final = 0.10
MEASURED_SHARE: Final = 0.5

Pair = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Sighting:
    """Another transit of the plate: what the alert names of it."""

    id: str
    station_id: str
    time: datetime


@dataclass(frozen=True, slots=True)
class Fastest:
    """The fastest plausible drive between two stations, in seconds, and where it comes from:
    ``samples`` measured journeys, or (``samples`` 0) the distance at the configured speed."""

    seconds: float
    samples: int = 0
    km: float | None = None

    def describe(self, speed_kmh: float) -> str:
        """The limit and its source, for the alert's reason: the operator judges it too."""
        if self.samples:
            return f"fastest plausible {self.seconds:.0f} s, from {self.samples} measured journeys"
        return f"fastest plausible {self.seconds:.0f} s at {speed_kmh:g} km/h"


def pair(a: str, b: str) -> Pair:
    """A station pair in either direction: travel times are taken as symmetric."""
    return (a, b) if a <= b else (b, a)


def distance_km(a: Station, b: Station) -> float | None:
    """Great-circle (haversine) distance between two stations; None without coordinates."""
    if a.latitude is None or a.longitude is None or b.latitude is None or b.longitude is None:
        return None
    lat1, lon1, lat2, lon2 = map(math.radians, (a.latitude, a.longitude, b.latitude, b.longitude))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def _hour(moment: datetime) -> int:
    """The hour a moment falls in, counted from the epoch: a leg's bucket."""
    return math.floor(moment.timestamp() / 3600)


def measured_fastest(durations: Sequence[float]) -> float:
    """`MEASURED_SHARE` of the nearest-rank `MEASURED_PERCENTILE` of a pair's measured
    journeys (why: the module's docstring)."""
    ordered = sorted(durations)
    rank = max(0, math.ceil(MEASURED_PERCENTILE * len(ordered)) - 1)
    return MEASURED_SHARE * ordered[rank]


class JourneyCheck:
    """Whether a transit's plate was seen at another station too recently to have driven from
    there. One per engine, used on its database thread only (the cache is not locked)."""

    REFRESH: timedelta = timedelta(minutes=10)
    """How long the measured travel times are kept before the next query updates them."""
    WINDOW: timedelta = timedelta(days=14)
    """How far back measured journeys are taken from: recent roads, works and limits."""
    LATE: timedelta = timedelta(hours=1)
    """How late a transit may be stored (a worker's backlog) and still be measured."""

    def __init__(
        self,
        stations: Sequence[Station],
        settings: TrackingSettings,
        *,
        timezone: tzinfo = UTC,
    ) -> None:
        """``timezone``: the times in the alert's reason (the operators'; the settings' own)."""
        self.timezone = timezone
        self.stations = {station.id: station for station in stations}
        self.settings = settings
        self.gap = timedelta(seconds=settings.journey_gap)
        self.refreshed_at: datetime | None = None
        self.refreshes = 0
        self._hours: dict[int, dict[Pair, list[float]]] = {}
        self._measured: dict[Pair, tuple[float, int]] = {}

    def check(
        self, connection: Connection, transit: Transit, *, worker: str, now: datetime
    ) -> Alert | None:
        """Called on the engine's database thread inside the transaction that just inserted
        `transit` (so its own row is left out). The alert of its plate's nearest other sighting
        (before or after it: workers may store out of order) at another station within
        ``journey_gap``, when less time separates them than the fastest plausible drive; None
        when there is none, when either sighting is low-confidence or the plate too short."""
        if (
            not self.settings.impossible_journey
            or transit.low_confidence
            or len(transit.plate) < MIN_PLATE
        ):
            return None
        moment = utc(transit.time)
        worst: tuple[float, Sighting, float, Fastest] | None = None
        for other in self._neighbours(connection, transit, moment):
            fastest = self.fastest(
                connection, transit.station_id, other.station_id, now=now, judged=transit.id
            )
            elapsed = abs((moment - other.time).total_seconds())
            if fastest is None or elapsed >= fastest.seconds:
                continue
            ratio = elapsed / fastest.seconds
            if worst is None or ratio < worst[0]:
                worst = (ratio, other, elapsed, fastest)
        if worst is None:
            return None
        _, other, elapsed, fastest = worst
        return new_alert(
            transit,
            kind=KIND,
            status="confirmed",
            worker=worker,
            now=now,
            action="alert",
            priority=self.settings.journey_priority,
            read_plate=transit.plate,
            score=transit.confidence,
            match="exact",
            reason=self._reason(moment, other, elapsed, fastest),
            related_transit_id=other.id,
        )

    def fastest(
        self, connection: Connection, a: str, b: str, *, now: datetime, judged: str | None = None
    ) -> Fastest | None:
        """The fastest plausible drive between two stations: from measured journeys where there
        are enough, else from their distance; None with neither (no alert can be judged).
        ``judged``: the transit being judged, left out of a refresh (its own leg must not
        count as evidence that it is plausible)."""
        if a == b:
            return None
        if self.refreshed_at is None or abs(now - self.refreshed_at) >= self.REFRESH:
            self.refresh(connection, now, judged=judged)
        measured = self._measured.get(pair(a, b))
        if measured is not None and measured[1] >= self.settings.journey_min_samples:
            return Fastest(seconds=measured[0], samples=measured[1], km=self._km(a, b))
        km = self._km(a, b)
        if km is None:
            return None
        return Fastest(seconds=km / self.settings.journey_speed_kmh * 3600.0, km=km)

    def _km(self, a: str, b: str) -> float | None:
        station_a, station_b = self.stations.get(a), self.stations.get(b)
        if station_a is None or station_b is None:
            return None
        return distance_km(station_a, station_b)

    def _neighbours(
        self, connection: Connection, transit: Transit, moment: datetime
    ) -> list[Sighting]:
        """The plate's nearest confident sighting before and after this one, within the gap,
        where it is at another station (a sighting at the same station in between means the
        vehicle's leg from the other station was judged with that one)."""
        rows = connection.execute(
            sa.select(transits.c.id, transits.c.station_id, transits.c.time)
            .where(
                transits.c.plate == transit.plate,
                transits.c.id != transit.id,
                transits.c.low_confidence.is_(False),
                transits.c.time >= moment - self.gap,
                transits.c.time <= moment + self.gap,
            )
            .order_by(transits.c.time, transits.c.id)
        ).all()
        seen = [Sighting(row.id, row.station_id, utc(row.time)) for row in rows]
        before = [s for s in seen if s.time <= moment]
        after = [s for s in seen if s.time > moment]
        nearest = before[-1:] + after[:1]
        return [s for s in nearest if s.station_id != transit.station_id]

    def refresh(self, connection: Connection, now: datetime, *, judged: str | None = None) -> None:
        """Bring the measured travel times up to ``now``: the whole `WINDOW` the first time
        (or when the clock went back), else the hours since the last refresh less `LATE`.
        ``judged``: a transit to leave out (the one being judged)."""
        now = utc(now)
        oldest = _hour(now - self.WINDOW)
        if self.refreshed_at is None or now < self.refreshed_at:
            start = oldest
            self._hours.clear()
        else:
            start = max(oldest, _hour(self.refreshed_at - self.LATE))
        since = datetime.fromtimestamp(start * 3600, tz=UTC)
        # Transits that raised this alert are no measurement: a few clones on a quiet pair
        # would otherwise teach the check that their impossible legs are normal.
        alerted = sa.select(alerts.c.transit_id).where(
            alerts.c.kind == KIND, alerts.c.time >= since - self.gap
        )
        query = (
            sa.select(transits.c.plate, transits.c.station_id, transits.c.time)
            .where(
                transits.c.time >= since - self.gap,
                transits.c.low_confidence.is_(False),
                transits.c.id.not_in(alerted),
            )
            .order_by(transits.c.time)
        )
        if judged is not None:
            query = query.where(transits.c.id != judged)
        gap = self.gap.total_seconds()
        last: dict[str, tuple[str, datetime]] = {}
        fresh: dict[int, dict[Pair, list[float]]] = defaultdict(lambda: defaultdict(list))
        for plate, station_id, stored in connection.execute(query):
            if len(plate) < MIN_PLATE:
                continue
            moment = utc(stored)
            previous = last.get(plate)
            last[plate] = (station_id, moment)
            if previous is None or previous[0] == station_id or moment < since:
                continue  # a leg that ends before ``since`` is in the buckets already
            elapsed = (moment - previous[1]).total_seconds()
            if elapsed <= gap:
                fresh[_hour(moment)][pair(previous[0], station_id)].append(elapsed)
        for hour in [h for h in self._hours if h >= start or h < oldest]:
            del self._hours[hour]
        self._hours.update(fresh)
        durations: dict[Pair, list[float]] = defaultdict(list)
        for buckets in self._hours.values():
            for key, values in buckets.items():
                durations[key].extend(values)
        self._measured = {
            key: (measured_fastest(values), len(values)) for key, values in durations.items()
        }
        self.refreshed_at = now
        self.refreshes += 1

    def _reason(self, moment: datetime, other: Sighting, elapsed: float, fastest: Fastest) -> str:
        """What the operator reads: the other station, both times, the distance and the limit."""
        when = "earlier" if other.time <= moment else "later"
        away = f", {fastest.km:.1f} km away" if fastest.km is not None else ""
        there = other.time.astimezone(self.timezone)
        here = moment.astimezone(self.timezone)
        return (
            f"seen at {other.station_id} {there:%H:%M:%S %Z}{away}, {elapsed:.0f} s {when}"
            f" (here {here:%H:%M:%S %Z}; {fastest.describe(self.settings.journey_speed_kmh)})"
        )
