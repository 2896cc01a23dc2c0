"""Camera stations: which Frigate camera is which station, and what the engine does with it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import voluptuous as vol

StationKind = Literal["lpr", "context"]
STATION_KINDS: tuple[StationKind, ...] = ("lpr", "context")

STATION_ID = vol.All(str, vol.Match(r"^[a-z0-9_]+$", msg="station id must be lowercase a-z, 0-9, _"))
CAMERA_NAME = vol.All(str, vol.Match(r"^[a-zA-Z0-9_-]+$", msg="Frigate camera names are a-z, 0-9, _ and -"))

STATION_SCHEMA = vol.Schema(
    {
        vol.Required("id"): STATION_ID,
        vol.Required("name"): vol.All(str, vol.Length(min=1)),
        vol.Required("camera"): CAMERA_NAME,
        vol.Required("kind"): vol.In(STATION_KINDS),
        vol.Optional("zone"): vol.Any(None, str),
        vol.Optional("direction"): vol.Any(None, str),
        vol.Optional("locality"): vol.Any(None, str),
        vol.Optional("latitude"): vol.Any(None, vol.Coerce(float)),
        vol.Optional("longitude"): vol.Any(None, vol.Coerce(float)),
    },
    extra=vol.ALLOW_EXTRA,
)


@dataclass(frozen=True, slots=True)
class Station:
    """A camera position: LPR stations read plates, context stations only count vehicles."""

    id: str
    name: str
    camera: str
    kind: StationKind
    zone: str | None = None
    direction: str | None = None
    locality: str | None = None
    latitude: float | None = None
    longitude: float | None = None

    @property
    def reads_plates(self) -> bool:
        return self.kind == "lpr"

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> Station:
        valid = STATION_SCHEMA(data)
        return cls(**{name: valid.get(name) for name in cls.__slots__ if name in valid})
