"""Alerts in the store: raising one (with the cooldown), settling it by its vehicle's transit,
the steps of its handling, the queue and the report, the outbox and the evidence frames.

Every function takes the caller's connection: the engine raises and settles alerts in the
transaction that stores the transit (`engine.outcomes.record_transit`), the API handles them in
its own. All run on the database thread.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from rufina_alpr.alerts.models import (
    MAX_NOTE,
    OPEN_STATES,
    OUTCOMES,
    REJECT_REASONS,
    TRANSITIONS,
    Alert,
    AlertError,
    AlertNotFound,
    AlertStep,
    AlertStepRefused,
    alert_id,
)
from rufina_alpr.hotlists.models import HotlistMatch
from rufina_alpr.store import alert_frames, alert_steps, alerts, transits, utc
from rufina_alpr.transits import Transit

WITHDRAWN_REASON = "the vehicle's transit does not match"
Change = Literal["raised", "confirmed", "withdrawn"]


@dataclass(frozen=True, slots=True)
class Settled:
    """What a transit did to its vehicle's alert: raised it (confirmed at once), confirmed or
    withdrew the provisional one; ``alert`` as stored after that."""

    alert: Alert
    change: Change


def new_alert(
    transit: Transit,
    *,
    kind: str,
    status: str,
    worker: str,
    now: datetime,
    action: str,
    priority: int,
    read_plate: str,
    score: float,
    match: str = "exact",
    reason: str | None = None,
    list_id: str | None = None,
    list_name: str | None = None,
    list_kind: str | None = None,
    entry_id: int | None = None,
    entry_plate: str | None = None,
    related_transit_id: str | None = None,
) -> Alert:
    """A new alert of a transit (provisional: of the reads so far), in state new."""
    return Alert(
        id=alert_id(transit.id, kind),
        kind=kind,
        status=status,
        state="new",
        transit_id=transit.id,
        event_id=transit.event_id,
        camera=transit.camera,
        station_id=transit.station_id,
        time=utc(transit.time),
        plate=transit.plate,
        list_id=list_id,
        list_name=list_name,
        list_kind=list_kind,
        action=action,
        priority=priority,
        entry_id=entry_id,
        entry_plate=entry_plate,
        read_plate=read_plate[:16],
        score=score,
        match=match,
        reason=(reason or "")[:500] or None,
        related_transit_id=related_transit_id,
        worker=worker,
        raised_at=now,
        settled_at=now if status == "confirmed" else None,
        published=None,
        handled_by=None,
        handled_at=None,
        reject_reason=None,
        outcome=None,
        note=None,
    )


def hotlist_alert(
    transit: Transit, match: HotlistMatch, *, status: str, worker: str, now: datetime
) -> Alert:
    """A transit's hotlist alert for its best match."""
    return new_alert(
        transit,
        kind="hotlist",
        status=status,
        worker=worker,
        now=now,
        action=match.action,
        priority=match.priority,
        read_plate=match.read_plate,
        score=match.score,
        match=match.match,
        reason=match.reason,
        list_id=match.list_id,
        list_name=match.list_name,
        list_kind=match.kind,
        entry_id=match.entry_id,
        entry_plate=match.entry_plate,
    )


def cooled(connection: Connection, alert: Alert, cooldown: float) -> bool:
    """Whether an alert of the same kind and key (the entry's plate, else the read plate) was
    raised at the same station within ``cooldown`` seconds of this one (withdrawn ones aside)."""
    window = timedelta(seconds=cooldown)
    key = (
        alerts.c.entry_plate == alert.entry_plate
        if alert.entry_plate
        else alerts.c.plate == alert.plate
    )
    return bool(
        connection.scalar(
            sa.select(sa.func.count())
            .select_from(alerts)
            .where(
                alerts.c.station_id == alert.station_id,
                alerts.c.kind == alert.kind,
                key,
                alerts.c.status != "withdrawn",
                alerts.c.id != alert.id,
                alerts.c.time > alert.time - window,
                alerts.c.time < alert.time + window,
            )
        )
    )


