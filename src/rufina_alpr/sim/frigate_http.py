"""The replayed Frigate's HTTP half: Frigate 0.17's API over the events of a `FrigateState`.

The snapshot (``/api/events/<id>/snapshot.jpg``), the clean copy (``snapshot-clean.webp``;
``.png`` when ``version`` is older), the thumbnail, the record stream's frames
(``/api/<camera>/recordings/<t>/snapshot.jpg``, full resolution, while snapshots come from the
lower-resolution detect stream when a `CameraGeometry` is set; only once the frame's 10 s segment
is moved, after the event), ``/api/config``, ``/api/stats``, ``/api/events`` (for
reconciliation), write-back of ``recognized_license_plate`` / ``sub_label`` (admin), and the 8971
port's login (`FrigateAuth`: JWT cookie, 401 without it) with optional TLS. Faults can be
injected (`HttpFaults`: errors, delays). An approaching vehicle's (`approach`) images are those
of its frame that is the snapshot then, and its record frames those of the moment asked for.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import cv2
import numpy as np
from aiohttp import web

from rufina_alpr.sim.approach import APPROACH_GEOMETRY, render_frame
from rufina_alpr.sim.frigate_state import EventRecord, FrigateState, recording_available_at
from rufina_alpr.sim.photos import (
    CameraGeometry,
    as_webp,
    detect_frame,
    encode_image,
    record_frame,
)


@dataclass(slots=True)
class HttpFaults:
    """Faults the replay's HTTP server injects: the next N image requests fail or stall."""

    fail_next: int = 0
    fail_status: int = 500
    stall_next: int = 0
    stall_seconds: float = 30.0


@dataclass(slots=True)
class FrigateAuth:
    """Frigate's port 8971: ``POST /api/login`` sets a JWT cookie (HS256, claims ``sub``,
    ``role``, ``exp``, ``iat``) valid ``session_length`` s. As 0.17's ``/auth``: a token from
    ``Authorization: Bearer`` wins over the cookie, and only a cookie token is refreshed (a new
    cookie on the answer) when less than ``refresh_time`` s remain."""

    users: dict[str, tuple[str, str]]
    """user -> (password, role)."""
    session_length: float = 86400.0
    refresh_time: float = 1800.0
    cookie_name: str = "frigate_token"
    tokens: dict[str, tuple[str, float]] = field(default_factory=dict)
    """token -> (user, expiry)."""
    logins: int = 0
    refreshes: int = 0
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))

    def issue(self, user: str, *, refresh: bool = False) -> str:
        now = time.time()
        expiry = int(now + self.session_length)
        claims = {"sub": user, "role": self.users[user][1], "exp": expiry, "iat": int(now)}
        signed = f"{_JWT_HEADER}.{_b64(json.dumps(claims).encode())}"
        signature = hmac.new(self.secret, signed.encode(), hashlib.sha256).digest()
        token = f"{signed}.{_b64(signature)}"
        self.tokens[token] = (user, expiry)
        if refresh:
            self.refreshes += 1
        else:
            self.logins += 1
        return token

    def expire_all(self) -> None:
        self.tokens.clear()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


_JWT_HEADER: Final = _b64(b'{"alg": "HS256"}')
ROLE_KEY: Final = web.RequestKey("frigate_role", str)


def event_response(record: EventRecord, geometry: CameraGeometry | None) -> dict[str, Any]:
    """Frigate's ``EventResponse``: plate and sub_label as strings, relative box."""
    data: dict[str, Any] = {
        "type": record.kind,
        "score": record.score,
        "top_score": record.score,
        "attributes": [],
    }
    if record.box is not None:
        width, height = geometry.detect if geometry else (record.photo.width, record.photo.height)
        x1, y1, x2, y2 = record.box
        data["box"] = [x1 / width, y1 / height, (x2 - x1) / width, (y2 - y1) / height]
        data["region"] = data["box"]
    if record.plate is not None:
        data["recognized_license_plate"] = record.plate[0]
        data["recognized_license_plate_score"] = record.plate[1]
    return {
        "id": record.id,
        "label": record.label,
        "sub_label": record.sub_label[0] if record.sub_label else None,
        "camera": record.camera,
        "start_time": record.start_time,
        "end_time": record.end_time,
        "false_positive": False,
        "zones": list(record.zones),
        "thumbnail": None,
        "has_clip": True,
        "has_snapshot": True,
        "retain_indefinitely": False,
        "plus_id": None,
        "model_hash": None,
        "detector_type": "cpu",
        "model_type": "ssd",
        "data": data,
    }


