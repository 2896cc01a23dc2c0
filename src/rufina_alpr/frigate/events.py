"""Frigate's MQTT event messages and API events, parsed into validated `FrigateEvent`/`LprUpdate`.

Shapes follow Frigate's code (see ``shared/frigate/REFERENCE.md``), which differs from its docs:
``recognized_license_plate`` and ``sub_label`` are ``[value, score]`` lists on MQTT but strings
(plus a separate score) in the HTTP API, so both are accepted. Every parser refuses, with
`EventError`, an id Frigate cannot have made (`valid_event_id`) and a time outside 1970-2100
(`plausible_times`): what they return is safe as a URL segment, a store key and a passage time.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Final, Literal

from rufina_alpr.errors import RufinaError
from rufina_alpr.intake import plausible_times, valid_event_id
from rufina_alpr.reads import Box

EventType = Literal["new", "update", "end"]
EVENT_TYPES: Final = ("new", "update", "end")
MAX_ID_LENGTH: Final = 64
"""Frigate's ids are ``<frame_time>-<6 chars>`` (24 characters); the store keeps up to 64."""


class EventError(RufinaError, ValueError):
    """A Frigate event or update that cannot be used: malformed JSON, wrong types, an id Frigate
    cannot have made, or a time outside 1970-2100."""


@dataclass(frozen=True, slots=True)
class PlateGuess:
    """A plate as Frigate's own LPR reported it."""

    plate: str
    score: float | None


EventKey = tuple[str, str]
"""An event as the engine keys it: (camera, Frigate's id). Frigate's ids are unique, but anyone who
may publish on the broker can reuse one on another camera; that is another event, never this one."""


@dataclass(frozen=True, slots=True)
class FrigateEvent:
    """The fields of one `frigate/events` message that the engine uses (the ``after`` state)."""

    type: EventType
    id: str
    camera: str
    label: str
    frame_time: float
    start_time: float
    end_time: float | None
    top_score: float
    has_snapshot: bool
    box: Box | None
    snapshot_box: Box | None
    snapshot_time: float | None
    snapshot_score: float | None
    current_zones: tuple[str, ...]
    entered_zones: tuple[str, ...]
    recognized_plate: PlateGuess | None
    sub_label: str | None
    false_positive: bool
    new_snapshot: bool
    """Frigate picked a better frame since the previous message: worth another read."""
    relative_box: tuple[float, float, float, float] | None = None
    """The HTTP API's ``data.box``: ``[x, y, w, h]`` relative (0-1) to the snapshot frame."""
    source: Literal["mqtt", "api", "lpr"] = "mqtt"
    """Where the engine learnt of it: `frigate/events`, `GET /api/events` (reconciliation), or
    only `frigate/tracked_object_update` (a dedicated LPR camera)."""

    @property
    def key(self) -> EventKey:
        return (self.camera, self.id)


def _box(value: Any, field_name: str) -> Box | None:
    if value is None:
        return None
    if not isinstance(value, list | tuple) or len(value) != 4:
        raise EventError(f"{field_name} must be [x1, y1, x2, y2]")
    try:
        x1, y1, x2, y2 = (round(float(v)) for v in value)
    except (TypeError, ValueError, OverflowError) as err:
        raise EventError(f"{field_name} must hold finite numbers") from err
    return (x1, y1, x2, y2)


def _cleared(value: Any) -> bool:
    """No value: null, ``""``, or the ``[null, null]`` pair Frigate keeps once a plate or
    sub_label is cleared (its API stores ``(None, None)`` on the tracked object)."""
    if isinstance(value, list | tuple):
        return all(part is None or part == "" for part in value)
    return value is None or value == ""


def parse_plate(value: Any, score: Any = None) -> PlateGuess | None:
    """Frigate's plate: ``[plate, score]`` (MQTT), ``"plate"`` + score (HTTP), or no value."""
    if _cleared(value):
        return None
    if isinstance(value, list | tuple):
        if not isinstance(value[0], str):
            raise EventError("recognized_license_plate must be [plate, score]")
        return PlateGuess(value[0], _score(value[1] if len(value) > 1 else None))
    if isinstance(value, str):
        return PlateGuess(value, _score(score))
    raise EventError("recognized_license_plate must be a string or [plate, score]")


