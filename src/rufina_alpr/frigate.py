"""Frigate: parsing its MQTT event messages and fetching its images over HTTP.

Shapes follow Frigate's code (see ``shared/frigate/REFERENCE.md``), which differs from its docs:
``recognized_license_plate`` and ``sub_label`` are ``[value, score]`` lists on MQTT but strings
(plus a separate score) in the HTTP API, so both are accepted.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import math
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Final, Literal
from urllib.parse import quote, urlsplit

import aiohttp
from aiohttp import hdrs

from rufina_alpr.bounded_body import BodyRefused, read_bounded
from rufina_alpr.errors import RufinaError

_LOGGER = logging.getLogger(__name__)

EventType = Literal["new", "update", "end"]
EVENT_TYPES: Final = ("new", "update", "end")
RETRY_STATUSES: Final = frozenset({429, 500, 502, 503, 504})
EXPIRY_MARGIN: Final = 30.0
"""Log in again when the JWT expires sooner than this (Frigate's smallest ``refresh_time``)."""
PAGE_OVERLAP: Final = 0.001
"""Seconds before the last start time seen where the next page of ``GET /api/events`` starts."""
MAX_ID_LENGTH: Final = 64
"""Frigate's ids are ``<frame_time>-<6 chars>`` (24 characters); the store keeps up to 64."""
DEFAULT_MAX_IMAGE_BYTES: Final = 32_000_000
"""Largest image body accepted (``frigate.max_image_megabytes``): a 4K JPEG at quality 95 is
~3 MB, Frigate's WebP clean copy less, a 4K PNG (older clean copies) of a noisy frame ~20 MB."""
MAX_JSON_BYTES: Final = 16_000_000
"""Largest JSON body accepted: ``/api/config`` of a 34-camera Frigate is well under 1 MB, a page
of 100 events ~100 KB."""
ACCEPT_ENCODING: Final = "gzip, deflate"
"""What `read_bounded` decodes; Frigate's nginx gzips JSON (not images) when asked."""


class EventError(RufinaError, ValueError):
    """A `frigate/events` message that cannot be used (malformed JSON or wrong types)."""


class FrigateError(RufinaError, RuntimeError):
    """Frigate's HTTP API failed (after retries) or refused the request."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status

    @property
    def transient(self) -> bool:
        """Frigate could not answer (unreachable, or 5xx/429 after every retry): asking again
        once it answers can succeed, unlike a 404 or a refused body."""
        return self.status is None or self.status in RETRY_STATUSES


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
    relative_box: tuple[float, float, float, float] | None = None
    """The HTTP API's ``data.box``: ``[x, y, w, h]`` relative (0-1) to the snapshot frame."""
    source: Literal["mqtt", "api", "lpr"] = "mqtt"
    """Where the engine learnt of it: `frigate/events`, `GET /api/events` (reconciliation), or
    only `frigate/tracked_object_update` (a dedicated LPR camera)."""

    @property
    def key(self) -> EventKey:
        return (self.camera, self.id)


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
    """Parse one `frigate/events` message; raise `EventError` with the reason when unusable."""
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
    plate_box: tuple[int, int, int, int] | None

    @property
    def key(self) -> EventKey:
        return (self.camera, self.id)


def parse_tracked_object_update(payload: bytes | str) -> LprUpdate | None:
    """An ``lpr`` update, or None for the topic's other types (description, face, ...)."""
    message = _json_object(payload)
    if message.get("type") != "lpr":
        return None
    identifier = _str(message, "id")
    if len(identifier) > MAX_ID_LENGTH:
        raise EventError(f"'id' is longer than {MAX_ID_LENGTH} characters")
    plate = message.get("plate")
    if not isinstance(plate, str):
        raise EventError("'plate' must be a string")
    name = message.get("name")
    return LprUpdate(
        id=identifier,
        camera=_str(message, "camera"),
        plate=plate,
        score=_score(message.get("score")),
        name=name if isinstance(name, str) and name else None,
        timestamp=_float(message, "timestamp", 0.0),
        plate_box=_box(message.get("plate_box"), "plate_box"),
    )


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
    identifier = _str(item, "id")
    if len(identifier) > MAX_ID_LENGTH:
        raise EventError(f"'id' is longer than {MAX_ID_LENGTH} characters")
    start = _float(item, "start_time")
    end = item.get("end_time")
    zones = _zones(item, "zones")
    top = data.get("top_score", item.get("top_score"))
    return FrigateEvent(
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


def ssl_context(verify: bool, ca_file: str | None) -> ssl.SSLContext | bool:
    """TLS for Frigate's port 8971: the system CAs, a CA file (self-signed Frigate), or off."""
    if not verify:
        return False
    if ca_file:
        return ssl.create_default_context(cafile=ca_file)
    return True


class FrigateClient:
    """Frigate's HTTP API with timeouts and retries (5xx, 429, timeouts, connection errors).

    Answers are bounded (`read_bounded`: images ``max_image_bytes``, JSON ``MAX_JSON_BYTES``,
    on the wire and decoded) and redirects are refused, not followed (see `_refuse_redirect`).

    With a user and password (port 8971), the client logs in (``POST /api/login``) and sends the
    JWT back as Frigate's cookie, as its web UI does: Frigate's ``/auth`` refreshes only a
    cookie token close to expiry (``auth.refresh_time``), a Bearer one just expires. The client
    keeps each refreshed cookie, logs in again before a token expires (it reads the JWT's
    ``exp``) and once on a 401. Tokens are never logged.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        *,
        timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.5,
        username: str | None = None,
        password: str | None = None,
        cookie_name: str = "frigate_token",
        ssl: ssl.SSLContext | bool = True,
        max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES,
        count: Callable[[str], None] | None = None,
        on_reachable: Callable[[bool], None] | None = None,
    ) -> None:
        """``count`` is told the name of each refusal (``frigate_bodies_refused``,
        ``frigate_redirects_refused``): the engine's metrics. ``on_reachable`` is told when
        Frigate stops answering (a request failed on every attempt without an answer, or with
        5xx) and when it answers again: what the engine's health shows, and its cue to read
        again the vehicles left unread meanwhile."""
        self._session = session
        self._base = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._retries = retries
        self._backoff = backoff
        self._username, self._password = username, password
        self._cookie_name = cookie_name
        self._ssl = ssl
        self._max_image = max_image_bytes
        self._count = count
        self._token: str | None = None
        self._clean: str | None = None
        self._login_lock = asyncio.Lock()
        self.logins = 0
        self._on_reachable = on_reachable
        self.reachable: bool | None = None
        """Whether Frigate's API answered the last request (None: nothing asked yet)."""

    # ------------------------------------------------------------------ images
    async def snapshot(self, event_id: str, *, quality: int = 95, ended: bool = False) -> bytes:
        """The event's best frame, full detect resolution, without boxes, crop or timestamp.

        Frigate 0.17 ignores ``snapshot.jpg``'s parameters once the event has ended and renders
        the stored snapshot with the camera's settings (box drawn, quality 70), so an ended event
        is read from its clean copy, ``snapshot-clean.webp`` (``.png`` before 0.17); without one
        (``clean_copy`` off) from ``snapshot.jpg`` as stored.
        """
        if ended:
            clean = await self.clean_snapshot(event_id)
            if clean is not None:
                return clean
        return await self.rendered_snapshot(event_id, quality=quality)

    async def rendered_snapshot(self, event_id: str, *, quality: int = 95) -> bytes:
        """``snapshot.jpg``: clean while the event is in progress, as stored once it ended."""
        event = quote(event_id, safe="")
        params = {"bbox": "0", "crop": "0", "timestamp": "0", "quality": str(quality)}
        return await self._get_image(f"/api/events/{event}/snapshot.jpg", params)

    async def clean_snapshot(self, event_id: str) -> bytes | None:
        """The clean copy (0.17+: WebP; older: PNG), or None when Frigate answers with an
        error: 404 when it keeps none, 400 when it cannot load or convert it (0.17's
        ``event_snapshot_clean``); ``snapshot.jpg`` may still work. Frigate unreachable raises."""
        event = quote(event_id, safe="")
        suffix = await self._clean_suffix()
        try:
            return await self._get_image(f"/api/events/{event}/snapshot-clean.{suffix}", {})
        except FrigateError as err:
            if err.status is None:
                raise
            _LOGGER.debug("no clean snapshot of event %s: %s", event_id, err)
        return None

    async def _clean_suffix(self) -> str:
        """``webp`` from Frigate 0.17 on, ``png`` before; asked once (``/api/version``)."""
        if self._clean is None:
            try:
                version = await self.version()
            except FrigateError:
                return "webp"  # ask again next time
            try:
                major, minor = (int(part) for part in version.split("-")[0].split(".")[:2])
            except ValueError:
                major, minor = 0, 17
            self._clean = "webp" if (major, minor) >= (0, 17) else "png"
        return self._clean

    async def thumbnail(self, event_id: str) -> bytes:
        event = quote(event_id, safe="")
        return await self._get_image(f"/api/events/{event}/thumbnail.jpg", {})

    async def recording_frame(self, camera: str, frame_time: float) -> bytes:
        """The record stream's frame at ``frame_time`` (full record resolution)."""
        path = f"/api/{quote(camera, safe='')}/recordings/{frame_time:.6f}/snapshot.jpg"
        return await self._get_image(path, {})

    # ------------------------------------------------------------------ JSON
    async def version(self) -> str:
        return (await self._get_bytes("/api/version", {})).decode().strip()

    async def event(self, event_id: str) -> FrigateEvent | None:
        """Frigate's own record of one event (``GET /api/events/<id>``: camera, label, end time,
        its plate), None when its database has none (404). Only what Frigate saved can be
        trusted: anyone allowed to publish on ``frigate/#`` can name any id in a message."""
        event = quote(event_id, safe="")
        try:
            loaded = json.loads(await self._get_bytes(f"/api/events/{event}", {}))
        except FrigateError as err:
            if err.status == HTTPStatus.NOT_FOUND:
                return None
            raise
        except ValueError as err:
            raise FrigateError(f"GET /api/events/{event}: not JSON", status=200) from err
        try:
            return event_from_api(loaded)
        except EventError as err:
            raise FrigateError(f"GET /api/events/{event}: {err}", status=200) from err

    async def config(self) -> dict[str, Any]:
        loaded = json.loads(await self._get_bytes("/api/config", {}))
        if not isinstance(loaded, dict):
            raise FrigateError("GET /api/config: not an object")
        return loaded

    async def events(
        self,
        *,
        camera: str,
        after: float,
        labels: Iterable[str] = (),
        limit: int = 100,
        max_pages: int = 50,
    ) -> list[dict[str, Any]]:
        """Ended events of one camera that started after ``after``, oldest first. Frigate
        answers at most ``limit`` per request, so the pages are read one after the other. Its
        filter is ``start_time > after``, and events can share a start time (vehicles that the
        tracker registers in the same frame), so each next page starts just before the last
        start time seen and the events already listed are dropped (only more than ``limit``
        events within ``PAGE_OVERLAP`` of each other can still be missed)."""
        found: dict[str, dict[str, Any]] = {}
        for _ in range(max_pages):
            params = {
                "cameras": camera,
                "after": f"{after:.6f}",
                "in_progress": "0",
                "limit": str(limit),
                "sort": "date_asc",
            }
            if labels:
                params["labels"] = ",".join(labels)
            loaded = json.loads(await self._get_bytes("/api/events", params))
            if not isinstance(loaded, list):
                raise FrigateError("GET /api/events: not a list")
            page = [item for item in loaded if isinstance(item, dict)]
            fresh = {str(item.get("id")): item for item in page if str(item.get("id")) not in found}
            found.update(fresh)
            starts = [
                float(item["start_time"])
                for item in page
                if isinstance(item.get("start_time"), int | float)
            ]
            if len(loaded) < limit or not fresh or not starts:
                break
            # Just before the last start, unless that is where this page began (no progress).
            after = (
                max(starts) - PAGE_OVERLAP if max(starts) - PAGE_OVERLAP > after else max(starts)
            )
        return list(found.values())

    async def set_plate(self, event_id: str, plate: str, score: float | None) -> None:
        """``POST /api/events/<id>/recognized_license_plate`` (admin)."""
        body = {"recognizedLicensePlate": plate, "recognizedLicensePlateScore": _api_score(score)}
        await self._post(f"/api/events/{quote(event_id, safe='')}/recognized_license_plate", body)

    async def set_sub_label(self, event_id: str, name: str, score: float | None) -> None:
        """``POST /api/events/<id>/sub_label`` (admin); names longer than Frigate's 100 are cut."""
        body = {"subLabel": name[:100], "subLabelScore": _api_score(score)}
        await self._post(f"/api/events/{quote(event_id, safe='')}/sub_label", body)

    # ------------------------------------------------------------------ transport
    async def _login(self, stale: str | None) -> None:
        async with self._login_lock:
            if self._token is not None and self._token != stale:
                return  # another request logged in meanwhile
            url = f"{self._base}/api/login"
            body = {"user": self._username, "password": self._password}
            try:
                async with self._session.post(
                    url, json=body, timeout=self._timeout, ssl=self._ssl, allow_redirects=False
                ) as response:
                    self._refuse_redirect("POST", "/api/login", response)
                    if response.status != 200:
                        raise FrigateError(
                            f"POST /api/login: HTTP {response.status}", status=response.status
                        )
                    token = self._cookie(response)
            except (aiohttp.ClientError, TimeoutError) as err:
                raise FrigateError(f"POST /api/login: {type(err).__name__}: {err}") from err
            if token is None:
                raise FrigateError("POST /api/login: no token cookie in the answer")
            self._token = token
            self.logins += 1
            _LOGGER.info("logged in to Frigate as %s", self._username)

    def _cookie(self, response: aiohttp.ClientResponse) -> str | None:
        morsel = response.cookies.get(self._cookie_name)
        return morsel.value if morsel is not None and morsel.value else None

    def _cookies(self) -> dict[str, str]:
        return {self._cookie_name: self._token} if self._token else {}

    def _expiring(self) -> bool:
        expiry = jwt_expiry(self._token) if self._token else None
        return expiry is not None and expiry - time.time() < EXPIRY_MARGIN

    def _refuse_redirect(self, method: str, path: str, response: aiohttp.ClientResponse) -> None:
        """Frigate's API never redirects these requests; following one would send the JWT
        cookie, or on 307/308 the login body, wherever it points. Logged with the target's
        origin only."""
        if not 300 <= response.status < 400:
            return
        target = urlsplit(response.headers.get(hdrs.LOCATION, ""))
        host = target.netloc.rpartition("@")[2]  # never a user or password it may carry
        origin = f"{target.scheme}://{host}" if host else "the same host"
        if self._count is not None:
            self._count("frigate_redirects_refused")
        _LOGGER.warning(
            "Frigate answered %s %s with a redirect (HTTP %d, to %s): not followed",
            method,
            path,
            response.status,
            origin,
        )
        raise FrigateError(
            f"{method} {path}: redirect (HTTP {response.status}) not followed",
            status=response.status,
        )

    async def _body(
        self, method: str, path: str, response: aiohttp.ClientResponse, limit: int
    ) -> bytes:
        """The body within ``limit`` bytes (received and decoded); a refusal is counted,
        logged and not retried (the same request would bring the same body)."""
        try:
            return await read_bounded(response, limit)
        except BodyRefused as err:
            if self._count is not None:
                self._count("frigate_bodies_refused")
            _LOGGER.warning("Frigate's answer to %s %s refused: %s", method, path, err)
            raise FrigateError(
                f"{method} {path}: body refused: {err}", status=response.status
            ) from err

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str],
        body: Any = None,
        limit: int = MAX_JSON_BYTES,
    ) -> bytes:
        url = f"{self._base}{path}"
        last_error = "no attempt"
        last_status: int | None = None
        relogged = False
        attempt = 0
        while attempt <= self._retries:
            if attempt:
                await asyncio.sleep(self._backoff * 2 ** (attempt - 1))
            attempt += 1
            if self._username and (self._token is None or self._expiring()):
                await self._login(self._token)
            try:
                async with self._session.request(
                    method,
                    url,
                    params=params,
                    json=body,
                    cookies=self._cookies(),
                    headers={hdrs.ACCEPT_ENCODING: ACCEPT_ENCODING},
                    timeout=self._timeout,
                    ssl=self._ssl,
                    allow_redirects=False,
                    auto_decompress=False,
                ) as response:
                    if response.status not in RETRY_STATUSES:
                        self._reached(True)
                    if (refreshed := self._cookie(response)) is not None:
                        self._token = refreshed  # Frigate refreshes a session close to expiry
                    self._refuse_redirect(method, path, response)
                    if response.status == 200:
                        return await self._body(method, path, response, limit)
                    last_error, last_status = f"HTTP {response.status}", response.status
                    if (
                        response.status == HTTPStatus.UNAUTHORIZED
                        and self._username
                        and not relogged
                    ):
                        relogged = True
                        await self._login(self._token)
                        attempt -= 1  # a new login is not a retry
                        continue
                    if response.status not in RETRY_STATUSES:
                        raise FrigateError(f"{method} {path}: {last_error}", status=response.status)
            except (aiohttp.ClientError, TimeoutError) as err:
                last_error = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
                last_status = None
            _LOGGER.debug("%s %s failed (%s), attempt %d", method, path, last_error, attempt)
        self._reached(False)
        raise FrigateError(
            f"{method} {path} failed after {self._retries + 1} attempts: {last_error}",
            status=last_status,
        )

    def _reached(self, answered: bool) -> None:
        if answered != self.reachable:
            self.reachable = answered
            if self._on_reachable is not None:
                self._on_reachable(answered)

    async def _get_bytes(self, path: str, params: dict[str, str]) -> bytes:
        return await self._request("GET", path, params=params)

    async def _get_image(self, path: str, params: dict[str, str]) -> bytes:
        return await self._request("GET", path, params=params, limit=self._max_image)

    async def _post(self, path: str, body: dict[str, Any]) -> None:
        await self._request("POST", path, params={}, body=body)


def jwt_expiry(token: str) -> float | None:
    """A JWT's ``exp`` claim, read without verifying the signature (Frigate verifies it)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return None
    expiry = claims.get("exp") if isinstance(claims, dict) else None
    if isinstance(expiry, bool) or not isinstance(expiry, int | float):
        return None
    return float(expiry)


def _api_score(score: float | None) -> float | None:
    """Frigate's body models want 0 < score <= 1, or null."""
    if score is None or not math.isfinite(score) or score <= 0:
        return None
    return round(min(score, 1.0), 4)
