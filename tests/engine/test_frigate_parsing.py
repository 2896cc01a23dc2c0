"""Frigate input: `frigate/events` parsing on Frigate's real payloads, and the HTTP client.

The payloads are the samples in ``shared/frigate/payloads`` (generated from Frigate's code); the
HTTP client talks to the Frigate replay's real aiohttp server on a loopback port.
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import cv2
import numpy as np
import pytest

from rufina_alpr.frigate import (
    EventError,
    FrigateClient,
    FrigateError,
    PlateGuess,
    event_from_api,
    jwt_expiry,
    parse_event,
    parse_plate,
    parse_tracked_object_update,
)
from rufina_alpr.intake import LATEST_TIME
from rufina_alpr.paths import SHARED
from rufina_alpr.sim.broker import MosquittoBroker, free_port
from rufina_alpr.sim.frigate_http import FrigateAuth
from rufina_alpr.sim.frigate_state import FRIGATE_VERSION, EventRecord
from rufina_alpr.sim.photos import Photo, load_photos
from rufina_alpr.sim.replay import FrigateReplay

from .conftest import require

PAYLOADS = SHARED / "frigate" / "payloads"
EVENT_ID = "1753373411.482137-k3v9qa"


def payload(name: str) -> dict[str, Any]:
    path = PAYLOADS / f"{name}.json"
    require(path.is_file(), f"Frigate's sample payloads {PAYLOADS}")
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def compact(message: dict[str, Any]) -> bytes:
    """The wire form: Frigate publishes ``json.dumps`` without indentation."""
    return json.dumps(message).encode()


# ----------------------------------------------------------------------------- real payloads
def test_new_event() -> None:
    event = parse_event(compact(payload("events_new_car")))
    assert event.type == "new"
    assert event.id == EVENT_ID
    assert event.camera == "st07_main_st_lpr"
    assert event.label == "car"
    assert event.start_time == pytest.approx(1753373411.482137)
    assert event.end_time is None
    assert event.has_snapshot
    assert event.box == (1380, 410, 1672, 615)
    assert event.snapshot_box == (1380, 410, 1672, 615)
    assert event.snapshot_time == pytest.approx(1753373411.882137)
    assert event.snapshot_score == pytest.approx(0.83984375)
    # `before` is the constructor state (snapshot null): the first snapshot is new.
    assert event.new_snapshot
    assert event.current_zones == ("lpr_zone",)
    assert event.entered_zones == ("lpr_zone",)
    assert event.recognized_plate is None
    assert event.sub_label is None
    assert not event.false_positive


def test_update_with_known_plate() -> None:
    event = parse_event(compact(payload("events_update_car_plate_known")))
    assert event.type == "update"
    assert event.recognized_plate == PlateGuess("KBX4721", pytest.approx(0.9412))
    assert event.sub_label == "Town fleet - truck 12"
    assert event.new_snapshot, "the snapshot frame changed since `before`"
    assert event.snapshot_time == pytest.approx(1753373413.082137)
    assert event.box == (1004, 488, 1374, 728)


def test_update_with_unknown_plate_has_no_sub_label() -> None:
    event = parse_event(compact(payload("events_update_car_plate_unknown")))
    assert event.recognized_plate is not None
    assert event.recognized_plate.plate == "KBX4721"
    assert event.sub_label is None


def test_end_event() -> None:
    event = parse_event(compact(payload("events_end_car")))
    assert event.type == "end"
    assert event.end_time == pytest.approx(1753373417.682137)
    assert event.frame_time == pytest.approx(1753373415.682137)
    # The object left the zone, but it entered it: direction comes from entered_zones.
    assert event.current_zones == ()
    assert event.entered_zones == ("lpr_zone",)
    # Same best frame as in `before`: nothing new to read.
    assert not event.new_snapshot
    assert event.snapshot_box == (1004, 488, 1374, 728)
    assert event.box == (402, 812, 880, 1079)


def test_indented_and_compact_forms_parse_alike() -> None:
    message = payload("events_end_car")
    indented = json.dumps(message, indent=2)
    assert parse_event(indented) == parse_event(compact(message))


def test_http_api_form_plate_string_and_separate_score() -> None:
    """Frigate's docs and ``GET /api/events/<id>`` give the plate as a string plus a score."""
    message = payload("events_update_car_plate_known")
    message["after"]["recognized_license_plate"] = "KBX4721"
    message["after"]["recognized_license_plate_score"] = 0.933451
    message["after"]["sub_label"] = "Town fleet - truck 12"
    event = parse_event(compact(message))
    assert event.recognized_plate == PlateGuess("KBX4721", pytest.approx(0.933451))
    assert event.sub_label == "Town fleet - truck 12"


