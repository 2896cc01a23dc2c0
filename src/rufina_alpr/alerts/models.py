"""Alert values: an alert and the steps of its handling, the kinds, statuses, states and the
steps allowed from each state, and the errors a refused step raises.

An alert is one vehicle's: its id derives from the vehicle's transit id and the alert's kind, so
a provisional alert raised while the vehicle is in view and the transit that confirms it share
it, and a redelivered `end` cannot raise a second one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, get_args

from rufina_alpr.contract import AlertKind, AlertState, AlertStatus
from rufina_alpr.errors import RufinaError

KINDS: Final[tuple[str, ...]] = get_args(AlertKind)
STATUSES: Final[tuple[str, ...]] = get_args(AlertStatus)
STATES: Final[tuple[str, ...]] = get_args(AlertState)

STEPS: Final[tuple[str, ...]] = ("acknowledge", "accept", "reject", "close")
REJECT_REASONS: Final[tuple[str, ...]] = (
    "misread",
    "wrong_vehicle",
    "plate_cloned",
    "list_out_of_date",
    "other",
)
OUTCOMES: Final[tuple[str, ...]] = ("stopped_checked", "not_found", "fined", "seized", "other")

# step -> (the states it may follow, the state it leads to)
TRANSITIONS: Final[dict[str, tuple[frozenset[str], str]]] = {
    "acknowledge": (frozenset({"new"}), "acknowledged"),
    "accept": (frozenset({"new", "acknowledged"}), "accepted"),
    "reject": (frozenset({"new", "acknowledged", "accepted"}), "rejected"),
    "close": (frozenset({"accepted"}), "closed"),
}
OPEN_STATES: Final = frozenset({"new", "acknowledged", "accepted"})
"""States where someone still has to act on the alert (the panel's queue)."""
MAX_NOTE: Final = 500
_NAMESPACE: Final = uuid.UUID("0b0c8f3e-6a53-4a0e-9a51-2f6f1d3b7c11")


class AlertError(RufinaError, ValueError):
    """A step the alerts refuse: the caller's mistake."""


class AlertNotFound(AlertError):
    """No alert with that id."""


class AlertStepRefused(AlertError):
    """The step does not follow the alert's state (or the alert was withdrawn)."""


def alert_id(transit_id: str, kind: str) -> str:
    """The alert of a vehicle's transit, of one kind: the same whoever raises it, whenever."""
    return str(uuid.uuid5(_NAMESPACE, f"{kind}:{transit_id}"))


@dataclass(frozen=True, slots=True)
class AlertStep:
    """One step of an alert's handling."""

    time: datetime
    step: str
    actor: str
    acting_user: str | None
    reason: str | None
    outcome: str | None
    note: str | None

    @property
    def by(self) -> str:
        """The person: who the token acted for, else the token's user."""
        return self.acting_user or self.actor

    def as_json(self) -> dict[str, Any]:
        return {
            "time": self.time.isoformat(timespec="milliseconds"),
            "step": self.step,
            "by": self.by,
            "actor": self.actor,
            "reason": self.reason,
            "outcome": self.outcome,
            "note": self.note,
        }


@dataclass(frozen=True, slots=True)
class Alert:
    """An alert as stored. ``plate``: the vehicle's plate as last read (provisional: in view;
    else its transit's); ``read_plate``: the text that matched; ``entry_plate``: the list's."""

    id: str
    kind: str
    status: str
    state: str
    transit_id: str
    event_id: str
    camera: str
    station_id: str
    time: datetime
    plate: str
    list_id: str | None
    list_name: str | None
    list_kind: str | None
    action: str
    priority: int
    entry_id: int | None
    entry_plate: str | None
    read_plate: str
    score: float
    match: str
    reason: str | None
    related_transit_id: str | None
    worker: str
    raised_at: datetime
    settled_at: datetime | None
    published: str | None
    handled_by: str | None
    handled_at: datetime | None
    reject_reason: str | None
    outcome: str | None
    note: str | None
    steps: tuple[AlertStep, ...] = ()
    evidence_sha256: str | None = None

    @property
    def open(self) -> bool:
        return self.status != "withdrawn" and self.state in OPEN_STATES
