"""Correcting a read (issue 24): the store's correction (`store.corrections`), the transit's
hotlist matches again on the corrected plate, its ``hotlist`` summary and the alert a match
raises, in one transaction; and a transit read with its corrections. Synchronous: the API runs
them on the database thread."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from rufina_alpr.alerts import Alert, ledger
from rufina_alpr.hotlists import HotlistMatch, Hotlists, hotlist_summary
from rufina_alpr.store import Store, hotlist_matches, transits
from rufina_alpr.store.corrections import (
    Correction,
    PlateUnchanged,
    TransitNotFound,
    correct_plate,
    corrections_of,
)
from rufina_alpr.transits import Transit


@dataclasses.dataclass(frozen=True, slots=True)
class CorrectedRead:
    """A transit after its correction: the plate it had, its corrections, the alert raised."""

    transit: Transit
    previous_plate: str
    corrections: list[Correction]
    alert: Alert | None


def with_corrections(store: Store, transit_id: str) -> tuple[Transit, list[Correction]]:
    """A transit and its corrections, read together."""
    found = store.transit(transit_id)
    if found is None:
        raise TransitNotFound(f"no transit {transit_id}")
    with store.engine.connect() as connection:
        return found, corrections_of(connection, transit_id)


def correct_read(
    store: Store,
    hotlists: Hotlists,
    transit_id: str,
    plate: str,
    reason: str,
    *,
    actor: str,
    acting_user: str | None,
    cooldown: float,
) -> CorrectedRead:
    """The correction, the transit's hotlist matches again (the old ones go), its ``hotlist``
    summary and the alert a match raises, in one transaction."""
    now = datetime.now(UTC)
    before = store.transit(transit_id)
    if before is None:
        raise TransitNotFound(f"no transit {transit_id}")
    if plate == before.plate:
        raise PlateUnchanged("the transit has that plate already")
    # The corrected plate alone: the alternatives are the engine's reads of the old one.
    matches = hotlists.match(plate, (), before.station_id, before.time)
    with store.engine.begin() as connection:
        corrected = correct_plate(
            connection, transit_id, plate, reason, actor=actor, acting_user=acting_user, now=now
        )
        alert = _rematch(
            connection,
            corrected,
            matches,
            hotlists=hotlists,
            worker=store.worker,
            cooldown=cooldown,
            now=now,
        )
        summary = hotlist_summary(matches)
        connection.execute(
            transits.update().where(transits.c.id == corrected.id).values(hotlist=summary)
        )
        return CorrectedRead(
            transit=dataclasses.replace(corrected, hotlist=summary),
            previous_plate=before.plate,
            corrections=corrections_of(connection, transit_id),
            alert=alert,
        )


def _rematch(
    connection: Connection,
    transit: Transit,
    matches: list[HotlistMatch],
    *,
    hotlists: Hotlists,
    worker: str,
    cooldown: float,
    now: datetime,
) -> Alert | None:
    """Replace the transit's recorded matches with the corrected plate's; raise a confirmed
    hotlist alert for the best match that alerts (None: none alerts, the vehicle has its
    hotlist alert already, or the cooldown holds it back)."""
    connection.execute(sa.delete(hotlist_matches).where(hotlist_matches.c.transit_id == transit.id))
    alerting = next((m for m in matches if m.alerts), None)
    raised = None
    if alerting is not None:
        raised = ledger.raise_alert(
            connection,
            ledger.hotlist_alert(transit, alerting, status="confirmed", worker=worker, now=now),
            cooldown=cooldown,
        )
    hotlists.record_matches(
        connection,
        transit.id,
        transit.station_id,
        transit.time,
        matches,
        alerted_entry=raised.entry_id if raised is not None else None,
    )
    return raised