def test_plate_string_without_score() -> None:
    message = payload("events_update_car_plate_known")
    message["after"]["recognized_license_plate"] = "KBX4721"
    assert parse_event(compact(message)).recognized_plate == PlateGuess("KBX4721", None)


@pytest.mark.parametrize(
    ("value", "score", "expected"),
    [
        (["AB123CD", 0.9], None, PlateGuess("AB123CD", 0.9)),
        (["AB123CD"], None, PlateGuess("AB123CD", None)),
        ("AB123CD", 0.75, PlateGuess("AB123CD", 0.75)),
        ("AB123CD", None, PlateGuess("AB123CD", None)),
        (None, None, None),
        ("", None, None),
        ([None, None], None, None),
    ],
)
def test_parse_plate_forms(value: Any, score: Any, expected: PlateGuess | None) -> None:
    assert parse_plate(value, score) == expected


def test_cleared_plate_and_sub_label_are_no_value() -> None:
    """Frigate's API clears a plate or sub_label with an empty string: the tracked object then
    holds ``(None, None)``, which ``to_dict`` puts on MQTT as ``[null, null]`` until the end."""
    message = payload("events_end_car")
    for side in ("before", "after"):
        message[side]["recognized_license_plate"] = [None, None]
        message[side]["sub_label"] = [None, None]
    event = parse_event(compact(message))
    assert event.type == "end"
    assert event.recognized_plate is None and event.sub_label is None


def test_missing_optional_fields_take_defaults() -> None:
    """A minimal message (older Frigate, or HTTP-shaped) still parses."""
    message = {
        "type": "new",
        "after": {"id": EVENT_ID, "camera": "cam", "label": "car", "start_time": 1753373411.5},
    }
    event = parse_event(compact(message))
    assert event.id == EVENT_ID
    assert event.box is None and event.snapshot_box is None
    assert event.snapshot_time is None and not event.new_snapshot
    assert not event.has_snapshot
    assert event.current_zones == () and event.entered_zones == ()
    assert event.recognized_plate is None and event.sub_label is None
    assert event.frame_time == 0.0 and event.top_score == 0.0
    assert event.end_time is None


def test_unknown_keys_of_newer_frigate_are_ignored() -> None:
    message = payload("events_update_car_plate_known")
    message["after"]["snapshot_clean"] = True
    message["after"]["computed_score"] = 0.9
    message["after"]["my_classifier"] = ["blue", 0.8]
    message["extra_top_level"] = 1
    assert parse_event(compact(message)).id == EVENT_ID


def _broken(mutate: Any) -> Any:
    """A sample payload broken in one place (built when the test runs)."""

    def build() -> bytes:
        message = copy.deepcopy(payload("events_update_car_plate_known"))
        mutate(message)
        return compact(message)

    return build


