"""Bad input: each kind gets a clear log line and a counter, and the engine keeps serving.

A running engine (real Mosquitto, the Frigate replay's real HTTP server, real models) receives
malformed and wrongly typed `frigate/events` messages, events from an unknown camera and of a
person, and vehicles whose snapshot is not an image, a truncated JPEG or a 50-megapixel frame;
afterwards a good vehicle still becomes exactly one transit. A missing or empty models folder
stops `models check` and `serve` with one message naming the folder and the fix.
"""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import sqlalchemy as sa
import yaml

from rufina_alpr.recognizer import OFFLINE_DETECTOR
from rufina_alpr.sim.photos import Photo, load_photos
from rufina_alpr.store import passages

from .conftest import TEST_STATIONS, plates_equal

HTML_ERROR_PAGE = b"<html><body><h1>502 Bad Gateway</h1></body></html>\n"


def _bad_images(folder: Path, good: Photo) -> dict[str, Photo]:
    folder.mkdir(parents=True, exist_ok=True)
    garbage = folder / "garbage.jpg"
    garbage.write_bytes(HTML_ERROR_PAGE)
    data = good.path.read_bytes()
    truncated = folder / "truncated.jpg"
    truncated.write_bytes(data[: len(data) // 2])
    huge = folder / "huge.jpg"
    frame = np.full((5800, 8700, 3), 90, dtype=np.uint8)  # 50.5 megapixels, limit 40
    cv2.rectangle(frame, (4000, 3000), (4400, 3100), (255, 255, 255), -1)
    assert cv2.imwrite(str(huge), frame, [cv2.IMWRITE_JPEG_QUALITY, 80])
    return {
        "not an image": Photo(garbage, 1920, 1080),
        "truncated": Photo(truncated, good.width, good.height),
        "huge": Photo(huge, 8700, 5800),
    }


def _malformed_messages(template: dict[str, Any]) -> list[bytes]:
    def broken(**after: Any) -> bytes:
        message = json.loads(json.dumps(template))
        message["after"].update(after)
        return json.dumps(message).encode()

    no_after = json.loads(json.dumps(template))
    del no_after["after"], no_after["before"]
    return [
        b"{this is not json",
        b"\xff\xfe\xfa",
        b"[]",
        json.dumps(no_after).encode(),
        broken(box=[1, 2, 3]),
        broken(box=["left", "top", "right", "bottom"]),
        broken(id=12345),
        broken(start_time="yesterday"),
        broken(recognized_license_plate=["AB123CD", "sure"]),
        broken(current_zones="lpr_zone"),
    ]


def _passage_reasons(engine: Any, event_ids: list[str]) -> dict[str, tuple[str, str | None]]:
    query = sa.select(passages.c.event_id, passages.c.status, passages.c.reason).where(
        passages.c.event_id.in_(event_ids)
    )
    with engine.store.engine.connect() as connection:
        return {row.event_id: (row.status, row.reason) for row in connection.execute(query)}


@pytest.mark.slow
async def test_bad_input_is_logged_and_counted_and_the_engine_keeps_serving(
    harness_factory: Any, photos_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="rufina_alpr")
    good = next(p for p in load_photos(photos_dir) if p.plate)
    bad = _bad_images(tmp_path / "bad", good)
    harness = await harness_factory([good])
    replay, engine = harness.replay, harness.engine

    # A real-shaped message to break: the replay's own `new` message for the good photo.
    template = replay.tracked_object(good, "cam_pomino", 1753373411.5).messages(1)[1]
    malformed = _malformed_messages(template)
    for raw in malformed:
        await replay.publish(raw)
    unknown = await replay.replay_one(good, "cam_unknown_street")
    person_photo = Photo(good.path, good.width, good.height, label="person")
    person = await replay.replay_one(person_photo, "cam_pomino")
    bad_events = {kind: await replay.replay_one(photo, "cam_roma") for kind, photo in bad.items()}
    good_event = await replay.replay_one(good, "cam_pomino")

    await harness.wait_handled(len(bad_events) + 1)
    await harness.wait_for(lambda: len(harness.received) >= 1, what="the good transit")
    counters = engine.metrics.counters

    # Malformed JSON and wrong shapes/types: one counter each, a warning with the reason.
    assert counters["events_malformed"] == len(malformed)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    malformed_lines = [m for m in warnings if "malformed Frigate event" in m]
    assert len(malformed_lines) == len(malformed)
    for reason in (
        "not JSON",
        "message is not a JSON object",
        "'after' must be an object",
        "box must be [x1, y1, x2, y2]",
        "box must hold finite numbers",
        "'id' must be a non-empty string",
        "'start_time' must be a number",
        "score must be a number",
        "'current_zones' must be a list",
    ):
        assert any(reason in line for line in malformed_lines), reason

    # Unknown camera: debug log and a counter per message (new, update, end).
    assert counters["events_unknown_camera"] == 3
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert f"ignored event {unknown} from unknown camera cam_unknown_street" in debug
    # A person on a plate-reading camera: not a vehicle.
    assert counters["events_ignored_label"] == 3
    assert f"ignored person event {person} on st_pomino" in debug

    # Snapshots that cannot be used: a warning naming the event and why, counted, and the
    # vehicle recorded as unread with that reason, not lost and not a transit.
    assert counters["images_invalid"] >= len(bad_events)
    assert counters["passages_unread"] == len(bad_events)
    expected = {
        "not an image": "not a decodable image",
        "truncated": "truncated JPEG",
        "huge": "image too large",
    }
    reasons = _passage_reasons(engine, list(bad_events.values()))
    for kind, event_id in bad_events.items():
        assert any(
            f"snapshot of event {event_id} unusable: {expected[kind]}" in m for m in warnings
        ), kind
        status, reason = reasons[event_id]
        assert status == "unread"
        assert reason is not None and expected[kind] in reason

    # The engine kept serving: the good vehicle is exactly one transit, with its plate.
    await harness.wait_for(
        lambda: counters["transits_published"] >= 1, what="the good transit published"
    )
    assert [t["event_id"] for t in harness.received] == [good_event]
    assert good.plate and plates_equal(harness.received[0]["plate"], good.plate)
    assert counters["transits_stored"] == 1
    assert counters["reads_failed"] == 0
    assert engine.mqtt.connected.is_set()
    # Nothing escaped as an error or a traceback, and no plate reached the INFO log.
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    read_plate = harness.received[0]["plate"]
    for record in caplog.records:
        if record.levelno >= logging.INFO:
            text = record.getMessage()
            assert read_plate not in text and good.plate not in text, text


# ----------------------------------------------------------------------------- models missing
def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rufina_alpr", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def _assert_clear_model_error(output: str, folder: Path) -> None:
    assert str(folder) in output
    assert "RUFINA_ALPR_MODELS" in output and OFFLINE_DETECTOR in output
    assert "Traceback" not in output


def test_models_check_with_missing_folder(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-models"
    result = _cli("models", "check", "--models", str(missing))
    assert result.returncode == 3
    assert "models folder not found" in result.stderr
    _assert_clear_model_error(result.stderr, missing)
    assert "OK" not in result.stdout


def test_models_check_with_empty_folder_from_the_environment(tmp_path: Path) -> None:
    empty = tmp_path / "models"
    empty.mkdir()
    env = {"PATH": "/usr/bin:/bin", "RUFINA_ALPR_MODELS": str(empty), "HOME": str(tmp_path)}
    result = _cli("models", "check", env=env)
    assert result.returncode == 3
    assert f"models folder: {empty}" in result.stdout
    assert "plate detector model not found" in result.stderr
    _assert_clear_model_error(result.stderr, empty)


def test_models_check_with_detector_but_no_ocr(tmp_path: Path, models_dir: Path) -> None:
    partial = tmp_path / "models"
    (partial / OFFLINE_DETECTOR).parent.mkdir(parents=True)
    (partial / OFFLINE_DETECTOR).symlink_to(models_dir / OFFLINE_DETECTOR)
    result = _cli("models", "check", "--models", str(partial))
    assert result.returncode == 3
    assert "OCR model file not found" in result.stderr
    _assert_clear_model_error(result.stderr, partial)


@pytest.mark.parametrize("layout", ["missing", "empty"])
def test_serve_refuses_to_start_without_models(tmp_path: Path, layout: str) -> None:
    folder = tmp_path / "models"
    if layout == "empty":
        folder.mkdir()
    config = tmp_path / "engine.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "data_dir": str(tmp_path / "data"),
                "models": {"dir": str(folder)},
                "api": {"token": "serve-test-token-0123456789"},
                "stations": [
                    {"id": s.id, "name": s.name, "camera": s.camera, "kind": s.kind}
                    for s in TEST_STATIONS
                ],
            }
        )
    )
    result = _cli("serve", "-c", str(config))
    assert result.returncode == 3
    assert "cannot start:" in result.stderr
    _assert_clear_model_error(result.stderr, folder)
    # It stopped before opening anything: no store was created.
    assert not (tmp_path / "data" / "rufina_alpr.db").exists()


