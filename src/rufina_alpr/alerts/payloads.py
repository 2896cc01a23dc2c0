"""An alert as the API and the panel's live stream give it (JSON): one shape for both, so the
queue the panel loads and the alerts its stream sends agree."""

from __future__ import annotations

from typing import Any

from rufina_alpr.alerts.models import Alert
from rufina_alpr.contract import iso_time


def alert_json(alert: Alert, station_name: str | None) -> dict[str, Any]:
    """An alert as the API gives it (its steps when read one by one)."""
    return {
        "id": alert.id,
        "kind": alert.kind,
        "status": alert.status,
        "state": alert.state,
        "open": alert.open,
        "transit_id": alert.transit_id,
        "event_id": alert.event_id,
        "camera": alert.camera,
        "station": alert.station_id,
        "station_name": station_name or alert.station_id,
        "time": iso_time(alert.time),
        "plate": alert.plate,
        "list": alert.list_id,
        "list_name": alert.list_name,
        "list_kind": alert.list_kind,
        "action": alert.action,
        "priority": alert.priority,
        "entry_plate": alert.entry_plate,
        "read_plate": alert.read_plate,
        "score": alert.score,
        "match": alert.match,
        "reason": alert.reason,
        "related_transit_id": alert.related_transit_id,
        "raised_at": iso_time(alert.raised_at),
        "settled_at": iso_time(alert.settled_at) if alert.settled_at else None,
        "handled_by": alert.handled_by,
        "handled_at": iso_time(alert.handled_at) if alert.handled_at else None,
        "reject_reason": alert.reject_reason,
        "outcome": alert.outcome,
        "note": alert.note,
        "evidence_sha256": alert.evidence_sha256,
        "steps": [step.as_json() for step in alert.steps],
    }