def _after(**changes: Any) -> Any:
    return lambda message: message["after"].update(changes)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "not JSON"),
        (b"", "not JSON"),
        (b"\xff\xfe\x00", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'"end"', "not a JSON object"),
        (_broken(lambda m: m.update(type="deleted")), "unknown event type 'deleted'"),
        (_broken(lambda m: m.pop("type")), "unknown event type None"),
        (_broken(lambda m: m.pop("after")), "'after' must be an object"),
        (_broken(lambda m: m.update(before=[1])), "'before' must be an object"),
        (_broken(_after(id=42)), "'id' must be a non-empty string"),
        (_broken(_after(id="")), "'id' must be a non-empty string"),
        (_broken(_after(id="x" * 65)), "'id' is longer than 64 characters"),
        (_broken(_after(camera=None)), "'camera' must be a non-empty string"),
        (_broken(_after(label=["car"])), "'label' must be a non-empty string"),
        (_broken(_after(start_time="yesterday")), "'start_time' must be a number"),
        (_broken(_after(start_time=True)), "'start_time' must be a number"),
        (_broken(_after(start_time=float("inf"))), "'start_time' must be a number"),
        (_broken(_after(end_time="soon")), "'end_time' must be a number"),
        (_broken(_after(box=[1, 2, 3])), "box must be [x1, y1, x2, y2]"),
        (_broken(_after(box="0,0,10,10")), "box must be [x1, y1, x2, y2]"),
        (_broken(_after(box=[1, 2, "x", 4])), "box must hold finite numbers"),
        (_broken(_after(box=[0, 0, float("inf"), 10])), "box must hold finite numbers"),
        (_broken(_after(snapshot=[1])), "'snapshot' must be an object or null"),
        (
            _broken(lambda m: m["after"]["snapshot"].update(box=[1, 2])),
            "snapshot.box must be [x1, y1, x2, y2]",
        ),
        (
            _broken(lambda m: m["after"]["snapshot"].update(frame_time=None)),
            "'frame_time' must be a number",
        ),
        (_broken(_after(current_zones="lpr_zone")), "'current_zones' must be a list"),
        (_broken(_after(entered_zones=[1])), "'entered_zones' must be a list"),
        (_broken(_after(recognized_license_plate=7)), "recognized_license_plate must be"),
        (_broken(_after(recognized_license_plate=[None, 0.9])), "must be [plate, score]"),
        (_broken(_after(recognized_license_plate=["AB1", "high"])), "score must be a number"),
        (_broken(_after(sub_label=5)), "sub_label must be a string or [name, score]"),
    ],
)
def test_unusable_messages_raise_event_error_with_the_reason(raw: Any, reason: str) -> None:
    with pytest.raises(EventError) as caught:
        parse_event(raw if isinstance(raw, bytes) else raw())
    assert reason in str(caught.value)


def test_json_infinity_in_box_is_an_event_error_not_a_crash() -> None:
    """Python's json accepts ``Infinity``; it must not escape as OverflowError."""
    raw = compact(payload("events_new_car")).replace(b"[1380, 410, 1672, 615]", b"[1e999, 0, 1, 1]")
    with pytest.raises(EventError, match="finite"):
        parse_event(raw)


# ----------------------------------------------------------------------------- validation
# Every parser returns only events whose id Frigate can have made (a URL segment, a store key, a
# log field) and whose times lie within 1970-2100; the engine needs no check of its own.
FORGED_IDS = ["../../config/raw", "a b", ".hidden", "-1753373411.48", "id\n", "x;y", "é-k3v9qa"]
LPR_SAMPLES = ["tracked_object_update_lpr", "tracked_object_update_lpr_v017"]


def _api_item(**changes: Any) -> dict[str, Any]:
    """An event as ``GET /api/events`` lists it (``EventResponse``)."""
    item: dict[str, Any] = {
        "id": EVENT_ID,
        "camera": "st07_main_st_lpr",
        "label": "car",
        "start_time": 1753373411.482137,
        "end_time": 1753373417.682137,
        "zones": ["lpr_zone"],
        "has_snapshot": True,
        "data": {"recognized_license_plate": "KBX4721", "recognized_license_plate_score": 0.94},
    }
    item.update(changes)
    return item


def _lpr(name: str = "tracked_object_update_lpr", **changes: Any) -> bytes:
    message = payload(name)
    message.update(changes)
    return compact(message)


@pytest.mark.parametrize("identifier", FORGED_IDS)
def test_every_parser_refuses_an_id_frigate_cannot_have_made(identifier: str) -> None:
    with pytest.raises(EventError, match="'id' is not a Frigate event id"):
        parse_event(_broken(_after(id=identifier))())
    with pytest.raises(EventError, match="'id' is not a Frigate event id"):
        parse_tracked_object_update(_lpr(id=identifier))
    with pytest.raises(EventError, match="'id' is not a Frigate event id"):
        event_from_api(_api_item(id=identifier))


