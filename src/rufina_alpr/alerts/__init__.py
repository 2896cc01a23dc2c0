"""Alerts: what the operators and the patrols act on, one per vehicle and kind.

`models` holds the values (an alert, its steps, the kinds, states and allowed steps), `ledger`
the store's side (raising with the cooldown, settling by the transit, handling, the queue, the
outbox, the evidence frames). Hotlist hits, plates not authorised at a gate and impossible
journeys are all alerts (`docs/hotlists.md`, "Alerts").
"""

from rufina_alpr.alerts.models import (
    KINDS,
    OPEN_STATES,
    OUTCOMES,
    REJECT_REASONS,
    STATES,
    STATUSES,
    STEPS,
    Alert,
    AlertError,
    AlertNotFound,
    AlertStep,
    AlertStepRefused,
    alert_id,
)

__all__ = [
    "KINDS",
    "OPEN_STATES",
    "OUTCOMES",
    "REJECT_REASONS",
    "STATES",
    "STATUSES",
    "STEPS",
    "Alert",
    "AlertError",
    "AlertNotFound",
    "AlertStep",
    "AlertStepRefused",
    "alert_id",
]
