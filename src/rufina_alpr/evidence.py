"""Evidence export: one ZIP per request for handing transits to the police.

The archive holds, per transit, its payload (``transit.json``: the plate as corrected, the plate as
read in ``original_plate``), the plate crop (``crop.jpg``), every OCR read (``reads.json``), the
reference to Frigate's full snapshot (``snapshot.json``: the event id and Frigate's URL paths),
its plate's corrections (``corrections.json``, when corrected: the plate as read and every
correction, who, when and why) and its alerts (``alerts.json``, when it has any: kind, status,
state, every step of their handling with who and when, the rejection's reason or the outcome),
each with the full frame kept when it was raised (``alerts/<alert id>.jpg``) and that frame's
SHA-256 recorded at capture. Then ``manifest.json`` and ``manifest.csv`` listing every file with
its size and SHA-256 (of the bytes in the archive; ``manifest.json`` gives a frame's digest at
capture beside it, and whether they agree), and ``SHA256SUMS`` (the ``sha256sum -c`` format)
covering every file including both manifests.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from rufina_alpr import contract
from rufina_alpr.alerts import Alert, ledger
from rufina_alpr.alerts.payloads import alert_json
from rufina_alpr.csv_cells import safe_mapping
from rufina_alpr.store import Store, crops, reads, transits
from rufina_alpr.store.corrections import corrections_of

MANIFEST_FIELDS: Final = ("path", "bytes", "sha256", "transit_id", "kind")
# Archive members get a fixed time: the same evidence gives the same bytes (reproducible hashes).
_ZIP_TIME: Final = (2020, 1, 1, 0, 0, 0)


@dataclass(frozen=True, slots=True)
class EvidenceItem:
    """What the archive holds of one transit."""

    transit_id: str
    event_id: str
    payload: dict[str, Any]
    crop_jpeg: bytes | None
    reads: list[dict[str, Any]]
    corrections: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    frames: list[EvidenceFrame] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class EvidenceFrame:
    """The full frame kept when an alert was raised, with its SHA-256 computed at capture."""

    alert_id: str
    jpeg: bytes
    sha256: str
    source: str
    captured_at: datetime

    @property
    def path(self) -> str:
        """Its name inside the transit's folder."""
        return f"alerts/{self.alert_id}.jpg"


def frigate_paths(event_id: str) -> dict[str, str]:
    """Frigate's HTTP paths for an event's images (the full snapshot stays in Frigate)."""
    quoted = quote(event_id, safe="")
    return {
        "snapshot": f"/api/events/{quoted}/snapshot.jpg",
        "snapshot_clean": f"/api/events/{quoted}/snapshot-clean.webp",
        "thumbnail": f"/api/events/{quoted}/thumbnail.jpg",
        "event": f"/api/events/{quoted}",
    }


def load_items(store: Store, transit_ids: list[str], payload: Any) -> list[EvidenceItem]:
    """The transits (in the order given; unknown ids skipped) with their crops and reads.

    ``payload`` builds a transit's contract payload (the engine's ``transit_payload``).
    """
    items: list[EvidenceItem] = []
    for transit_id in transit_ids:
        transit = store.transit(transit_id)
        if transit is None:
            continue
        with store.engine.connect() as connection:
            rows = connection.execute(
                sa.select(
                    reads.c.text,
                    reads.c.confidence,
                    reads.c.region,
                    reads.c.source,
                    reads.c.frame_time,
                )
                .where(reads.c.transit_id == transit_id)
                .order_by(reads.c.id)
            ).all()
            corrections = [c.as_json() for c in corrections_of(connection, transit.id)]
            alerts, frames = _alerts(connection, transit.id)
        items.append(
            EvidenceItem(
                transit_id=transit.id,
                event_id=transit.event_id,
                payload=payload(transit),
                crop_jpeg=transit.crop_jpeg,
                reads=[
                    {
                        "text": row.text,
                        "confidence": round(float(row.confidence), 4),
                        "region": row.region,
                        "source": row.source,
                        "frame_time": row.frame_time,
                    }
                    for row in rows
                ],
                corrections=corrections,
                alerts=alerts,
                frames=frames,
            )
        )
    return items


def _alerts(
    connection: Connection, transit_id: str
) -> tuple[list[dict[str, Any]], list[EvidenceFrame]]:
    """A transit's alerts (with the steps of their handling) and their evidence frames."""
    described: list[dict[str, Any]] = []
    frames: list[EvidenceFrame] = []
    for listed in ledger.of_transits(connection, [transit_id]):
        alert = ledger.find(connection, listed.id) or listed
        kept = ledger.frame(connection, alert.id)
        frame = None
        if kept is not None:
            jpeg, digest, source, captured_at = kept
            frame = EvidenceFrame(alert.id, jpeg, digest, source, captured_at)
            frames.append(frame)
        described.append(alert_record(alert, frame))
    return described, frames