@pytest.mark.parametrize(
    "mutate",
    [
        _after(start_time=-1.0),
        _after(end_time=1e300),
        _after(frame_time=LATEST_TIME + 1),
        lambda m: m["after"]["snapshot"].update(frame_time=-0.5),
    ],
    ids=["start_time", "end_time", "frame_time", "snapshot"],
)
def test_parse_event_refuses_a_time_outside_1970_2100(mutate: Any) -> None:
    with pytest.raises(EventError, match="a time is outside 1970-2100"):
        parse_event(_broken(mutate)())


@pytest.mark.parametrize("timestamp", [-1.0, LATEST_TIME + 1, 1e300])
def test_lpr_update_refuses_a_timestamp_outside_1970_2100(timestamp: float) -> None:
    with pytest.raises(EventError, match="'timestamp' is outside 1970-2100"):
        parse_tracked_object_update(_lpr(timestamp=timestamp))


@pytest.mark.parametrize(
    "changes",
    [
        {"start_time": -1.0},
        {"end_time": LATEST_TIME + 1},
        {"end_time": float("inf")},
        {"end_time": float("nan")},
    ],
    ids=["start_time", "end_time", "end_time_inf", "end_time_nan"],
)
def test_event_from_api_refuses_a_time_outside_1970_2100(changes: dict[str, Any]) -> None:
    with pytest.raises(EventError, match="a time is outside 1970-2100"):
        event_from_api(_api_item(**changes))


def test_other_tracked_object_updates_are_not_checked() -> None:
    """Only an ``lpr`` update is returned, so only it is validated (descriptions are ignored)."""
    message = {"type": "description", "id": "../x", "camera": "cam", "timestamp": -5.0}
    assert parse_tracked_object_update(compact(message)) is None


@pytest.mark.parametrize("identifier", [EVENT_ID, "1753373411.48-abc123", "evt_1.a-B", "x" * 64])
def test_valid_ids_and_times_pass_every_parser(identifier: str) -> None:
    event = parse_event(_broken(_after(id=identifier, start_time=0.0, end_time=LATEST_TIME))())
    assert event.id == identifier
    assert (event.start_time, event.end_time) == (0.0, LATEST_TIME)
    for name in LPR_SAMPLES:
        update = parse_tracked_object_update(_lpr(name, id=identifier))
        assert update is not None and update.id == identifier
        assert update.timestamp == payload(name)["timestamp"]
    api = event_from_api(_api_item(id=identifier))
    assert api.id == identifier and api.source == "api"
    assert api.recognized_plate == PlateGuess("KBX4721", pytest.approx(0.94))
    assert api.end_time == pytest.approx(1753373417.682137)


# ----------------------------------------------------------------------------- HTTP client
@pytest.fixture
async def replay(mosquitto: MosquittoBroker, photos_dir: Path) -> AsyncIterator[FrigateReplay]:
    frigate = FrigateReplay(
        load_photos(photos_dir)[:2],
        cameras=["cam_pomino"],
        mqtt_host=mosquitto.host,
        mqtt_port=mosquitto.port,
    )
    await frigate.start()
    yield frigate
    await frigate.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


def _known_event(replay: FrigateReplay) -> tuple[str, Photo]:
    photo = replay.photos[0]
    tracked = replay.tracked_object(photo, "cam_pomino", time.time())
    return tracked.id, photo


async def test_snapshot_url_and_parameters(
    replay: FrigateReplay, session: aiohttp.ClientSession
) -> None:
    event_id, photo = _known_event(replay)
    client = FrigateClient(session, replay.url + "/", timeout=5, retries=0)
    data = await client.snapshot(event_id, quality=90)
    assert data == photo.path.read_bytes()
    assert len(replay.requests) == 1
    path, _, query = replay.requests[0].partition("?")
    assert path == f"/api/events/{event_id}/snapshot.jpg"
    params = dict(part.split("=") for part in query.split("&"))
    assert params == {"bbox": "0", "crop": "0", "timestamp": "0", "quality": "90"}
    assert await client.version() == FRIGATE_VERSION


