"""The data subject's copy (art. 15 GDPR): what `subject.gather` found about a plate, as a ZIP of
CSV, JSON and images with a manifest of their SHA-256 and a cover letter in Italian and English
filled with the controller's particulars. It never names the employees who consulted or handled
the data (CJEU C-579/21, Pankki S), nor the hotlist entries (art. 23 GDPR: the admin decides).
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import jinja2

from rufina_alpr import contract
from rufina_alpr.alerts import Alert
from rufina_alpr.csv_cells import safe_mapping
from rufina_alpr.evidence import sha256
from rufina_alpr.privacy.requests import SubjectRequest
from rufina_alpr.privacy.settings import DATA_KINDS, PrivacySettings
from rufina_alpr.privacy.subject import SubjectData
from rufina_alpr.store.schema import utc
from rufina_alpr.transits import Transit

TRANSIT_FIELDS: Final = (
    "id",
    "time",
    "station",
    "station_name",
    "camera",
    "direction",
    "vehicle",
    "plate",
    "display",
    "original_plate",
    "country",
    "confidence",
    "reads",
    "has_crop",
)
_LETTERS: Final = Path(__file__).resolve().parent / "letters"
_ZIP_TIME: Final = (2020, 1, 1, 0, 0, 0)


def _json(value: Any) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True) + "\n").encode()


def _transit_record(
    transit: Transit, data: SubjectData, station_names: Mapping[str, str]
) -> dict[str, Any]:
    record = contract.transit_payload(transit, station_names.get(transit.station_id))
    record.pop("v")
    record["read_texts"] = list(data.reads.get(transit.id, ()))
    return record


def _alert_record(alert: Alert, frame: tuple[bytes, str, str, datetime] | None) -> dict[str, Any]:
    """An alert for the subject: what raised it and what became of it, when; no operator."""
    return {
        "id": alert.id,
        "kind": alert.kind,
        "status": alert.status,
        "state": alert.state,
        "transit_id": alert.transit_id,
        "station": alert.station_id,
        "time": contract.iso_time(alert.time),
        "plate": alert.plate,
        "read_plate": alert.read_plate,
        "entry_plate": alert.entry_plate,
        "list": alert.list_id,
        "list_name": alert.list_name,
        "list_kind": alert.list_kind,
        "action": alert.action,
        "match": alert.match,
        "score": alert.score,
        "reason": alert.reason,
        "outcome": alert.outcome,
        "reject_reason": alert.reject_reason,
        "handled_at": contract.iso_time(alert.handled_at) if alert.handled_at else None,
        "steps": [
            {"time": contract.iso_time(s.time), "step": s.step, "reason": s.reason}
            | {"outcome": s.outcome, "note": s.note}
            for s in alert.steps
        ],
        "frame": None
        if frame is None
        else {
            "path": f"frames/{alert.id}.jpg",
            "sha256_at_capture": frame[1],
            "captured_at": contract.iso_time(frame[3]),
        },
    }


def _letters(
    data: SubjectData, settings: PrivacySettings, request: SubjectRequest, now: datetime
) -> dict[str, bytes]:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_LETTERS),
        autoescape=False,  # Markdown, not HTML
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    values = {
        "c": settings.controller,
        "request": request,
        "plate": data.plate,
        "received": request.received_at.date().isoformat(),
        "generated": utc(now).date().isoformat(),
        "counts": data.counts(),
        "retention": {kind: f"{getattr(settings.retention, kind):g}" for kind in DATA_KINDS},
    }
    return {
        "lettera_accesso.md": environment.get_template("lettera_accesso.md.j2")
        .render(values)
        .encode(),
        "access_letter.en.md": environment.get_template("access_letter.en.md.j2")
        .render(values)
        .encode(),
    }


def access_zip(
    data: SubjectData,
    settings: PrivacySettings,
    request: SubjectRequest,
    now: datetime,
    *,
    station_names: Mapping[str, str] | None = None,
) -> bytes:
    """The subject's copy (art. 15(3)): their transits (CSV and JSON, with reads), crops, alerts
    with their steps and frames, corrections, the audit entries that name the plate (when, what,
    why, how many: no operator), the cover letter in Italian and English, and a manifest with the
    SHA-256 of every file. Hotlist entries stay out (art. 23: the letter has a placeholder)."""
    names = station_names or {}
    records = [_transit_record(t, data, names) for t in data.transits]
    table = io.StringIO()
    writer = csv.DictWriter(
        table, fieldnames=TRANSIT_FIELDS, lineterminator="\n", extrasaction="ignore"
    )
    writer.writeheader()
    writer.writerows(safe_mapping(r) for r in records)
    files: dict[str, bytes] = {
        "transits.csv": table.getvalue().encode(),
        "transits.json": _json(records),
    }
    files |= {f"crops/{t.id}.jpg": t.crop_jpeg for t in data.transits if t.crop_jpeg is not None}
    files |= {f"frames/{alert_id}.jpg": frame[0] for alert_id, frame in data.frames.items()}
    files["alerts.json"] = _json([_alert_record(a, data.frames.get(a.id)) for a in data.alerts])
    files["corrections.json"] = _json(
        [
            {"transit_id": transit_id, "time": contract.iso_time(c.time)}
            | {"previous_plate": c.previous_plate, "plate": c.plate, "reason": c.reason}
            for transit_id, found in data.corrections.items()
            for c in found
        ]
    )
    files["audit.json"] = _json(
        [
            {"time": contract.iso_time(e.time), "action": e.action}
            | {"reason": e.reason, "results": e.results}
            for e in data.audit
        ]
    )
    files |= _letters(data, settings, request, now)
    counts = data.counts()
    counts.pop("hotlist_entries")
    manifest = {
        "request": request.id,
        "reference": request.reference,
        "plate": data.plate,
        "generated_at": contract.iso_time(utc(now)),
        "counts": counts,
        "hash": "sha256",
        "files": [
            {"path": path, "bytes": len(content), "sha256": sha256(content)}
            for path, content in files.items()
        ],
    }
    files["manifest.json"] = _json(manifest)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path, content in files.items():
            info = zipfile.ZipInfo(path, date_time=_ZIP_TIME)
            info.compress_type = (
                zipfile.ZIP_STORED if path.endswith(".jpg") else zipfile.ZIP_DEFLATED
            )
            archive.writestr(info, content)
    return buffer.getvalue()
