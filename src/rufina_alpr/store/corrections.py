"""An operator's correction of a transit's plate (issue 24).

``transits.plate`` takes the corrected plate, with its display form, country and format worked
out again, so routes, searches and statistics (which all query ``transits.plate``) use it;
``transits.original_plate`` keeps the plate the engine read (set by the first correction, never
changed by a later one); every correction is a row of ``transit_corrections`` (when, from what,
to what, why, who). The caller's connection: the API corrects, re-matches the hotlists and raises
the alert in one transaction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from rufina_alpr.errors import RufinaError
from rufina_alpr.plate_formats import (
    IT_SPECIAL,
    display_form,
    match_italian_format,
    normalize_plate,
    special_series,
)
from rufina_alpr.store.schema import crops, transit_corrections, transits, utc
from rufina_alpr.store.transits import transit_from_row
from rufina_alpr.transits import Transit

MAX_PLATE: Final = 12
MAX_REASON: Final = 500
MAX_ACTOR: Final = 120
_PLATE: Final = re.compile(r"[A-Z0-9]{2,12}")


class CorrectionError(RufinaError, ValueError):
    """A correction the store refuses: the caller's mistake."""


class TransitNotFound(CorrectionError):
    """No transit with that id."""


class PlateUnchanged(CorrectionError):
    """The transit has that plate already."""


@dataclass(frozen=True, slots=True)
class Correction:
    """One correction of a transit's plate."""

    time: datetime
    previous_plate: str
    plate: str
    reason: str
    actor: str
    acting_user: str | None

    @property
    def by(self) -> str:
        """The person: who the token acted for, else the token's user."""
        return self.acting_user or self.actor

    def as_json(self) -> dict[str, Any]:
        return {
            "time": self.time.isoformat(timespec="milliseconds"),
            "previous_plate": self.previous_plate,
            "plate": self.plate,
            "reason": self.reason,
            "by": self.by,
            "actor": self.actor,
            "acting_user": self.acting_user,
        }


def plate_form(plate: str, country: str | None) -> tuple[str, str | None, str | None]:
    """(display, country, format) of a plate an operator typed: an exact Italian layout (or a
    special series) is Italian; anything else keeps a foreign country the engine read (an
    Italian one no longer applies) and has no format. The fusion's rules without its votes:
    the operator looked at the plate."""
    match = match_italian_format(plate)
    if match is not None and match.exact:
        fmt: str | None = match.format.name
    elif special_series(plate):
        fmt = IT_SPECIAL.name
    else:
        return display_form(plate, None), (country if country != "IT" else None), None
    return display_form(plate, fmt), "IT", fmt


def _transit(connection: Connection, transit_id: str) -> Transit | None:
    row = connection.execute(
        sa.select(transits, crops.c.jpeg)
        .select_from(transits.outerjoin(crops, crops.c.transit_id == transits.c.id))
        .where(transits.c.id == transit_id)
    ).first()
    return transit_from_row(row._mapping) if row else None


def correct_plate(
    connection: Connection,
    transit_id: str,
    plate: str,
    reason: str,
    *,
    actor: str,
    acting_user: str | None,
    now: datetime,
) -> Transit:
    """Correct a transit's plate; the transit as it is now (with its crop).

    `TransitNotFound`; `PlateUnchanged` when the plate (normalised) is the transit's already;
    `CorrectionError` for a plate that is not 2 to 12 letters and digits or a blank reason.
    """
    text = normalize_plate(plate)
    if not _PLATE.fullmatch(text):
        raise CorrectionError(f"a plate is 2 to {MAX_PLATE} letters and digits")
    why = reason.strip()
    if not why:
        raise CorrectionError("a correction needs its reason")
    transit = _transit(connection, transit_id)
    if transit is None:
        raise TransitNotFound(f"no transit {transit_id}")
    if text == transit.plate:
        raise PlateUnchanged("the transit has that plate already")
    display, country, fmt = plate_form(text, transit.country)
    connection.execute(
        transits.update()
        .where(transits.c.id == transit.id)
        .values(
            plate=text,
            display=display,
            country=country,
            format=fmt,
            # The engine's read: kept by the first correction, never overwritten by a later one.
            original_plate=transit.original_plate or transit.plate,
        )
    )
    connection.execute(
        transit_corrections.insert().values(
            transit_id=transit.id,
            time=utc(now),
            previous_plate=transit.plate,
            plate=text,
            reason=why[:MAX_REASON],
            actor=actor[:MAX_ACTOR],
            acting_user=acting_user[:MAX_ACTOR] if acting_user else None,
        )
    )
    updated = _transit(connection, transit.id)
    assert updated is not None
    return updated


def corrections_of(connection: Connection, transit_id: str) -> list[Correction]:
    """A transit's corrections, oldest first."""
    rows = connection.execute(
        sa.select(transit_corrections)
        .where(transit_corrections.c.transit_id == transit_id)
        .order_by(transit_corrections.c.id)
    )
    return [
        Correction(
            time=utc(row.time),
            previous_plate=row.previous_plate,
            plate=row.plate,
            reason=row.reason,
            actor=row.actor,
            acting_user=row.acting_user,
        )
        for row in rows
    ]
