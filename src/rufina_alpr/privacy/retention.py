"""The retention purge (Italian Garante rules for municipal video surveillance).

`purge` deletes what is older than the retention period: transits with their crops, reads and
hotlist matches, and the passages (the vehicle events) themselves, after rolling the traffic up so
the statistics do not change. Transits under an active hold survive, with their passages. Its log
line has counts only, never a plate. A station whose newest transit it purged still shows that plate
in its retained `<prefix>/<station>/last` and `crop` messages: `clear_retained` deletes them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

import sqlalchemy as sa

from rufina_alpr import traffic
from rufina_alpr.contract import Topics
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
from rufina_alpr.store.schema import utc

_LOGGER = logging.getLogger(__name__)


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


def held_ids() -> Any:
    """The ids of the transits under an active hold (a subquery)."""
    return (
        sa.select(held_transits.c.transit_id)
        .join(holds_table, holds_table.c.id == held_transits.c.hold_id)
        .where(holds_table.c.released_at.is_(None))
    )


def is_held(transit_id: Any) -> Any:
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
    cutoff = utc(now) - retention
    rolled = traffic.rollup(store, cutoff, tz=tz)
    old = sa.select(transits.c.id).where(transits.c.time < cutoff, ~is_held(transits.c.id))
    with store.engine.begin() as connection:
        held = int(
            connection.scalar(
                sa.select(sa.func.count())
                .select_from(transits)
                .where(transits.c.time < cutoff, transits.c.id.in_(held_ids()))
            )
            or 0
        )
        # An alert goes with its vehicle's transit (a held transit keeps its alerts); one whose
        # transit was never stored (its event lost) goes at the same age.
        old_alerts = sa.select(alerts.c.id).where(
            alerts.c.time < cutoff, ~is_held(alerts.c.transit_id)
        )
        connection.execute(alert_steps.delete().where(alert_steps.c.alert_id.in_(old_alerts)))
        connection.execute(alert_frames.delete().where(alert_frames.c.alert_id.in_(old_alerts)))
        removed = {
            "alerts": connection.execute(
                alerts.delete().where(alerts.c.time < cutoff, ~is_held(alerts.c.transit_id))
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
                    sa.or_(passages.c.transit_id.is_(None), ~is_held(passages.c.transit_id)),
                )
            ).rowcount,
        }
        newest = sa.select(transits.c.station_id, sa.func.max(transits.c.time)).group_by(
            transits.c.station_id
        )
        newest_purged: dict[str, datetime] = {
            station: moment
            for station, moment in connection.execute(
                newest.where(transits.c.time < cutoff, ~is_held(transits.c.id))
            )
        }
        removed["transits"] = connection.execute(
            transits.delete().where(transits.c.time < cutoff, ~is_held(transits.c.id))
        ).rowcount
        newest_left: dict[str, datetime] = {
            station: moment
            for station, moment in connection.execute(
                newest.where(transits.c.station_id.in_(list(newest_purged)))
            )
        }
        removed["audit_entries"] = (
            connection.execute(
                audit_log.delete().where(audit_log.c.time < utc(now) - audit_retention)
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
                if station not in newest_left or utc(newest_left[station]) < utc(moment)
            )
        ),
    )
    (log or _LOGGER).info("%s", report.describe())
    return report


def clear_retained(link: MqttLink, topics: Topics, stations: Iterable[str]) -> None:
    """Delete (empty retained payload) the `last` and `crop` messages of these stations (those
    whose newest transit a purge or an erasure removed), so the broker stops handing the removed
    plate to every subscriber. Queued by paho while the broker is away; nothing to do for a link
    never started."""
    if not link.started:
        return
    for station in stations:
        link.publish(topics.station_last(station), b"", retain=True)
        link.publish(topics.station_crop(station), b"", retain=True)
