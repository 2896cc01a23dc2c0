"""What the store holds about one plate: gathered for a data subject's access request (art. 15
GDPR; `access_copy` makes the ZIP with its cover letter), or erased for an erasure request
(art. 17).

Erasure keeps what an active hold keeps (an investigation: art. 17(3)(e)), the alerts still being
handled with their transits, and the audit entries that name the plate (the accountability record,
art. 5(2) and 17(3)(b)); hotlist entries are the police's lists, reported to the admin and neither
erased nor put in the subject's ZIP (disclosing them is a decision under art. 23 GDPR and d.lgs.
51/2018). The subject's copy never names the employees who consulted or handled the data (CJEU
C-579/21, Pankki S): when and why, not who.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from rufina_alpr import contract
from rufina_alpr.alerts import OPEN_STATES, Alert, ledger
from rufina_alpr.privacy.audit import AuditEntry, entry_from_row
from rufina_alpr.privacy.retention import held_ids, is_held
from rufina_alpr.store import (
    Store,
    alert_frames,
    alert_steps,
    alerts,
    audit_log,
    crops,
    held_transits,
    hotlist_entries,
    hotlist_matches,
    hotlists,
    passages,
    reads,
    transit_corrections,
    transit_from_row,
    transits,
)
from rufina_alpr.store import holds as holds_table
from rufina_alpr.store.corrections import Correction, corrections_of
from rufina_alpr.store.schema import utc
from rufina_alpr.transits import Transit


@dataclass(frozen=True, slots=True)
class SubjectData:
    """Everything held about ``plate``: its transits (with crops), their reads and corrections,
    the alerts naming it (with their steps) and their frames, the hotlist entries naming it (for
    the admin only) and the audit entries whose query names it."""

    plate: str
    transits: tuple[Transit, ...]
    reads: Mapping[str, tuple[dict[str, Any], ...]]
    corrections: Mapping[str, tuple[Correction, ...]]
    alerts: tuple[Alert, ...]
    frames: Mapping[str, tuple[bytes, str, str, datetime]]
    hotlist_entries: tuple[dict[str, Any], ...]
    audit: tuple[AuditEntry, ...]

    def counts(self) -> dict[str, int]:
        return {
            "transits": len(self.transits),
            "crops": sum(t.crop_jpeg is not None for t in self.transits),
            "reads": sum(len(r) for r in self.reads.values()),
            "corrections": sum(len(c) for c in self.corrections.values()),
            "alerts": len(self.alerts),
            "frames": len(self.frames),
            "audit_entries": len(self.audit),
            "hotlist_entries": len(self.hotlist_entries),
        }


@dataclass(frozen=True, slots=True)
class HoldKept:
    """A hold that kept some of the plate's transits (and their alerts) from the erasure."""

    id: int
    case_number: str
    transits: int


@dataclass(frozen=True, slots=True)
class ErasureResult:
    """What an erasure removed, what it kept and why (no plate: it goes in the request's
    register entry and the API's answer). ``cleared_stations``: the stations whose retained
    `last` and `crop` messages showed an erased transit (`privacy.clear_retained`)."""

    transits: int
    reads: int
    crops: int
    corrections: int
    hotlist_matches: int
    alerts: int
    frames: int
    passages_anonymised: int
    held: tuple[HoldKept, ...] = ()
    open_alerts_kept: int = 0
    open_alert_transits_kept: int = 0
    audit_entries_kept: int = 0
    hotlist_entries: int = 0
    cleared_stations: tuple[str, ...] = field(default=())

    def as_json(self) -> dict[str, Any]:
        return {
            "erased": {
                "transits": self.transits,
                "reads": self.reads,
                "crops": self.crops,
                "corrections": self.corrections,
                "hotlist_matches": self.hotlist_matches,
                "alerts": self.alerts,
                "frames": self.frames,
            },
            "passages_anonymised": self.passages_anonymised,
            "kept": {
                "holds": [
                    {"id": h.id, "case_number": h.case_number, "transits": h.transits}
                    for h in self.held
                ],
                "open_alerts": self.open_alerts_kept,
                "open_alert_transits": self.open_alert_transits_kept,
                "audit_entries": self.audit_entries_kept,
                "hotlist_entries": self.hotlist_entries,
            },
            "cleared_stations": list(self.cleared_stations),
        }


