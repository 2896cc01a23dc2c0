"""A plate-reading station's read quality as the engine reports it (issue 26): the `read_quality`
block of each station in the `stats` payload (the engine's stats.schema.json).

The engine judges it (the share of the last hour's vehicles read against the station's own normal,
with hysteresis on `low`); Home Assistant only shows it, as the station's "Read rate" and
"Commonest unread reason" sensors and a repair while `low` holds. An older engine sends no block:
then the sensors stay unknown and no repair is raised.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from .compat import vol
from .payload import COUNT

OTHER_REASON: Final = "other"
UNREAD_REASONS: Final[tuple[str, ...]] = (
    "frigate_unreachable",
    "frigate_error",
    "not_in_frigate",
    "image_unusable",
    "recognizer_failed",
    "no_snapshot",
    "no_plate",
    OTHER_REASON,
)
"""The engine's codes of why vehicles stayed unread (the enum sensor's translated states)."""

_SHARE = vol.Any(None, vol.All(vol.Any(int, float), vol.Coerce(float), vol.Range(min=0, max=1)))

READ_QUALITY_SCHEMA = vol.Schema(
    {
        vol.Required("vehicles"): COUNT,
        vol.Required("read"): COUNT,
        vol.Required("share"): _SHARE,
        vol.Required("commonest_unread_reason"): vol.Any(None, str),
        vol.Optional("unread_by_reason", default=dict): {str: COUNT},
        vol.Required("normal_share"): _SHARE,
        vol.Required("low"): bool,
    },
    extra=vol.ALLOW_EXTRA,
)
"""A station's `read_quality` block, tolerant of fields added later."""


def _known(reason: str | None) -> str | None:
    """A reason code this integration translates; a newer engine's own is `other`."""
    return reason if reason is None or reason in UNREAD_REASONS else OTHER_REASON


def percent(share: float | None) -> float | None:
    """A share (0-1) as a percentage, to one decimal."""
    return None if share is None else round(share * 100, 1)


@dataclass(frozen=True, slots=True)
class ReadQuality:
    """How well a station read its vehicles in the last hour, against its own normal."""

    vehicles: int
    read: int
    share: float | None
    commonest_unread_reason: str | None
    unread_by_reason: Mapping[str, int]
    normal_share: float | None
    low: bool
    """The engine says the station reads well below its normal (a repair is raised)."""

    @classmethod
    def from_data(cls, data: dict[str, Any] | None) -> ReadQuality | None:
        """From the block as READ_QUALITY_SCHEMA checked it; None without one."""
        if data is None:
            return None
        return cls(
            vehicles=data["vehicles"],
            read=data["read"],
            share=data["share"],
            commonest_unread_reason=_known(data["commonest_unread_reason"]),
            unread_by_reason=dict(data["unread_by_reason"]),
            normal_share=data["normal_share"],
            low=data["low"],
        )

    def attributes(self) -> dict[str, Any]:
        """The read rate sensor's attributes: counts, the normal (as a percentage), `low`."""
        return {
            "vehicles": self.vehicles,
            "read": self.read,
            "normal_rate": percent(self.normal_share),
            "low": self.low,
            "unread_by_reason": dict(self.unread_by_reason),
        }