def raise_alert(connection: Connection, alert: Alert, *, cooldown: float) -> Alert | None:
    """Store a new alert; None when the vehicle has one of this kind already, or the cooldown
    holds it back."""
    if connection.scalar(sa.select(alerts.c.id).where(alerts.c.id == alert.id)) is not None:
        return None
    if cooled(connection, alert, cooldown):
        return None
    values = {f.name: getattr(alert, f.name) for f in dataclasses.fields(Alert)}
    values.pop("steps")
    values.pop("evidence_sha256")
    connection.execute(alerts.insert().values(values))
    return alert


def settle(
    connection: Connection,
    transit: Transit,
    candidate: Alert | None,
    *,
    kind: str,
    cooldown: float,
    now: datetime,
) -> Settled | None:
    """The vehicle's transit settles its alert of ``kind``: a provisional one is confirmed (it
    takes the transit's plate and ``candidate``'s match) or, with no ``candidate``, withdrawn;
    without one, ``candidate`` is raised confirmed (cooldown permitting). None: nothing
    changed (no alert and none due, or settled before: a redelivered `end`)."""
    existing = find(connection, alert_id(transit.id, kind))
    if existing is None:
        if candidate is None:
            return None
        raised = raise_alert(connection, candidate, cooldown=cooldown)
        return Settled(raised, "raised") if raised is not None else None
    if existing.status != "provisional":
        return None
    if candidate is None:
        values: dict[str, Any] = {"status": "withdrawn", "settled_at": now}
        values["note"] = existing.note or WITHDRAWN_REASON
        change: Change = "withdrawn"
    else:
        values = {
            "status": "confirmed",
            "settled_at": now,
            "plate": transit.plate,
            "time": utc(transit.time),
            "list_id": candidate.list_id,
            "list_name": candidate.list_name,
            "list_kind": candidate.list_kind,
            "action": candidate.action,
            "priority": candidate.priority,
            "entry_id": candidate.entry_id,
            "entry_plate": candidate.entry_plate,
            "read_plate": candidate.read_plate,
            "score": candidate.score,
            "match": candidate.match,
            "reason": candidate.reason,
            "related_transit_id": candidate.related_transit_id,
        }
        change = "confirmed"
    connection.execute(alerts.update().where(alerts.c.id == existing.id).values(values))
    updated = find(connection, existing.id)
    assert updated is not None
    return Settled(updated, change)


def withdraw(connection: Connection, id_: str, reason: str, *, now: datetime) -> Alert | None:
    """Withdraw a provisional alert whose vehicle came to no transit (nothing read at its end,
    an event Frigate does not know, a forged one); None when it is not provisional."""
    updated = connection.execute(
        alerts.update()
        .where(alerts.c.id == id_, alerts.c.status == "provisional")
        .values(status="withdrawn", settled_at=now, note=reason)
    )
    return find(connection, id_) if updated.rowcount else None


def stale_provisional(connection: Connection, worker: str, before: datetime) -> list[str]:
    """This worker's provisional alerts raised before ``before`` whose transit was never stored:
    their events are long over (the engine stopped while they were in view)."""
    query = sa.select(alerts.c.id).where(
        alerts.c.worker == worker,
        alerts.c.status == "provisional",
        alerts.c.raised_at < before,
        ~sa.exists().where(transits.c.id == alerts.c.transit_id),
    )
    return list(connection.scalars(query))


