"""Evidence export: one ZIP per request for handing transits to the police.

The archive holds, per transit, its payload (``transit.json``), the plate crop (``crop.jpg``), every
OCR read (``reads.json``) and the reference to Frigate's full snapshot (``snapshot.json``: the event
id and Frigate's URL paths, since the engine keeps no full frames); then ``manifest.json`` and
``manifest.csv`` listing every file with its size and SHA-256, and ``SHA256SUMS`` (the
``sha256sum -c`` format) covering every file including both manifests.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from urllib.parse import quote

import sqlalchemy as sa

from rufina_alpr import contract
from rufina_alpr.csv_cells import safe_mapping
from rufina_alpr.store import Store, crops, reads, transits

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
            )
        )
    return items


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
    entries = [
        {
            "path": path,
            "bytes": len(data),
            "sha256": sha256(data),
            "transit_id": transit_id,
            "kind": kind,
        }
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
    }
    manifest_json = _json(manifest)
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=MANIFEST_FIELDS, lineterminator="\n")
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
