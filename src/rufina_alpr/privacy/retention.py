"""The retention purge (Italian Garante rules for municipal video surveillance), per kind of data.

`purge` deletes each kind of personal data at its own age (`Retention`, the ``privacy.retention``
settings): transits with their passages, corrections and hotlist matches; the reads and crops of
transits that stay; the alerts' full frames; the hits (alerts) once closed, rejected or withdrawn;
the audit log. The traffic is rolled up first so the statistics do not change. A transit under an
active hold keeps everything; a hit still kept keeps its transit's row and crop as its evidence.
Its log line has counts only, never a plate. A station whose newest transit it purged still shows
that plate in its retained `<prefix>/<station>/last` and `crop` messages: `clear_retained` deletes
them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any, Final

import sqlalchemy as sa

from rufina_alpr import traffic
from rufina_alpr.alerts.models import OPEN_STATES, STATES
from rufina_alpr.contract import Topics
from rufina_alpr.mqtt import MqttLink
from rufina_alpr.privacy.settings import DATA_KINDS, DataKind, Retention
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

HANDLED_STATES: Final = frozenset(STATES) - OPEN_STATES
"""The states of a hit nobody has to act on any more (rejected, closed): its retention runs."""


@dataclass(frozen=True, slots=True)
class PurgeReport:
    """What one purge removed, per kind, and what it kept past its age (``held``: transits under
    an active hold; ``kept_for_hits``: transits kept as a hit's evidence). ``cutoffs``: each
    kind's, what is older goes."""

    cutoffs: Mapping[DataKind, datetime]
    transits: int = 0
    reads: int = 0
    crops: int = 0
    frames: int = 0
    alerts: int = 0
    hotlist_matches: int = 0
    passages: int = 0
    audit_entries: int = 0
    held: int = 0
    kept_for_hits: int = 0
    rolled_up_passages: int = 0
    # The stations whose newest transit was purged: their retained messages show a purged plate.
    cleared_stations: tuple[str, ...] = ()

    def counts(self) -> dict[str, int]:
        """What was removed, per kind (the admin purge's answer)."""
        return {
            "transits": self.transits,
            "reads": self.reads,
            "crops": self.crops,
            "frames": self.frames,
            "alerts": self.alerts,
            "hotlist_matches": self.hotlist_matches,
            "passages": self.passages,
            "audit_entries": self.audit_entries,
        }

    def describe(self) -> str:
        """The INFO line: counts only, never a plate."""
        removed = ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in self.counts().items())
        return (
            f"purged what is past its retention: {removed} "
            f"({self.held} held transits and {self.kept_for_hits} transits of hits kept; "
            f"traffic rolled up first; "
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


def _open_hit() -> Any:
    """The alert is open: someone still has to act on it (not withdrawn, not handled)."""
    return sa.and_(alerts.c.status != "withdrawn", alerts.c.state.in_(OPEN_STATES))


def _hit_over_before(cutoff: datetime) -> Any:
    """The alert was closed or rejected (``handled_at``), or withdrawn (``settled_at``), before
    ``cutoff``: an open hit's retention has not begun to run."""
    return sa.or_(
        sa.and_(alerts.c.status == "withdrawn", alerts.c.settled_at < cutoff),
        sa.and_(
            alerts.c.status != "withdrawn",
            alerts.c.state.in_(HANDLED_STATES),
            alerts.c.handled_at < cutoff,
        ),
    )


def _hit_evidence(transit_id: Any) -> Any:
    """An alert of this transit exists, or one names it as related (the other end of a journey):
    once the expired hits are gone, every alert left is a hit still kept. The related ones are
    few and not indexed: one uncorrelated list (no NULL in it, so its negation is sound)."""
    related = sa.select(alerts.c.related_transit_id).where(alerts.c.related_transit_id.is_not(None))
    return sa.or_(sa.exists().where(alerts.c.transit_id == transit_id), transit_id.in_(related))


def _past(cutoff: datetime, *keep: Any) -> Any:
    """The ids of the transits older than ``cutoff``, not held, and not any of ``keep``."""
    return sa.select(transits.c.id).where(
        transits.c.time < cutoff, ~is_held(transits.c.id), *(~k for k in keep)
    )


def cutoffs(now: datetime, retention: Retention) -> dict[DataKind, datetime]:
    """Each kind's cutoff at ``now``: what is older is past its retention."""
    return {kind: utc(now) - retention.of(kind) for kind in DATA_KINDS}


def purge(
    store: Store,
    now: datetime,
    retention: Retention,
    log: logging.Logger | None = None,
    *,
    tz: tzinfo = UTC,
) -> PurgeReport:
    """Delete each kind of personal data older than its retention at ``now``.

    The traffic rollups are brought up to the transits' cutoff first, in their own transaction,
    so the aggregates are the same before and after; the rest is one transaction. One INFO line
    (counts only) on ``log``.

    Transits go by their time, with their passages, corrections and hotlist matches; their reads
    and crops by the transit's time, each at its own age (never later than the transit: they
    cannot outlive it). Alerts go with their steps and frames once closed, rejected or withdrawn
    longer than the hits' retention; an open one stays. A kept hit keeps its transit (and the one
    it names as related) and its crop; an alert's frame goes at the frames' age unless the alert
    is open. An active hold keeps all of a transit's data and its alerts. The audit log names the
    plates operators searched for on purpose (who looked for whom, and why), so it has its own,
    longer retention; nothing else ever deletes from it.
    """
    cut = cutoffs(now, retention)
    # A read or crop is the transit's: it goes at the latest with it.
    read_cut, crop_cut = max(cut["reads"], cut["transits"]), max(cut["crops"], cut["transits"])
    rolled = traffic.rollup(store, cut["transits"], tz=tz)
    held_hit = is_held(alerts.c.transit_id)
    expired = sa.select(alerts.c.id).where(_hit_over_before(cut["hits"]), ~held_hit)
    doomed = (
        transits.c.time < cut["transits"],
        ~is_held(transits.c.id),
        ~_hit_evidence(transits.c.id),
    )
    with store.engine.begin() as connection:

        def delete(statement: Any) -> int:
            return int(connection.execute(statement).rowcount)

        def count(*where: Any) -> int:
            query = sa.select(sa.func.count()).select_from(transits).where(*where)
            return int(connection.scalar(query) or 0)

        held = count(transits.c.time < cut["transits"], transits.c.id.in_(held_ids()))
        delete(alert_steps.delete().where(alert_steps.c.alert_id.in_(expired)))
        frames = delete(alert_frames.delete().where(alert_frames.c.alert_id.in_(expired)))
        removed = {
            "alerts": delete(alerts.delete().where(_hit_over_before(cut["hits"]), ~held_hit))
        }
        # Full frames: kept while their alert is open or its transit held.
        kept_frame = sa.exists().where(
            alerts.c.id == alert_frames.c.alert_id, sa.or_(_open_hit(), held_hit)
        )
        frames += delete(
            alert_frames.delete().where(alert_frames.c.captured_at < cut["frames"], ~kept_frame)
        )
        removed["frames"] = frames
        gone = sa.select(transits.c.id).where(*doomed)
        for name, table in (
            ("hotlist_matches", hotlist_matches),
            ("corrections", transit_corrections),
            ("held_links", held_transits),  # the links of released holds
        ):
            removed[name] = delete(table.delete().where(table.c.transit_id.in_(gone)))
        removed["reads"] = delete(reads.delete().where(reads.c.transit_id.in_(_past(read_cut))))
        old_crops = _past(crop_cut, _hit_evidence(transits.c.id))
        removed["crops"] = delete(crops.delete().where(crops.c.transit_id.in_(old_crops)))
        newest = sa.select(transits.c.station_id, sa.func.max(transits.c.time)).group_by(
            transits.c.station_id
        )
        newest_purged: dict[str, datetime] = dict(connection.execute(newest.where(*doomed)).all())
        removed["transits"] = delete(transits.delete().where(*doomed))
        newest_left: dict[str, datetime] = dict(
            connection.execute(newest.where(transits.c.station_id.in_(list(newest_purged)))).all()
        )
        # Passages are counted in the rollups now; those of transits still stored stay with them.
        removed["passages"] = delete(
            passages.delete().where(
                passages.c.time < cut["transits"],
                ~sa.exists().where(transits.c.id == passages.c.transit_id),
            )
        )
        kept_for_hits = count(transits.c.time < cut["transits"], ~is_held(transits.c.id))
        removed["audit_entries"] = delete(audit_log.delete().where(audit_log.c.time < cut["audit"]))
    if store.engine.dialect.name == "sqlite":
        # secure_delete zeroed the pages; the WAL still holds their old copies until truncated.
        with store.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    report = PurgeReport(
        cutoffs=cut,
        transits=removed["transits"],
        reads=removed["reads"],
        crops=removed["crops"],
        frames=removed["frames"],
        alerts=removed["alerts"],
        hotlist_matches=removed["hotlist_matches"],
        passages=removed["passages"],
        audit_entries=removed["audit_entries"],
        held=held,
        kept_for_hits=kept_for_hits,
        rolled_up_passages=rolled.passages,
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