def apply_step(
    connection: Connection,
    id_: str,
    step: str,
    *,
    actor: str,
    acting_user: str | None,
    reason: str | None = None,
    outcome: str | None = None,
    note: str | None = None,
    now: datetime | None = None,
) -> Alert:
    """One step of an alert's handling, recorded with who and when: `AlertNotFound`, or
    `AlertStepRefused` when it does not follow the alert's state (or the alert was withdrawn);
    `AlertError` for a reject without its reason or a close without its outcome."""
    if step not in TRANSITIONS:
        raise AlertError(f"step must be one of {', '.join(TRANSITIONS)}")
    if step == "reject" and reason not in REJECT_REASONS:
        raise AlertError(f"a rejection needs its reason: one of {', '.join(REJECT_REASONS)}")
    if step == "close" and outcome not in OUTCOMES:
        raise AlertError(f"closing needs the outcome: one of {', '.join(OUTCOMES)}")
    if step != "reject":
        reason = None
    if step != "close":
        outcome = None
    note = (note or "").strip()[:MAX_NOTE] or None
    now = now or datetime.now(UTC)
    alert = find(connection, id_)
    if alert is None:
        raise AlertNotFound(f"no alert {id_}")
    allowed, to = TRANSITIONS[step]
    if alert.status == "withdrawn":
        raise AlertStepRefused("the alert was withdrawn: its vehicle's transit does not match")
    if alert.state not in allowed:
        raise AlertStepRefused(f"an alert {alert.state} cannot be given the step {step}")
    values: dict[str, Any] = {
        "state": to,
        "handled_by": (acting_user or actor)[:120],
        "handled_at": now,
    }
    if reason is not None:
        values["reject_reason"] = reason
    if outcome is not None:
        values["outcome"] = outcome
    if note is not None:
        values["note"] = note
    connection.execute(
        alerts.update().where(alerts.c.id == alert.id, alerts.c.state == alert.state).values(values)
    )
    connection.execute(
        alert_steps.insert().values(
            alert_id=alert.id,
            time=now,
            step=step,
            actor=actor[:120],
            acting_user=acting_user[:120] if acting_user else None,
            reason=reason,
            outcome=outcome,
            note=note,
        )
    )
    updated = find(connection, alert.id)
    assert updated is not None
    return updated


def find(connection: Connection, id_: str) -> Alert | None:
    """An alert with its steps and its evidence's digest; None when there is none."""
    row = connection.execute(_query().where(alerts.c.id == id_)).one_or_none()
    if row is None:
        return None
    steps = tuple(
        _step_from_row(step._mapping)
        for step in connection.execute(
            sa.select(alert_steps).where(alert_steps.c.alert_id == id_).order_by(alert_steps.c.id)
        )
    )
    return dataclasses.replace(alert_from_row(row._mapping), steps=steps)


def listing(
    connection: Connection,
    *,
    open_only: bool = False,
    station_id: str | None = None,
    list_id: str | None = None,
    kind: str | None = None,
    state: str | None = None,
    outcome: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 200,
) -> list[Alert]:
    """Alerts, the most urgent first (priority), then the newest: the operators' queue when
    ``open_only`` (not withdrawn, still to act on)."""
    query = _query()
    if open_only:
        query = query.where(alerts.c.status != "withdrawn", alerts.c.state.in_(OPEN_STATES))
    for column, value in (
        (alerts.c.station_id, station_id),
        (alerts.c.list_id, list_id),
        (alerts.c.kind, kind),
        (alerts.c.state, state),
        (alerts.c.outcome, outcome),
    ):
        if value is not None:
            query = query.where(column == value)
    if since is not None:
        query = query.where(alerts.c.time >= utc(since))
    if until is not None:
        query = query.where(alerts.c.time < utc(until))
    query = query.order_by(alerts.c.priority, alerts.c.time.desc(), alerts.c.id).limit(limit)
    return [alert_from_row(row._mapping) for row in connection.execute(query)]


def unpublished(connection: Connection, worker: str, limit: int = 500) -> list[Alert]:
    """This worker's alerts whose current status the broker has not acknowledged, oldest first."""
    query = (
        _query()
        .where(
            alerts.c.worker == worker,
            sa.or_(alerts.c.published.is_(None), alerts.c.published != alerts.c.status),
        )
        .order_by(alerts.c.raised_at, alerts.c.id)
        .limit(limit)
    )
    return [alert_from_row(row._mapping) for row in connection.execute(query)]


def mark_published(connection: Connection, id_: str, status: str) -> None:
    connection.execute(alerts.update().where(alerts.c.id == id_).values(published=status))


