"""The comune's privacy obligations as the engine reports them in its `health` payload (issue 25).

Counts and deadlines only, never a plate: whether the privacy pack (DPIA, notices, record of
processing) still matches the engine's configuration, and how many data-subject requests are
open, due within a week or overdue. An older engine sends no `privacy` section: then nothing
here exists and nothing about it changes in Home Assistant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from .compat import vol
from .payload import COUNT, OPTIONAL_TEXT, parse_time

PACK_CURRENT: Final = "current"
PACK_OUTDATED: Final = "outdated"
PACK_MISSING: Final = "missing"
PACK_STATES: Final[tuple[str, ...]] = (PACK_CURRENT, PACK_OUTDATED, PACK_MISSING)


PRIVACY_SCHEMA = vol.Schema(
    {
        vol.Required("pack"): vol.Schema(
            {
                vol.Required("state"): vol.In(PACK_STATES),
                vol.Optional("generated_at"): OPTIONAL_TEXT,
                vol.Optional("outdated", default=list): [str],
                vol.Optional("changed", default=list): [str],
            },
            extra=vol.ALLOW_EXTRA,
        ),
        vol.Required("requests"): vol.Schema(
            {
                vol.Required("open"): COUNT,
                vol.Required("due_soon"): COUNT,
                vol.Required("overdue"): COUNT,
                vol.Optional("next_due"): OPTIONAL_TEXT,
            },
            extra=vol.ALLOW_EXTRA,
        ),
    },
    extra=vol.ALLOW_EXTRA,
)
"""The `privacy` section of the health payload (the engine's health.schema.json), tolerant of
fields added later."""


@dataclass(frozen=True, slots=True)
class PrivacyPack:
    """Whether the last privacy pack generated matches the configuration running now."""

    state: str
    generated_at: datetime | None
    outdated: tuple[str, ...]
    """The documents out of date (dpia, notices, informativa, record, todo)."""
    changed: tuple[str, ...]
    """The parts of the configuration changed since (stations, retention, lists, ...)."""


@dataclass(frozen=True, slots=True)
class SubjectRequests:
    """The data-subject requests still open and their deadlines (GDPR art. 12(3))."""

    open: int
    due_soon: int
    """Open requests due within 7 days (not yet overdue)."""
    overdue: int
    next_due: datetime | None

    @property
    def pressing(self) -> bool:
        """A deadline is passed or within the week: someone must act."""
        return self.overdue > 0 or self.due_soon > 0


@dataclass(frozen=True, slots=True)
class PrivacyHealth:
    """The health payload's `privacy` section."""

    pack: PrivacyPack
    requests: SubjectRequests

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> PrivacyHealth:
        """From the section as PRIVACY_SCHEMA checked it."""
        pack, requests = data["pack"], data["requests"]
        return cls(
            pack=PrivacyPack(
                state=pack["state"],
                generated_at=parse_time(pack.get("generated_at")),
                outdated=tuple(pack["outdated"]),
                changed=tuple(pack["changed"]),
            ),
            requests=SubjectRequests(
                open=requests["open"],
                due_soon=requests["due_soon"],
                overdue=requests["overdue"],
                next_due=parse_time(requests.get("next_due")),
            ),
        )
