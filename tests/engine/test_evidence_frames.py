"""Evidence of a hit (issue 24): the evidence ZIP carries, per transit, its alerts with every step
of their handling, each alert's full frame kept when it was raised with the SHA-256 recorded at
capture (listed in the manifest, the archive's own checksums matching the bytes), and the plate
as read beside its corrections."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient

from rufina_alpr import evidence
from rufina_alpr.alerts import Alert, ledger
from rufina_alpr.config import settings_from_mapping
from rufina_alpr.engine.app import Engine
from rufina_alpr.hotlists import HotlistMatch
from rufina_alpr.recognizer import Recognizer
from rufina_alpr.stations import default_registry_path
from rufina_alpr.store import alert_frames
from rufina_alpr.transits import Transit

from .conftest import api_client
from .factories import a_transit

ADMIN = "frames-admin-token-0123456789abcdef"
OPERATOR = "frames-operator-token-0123456789ab"
REASON = "incident 2026/17 on via Roma"
CROP = b"\xff\xd8\xff\xe0frames-crop\xff\xd9"
FRAME = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40 + b"\xff\xd9"  # a full frame, as kept
START = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)
AS_OPERATOR = {"Authorization": f"Bearer {OPERATOR}"}


def make_transit(station: str, minutes: float, plate: str) -> Transit:
    moment = START + timedelta(minutes=minutes)
    return a_transit(
        station, f"{station}-{minutes}", moment, plate, alternatives=((plate, 0.9),), crop_jpeg=CROP
    )


HIT = make_transit("via_roma_in", 0, "FB123CD")
QUIET = make_transit("pomino_in", 5, "GH456JK")


def stolen_match(plate: str) -> HotlistMatch:
    return HotlistMatch(
        list_id="stolen",
        list_name="Veicoli rubati",
        kind="stolen",
        action="alert",
        priority=1,
        entry_plate=plate,
        read_plate=plate,
        score=1.0,
        match="exact",
        reason="furto denunciato 2026/88",
        notes=None,
        entry_id=None,
    )


@pytest.fixture
async def engine(tmp_path: Path, recognizer: Recognizer) -> AsyncIterator[Engine]:
    settings = settings_from_mapping(
        {
            "data_dir": str(tmp_path),
            "frigate": {"url": "http://frigate.local:5000"},
            "api": {
                "token": ADMIN,
                "users": [{"name": "agente.rossi", "token": OPERATOR, "role": "operator"}],
            },
            "stations_file": str(default_registry_path()),
        }
    )
    running = Engine(settings, recognizer)
    for transit in (HIT, QUIET):
        assert await running.db.run(running.store.add_transit, transit, [])
    yield running
    await running.stop(drain_timeout=0)


@pytest.fixture
async def client(engine: Engine) -> AsyncIterator[TestClient[Any, Any]]:
    async with api_client(engine) as test_client:
        yield test_client


def raise_with_frame(engine: Engine, frame: bytes | None = FRAME) -> tuple[Alert, str | None]:
    """On the database thread: the hit's alert raised, its frame kept, then handled."""
    now = datetime.now(UTC)
    with engine.store.engine.begin() as connection:
        raised = ledger.raise_alert(
            connection,
            ledger.hotlist_alert(
                HIT, stolen_match(HIT.plate), status="confirmed", worker="test", now=now
            ),
            cooldown=300,
        )
        assert raised is not None
        digest = (
            ledger.keep_frame(connection, raised.id, frame, "snapshot_clean", now=now)
            if frame is not None
            else None
        )
    with engine.store.engine.begin() as connection:
        ledger.apply_step(
            connection, raised.id, "acknowledge", actor="agente.rossi", acting_user=None
        )
        ledger.apply_step(
            connection,
            raised.id,
            "accept",
            actor="home-assistant",
            acting_user="Comandante Bianchi",
            note="pattuglia 2 in via Roma",
        )
    return raised, digest


async def export(client: TestClient[Any, Any], transit: Transit) -> dict[str, bytes]:
    response = await client.get(
        f"/api/v1/transits/{transit.id}/evidence",
        headers=AS_OPERATOR,
        params={"reason": REASON},
    )
    assert response.status == 200, await response.text()
    with zipfile.ZipFile(io.BytesIO(await response.read())) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def checked(files: dict[str, bytes]) -> dict[str, Any]:
    """The manifest, after checking that it and SHA256SUMS match every file's bytes."""
    manifest: dict[str, Any] = json.loads(files["manifest.json"])
    listed = {entry["path"]: entry for entry in manifest["files"]}
    assert set(listed) == set(files) - {"manifest.json", "manifest.csv", "SHA256SUMS"}
    for path, entry in listed.items():
        assert hashlib.sha256(files[path]).hexdigest() == entry["sha256"], path
        assert entry["bytes"] == len(files[path])
    sums: dict[str, str] = {}
    for line in files["SHA256SUMS"].decode().splitlines():
        digest, path = line.split("  ", 1)
        sums[path] = digest
    assert set(sums) == set(files) - {"SHA256SUMS"}
    for path, digest in sums.items():
        assert hashlib.sha256(files[path]).hexdigest() == digest, path
    return manifest


