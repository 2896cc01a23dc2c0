"""The store: transits, passages, crops and reads, and the outbox marks (SQLAlchemy Core on SQLite
by default, PostgreSQL to scale out).

It is also the outbox: a transit is committed here before it is published, and stays marked
unpublished until the broker acknowledged it, so nothing is lost or published twice.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from rufina_alpr.metrics import Metrics
from rufina_alpr.reads import PlateRead
from rufina_alpr.store.connection import open_engine
from rufina_alpr.store.migrations import migrate
from rufina_alpr.store.schema import (
    PASSAGE_COUNTED,
    PASSAGE_READ,
    PASSAGE_UNREAD,
    SIGNING_KEY,
    StoreError,
    crops,
    engine_meta,
    passages,
    reads,
    transits,
    utc,
)
from rufina_alpr.transits import Transit

T = TypeVar("T")

_LOGGER = logging.getLogger(__name__)

# PostgreSQL's text cannot hold NUL (the insert fails and the transit is lost) and no plate, OCR
# region or reason needs a control character: they are taken out where text enters the store.
CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class PassageCounts:
    """Passages by outcome: read (a transit), unread, counted (a counting-only station)."""

    read: int
    unread: int
    counted: int


class Store:
    """All database access. Methods are synchronous: the service runs them off the event loop.

    ``metrics``: where `store_text_cleaned` is counted (the engine's, when it passes them).
    """

    def __init__(self, url: str, *, worker: str, metrics: Metrics | None = None) -> None:
        self.url = url
        self.worker = worker
        self.metrics = metrics if metrics is not None else Metrics()
        self.engine: Engine = open_engine(url)
        self.migrate()

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _begin(self) -> Iterator[Connection]:
        with self.engine.begin() as connection:
            yield connection

    def migrate(self) -> int:
        """Bring the schema to this engine's version (`rufina_alpr.store.migrations.migrate`)."""
        return migrate(self.engine)

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
        cleaned = CONTROL.sub("", value)
        if cleaned != value:
            self.metrics.inc("store_text_cleaned")
            _LOGGER.warning("control characters removed from the %s of %s", what, owner)
        return cleaned[:limit]

    def add_transit(
        self, transit: Transit, plate_reads: list[PlateRead], *, settle_unread: bool = False
    ) -> bool:
        """`record_outcome` of a transit alone; False when the event already has an outcome."""
        return (
            self.record_outcome(
                transit, plate_reads, settle_unread=settle_unread, then=lambda _connection: True
            )
            is not None
        )

    def record_outcome(
        self,
        transit: Transit,
        plate_reads: list[PlateRead],
        *,
        settle_unread: bool = False,
        then: Callable[[Connection], T],
    ) -> T | None:
        """Store a transit, its reads and crop and, in the same transaction, what ``then``
        writes with its connection (the transit's hotlist matches): all of it or nothing, so a
        crash leaves no transit without its matches. Returns what ``then`` returned; None when
        the event already has an outcome. With ``settle_unread`` an unread passage of the event
        becomes this transit's (read again once Frigate answered, or a real `end` after a
        forged one), in place, so traffic counts and their rollups do not change."""
        inserted = False
        try:
            with self._begin() as connection:
                self._insert_transit(connection, transit, plate_reads, settle_unread)
                inserted = True
                return then(connection)
        except IntegrityError:
            if inserted:  # not the event's second outcome: a fault of what ``then`` wrote
                raise
            return None

    def _insert_transit(
        self,
        connection: Connection,
        transit: Transit,
        plate_reads: list[PlateRead],
        settle_unread: bool,
    ) -> None:
        """The rows of a transit: itself, its crop, its reads and its passage (IntegrityError
        when the event has an outcome already)."""
        owner = f"transit {transit.id}"
        row = {
            "id": transit.id,
            "event_id": transit.event_id,
            "station_id": transit.station_id,
            "camera": transit.camera,
            "time": utc(transit.time),
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
        connection.execute(transits.insert().values(row))
        if transit.crop_jpeg:
            connection.execute(crops.insert().values(transit_id=transit.id, jpeg=transit.crop_jpeg))
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
        values["time"] = utc(values["time"])
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
                    transits.c.time > utc(transit.time),
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
                    passages.c.time >= utc(since),
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
            return [transit_from_row(row._mapping) for row in connection.execute(query)]

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
        return transit_from_row(row._mapping) if row else None

    def transits(self, *, limit: int = 1000) -> list[Transit]:
        """Newest transits first, without crops."""
        query = sa.select(transits).order_by(transits.c.time.desc()).limit(limit)
        with self._begin() as connection:
            return [transit_from_row(row._mapping) for row in connection.execute(query)]

    def count_transits(self, *, since: datetime | None = None) -> int:
        query = sa.select(sa.func.count()).select_from(transits)
        if since is not None:
            query = query.where(transits.c.time >= utc(since))
        with self._begin() as connection:
            return int(connection.scalar(query) or 0)

    def station_counts(self, since: datetime) -> dict[str, dict[str, int]]:
        """Passages per station and vehicle class since a moment (read, unread and counted)."""
        query = (
            sa.select(passages.c.station_id, passages.c.vehicle, sa.func.count())
            .where(passages.c.time >= utc(since))
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
            .where(transits.c.time >= utc(since))
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


def transit_from_row(row: Any) -> Transit:
    """A transit from a row of `transits` (``jpeg``: its crop, where the query joined `crops`)."""
    return Transit(
        id=row["id"],
        event_id=row["event_id"],
        station_id=row["station_id"],
        camera=row["camera"],
        time=utc(row["time"]),
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
        original_plate=row.get("original_plate"),
        crop_jpeg=row.get("jpeg"),
    )
