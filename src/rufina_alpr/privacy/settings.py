"""The ``privacy`` section of the engine's settings: retention per kind of data, and the
controller's particulars that the privacy pack (DPIA, notices, record of processing) states.

The comune supplies the controller's data, its DPO, the patto per la sicurezza and the legal basis
of each list: the software never invents them, and the pack lists what is still missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Final, Literal

import voluptuous as vol

DataKind = Literal["transits", "reads", "crops", "frames", "hits", "audit"]
DATA_KINDS: Final[tuple[DataKind, ...]] = ("transits", "reads", "crops", "frames", "hits", "audit")
"""The kinds of personal data with a retention of their own, in the order the pack lists them."""

_DAYS = vol.All(vol.Coerce(float), vol.Range(min=0.01, max=365))
_TEXT = vol.Any(None, vol.All(str, vol.Length(max=500)))


@dataclass(frozen=True, slots=True)
class Retention:
    """Days each kind of data is kept (Genetec-style, one setting per kind).

    ``transits``: the transits (plate, time, station, direction), their passages and corrections;
    ``reads``: the plate reads of each transit (text, confidence); ``crops``: the plate crops;
    ``frames``: the full frames kept as evidence of an alert; ``hits``: the hits (alerts, matches)
    and their handling, kept while open and this long after they are closed, rejected or
    withdrawn; ``audit``: the audit log. A read or crop goes with its transit, so neither outlives
    it; a held transit keeps all of its data, and a hit still kept its transit and crop (its
    evidence) and, while open, its frame.
    """

    transits: float = 7.0
    reads: float = 7.0
    crops: float = 7.0
    frames: float = 7.0
    hits: float = 7.0
    audit: float = 365.0

    def of(self, kind: DataKind) -> timedelta:
        days: float = getattr(self, kind)
        return timedelta(days=days)


@dataclass(frozen=True, slots=True)
class Controller:
    """The data controller's particulars (the comune), its DPO, where the full notice is, the
    patto per la sicurezza and the legal basis of each list (by list id or list kind)."""

    name: str | None = None
    address: str | None = None
    email: str | None = None
    pec: str | None = None
    phone: str | None = None
    dpo_name: str | None = None
    dpo_email: str | None = None
    notice_url: str | None = None
    security_pact: str | None = None
    legal_bases: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PrivacySettings:
    """``retention_days`` is the transits' retention (``retention.transits``) and
    ``audit_retention_days`` the audit log's (``retention.audit``), as earlier settings named
    them."""

    retention_days: float = 7.0
    purge_interval: float = 3600.0
    audit_retention_days: float = 365.0
    retention: Retention = Retention()
    controller: Controller = Controller()


def _kinds_fit_transits(section: dict[str, Any]) -> dict[str, Any]:
    """Fill each kind's retention from ``retention_days``; refuse a read or crop kept longer
    than its transit (it is deleted with it)."""
    per_kind = dict(section.get("retention") or {})
    transits = per_kind.get("transits", section["retention_days"])
    section["retention_days"] = transits
    for kind in ("reads", "crops"):
        days = per_kind.get(kind, transits)
        if days > transits:
            raise vol.Invalid(
                f"{kind} are kept {days:g} days but their transits {transits:g}: "
                f"a {kind[:-1]} goes with its transit",
                path=["retention", kind],
            )
    section["retention"] = {
        "transits": transits,
        "reads": per_kind.get("reads", transits),
        "crops": per_kind.get("crops", transits),
        "frames": per_kind.get("frames", transits),
        "hits": per_kind.get("hits", transits),
        "audit": per_kind.get("audit", section["audit_retention_days"]),
    }
    section["audit_retention_days"] = section["retention"]["audit"]
    return section


PRIVACY_SCHEMA: Final = vol.All(
    {
        # Garante: plates kept 7 days unless an investigation holds them.
        vol.Optional("retention_days", default=7): _DAYS,
        vol.Optional("purge_interval", default=3600.0): vol.All(
            vol.Coerce(float), vol.Range(min=0, min_included=False)
        ),
        # The audit log of searches (it names the plates searched for) has its own retention.
        vol.Optional("audit_retention_days", default=365): vol.All(
            vol.Coerce(float), vol.Range(min=1, max=3650)
        ),
        # Per kind of data, in days; each one not given is ``retention_days`` (audit: the above).
        vol.Optional("retention", default={}): {
            vol.Optional("transits"): _DAYS,
            vol.Optional("reads"): _DAYS,
            vol.Optional("crops"): _DAYS,
            vol.Optional("frames"): _DAYS,
            vol.Optional("hits"): _DAYS,
            vol.Optional("audit"): vol.All(vol.Coerce(float), vol.Range(min=1, max=3650)),
        },
        vol.Optional("controller", default={}): {
            vol.Optional("name"): _TEXT,
            vol.Optional("address"): _TEXT,
            vol.Optional("email"): _TEXT,
            vol.Optional("pec"): _TEXT,
            vol.Optional("phone"): _TEXT,
            vol.Optional("dpo_name"): _TEXT,
            vol.Optional("dpo_email"): _TEXT,
            vol.Optional("notice_url"): _TEXT,
            vol.Optional("security_pact"): _TEXT,
            # The legal basis of each list, by list id or by kind (stolen, police, ...).
            vol.Optional("legal_bases", default={}): {
                vol.All(str, vol.Length(min=1, max=64)): vol.All(str, vol.Length(min=1, max=1000))
            },
        },
    },
    _kinds_fit_transits,
)


def privacy_settings(section: Mapping[str, Any]) -> PrivacySettings:
    """The settings of a section ``PRIVACY_SCHEMA`` validated."""
    return PrivacySettings(
        retention_days=section["retention_days"],
        purge_interval=section["purge_interval"],
        audit_retention_days=section["audit_retention_days"],
        retention=Retention(**section["retention"]),
        controller=Controller(**section["controller"]),
    )