async def test_ended_event_is_read_from_the_clean_copy(
    replay: FrigateReplay, session: aiohttp.ClientSession
) -> None:
    """Frigate 0.17 ignores snapshot.jpg's parameters after `end`: the clean WebP copy is used."""
    event_id, photo = _known_event(replay)
    client = FrigateClient(session, replay.url, timeout=5, retries=0)
    data = await client.snapshot(event_id, ended=True)
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    assert replay.requests == [f"/api/events/{event_id}/snapshot-clean.webp"]
    original = cv2.imread(str(photo.path))
    clean = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert clean.shape == original.shape
    # Frigate's clean copy is lossy (WebP quality 60): the same picture, not the same bytes.
    difference = np.abs(clean.astype(np.int16) - original.astype(np.int16))
    assert 0 < difference.mean() < 6


async def test_without_clean_copy_the_stored_snapshot_is_read(
    replay: FrigateReplay, session: aiohttp.ClientSession
) -> None:
    replay.clean_copy = False  # snapshots.clean_copy off, or Frigate before 0.17
    event_id, photo = _known_event(replay)
    client = FrigateClient(session, replay.url, timeout=5, retries=0)
    assert await client.snapshot(event_id, ended=True) == photo.path.read_bytes()
    assert [r.partition("?")[0] for r in replay.requests] == [
        f"/api/events/{event_id}/snapshot-clean.webp",
        f"/api/events/{event_id}/snapshot.jpg",
    ]


@pytest.mark.parametrize("status", [400, 403, 500])
async def test_clean_copy_errors_fall_back_to_the_stored_snapshot(
    replay: FrigateReplay, session: aiohttp.ClientSession, status: int
) -> None:
    """0.17 answers 400 when it cannot load or convert the clean copy ("Unable to load clean
    snapshot for event"): any HTTP error on it falls back to snapshot.jpg, which may work."""
    event_id, photo = _known_event(replay)
    replay.faults.fail_next, replay.faults.fail_status = 1, status
    client = FrigateClient(session, replay.url, timeout=5, retries=0)
    assert await client.snapshot(event_id, ended=True) == photo.path.read_bytes()
    assert [r.partition("?")[0] for r in replay.requests] == [
        f"/api/events/{event_id}/snapshot-clean.webp",
        f"/api/events/{event_id}/snapshot.jpg",
    ]


async def test_events_are_read_past_frigates_page_limit(
    replay: FrigateReplay, session: aiohttp.ClientSession
) -> None:
    """``GET /api/events`` answers at most ``limit`` events: a camera with more ended events in
    the look-back than one page (a busy station in an hour) is read page after page, also
    where two events that share a start time (registered in the same frame) fall on two pages
    (Frigate's filter is ``start_time > after``)."""
    photo = replay.photos[0]
    for index in range(5):
        start = 1753373400.0 + (0.0, 7.25, 7.25, 10.5, 14.75)[index]  # 1 and 2 together
        identifier = f"{start:.6f}-page{index:02d}"
        replay.records[identifier] = EventRecord(
            identifier, "cam_pomino", "car", photo, start, end_time=start + 6
        )
    client = FrigateClient(session, replay.url, timeout=5, retries=0)
    events = await client.events(camera="cam_pomino", after=1753373000.0, limit=2)
    assert [e["id"][-6:] for e in events] == [f"page{i:02d}" for i in range(5)]
    assert len([r for r in replay.requests if r.startswith("/api/events?")]) == 4