# ----------------------------------------------------------------------------- what names it
def _names_transit(plate: str) -> Any:
    """A transit of the plate: as it stands, as it was read, or as any correction had it."""
    corrected = sa.select(transit_corrections.c.transit_id).where(
        sa.or_(transit_corrections.c.previous_plate == plate, transit_corrections.c.plate == plate)
    )
    return sa.or_(
        transits.c.plate == plate,
        transits.c.original_plate == plate,
        transits.c.id.in_(corrected),
    )


def _names_alert(plate: str, transit_ids: Sequence[str]) -> Any:
    return sa.or_(
        alerts.c.plate == plate,
        alerts.c.read_plate == plate,
        alerts.c.entry_plate == plate,
        alerts.c.transit_id.in_(list(transit_ids)),
    )


def _names_audit(plate: str) -> Any:
    """An audit entry whose query has the plate as a JSON string (`"EB123CD"`), found by the
    database over the JSON's text (set-based; the plate's characters are escaped)."""
    return sa.cast(audit_log.c.query, sa.Text).contains(f'"{plate}"', autoescape=True)


def _open_alert() -> Any:
    return sa.and_(alerts.c.status != "withdrawn", alerts.c.state.in_(sorted(OPEN_STATES)))


# ----------------------------------------------------------------------------- gather
def gather(store: Store, plate: str) -> SubjectData:
    """Everything the store holds about the (normalised) plate, in one read transaction."""
    with store.engine.connect() as connection:
        found = tuple(
            transit_from_row(row._mapping)
            for row in connection.execute(
                sa.select(transits, crops.c.jpeg)
                .select_from(transits.outerjoin(crops, crops.c.transit_id == transits.c.id))
                .where(_names_transit(plate))
                .order_by(transits.c.time, transits.c.id)
            )
        )
        ids = [t.id for t in found]
        alert_ids = list(
            connection.scalars(
                sa.select(alerts.c.id).where(_names_alert(plate, ids)).order_by(alerts.c.time)
            )
        )
        named_alerts = tuple(a for a in (ledger.find(connection, i) for i in alert_ids) if a)
        frames = {
            a.id: kept for a in named_alerts if (kept := ledger.frame(connection, a.id)) is not None
        }
        return SubjectData(
            plate=plate,
            transits=found,
            reads=_reads(connection, ids),
            corrections={t: tuple(c) for t in ids if (c := corrections_of(connection, t))},
            alerts=named_alerts,
            frames=frames,
            hotlist_entries=_hotlist_entries(connection, plate),
            audit=_audit(connection, plate),
        )


