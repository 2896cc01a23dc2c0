"""Frigate's and the stations' health as the engine reports it in its retained `health` payload
(the engine's health.schema.json): connectivity entities and the health repairs read it, checked
as models.py checks the other payloads (unknown fields ignored, missing required ones rejected).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .compat import vol
from .compliance import PRIVACY_SCHEMA, PrivacyHealth
from .payload import OPTIONAL_TEXT, Payload, checked, decode, parse_time

_HEALTH_STATE = vol.In(("online", "offline", "unknown"))

_FRIGATE_HEALTH_SCHEMA = vol.Schema(
    {
        vol.Required("state"): _HEALTH_STATE,
        vol.Optional("available"): OPTIONAL_TEXT,
        vol.Optional("last_stats"): OPTIONAL_TEXT,
        vol.Optional("version"): OPTIONAL_TEXT,
    },
    extra=vol.ALLOW_EXTRA,
)

_STATION_HEALTH_SCHEMA = vol.Schema(
    {
        vol.Required("state"): _HEALTH_STATE,
        vol.Optional("reason"): OPTIONAL_TEXT,
        vol.Optional("roles", default=dict): {str: str},
    },
    extra=vol.ALLOW_EXTRA,
)

_HEALTH_SCHEMA = vol.Schema(
    {
        vol.Required("time"): str,
        vol.Required("frigate"): _FRIGATE_HEALTH_SCHEMA,
        vol.Required("stations"): {str: _STATION_HEALTH_SCHEMA},
        vol.Optional("privacy"): vol.Any(None, PRIVACY_SCHEMA),
    },
    extra=vol.ALLOW_EXTRA,
)


def _online(state: str) -> bool | None:
    """`online`/`offline` as a connectivity state; `unknown` stays unknown."""
    return None if state == "unknown" else state == "online"


@dataclass(frozen=True, slots=True)
class FrigateHealth:
    """Frigate as the engine sees it (`frigate/available` and `frigate/stats` freshness)."""

    state: str
    available: str | None
    last_stats: datetime | None
    version: str | None

    @property
    def online(self) -> bool | None:
        """True online, False offline, None unknown."""
        return _online(self.state)


@dataclass(frozen=True, slots=True)
class StationHealth:
    """One station's camera as the engine sees it, with why it is offline."""

    state: str
    reason: str | None
    roles: dict[str, str]

    @property
    def online(self) -> bool | None:
        """True online, False offline, None unknown."""
        return _online(self.state)


@dataclass(frozen=True, slots=True)
class EngineHealth:
    """The retained `health` payload: Frigate's state, each station's camera state and the
    privacy obligations (None from an engine older than issue 25)."""

    time: datetime | None
    frigate: FrigateHealth
    stations: dict[str, StationHealth]
    privacy: PrivacyHealth | None = None

    @classmethod
    def from_payload(cls, payload: Payload) -> EngineHealth:
        data = checked(_HEALTH_SCHEMA, decode(payload))
        frigate = data["frigate"]
        return cls(
            time=parse_time(data["time"]),
            frigate=FrigateHealth(
                state=frigate["state"],
                available=frigate.get("available"),
                last_stats=parse_time(frigate.get("last_stats")),
                version=frigate.get("version"),
            ),
            stations={
                station_id: StationHealth(
                    state=entry["state"], reason=entry.get("reason"), roles=entry["roles"]
                )
                for station_id, entry in data["stations"].items()
            },
            privacy=PrivacyHealth.from_data(privacy) if (privacy := data.get("privacy")) else None,
        )