def keep_frame(connection: Connection, id_: str, jpeg: bytes, source: str, *, now: datetime) -> str:
    """Keep the alert's full frame with its SHA-256, computed now, at capture; the digest.
    The first frame kept stays: evidence is never replaced."""
    digest = hashlib.sha256(jpeg).hexdigest()
    if connection.scalar(sa.select(alert_frames.c.alert_id).where(alert_frames.c.alert_id == id_)):
        return str(
            connection.scalar(
                sa.select(alert_frames.c.sha256).where(alert_frames.c.alert_id == id_)
            )
        )
    connection.execute(
        alert_frames.insert().values(
            alert_id=id_, jpeg=jpeg, sha256=digest, source=source, captured_at=now
        )
    )
    return digest


def frame(connection: Connection, id_: str) -> tuple[bytes, str, str, datetime] | None:
    """The alert's evidence frame: (JPEG, SHA-256 at capture, source, captured at)."""
    row = connection.execute(
        sa.select(
            alert_frames.c.jpeg,
            alert_frames.c.sha256,
            alert_frames.c.source,
            alert_frames.c.captured_at,
        ).where(alert_frames.c.alert_id == id_)
    ).one_or_none()
    if row is None:
        return None
    return bytes(row.jpeg), row.sha256, row.source, utc(row.captured_at)


def changed_since(connection: Connection, since: datetime, limit: int = 500) -> list[Alert]:
    """Alerts raised, settled or handled at or after ``since`` (the panel's live queue)."""
    moment = utc(since)
    query = (
        _query()
        .where(
            sa.or_(
                alerts.c.raised_at >= moment,
                alerts.c.settled_at >= moment,
                alerts.c.handled_at >= moment,
            )
        )
        .order_by(alerts.c.raised_at, alerts.c.id)
        .limit(limit)
    )
    return [alert_from_row(row._mapping) for row in connection.execute(query)]


def of_transits(connection: Connection, transit_ids: Sequence[str]) -> list[Alert]:
    """The alerts of these transits (the evidence ZIP's)."""
    if not transit_ids:
        return []
    query = _query().where(alerts.c.transit_id.in_(list(transit_ids))).order_by(alerts.c.time)
    return [alert_from_row(row._mapping) for row in connection.execute(query)]


def _query() -> sa.Select[Any]:
    return sa.select(alerts, alert_frames.c.sha256.label("evidence_sha256")).select_from(
        alerts.outerjoin(alert_frames, alert_frames.c.alert_id == alerts.c.id)
    )


def alert_from_row(row: Any) -> Alert:
    def moment(name: str) -> datetime | None:
        value = row[name]
        return utc(value) if value is not None else None

    return Alert(
        id=row["id"],
        kind=row["kind"],
        status=row["status"],
        state=row["state"],
        transit_id=row["transit_id"],
        event_id=row["event_id"],
        camera=row["camera"],
        station_id=row["station_id"],
        time=utc(row["time"]),
        plate=row["plate"],
        list_id=row["list_id"],
        list_name=row["list_name"],
        list_kind=row["list_kind"],
        action=row["action"],
        priority=row["priority"],
        entry_id=row["entry_id"],
        entry_plate=row["entry_plate"],
        read_plate=row["read_plate"],
        score=row["score"],
        match=row["match"],
        reason=row["reason"],
        related_transit_id=row["related_transit_id"],
        worker=row["worker"],
        raised_at=utc(row["raised_at"]),
        settled_at=moment("settled_at"),
        published=row["published"],
        handled_by=row["handled_by"],
        handled_at=moment("handled_at"),
        reject_reason=row["reject_reason"],
        outcome=row["outcome"],
        note=row["note"],
        evidence_sha256=row["evidence_sha256"],
    )


def _step_from_row(row: Any) -> AlertStep:
    return AlertStep(
        time=utc(row["time"]),
        step=row["step"],
        actor=row["actor"],
        acting_user=row["acting_user"],
        reason=row["reason"],
        outcome=row["outcome"],
        note=row["note"],
    )
