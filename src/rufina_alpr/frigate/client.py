"""Frigate's HTTP API: `FrigateClient`, the only owner of requests to Frigate (images, events,
config, write-back), with its TLS context and the JWT cookie it logs in with.
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
from http import HTTPStatus
from typing import Any, Final
from urllib.parse import quote, urlsplit

import aiohttp
from aiohttp import hdrs

from rufina_alpr.bounded_body import BodyRefused, read_bounded
from rufina_alpr.errors import RufinaError
from rufina_alpr.frigate.events import EventError, FrigateEvent, event_from_api

_LOGGER = logging.getLogger(__name__)

RETRY_STATUSES: Final = frozenset({429, 500, 502, 503, 504})
EXPIRY_MARGIN: Final = 30.0
"""Log in again when the JWT expires sooner than this (Frigate's smallest ``refresh_time``)."""
PAGE_OVERLAP: Final = 0.001
"""Seconds before the last start time seen where the next page of ``GET /api/events`` starts."""
DEFAULT_MAX_IMAGE_BYTES: Final = 32_000_000
"""Largest image body accepted (``frigate.max_image_megabytes``): a 4K JPEG at quality 95 is
~3 MB, Frigate's WebP clean copy less, a 4K PNG (older clean copies) of a noisy frame ~20 MB."""
MAX_JSON_BYTES: Final = 16_000_000
"""Largest JSON body accepted: ``/api/config`` of a 34-camera Frigate is well under 1 MB, a page
of 100 events ~100 KB."""
ACCEPT_ENCODING: Final = "gzip, deflate"
"""What `read_bounded` decodes; Frigate's nginx gzips JSON (not images) when asked."""


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