def approach_detect(record: EventRecord, geometry: CameraGeometry | None) -> np.ndarray:
    """An approaching vehicle's detect frame that is its snapshot now."""
    frame = record.snapshot_frame()
    assert frame is not None
    return render_frame(record.photo, frame, geometry or APPROACH_GEOMETRY)[1]


class FrigateHttp:
    """Serves Frigate's HTTP paths for the events ``frigate`` holds."""

    def __init__(
        self,
        frigate: FrigateState,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.frigate = frigate
        self.faults = HttpFaults()
        self.auth: FrigateAuth | None = None
        self.requests: list[str] = []
        self.write_backs: list[tuple[str, dict[str, Any]]] = []
        """(path, JSON body) of each accepted write-back POST."""
        self._host, self._port = host, port
        self._tls = tls
        self._runner: web.AppRunner | None = None
        self._webp: dict[Path, bytes] = {}

    @property
    def url(self) -> str:
        scheme = "https" if self._tls is not None else "http"
        return f"{scheme}://{self._host}:{self._port}"

    @property
    def _newer_than_016(self) -> bool:
        major, minor = (int(part) for part in self.frigate.version.split(".")[:2])
        return (major, minor) >= (0, 17)

    async def start(self) -> None:
        app = web.Application(middlewares=[self._auth_middleware])
        app.add_routes(
            [
                web.get("/api/", self._alive),
                web.get("/api/version", self._version),
                web.post("/api/login", self._login),
                web.get("/api/config", self._config),
                web.get("/api/stats", self._stats),
                web.get("/api/events", self._list_events),
                web.get("/api/events/{event_id}/snapshot.jpg", self._snapshot),
                web.get("/api/events/{event_id}/snapshot-clean.webp", self._clean_snapshot),
                web.get("/api/events/{event_id}/snapshot-clean.png", self._clean_snapshot),
                web.get("/api/events/{event_id}/thumbnail.jpg", self._thumbnail),
                web.get("/api/events/{event_id}", self._event),
                web.post("/api/events/{event_id}/recognized_license_plate", self._set_plate),
                web.post("/api/events/{event_id}/sub_label", self._set_sub_label),
                web.get("/api/{camera}/recordings/{frame_time}/snapshot.jpg", self._recording),
            ]
        )
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port, ssl_context=self._tls)
        await site.start()
        self._port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # ------------------------------------------------------------------ images
    def preload_clean_copies(self) -> None:
        """Encode every photo's WebP clean copy now (benchmarks: the encoding is Frigate's work,
        done when the event ends, not while the engine downloads it)."""
        for photo in self.frigate.photos:
            if photo.path not in self._webp:
                self._webp[photo.path] = as_webp(photo.path.read_bytes())

    def _stored_snapshot(self, record: EventRecord) -> bytes:
        """An ended event's snapshot.jpg in 0.17: rendered with the camera's snapshot settings."""
        frigate = self.frigate
        if (
            frigate.geometry is None
            and not frigate.snapshot_bounding_box
            and frigate.snapshot_quality is None
        ):
            return record.photo.path.read_bytes()
        return self._render_stored(record, detect_frame(record.photo, frigate.geometry))

    def _render_stored(self, record: EventRecord, detect: np.ndarray) -> bytes:
        """The detect frame as 0.17 stores an ended event's snapshot.jpg (the camera's
        ``snapshots:`` box and quality)."""
        frigate = self.frigate
        frame = detect.copy()
        if frigate.snapshot_bounding_box and record.box:
            x1, y1, x2, y2 = record.box
            cv2.rectangle(frame, (x1, y1), (x2, y2), (0, 0, 255), 2)  # Frigate's box, 2 px
            cv2.putText(
                frame,
                f"{record.label}: 80%",
                (x1, max(12, y1 - 4)),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.5,
                (0, 0, 255),
                1,
            )
        return encode_image(frame, ".jpg", frigate.snapshot_quality or 70)

    def _approach_snapshot(self, record: EventRecord, path: str, quality: str | None) -> bytes:
        """`_snapshot` for an approaching vehicle: its current snapshot frame as the clean
        copy, as an in-progress snapshot.jpg, or rendered as an ended event's."""
        detect = approach_detect(record, self.frigate.geometry)
        suffix = path[path.rindex(".") :]
        if not path.endswith("snapshot.jpg") or record.end_time is None:
            return encode_image(detect, suffix, int(quality or 70) if suffix == ".jpg" else None)
        return self._render_stored(record, detect)

    # ------------------------------------------------------------------ HTTP (Frigate's paths)
    @web.middleware
    async def _auth_middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """Port 8971: nginx's ``/auth`` sub-request; 401 without a valid JWT."""
        auth = self.auth
        if auth is None or request.path in ("/api/", "/api/version", "/api/login"):
            return await handler(request)
        token = request.cookies.get(auth.cookie_name)
        header = request.headers.get("Authorization", "")
        bearer = header.startswith("Bearer ")
        if bearer:
            token = header[len("Bearer ") :]
        session = auth.tokens.get(token or "")
        if session is None or session[1] <= time.time():
            self.requests.append(f"401 {request.path_qs}")
            return web.Response(status=401, text="Unauthorized")
        user, expiry = session
        request[ROLE_KEY] = auth.users[user][1]
        response = await handler(request)
        if not bearer and expiry - time.time() <= auth.refresh_time:
            refreshed = auth.issue(user, refresh=True)
            response.set_cookie(auth.cookie_name, refreshed, httponly=True)
        return response

    async def _login(self, request: web.Request) -> web.Response:
        if self.auth is None:
            return web.json_response({"message": "Auth is disabled"}, status=404)
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return web.json_response({"message": "Login failed"}, status=401)
        user, password = body.get("user"), body.get("password")
        known = self.auth.users.get(user) if isinstance(user, str) else None
        if known is None or known[0] != password:
            return web.json_response({"message": "Login failed"}, status=401)
        response = web.Response(status=200)
        response.set_cookie(self.auth.cookie_name, self.auth.issue(user), httponly=True)
        return response

    async def _alive(self, _request: web.Request) -> web.Response:
        return web.Response(text="Frigate is running. Alive and healthy!")

    async def _version(self, _request: web.Request) -> web.Response:
        return web.Response(text=self.frigate.version)

    async def _config(self, _request: web.Request) -> web.Response:
        frigate = self.frigate
        cameras: dict[str, Any] = {}
        for camera in [*frigate.cameras, *frigate.lpr_cameras]:
            detect: dict[str, Any] = {"enabled": camera not in frigate.lpr_cameras, "fps": 5}
            if frigate.geometry is not None:
                detect["width"], detect["height"] = frigate.geometry.detect
            cameras[camera] = {
                "name": camera,
                "type": "lpr" if camera in frigate.lpr_cameras else "generic",
                "detect": detect,
                "snapshots": {
                    "enabled": True,
                    "clean_copy": frigate.clean_copy,
                    "bounding_box": frigate.snapshot_bounding_box,
                    "quality": frigate.snapshot_quality or 70,
                },
            }
        return web.json_response({"version": "0.17-0", "cameras": cameras})

    async def _stats(self, _request: web.Request) -> web.Response:
        return web.json_response(self.frigate.stats())

    async def _list_events(self, request: web.Request) -> web.Response:
        """``GET /api/events`` with the query parameters reconciliation uses."""
        self.requests.append(request.path_qs)
        query = request.query

        def names(*keys: str) -> set[str] | None:
            for key in keys:
                value = query.get(key)
                if value and value != "all":
                    return set(value.split(","))
            return None

        cameras, labels = names("cameras", "camera"), names("labels", "label")
        after = float(query.get("after", 0))
        before = float(query.get("before", 1e12))
        in_progress = query.get("in_progress")
        limit = int(query.get("limit", 100))
        selected = [
            r
            for r in self.frigate.records.values()
            if (cameras is None or r.camera in cameras)
            and (labels is None or r.label in labels)
            and after < r.start_time < before
            and (in_progress is None or (r.end_time is None) == (in_progress == "1"))
        ]
        selected.sort(key=lambda r: r.start_time, reverse=query.get("sort") != "date_asc")
        return web.json_response(
            [event_response(r, self.frigate.geometry) for r in selected[:limit]]
        )

    async def _event(self, request: web.Request) -> web.Response:
        record = self.frigate.records.get(request.match_info["event_id"])
        if record is None:
            return web.json_response({"success": False, "message": "Event not found"}, status=404)
        return web.json_response(event_response(record, self.frigate.geometry))

    async def _write_back(
        self,
        request: web.Request,
        fields: tuple[str, str],
        attribute: Literal["plate", "sub_label"],
        what: str,
    ) -> web.Response:
        """Frigate's checks (admin role, a pydantic body (422), the event (404)), then the
        event's ``attribute`` set to the body's (text, score) pair, or cleared by empty text."""
        if request.get(ROLE_KEY, "admin") != "admin":
            return web.json_response(
                {"success": False, "message": "Insufficient privileges"}, status=403
            )
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return web.json_response({"detail": "invalid JSON"}, status=422)
        text_key, score_key = fields
        text = body.get(text_key) if isinstance(body, dict) else None
        score = body.get(score_key) if isinstance(body, dict) else None
        if not isinstance(text, str) or len(text) > 100:
            return web.json_response({"detail": f"{text_key} invalid"}, status=422)
        if score is not None and (
            isinstance(score, bool) or not isinstance(score, int | float) or not 0 < score <= 1
        ):
            return web.json_response({"detail": f"{score_key} invalid"}, status=422)
        identifier = request.match_info["event_id"]
        record = self.frigate.records.get(identifier)
        if record is None:
            return web.json_response(
                {"success": False, "message": f"Event {identifier} not found."}, status=404
            )
        self.write_backs.append((request.path, body))
        setattr(record, attribute, (text, score or 1.0) if text else None)
        return web.json_response(
            {"success": True, "message": f"Event {record.id} {what} set to {text}"}
        )

    async def _set_plate(self, request: web.Request) -> web.Response:
        fields = ("recognizedLicensePlate", "recognizedLicensePlateScore")
        return await self._write_back(request, fields, "plate", "license plate")

    async def _set_sub_label(self, request: web.Request) -> web.Response:
        return await self._write_back(
            request, ("subLabel", "subLabelScore"), "sub_label", "sub label"
        )

    async def _clean_snapshot(self, request: web.Request) -> web.StreamResponse:
        """The clean copy of an event (0.17+: WebP; older: PNG); 404 when ``clean_copy`` is off."""
        wanted = ".webp" if self._newer_than_016 else ".png"
        if not self.frigate.clean_copy or not request.path.endswith(wanted):
            self.requests.append(request.path_qs)
            return web.json_response(
                {"success": False, "message": "Snapshot not available"}, status=404
            )
        return await self._snapshot(request)

    async def _injected(self) -> web.Response | None:
        if self.faults.fail_next > 0:
            self.faults.fail_next -= 1
            return web.json_response(
                {"success": False, "message": "injected failure"}, status=self.faults.fail_status
            )
        if self.faults.stall_next > 0:
            self.faults.stall_next -= 1
            await asyncio.sleep(self.faults.stall_seconds)
        return None

    async def _snapshot(self, request: web.Request) -> web.StreamResponse:
        identifier = request.match_info["event_id"]
        self.requests.append(request.path_qs)
        if (fault := await self._injected()) is not None:
            return fault
        photo = self.frigate.events.get(identifier)
        if photo is None:
            return web.json_response(
                {"success": False, "message": "Snapshot not available"}, status=404
            )
        record = self.frigate.records.get(identifier)
        geometry = self.frigate.geometry
        clean = not request.path.endswith("snapshot.jpg")
        if record is not None and record.frames:
            body = await asyncio.to_thread(
                self._approach_snapshot, record, request.path, request.query.get("quality")
            )
        elif clean or record is None or (record.end_time is None and record.kind == "object"):
            # The clean copy, or an in-progress object (0.17 honours bbox/crop/timestamp=0).
            if geometry is None:
                body = photo.path.read_bytes()
                if request.path.endswith(".webp"):
                    # Frigate writes the clean copy once; encoding it per request would make
                    # the replay, not the engine, the bottleneck of a benchmark.
                    cached = self._webp.get(photo.path)
                    if cached is None:
                        cached = self._webp[photo.path] = as_webp(body)
                    body = cached
                elif request.path.endswith(".png"):
                    body = encode_image(detect_frame(photo, geometry), ".png")
            else:
                suffix = request.path[request.path.rindex(".") :]
                quality = int(request.query.get("quality", 70)) if suffix == ".jpg" else None
                body = encode_image(detect_frame(photo, geometry), suffix, quality)
        else:
            body = self._stored_snapshot(record)
        content_type = {"webp": "image/webp", "png": "image/png"}.get(
            request.path.rsplit(".", 1)[-1], "image/jpeg"
        )
        return web.Response(
            body=body,
            content_type=content_type,
            headers={"Cache-Control": "private, max-age=31536000"},
        )

    async def _thumbnail(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request.path_qs)
        record = self.frigate.records.get(request.match_info["event_id"])
        if record is None:
            return web.json_response({"success": False, "message": "Event not found"}, status=404)
        if record.frames:
            frame = await asyncio.to_thread(approach_detect, record, self.frigate.geometry)
        else:
            frame = detect_frame(record.photo, self.frigate.geometry)
        height = 175
        width = max(1, round(frame.shape[1] * height / frame.shape[0]))
        thumb = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
        return web.Response(body=encode_image(thumb, ".jpg", 70), content_type="image/jpeg")

    async def _recording(self, request: web.Request) -> web.StreamResponse:
        """The record stream's frame at ``frame_time`` (the event whose snapshot is then), 404
        until its segment is in Frigate's database (`recording_available_at`)."""
        self.requests.append(request.path_qs)
        if (fault := await self._injected()) is not None:
            return fault
        camera = request.match_info["camera"]
        try:
            moment = float(request.match_info["frame_time"])
        except ValueError:
            return web.json_response({"success": False, "message": "bad time"}, status=400)
        record = next(
            (
                r
                for r in self.frigate.records.values()
                if r.camera == camera
                and (
                    r.frame_at(moment) is not None
                    if r.frames
                    else r.snapshot_time is not None and abs(r.snapshot_time - moment) < 0.001
                )
            ),
            None,
        )
        if record is None or record.now() < recording_available_at(moment):
            return web.json_response(
                {"success": False, "message": "Recording not found at frame time"}, status=404
            )
        frame = record.frame_at(moment)
        if frame is not None:  # an approaching vehicle: the record frame of that moment
            geometry = self.frigate.geometry or APPROACH_GEOMETRY
            image = await asyncio.to_thread(render_frame, record.photo, frame, geometry)
            body = await asyncio.to_thread(encode_image, image[0], ".jpg", 95)
        else:
            body = encode_image(record_frame(record.photo, self.frigate.geometry), ".jpg", 95)
        return web.Response(body=body, content_type="image/jpeg")