async def test_jwt_is_sent_as_frigate_cookie_so_frigate_refreshes_it(
    mosquitto: MosquittoBroker, photos_dir: Path, session: aiohttp.ClientSession
) -> None:
    """Port 8971 as in 0.17: `/auth` refreshes only a token from the cookie (a Bearer token
    just expires), so the client sends the cookie and keeps each refreshed one; a token that
    expires within 30 s is replaced by a login before the request, without a 401."""
    replay = FrigateReplay(
        load_photos(photos_dir)[:1],
        cameras=["cam_pomino"],
        mqtt_host=mosquitto.host,
        mqtt_port=mosquitto.port,
    )
    auth = replay.auth = FrigateAuth(users={"rufina": ("s3cret", "admin")}, refresh_time=1e9)
    await replay.start()
    try:
        event_id, _ = _known_event(replay)
        client = FrigateClient(session, replay.url, retries=0, username="rufina", password="s3cret")
        await client.snapshot(event_id)
        first = client._token
        assert first is not None and (jwt_expiry(first) or 0) > time.time() + 3600
        assert auth.refreshes == 1, "Frigate refreshes a cookie token close to expiry"
        await asyncio.sleep(1.1)  # Frigate's claims are whole seconds: now a different token
        await client.snapshot(event_id)
        assert auth.refreshes == 2 and client._token != first
        assert (jwt_expiry(client._token or "") or 0) > (jwt_expiry(first) or 0)
        assert client.logins == 1 == auth.logins
        auth.expire_all()  # Frigate restarted: one 401 and a new login
        await client.snapshot(event_id)
        assert client.logins == 2
        # A session with 20 s left that no request refreshed in time: a login first, no 401.
        auth.session_length, auth.refresh_time = 20, 0
        client._token = auth.issue("rufina")
        auth.session_length = 86400
        await client.snapshot(event_id)
        assert client.logins == 3
        assert sum(r.startswith("401 ") for r in replay.requests) == 1
    finally:
        await replay.stop()


async def test_event_id_is_one_path_segment(
    replay: FrigateReplay, session: aiohttp.ClientSession
) -> None:
    """An id from the broker cannot reach another Frigate path."""
    client = FrigateClient(session, replay.url, timeout=5, retries=0)
    with pytest.raises(FrigateError) as caught:
        await client.snapshot("../../config/raw")
    assert caught.value.status == 404
    assert replay.requests[0].startswith("/api/events/..%2F..%2Fconfig%2Fraw/snapshot.jpg")


async def test_not_found_is_not_retried(
    replay: FrigateReplay, session: aiohttp.ClientSession
) -> None:
    client = FrigateClient(session, replay.url, timeout=5, retries=3, backoff=0.01)
    with pytest.raises(FrigateError, match="HTTP 404") as caught:
        await client.snapshot("1753373411.482137-nosuch")
    assert caught.value.status == 404
    assert len(replay.requests) == 1


@pytest.mark.parametrize("status", [500, 502, 503, 429])
async def test_transient_errors_are_retried(
    replay: FrigateReplay, session: aiohttp.ClientSession, status: int
) -> None:
    event_id, photo = _known_event(replay)
    replay.faults.fail_next, replay.faults.fail_status = 2, status
    client = FrigateClient(session, replay.url, timeout=5, retries=2, backoff=0.01)
    assert await client.snapshot(event_id) == photo.path.read_bytes()
    assert len(replay.requests) == 3


async def test_error_after_the_last_retry(
    replay: FrigateReplay, session: aiohttp.ClientSession
) -> None:
    event_id, _ = _known_event(replay)
    replay.faults.fail_next = 10
    client = FrigateClient(session, replay.url, timeout=5, retries=2, backoff=0.01)
    with pytest.raises(FrigateError) as caught:
        await client.snapshot(event_id)
    assert "failed after 3 attempts: HTTP 500" in str(caught.value)
    assert len(replay.requests) == 3


async def test_timeout_is_retried_then_reported(
    replay: FrigateReplay, session: aiohttp.ClientSession
) -> None:
    event_id, photo = _known_event(replay)
    replay.faults.stall_next, replay.faults.stall_seconds = 1, 3.0
    client = FrigateClient(session, replay.url, timeout=0.5, retries=1, backoff=0.01)
    started = time.monotonic()
    assert await client.snapshot(event_id) == photo.path.read_bytes()
    assert time.monotonic() - started < 2.5, "the stalled request was not cut at the timeout"

    replay.faults.stall_next = 5
    with pytest.raises(FrigateError, match=r"after 2 attempts: .*Timeout"):
        await client.snapshot(event_id)


async def test_frigate_down_is_a_frigate_error(session: aiohttp.ClientSession) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    client = FrigateClient(session, url, timeout=1, retries=1, backoff=0.01)
    started = time.monotonic()
    with pytest.raises(FrigateError, match="after 2 attempts: ClientConnectorError"):
        await asyncio.wait_for(client.snapshot(EVENT_ID), 10)
    assert time.monotonic() - started < 5
