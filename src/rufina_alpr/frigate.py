"""Frigate: parsing its MQTT event messages and fetching its images over HTTP.

Shapes follow Frigate's code (see ``shared/frigate/REFERENCE.md``), which differs from its docs:
``recognized_license_plate`` and ``sub_label`` are ``[value, score]`` lists on MQTT but strings
(plus a separate score) in the HTTP API, so both are accepted.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Final, Literal
from urllib.parse import quote

import aiohttp

_LOGGER = logging.getLogger(__name__)

EventType = Literal["new", "update", "end"]
EVENT_TYPES: Final = ("new", "update", "end")
RETRY_STATUSES: Final = frozenset({429, 500, 502, 503, 504})
MAX_ID_LENGTH: Final = 64
"""Frigate's ids are ``<frame_time>-<6 chars>`` (24 characters); the store keeps up to 64."""


class EventError(ValueError):
    """A `frigate/events` message that cannot be used (malformed JSON or wrong types)."""


class FrigateError(RuntimeError):
    """Frigate's HTTP API failed (after retries) or refused the request."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class PlateGuess:
    """A plate as Frigate's own LPR reported it."""

    plate: str
    score: float | None


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
    box: tuple[int, int, int, int] | None
    snapshot_box: tuple[int, int, int, int] | None
    snapshot_time: float | None
    snapshot_score: float | None
    current_zones: tuple[str, ...]
    entered_zones: tuple[str, ...]
    recognized_plate: PlateGuess | None
    sub_label: str | None
    false_positive: bool
    new_snapshot: bool
    """Frigate picked a better frame since the previous message: worth another read."""


def _box(value: Any, field_name: str) -> tuple[int, int, int, int] | None:
    if value is None:
        return None
    if not isinstance(value, list | tuple) or len(value) != 4:
        raise EventError(f"{field_name} must be [x1, y1, x2, y2]")
    try:
        x1, y1, x2, y2 = (round(float(v)) for v in value)
    except (TypeError, ValueError, OverflowError) as err:
        raise EventError(f"{field_name} must hold finite numbers") from err
    return (x1, y1, x2, y2)


def parse_plate(value: Any, score: Any = None) -> PlateGuess | None:
    """Frigate's plate: ``[plate, score]`` (MQTT), ``"plate"`` + score (HTTP), or null."""
    if value is None or value == "":
        return None
    if isinstance(value, list | tuple):
        if not value or not isinstance(value[0], str):
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
    if value is None:
        return None
    if isinstance(value, list | tuple) and value and isinstance(value[0], str):
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


def parse_event(payload: bytes | str) -> FrigateEvent:
    """Parse one `frigate/events` message; raise `EventError` with the reason when unusable."""
    try:
        message = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise EventError(f"not JSON: {err}") from err
    if not isinstance(message, dict):
        raise EventError("message is not a JSON object")
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
    identifier = _str(after, "id")
    if len(identifier) > MAX_ID_LENGTH:
        raise EventError(f"'id' is longer than {MAX_ID_LENGTH} characters")
    return FrigateEvent(
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


class FrigateClient:
    """Frigate's HTTP API with timeouts and retries (5xx, 429, timeouts, connection errors)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        *,
        timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.5,
    ) -> None:
        self._session = session
        self._base = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._retries = retries
        self._backoff = backoff

    async def snapshot(self, event_id: str, *, quality: int = 95, ended: bool = False) -> bytes:
        """The event's best frame, full detect resolution, without boxes, crop or timestamp.

        Frigate 0.17 ignores ``snapshot.jpg``'s parameters once the event has ended and renders
        the stored snapshot with the camera's settings (box drawn, quality 70), so an ended event
        is read from its clean copy, ``snapshot-clean.webp``; without one (``clean_copy`` off,
        Frigate before 0.17) from ``snapshot.jpg`` as stored.
        """
        event = quote(event_id, safe="")
        if ended:
            try:
                return await self._get_bytes(f"/api/events/{event}/snapshot-clean.webp", {})
            except FrigateError as err:
                if err.status != HTTPStatus.NOT_FOUND:
                    raise
                _LOGGER.debug("event %s has no clean snapshot, reading snapshot.jpg", event_id)
        params = {"bbox": "0", "crop": "0", "timestamp": "0", "quality": str(quality)}
        return await self._get_bytes(f"/api/events/{event}/snapshot.jpg", params)

    async def version(self) -> str:
        return (await self._get_bytes("/api/version", {})).decode().strip()

    async def _get_bytes(self, path: str, params: dict[str, str]) -> bytes:
        url = f"{self._base}{path}"
        last_error = "no attempt"
        for attempt in range(self._retries + 1):
            if attempt:
                await asyncio.sleep(self._backoff * 2 ** (attempt - 1))
            try:
                async with self._session.get(url, params=params, timeout=self._timeout) as response:
                    if response.status == 200:
                        return await response.read()
                    last_error = f"HTTP {response.status}"
                    if response.status not in RETRY_STATUSES:
                        raise FrigateError(f"GET {path}: {last_error}", status=response.status)
            except (aiohttp.ClientError, TimeoutError) as err:
                last_error = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
            _LOGGER.debug("GET %s failed (%s), attempt %d", path, last_error, attempt + 1)
        raise FrigateError(f"GET {path} failed after {self._retries + 1} attempts: {last_error}")