async def test_the_alerts_frame_is_in_the_zip_with_its_hash_at_capture(
    client: TestClient[Any, Any], engine: Engine
) -> None:
    alert, digest = await engine.db.run(raise_with_frame, engine)
    assert digest == hashlib.sha256(FRAME).hexdigest()
    files = await export(client, HIT)
    manifest = checked(files)
    folder = f"transits/{HIT.id}"
    frame_path = f"{folder}/alerts/{alert.id}.jpg"
    assert files[frame_path] == FRAME
    assert hashlib.sha256(files[frame_path]).hexdigest() == digest
    (entry,) = [e for e in manifest["files"] if e["path"] == frame_path]
    assert entry["kind"] == "alert_frame" and entry["transit_id"] == HIT.id
    assert entry["sha256"] == entry["sha256_at_capture"] == digest
    assert manifest["frames"] == [
        {
            "path": frame_path,
            "alert_id": alert.id,
            "sha256_at_capture": digest,
            "source": "snapshot_clean",
            "captured_at": manifest["frames"][0]["captured_at"],
            "intact": True,
        }
    ]
    # The alert, what became of it and who handled it.
    (described,) = json.loads(files[f"{folder}/alerts.json"])
    assert (described["id"], described["kind"], described["status"], described["state"]) == (
        alert.id,
        "hotlist",
        "confirmed",
        "accepted",
    )
    assert described["list"] == "stolen" and described["entry_plate"] == HIT.plate
    assert described["handled_by"] == "Comandante Bianchi"
    assert [(s["step"], s["by"], s["actor"]) for s in described["steps"]] == [
        ("acknowledge", "agente.rossi", "agente.rossi"),
        ("accept", "Comandante Bianchi", "home-assistant"),
    ]
    assert described["steps"][1]["note"] == "pattuglia 2 in via Roma"
    assert described["frame"]["path"] == f"alerts/{alert.id}.jpg"
    assert described["frame"]["sha256_at_capture"] == digest
    # The CSV manifest lists the frame too.
    assert frame_path in files["manifest.csv"].decode()
    # A transit without alerts has no alerts file, nor frames.
    quiet = await export(client, QUIET)
    checked(quiet)
    assert not any("alerts" in name for name in quiet)


async def test_an_alert_without_a_frame_is_listed_without_one(
    client: TestClient[Any, Any], engine: Engine
) -> None:
    alert, _ = await engine.db.run(raise_with_frame, engine, None)
    files = await export(client, HIT)
    manifest = checked(files)
    (described,) = json.loads(files[f"transits/{HIT.id}/alerts.json"])
    assert described["id"] == alert.id and described["frame"] is None
    assert manifest["frames"] == []
    assert not any(name.endswith(f"{alert.id}.jpg") for name in files)


async def test_a_frame_changed_since_capture_shows(
    client: TestClient[Any, Any], engine: Engine
) -> None:
    """The archive's checksums are of the bytes it holds; the digest recorded at capture stays
    beside them, so a frame altered in the store after capture does not pass unnoticed."""
    alert, digest = await engine.db.run(raise_with_frame, engine)

    def tamper() -> None:
        with engine.store.engine.begin() as connection:
            connection.execute(
                sa.update(alert_frames)
                .where(alert_frames.c.alert_id == alert.id)
                .values(jpeg=FRAME + b"edited")
            )

    await engine.db.run(tamper)
    manifest = checked(await export(client, HIT))
    (frame,) = manifest["frames"]
    assert frame["sha256_at_capture"] == digest and frame["intact"] is False


async def test_the_read_and_its_corrections_are_exported(
    client: TestClient[Any, Any], engine: Engine
) -> None:
    corrected = await client.patch(
        f"/api/v1/transits/{QUIET.id}",
        headers=AS_OPERATOR,
        json={"plate": "GH456JR", "reason": "the crop shows an R"},
    )
    assert corrected.status == 200, await corrected.text()
    files = await export(client, QUIET)
    checked(files)
    folder = f"transits/{QUIET.id}"
    payload = json.loads(files[f"{folder}/transit.json"])
    assert (payload["plate"], payload["original_plate"]) == ("GH456JR", QUIET.plate)
    history = json.loads(files[f"{folder}/corrections.json"])
    assert (history["plate"], history["original_plate"]) == ("GH456JR", QUIET.plate)
    (only,) = history["corrections"]
    assert (only["previous_plate"], only["plate"], only["by"], only["reason"]) == (
        QUIET.plate,
        "GH456JR",
        "agente.rossi",
        "the crop shows an R",
    )
    # A search export of the corrected plate has it too; the read is no longer searched.
    found = await client.get(
        "/api/v1/evidence",
        headers=AS_OPERATOR,
        params={
            "reason": REASON,
            "plate": "GH456JR",
            "since": (START - timedelta(hours=1)).isoformat(),
            "until": (START + timedelta(hours=1)).isoformat(),
        },
    )
    assert found.status == 200
    with zipfile.ZipFile(io.BytesIO(await found.read())) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    assert manifest["transits"] == [QUIET.id]


def test_build_zip_is_reproducible() -> None:
    """The same evidence gives the same bytes (frames included)."""
    frame = evidence.EvidenceFrame("a1", FRAME, hashlib.sha256(FRAME).hexdigest(), "record", START)
    item = evidence.EvidenceItem(
        transit_id=HIT.id,
        event_id=HIT.event_id,
        payload={"plate": HIT.plate},
        crop_jpeg=CROP,
        reads=[],
        alerts=[{"id": "a1"}],
        frames=[frame],
    )

    def build() -> bytes:
        return evidence.build_zip(
            [item],
            generated_at=START,
            generated_by="agente.rossi",
            reason=REASON,
            case_number=None,
            query={},
            frigate_url="http://frigate.local:5000",
        )

    assert build() == build()