def alert_record(alert: Alert, frame: EvidenceFrame | None) -> dict[str, Any]:
    """An alert as the evidence gives it (as the API does: what raised it, what became of it,
    who handled it), with its frame's file and the SHA-256 recorded at capture."""
    record = alert_json(alert, None)
    for shown in ("open", "station_name", "evidence_sha256"):
        record.pop(shown)
    record["frame"] = (
        None
        if frame is None
        else {
            "path": frame.path,
            "sha256_at_capture": frame.sha256,
            "source": frame.source,
            "captured_at": contract.iso_time(frame.captured_at),
        }
    )
    return record


def has_crop(store: Store, transit_id: str) -> bool:
    with store.engine.connect() as connection:
        return (
            connection.scalar(sa.select(crops.c.transit_id).where(crops.c.transit_id == transit_id))
            is not None
        )


def transit_exists(store: Store, transit_id: str) -> bool:
    with store.engine.connect() as connection:
        return (
            connection.scalar(sa.select(transits.c.id).where(transits.c.id == transit_id))
            is not None
        )


def _json(value: Any) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True) + "\n").encode()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _entry(
    path: str, data: bytes, transit_id: str | None, kind: str, frame: EvidenceFrame | None
) -> dict[str, Any]:
    """A file of the manifest: its digest of the bytes in the archive and, for an alert's frame,
    the digest recorded when it was captured (the same, unless the frame changed since)."""
    entry: dict[str, Any] = {
        "path": path,
        "bytes": len(data),
        "sha256": sha256(data),
        "transit_id": transit_id,
        "kind": kind,
    }
    if frame is not None:
        entry["sha256_at_capture"] = frame.sha256
    return entry


def build_zip(
    items: list[EvidenceItem],
    *,
    generated_at: datetime,
    generated_by: str,
    reason: str,
    case_number: str | None,
    query: dict[str, Any],
    frigate_url: str,
) -> bytes:
    """The evidence archive as bytes."""
    files: list[tuple[str, bytes, str | None, str]] = []
    captured: dict[str, EvidenceFrame] = {}
    for item in items:
        folder = f"transits/{item.transit_id}"
        files.append((f"{folder}/transit.json", _json(item.payload), item.transit_id, "transit"))
        if item.crop_jpeg is not None:
            files.append((f"{folder}/crop.jpg", item.crop_jpeg, item.transit_id, "crop"))
        files.append((f"{folder}/reads.json", _json(item.reads), item.transit_id, "reads"))
        paths = frigate_paths(item.event_id)
        snapshot = {
            "event_id": item.event_id,
            "frigate_url": frigate_url.rstrip("/"),
            "paths": paths,
            "snapshot_url": frigate_url.rstrip("/") + paths["snapshot"],
            "note": "The full frame is kept by Frigate under its own retention.",
        }
        files.append((f"{folder}/snapshot.json", _json(snapshot), item.transit_id, "snapshot"))
        if item.corrections:
            corrected = {
                "plate": item.payload.get("plate"),
                "original_plate": item.payload.get("original_plate"),
                "corrections": item.corrections,
            }
            files.append(
                (f"{folder}/corrections.json", _json(corrected), item.transit_id, "corrections")
            )
        if item.alerts:
            files.append((f"{folder}/alerts.json", _json(item.alerts), item.transit_id, "alerts"))
        for frame in item.frames:
            path = f"{folder}/{frame.path}"
            files.append((path, frame.jpeg, item.transit_id, "alert_frame"))
            captured[path] = frame
    entries = [
        _entry(path, data, transit_id, kind, captured.get(path))
        for path, data, transit_id, kind in files
    ]
    manifest = {
        "v": contract.CONTRACT_VERSION,
        "generated_at": contract.iso_time(generated_at),
        "generated_by": generated_by,
        "reason": reason,
        "case_number": case_number,
        "query": query,
        "transits": [item.transit_id for item in items],
        "hash": "sha256",
        "files": entries,
        "frames": [
            {
                "path": path,
                "alert_id": frame.alert_id,
                "sha256_at_capture": frame.sha256,
                "source": frame.source,
                "captured_at": contract.iso_time(frame.captured_at),
                "intact": sha256(frame.jpeg) == frame.sha256,
            }
            for path, frame in captured.items()
        ],
    }
    manifest_json = _json(manifest)
    text = io.StringIO()
    writer = csv.DictWriter(
        text, fieldnames=MANIFEST_FIELDS, lineterminator="\n", extrasaction="ignore"
    )
    writer.writeheader()
    for entry in entries:
        writer.writerow(safe_mapping({**entry, "transit_id": entry["transit_id"] or ""}))
    manifest_csv = text.getvalue().encode()
    everything = [(path, data) for path, data, _, _ in files]
    everything += [("manifest.json", manifest_json), ("manifest.csv", manifest_csv)]
    sums = "".join(f"{sha256(data)}  {path}\n" for path, data in everything).encode()
    everything.append(("SHA256SUMS", sums))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path, data in everything:
            info = zipfile.ZipInfo(path, date_time=_ZIP_TIME)
            info.compress_type = (
                zipfile.ZIP_STORED if path.endswith(".jpg") else zipfile.ZIP_DEFLATED
            )
            archive.writestr(info, data)
    return buffer.getvalue()