def _score(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise EventError("the recognized_license_plate score must be a number")
    return float(value)


def _sub_label(value: Any) -> str | None:
    if _cleared(value):
        return None
    if isinstance(value, list | tuple) and isinstance(value[0], str):
        return value[0]
    if isinstance(value, str):
        return value
    raise EventError("sub_label must be a string or [name, score]")


def _str(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise EventError(f"'{key}' must be a non-empty string")
    return value


def _float(data: dict[str, Any], key: str, default: float | None = None) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise EventError(f"'{key}' must be a number")
    return float(value)


def _zones(data: dict[str, Any], key: str) -> tuple[str, ...]:
    value = data.get(key) or []
    if not isinstance(value, list) or not all(isinstance(zone, str) for zone in value):
        raise EventError(f"'{key}' must be a list of zone names")
    return tuple(value)


def _event_id(data: dict[str, Any]) -> str:
    """``data['id']`` when Frigate can have made it: safe as a URL segment, store key, log field."""
    identifier = _str(data, "id")
    if len(identifier) > MAX_ID_LENGTH:
        raise EventError(f"'id' is longer than {MAX_ID_LENGTH} characters")
    if not valid_event_id(identifier):
        raise EventError("'id' is not a Frigate event id")
    return identifier


def _json_object(payload: bytes | str) -> dict[str, Any]:
    """A Frigate MQTT message, which is always one JSON object."""
    try:
        message = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise EventError(f"not JSON: {err}") from err
    if not isinstance(message, dict):
        raise EventError("message is not a JSON object")
    return message


def parse_event(payload: bytes | str) -> FrigateEvent:
    """Parse one `frigate/events` message; raise `EventError` with the reason when unusable
    (also for an id Frigate cannot have made and a time outside 1970-2100)."""
    message = _json_object(payload)
    kind = message.get("type")
    if kind not in EVENT_TYPES:
        raise EventError(f"unknown event type {kind!r}")
    after = message.get("after")
    before = message.get("before") or {}
    if not isinstance(after, dict):
        raise EventError("'after' must be an object")
    if not isinstance(before, dict):
        raise EventError("'before' must be an object")
    snapshot = after.get("snapshot")
    if snapshot is not None and not isinstance(snapshot, dict):
        raise EventError("'snapshot' must be an object or null")
    previous = before.get("snapshot") if isinstance(before.get("snapshot"), dict) else None
    snapshot_time = _float(snapshot, "frame_time") if snapshot else None
    # A snapshot is new when Frigate picked a better frame since the previous message.
    is_new_snapshot = snapshot_time is not None and (
        previous is None or previous.get("frame_time") != snapshot_time
    )
    identifier = _event_id(after)
    event = FrigateEvent(
        type=kind,
        id=identifier,
        camera=_str(after, "camera"),
        label=_str(after, "label"),
        frame_time=_float(after, "frame_time", 0.0),
        start_time=_float(after, "start_time"),
        end_time=_float(after, "end_time") if after.get("end_time") is not None else None,
        top_score=_float(after, "top_score", 0.0),
        has_snapshot=bool(after.get("has_snapshot")),
        box=_box(after.get("box"), "box"),
        snapshot_box=_box(snapshot.get("box"), "snapshot.box") if snapshot else None,
        snapshot_time=snapshot_time,
        snapshot_score=_float(snapshot, "score", 0.0) if snapshot else None,
        current_zones=_zones(after, "current_zones"),
        entered_zones=_zones(after, "entered_zones"),
        # MQTT: [plate, score]; Frigate's docs and HTTP API: a string plus a separate score.
        recognized_plate=parse_plate(
            after.get("recognized_license_plate"), after.get("recognized_license_plate_score")
        ),
        sub_label=_sub_label(after.get("sub_label")),
        false_positive=bool(after.get("false_positive")),
        new_snapshot=is_new_snapshot,
    )
    if not plausible_times(event.start_time, event.end_time, event.frame_time, snapshot_time):
        raise EventError("a time is outside 1970-2100")
    return event


@dataclass(frozen=True, slots=True)
class LprUpdate:
    """One `frigate/tracked_object_update` message of type ``lpr``: Frigate's plate for an object.

    Frigate sends one each time the clustered best plate of an object is (re)computed, so several
    per object; the last one before ``end`` is its answer. ``plate_box`` exists from 0.18 on.
    """

    id: str
    camera: str
    plate: str
    score: float | None
    name: str | None
    timestamp: float
    plate_box: Box | None

    @property
    def key(self) -> EventKey:
        return (self.camera, self.id)


def parse_tracked_object_update(payload: bytes | str) -> LprUpdate | None:
    """An ``lpr`` update, or None for the topic's other types (description, face, ...); an
    ``lpr`` update with an id Frigate cannot have made or a time outside 1970-2100 raises."""
    message = _json_object(payload)
    if message.get("type") != "lpr":
        return None
    identifier = _event_id(message)
    plate = message.get("plate")
    if not isinstance(plate, str):
        raise EventError("'plate' must be a string")
    name = message.get("name")
    update = LprUpdate(
        id=identifier,
        camera=_str(message, "camera"),
        plate=plate,
        score=_score(message.get("score")),
        name=name if isinstance(name, str) and name else None,
        timestamp=_float(message, "timestamp", 0.0),
        plate_box=_box(message.get("plate_box"), "plate_box"),
    )
    if not plausible_times(update.timestamp):
        raise EventError("'timestamp' is outside 1970-2100")
    return update


def _relative_box(value: Any) -> tuple[float, float, float, float] | None:
    if not isinstance(value, list | tuple) or len(value) != 4:
        return None
    try:
        x, y, w, h = (float(v) for v in value)
    except (TypeError, ValueError):
        return None
    if not all(math.isfinite(v) for v in (x, y, w, h)) or w <= 0 or h <= 0:
        return None
    return (x, y, w, h)


def event_from_api(item: Any) -> FrigateEvent:
    """An event of `GET /api/events` (``EventResponse``) as an ended `FrigateEvent`.

    The API differs from MQTT: ``sub_label`` and ``data.recognized_license_plate`` are strings
    with separate scores, ``zones`` are the entered zones, and ``data.box`` is relative
    ``[x, y, w, h]`` of the snapshot frame (no detect-pixel box). Frigate 0.17 stores no
    snapshot time (``Event.data`` has none), so ``snapshot_time`` is None: no record-stream
    frame can be asked for, and the passage is timed by ``start_time``.
    """
    if not isinstance(item, dict):
        raise EventError("an event must be an object")
    raw_data = item.get("data")
    data: dict[str, Any] = raw_data if isinstance(raw_data, dict) else {}
    identifier = _event_id(item)
    start = _float(item, "start_time")
    end = item.get("end_time")
    zones = _zones(item, "zones")
    top = data.get("top_score", item.get("top_score"))
    event = FrigateEvent(
        type="end",
        id=identifier,
        camera=_str(item, "camera"),
        label=_str(item, "label"),
        frame_time=float(end) if isinstance(end, int | float) else start,
        start_time=start,
        end_time=float(end) if isinstance(end, int | float) else None,
        top_score=float(top) if isinstance(top, int | float) else 0.0,
        has_snapshot=bool(item.get("has_snapshot")),
        box=None,
        snapshot_box=None,
        snapshot_time=None,
        snapshot_score=None,
        current_zones=zones,
        entered_zones=zones,
        recognized_plate=parse_plate(
            data.get("recognized_license_plate"), data.get("recognized_license_plate_score")
        ),
        sub_label=_sub_label(item.get("sub_label")),
        false_positive=bool(item.get("false_positive")),
        new_snapshot=True,
        relative_box=_relative_box(data.get("box")),
        source="api",
    )
    if not plausible_times(event.start_time, event.end_time):
        raise EventError("a time is outside 1970-2100")
    return event
