"""The health monitor: what the engine knows of Frigate's health and of its own store's.

`HealthMonitor` owns ``frigate/available``, the freshness of ``frigate/stats`` (and Frigate's
version and each station camera's frame rate in it), the station cameras' role states
(``frigate/<camera>/status/<role>``) and the store's failure state, and builds the health payload
from them (``<prefix>/health`` and ``/api/health``). It publishes nothing itself: each change is
handed to the ``publish`` callable, which sends the payload when it differs from the last one.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from rufina_alpr import contract
from rufina_alpr.config import Settings
from rufina_alpr.frigate import FrigateClient
from rufina_alpr.metrics import Metrics

# The engine's logger: the monitor's lines read as they did before the split.
_LOGGER = logging.getLogger(__name__)

# Frigate's camera roles whose state decides a station's: without detect frames nothing is read.
DECISIVE_ROLE = "detect"
# What Frigate publishes on `frigate/available` and `frigate/<camera>/status/<role>`: anything else
# is not Frigate's and never reaches the health topic.
AVAILABLE_STATES = frozenset({"online", "offline", "stopped"})
ROLE_STATES = frozenset({"online", "offline", "disabled"})
ROLE_NAME = re.compile(r"[a-z_]{1,16}")
MAX_ROLES = 8
VERSION_TEXT = re.compile(r"[0-9A-Za-z.+_-]{1,40}")


class HealthMonitor:
    """Frigate's health as last seen, the store's, and the health payload built from them."""

    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        *,
        frigate: Callable[[], FrigateClient | None],
        publish: Callable[..., None],
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self._frigate = frigate
        self._publish = publish
        """Publishes the health (``force=True``: even unchanged)."""
        self.frigate_available: str | None = None
        self.frigate_version: str | None = None
        self._stats_at: float | None = None
        self._stats_wall: datetime | None = None
        self._camera_fps: dict[str, float] = {}
        self.camera_roles: dict[str, dict[str, str]] = {}
        """Each station camera's last state per role (``detect``, ``record``...), by camera."""
        self._started = time.monotonic()
        self.store_error: tuple[str, datetime] | None = None
        """The kind of the store's last failure and since when, until a store call succeeds."""
        self._since: dict[str, tuple[str, str | None, datetime]] = {}
        """Each station's state and reason, and when this engine first saw them so."""
        self.privacy: Callable[[], dict[str, Any] | None] = lambda: None
        """The health's privacy section (`PrivacyWatch.state`), once the engine has one."""

    def on_available(self, payload: bytes) -> None:
        """A ``frigate/available`` message: Frigate's own word on whether it runs."""
        available = short_text(payload)
        if available in AVAILABLE_STATES:
            self.frigate_available = available
            self._publish()
        else:
            self.metrics.inc("frigate_status_ignored")

    def on_stats(self, payload: bytes) -> None:
        try:
            stats = json.loads(payload)
            cameras = stats.get("cameras") or {}
            fps = {
                name: float(values.get("camera_fps") or 0.0)
                for name, values in cameras.items()
                if isinstance(values, dict) and self.settings.station_for_camera(name) is not None
            }
            service = stats.get("service") or {}
        except (ValueError, AttributeError, TypeError):
            self.metrics.inc("frigate_stats_malformed")
            return
        self._stats_at = time.monotonic()
        self._stats_wall = datetime.now(self.settings.timezone)
        self._camera_fps = fps
        version = service.get("version") if isinstance(service, dict) else None
        if isinstance(version, str) and VERSION_TEXT.fullmatch(version):
            self.frigate_version = version
        self._publish()

    def on_camera_status(self, camera: str, role: str, state: str | None) -> None:
        """Keep a station camera's role state: only stations' cameras, Frigate's role names and
        states (anyone may publish 200,000 made-up topics; they cost nothing here)."""
        roles = self.camera_roles.get(camera)
        known = roles is not None or self.settings.station_for_camera(camera) is not None
        if not known or state not in ROLE_STATES or not ROLE_NAME.fullmatch(role):
            self.metrics.inc("frigate_status_ignored")
            return
        roles = self.camera_roles.setdefault(camera, {})
        if role not in roles and len(roles) >= MAX_ROLES:
            self.metrics.inc("frigate_status_ignored")
            return
        roles[role] = state
        self._publish()

    def store_failed(self, kind: str) -> None:
        """A store call failed with ``kind``: shown from the first failure on."""
        if self.store_error is None:
            self.store_error = (kind, datetime.now(self.settings.timezone))
            _LOGGER.error("the store is failing (%s): outcomes wait", kind)
            self._publish(force=True)

    def store_works(self) -> None:
        """A store write succeeded: a failure shown is over."""
        if self.store_error is not None:
            self.store_error = None
            _LOGGER.info("the store works again")
            self._publish(force=True)

    def store_health(self) -> dict[str, Any]:
        """The store's state for the health topic and ``/api/health``."""
        if self.store_error is None:
            return {"state": "ok", "error": None, "since": None}
        kind, since = self.store_error
        return {"state": "failing", "error": kind, "since": contract.iso_time(since)}

    def _states(
        self,
    ) -> tuple[
        contract.HealthState, dict[str, tuple[contract.HealthState, str | None, dict[str, str]]]
    ]:
        """Frigate's state and each station's (state, reason, camera role states), as of now."""
        now = time.monotonic()
        timeout = self.settings.frigate.stats_timeout
        stats_fresh = self._stats_at is not None and now - self._stats_at <= timeout
        stats_stale = (now - (self._stats_at or self._started)) > timeout
        frigate: contract.HealthState
        client = self._frigate()
        api_down = client is not None and client.reachable is False
        if self.frigate_available in ("offline", "stopped") or stats_stale or api_down:
            frigate = "offline"
        elif self.frigate_available == "online" or stats_fresh:
            frigate = "online"
        else:
            frigate = "unknown"
        stations: dict[str, tuple[contract.HealthState, str | None, dict[str, str]]] = {}
        for station in self.settings.stations:
            roles = self.camera_roles.get(station.camera, {})
            fps = self._camera_fps.get(station.camera) if stats_fresh else None
            state: contract.HealthState
            reason: str | None = None
            if frigate == "offline":
                state, reason = "offline", "frigate_offline"
            elif roles.get(DECISIVE_ROLE) == "offline":
                state, reason = "offline", "detect_offline"
            elif fps is not None and fps <= 0:
                state, reason = "offline", "no_frames"
            elif roles.get(DECISIVE_ROLE) == "disabled" and not fps:
                state, reason = "offline", "disabled"
            elif roles.get(DECISIVE_ROLE) == "online" or (fps or 0) > 0:
                state = "online"
            else:
                state = "unknown"
            stations[station.id] = (state, reason, roles)
        self._note_changes(stations)
        return frigate, stations

    def _note_changes(
        self, stations: dict[str, tuple[contract.HealthState, str | None, dict[str, str]]]
    ) -> None:
        """Remember since when each station is in its state (as first seen by this engine)."""
        now = datetime.now(self.settings.timezone)
        for station_id, (state, reason, _roles) in stations.items():
            known = self._since.get(station_id)
            if known is None or known[:2] != (state, reason):
                self._since[station_id] = (state, reason, now)

    def payload(self) -> dict[str, Any]:
        frigate, stations = self._states()
        return contract.health_payload(
            time=datetime.now(self.settings.timezone),
            frigate_state=frigate,
            available=self.frigate_available,
            last_stats=self._stats_wall,
            version=self.frigate_version,
            stations=stations,
            store=self.store_health(),
            privacy=self.privacy(),
        )

    def cameras(self) -> list[dict[str, Any]]:
        """Each station's camera for the panel's System page: the offline ones first, then by
        name, each with its state, the reason in a word, and since when (as seen by this engine:
        its start for a state it found)."""
        _frigate, stations = self._states()
        names = {s.id: s for s in self.settings.stations}
        rows = [
            {
                "station": station_id,
                "name": names[station_id].name,
                "camera": names[station_id].camera,
                "kind": names[station_id].kind,
                "state": state,
                "reason": reason,
                "since": contract.iso_time(self._since[station_id][2]),
                "roles": dict(roles),
            }
            for station_id, (state, reason, roles) in stations.items()
        ]
        order = {"offline": 0, "unknown": 1, "online": 2}
        return sorted(rows, key=lambda row: (order.get(row["state"], 1), row["name"]))


def short_text(payload: bytes, limit: int = 32) -> str | None:
    """A short status word from a payload (None: longer, so not one of Frigate's)."""
    if len(payload) > limit:
        return None
    return payload.decode(errors="replace").strip()