def _reads(connection: Connection, ids: Sequence[str]) -> dict[str, tuple[dict[str, Any], ...]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for row in connection.execute(
        sa.select(reads).where(reads.c.transit_id.in_(list(ids))).order_by(reads.c.id)
    ):
        found.setdefault(row.transit_id, []).append(
            {
                "text": row.text,
                "confidence": round(float(row.confidence), 4),
                "region": row.region,
                "source": row.source,
                "frame_time": row.frame_time,
            }
        )
    return {transit: tuple(rows) for transit, rows in found.items()}


def _hotlist_entries(connection: Connection, plate: str) -> tuple[dict[str, Any], ...]:
    rows = connection.execute(
        sa.select(
            hotlist_entries.c.list_id,
            hotlists.c.name,
            hotlists.c.kind,
            hotlists.c.action,
            hotlist_entries.c.reason,
            hotlist_entries.c.added_at,
            hotlist_entries.c.expires_at,
        )
        .join(hotlists, hotlists.c.id == hotlist_entries.c.list_id)
        .where(hotlist_entries.c.plate == plate)
        .order_by(hotlist_entries.c.list_id)
    )
    return tuple(
        {
            "list": row.list_id,
            "list_name": row.name,
            "kind": row.kind,
            "action": row.action,
            "reason": row.reason,
            "added_at": contract.iso_time(utc(row.added_at)),
            "expires_at": contract.iso_time(utc(row.expires_at)) if row.expires_at else None,
        }
        for row in rows
    )


def _audit(connection: Connection, plate: str) -> tuple[AuditEntry, ...]:
    rows = connection.execute(
        sa.select(audit_log).where(_names_audit(plate)).order_by(audit_log.c.time, audit_log.c.id)
    )
    return tuple(entry_from_row(row) for row in rows)


# ----------------------------------------------------------------------------- erase
def erase(store: Store, plate: str) -> ErasureResult:
    """Delete what the store holds about the (normalised) plate, whatever its age, in one
    transaction, except the transits an active hold keeps and those of alerts still being handled
    (with those alerts); the passages of erased transits stay as anonymous traffic counts."""
    with store.engine.begin() as connection:
        named = list(connection.scalars(sa.select(transits.c.id).where(_names_transit(plate))))
        alert_named = _names_alert(plate, named)
        open_alert_transits = set(
            connection.scalars(sa.select(alerts.c.transit_id).where(alert_named, _open_alert()))
        )
        held = set(connection.scalars(held_ids().where(held_transits.c.transit_id.in_(named))))
        kept = held | open_alert_transits
        gone = [t for t in named if t not in kept]
        gone_alerts = list(
            connection.scalars(
                sa.select(alerts.c.id).where(
                    alert_named,
                    ~_open_alert(),
                    ~is_held(alerts.c.transit_id),
                    alerts.c.transit_id.not_in(list(open_alert_transits)),
                )
            )
        )
        # As the purge finds them: the stations whose newest transit goes.
        stations = list(
            connection.scalars(
                sa.select(transits.c.station_id).where(transits.c.id.in_(gone)).distinct()
            )
        )
        newest = (
            sa.select(transits.c.station_id, sa.func.max(transits.c.time))
            .where(transits.c.station_id.in_(stations))
            .group_by(transits.c.station_id)
        )
        newest_before = dict(connection.execute(newest).all())
        removed = _delete(connection, gone, gone_alerts)
        newest_after = dict(connection.execute(newest).all())
        result = ErasureResult(
            **removed,
            held=_holds_kept(connection, named),
            open_alerts_kept=int(
                connection.scalar(sa.select(sa.func.count()).where(alert_named, _open_alert())) or 0
            ),
            open_alert_transits_kept=len((open_alert_transits - held) & set(named)),
            audit_entries_kept=int(
                connection.scalar(sa.select(sa.func.count()).where(_names_audit(plate))) or 0
            ),
            hotlist_entries=int(
                connection.scalar(
                    sa.select(sa.func.count()).where(hotlist_entries.c.plate == plate)
                )
                or 0
            ),
            cleared_stations=tuple(
                sorted(
                    station
                    for station, moment in newest_before.items()
                    if station not in newest_after or utc(newest_after[station]) < utc(moment)
                )
            ),
        )
    if store.engine.dialect.name == "sqlite":
        # secure_delete zeroed the pages; the WAL still holds their old copies until truncated.
        with store.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return result


def _delete(connection: Connection, gone: list[str], gone_alerts: list[str]) -> dict[str, int]:
    """Delete these transits and alerts with everything that hangs on them; the counts."""
    connection.execute(alert_steps.delete().where(alert_steps.c.alert_id.in_(gone_alerts)))
    removed = {
        "frames": connection.execute(
            alert_frames.delete().where(alert_frames.c.alert_id.in_(gone_alerts))
        ).rowcount,
        "alerts": connection.execute(alerts.delete().where(alerts.c.id.in_(gone_alerts))).rowcount,
        "hotlist_matches": connection.execute(
            hotlist_matches.delete().where(hotlist_matches.c.transit_id.in_(gone))
        ).rowcount,
        "corrections": connection.execute(
            transit_corrections.delete().where(transit_corrections.c.transit_id.in_(gone))
        ).rowcount,
        "reads": connection.execute(reads.delete().where(reads.c.transit_id.in_(gone))).rowcount,
        "crops": connection.execute(crops.delete().where(crops.c.transit_id.in_(gone))).rowcount,
        # The traffic counts keep the vehicle's passage, no longer linked to who it was.
        "passages_anonymised": connection.execute(
            passages.update().where(passages.c.transit_id.in_(gone)).values(transit_id=None)
        ).rowcount,
    }
    connection.execute(held_transits.delete().where(held_transits.c.transit_id.in_(gone)))
    removed["transits"] = connection.execute(
        transits.delete().where(transits.c.id.in_(gone))
    ).rowcount
    return removed


def _holds_kept(connection: Connection, named: list[str]) -> tuple[HoldKept, ...]:
    rows = connection.execute(
        sa.select(holds_table.c.id, holds_table.c.case_number, sa.func.count())
        .join(held_transits, held_transits.c.hold_id == holds_table.c.id)
        .where(holds_table.c.released_at.is_(None), held_transits.c.transit_id.in_(named))
        .group_by(holds_table.c.id, holds_table.c.case_number)
        .order_by(holds_table.c.id)
    )
    return tuple(HoldKept(int(i), case, int(n)) for i, case, n in rows)