@pytest.mark.slow
async def test_frigate_plate_that_is_no_plate_is_not_a_transit_on_postgresql(
    harness_factory: Any, photos_dir: Path, tmp_path: Path, fresh_postgres_url: str
) -> None:
    """Frigate's API stores any text (up to 100 characters) as `recognized_license_plate`."""
    good = next(p for p in load_photos(photos_dir) if p.plate)
    garbage = _bad_images(tmp_path / "bad", good)["not an image"]
    harness = await harness_factory([good], store_url=fresh_postgres_url)
    replay, engine = harness.replay, harness.engine
    not_a_plate = ("Town fleet - truck 12 (the blue one) / ask Mario", 0.99)

    async def replay_with_frigate_plate(photo: Photo, camera: str) -> str:
        tracked = replay.tracked_object(photo, camera, time.time())
        tracked.plate = not_a_plate
        for message in tracked.messages(1):
            await replay.publish_tracked(message)
            await asyncio.sleep(0.2)
        return tracked.id

    unreadable = await replay_with_frigate_plate(garbage, "cam_pomino")
    readable = await replay_with_frigate_plate(good, "cam_roma")
    await harness.wait_handled(2)
    await harness.wait_for(lambda: len(harness.received) >= 1, what="the transit")
    counts = await engine.db.run(engine.store.passage_counts)
    assert (counts.read, counts.unread) == (1, 1)
    assert [t["event_id"] for t in harness.received] == [readable]
    transit = harness.received[0]
    assert good.plate and plates_equal(transit["plate"], good.plate)
    assert transit["frigate_plate"] is None  # no plate: it goes nowhere
    assert unreadable not in {t["event_id"] for t in harness.received}
    stored = await engine.db.run(engine.store.transit, transit["id"])
    assert stored.frigate_plate is None
