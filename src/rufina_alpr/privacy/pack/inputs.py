"""The facts a privacy pack is written from, read from the running configuration, in sections
with a hash each.

A change of stations, retention, lists, roles, the controller's particulars, Frigate's expected
retention or an enforced measure changes that section's hash, and so the hash of every document
that uses it: that is how a pack knows which of its documents are out of date. Collecting them
reads only the settings and the hotlists' definitions (never their plates), so the health check
can afford it.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Final, Literal

from rufina_alpr.config import Settings
from rufina_alpr.hotlists import HotlistInfo
from rufina_alpr.privacy.pack.measures import Measure, enforced_measures
from rufina_alpr.privacy.pack.missing import Missing, missing_particulars
from rufina_alpr.privacy.settings import Controller, Retention
from rufina_alpr.stations import Municipality, Station

Section = Literal["stations", "retention", "lists", "roles", "controller", "frigate", "measures"]
SECTIONS: Final[tuple[Section, ...]] = (
    "stations",
    "retention",
    "lists",
    "roles",
    "controller",
    "frigate",
    "measures",
)
HASH_LENGTH: Final = 16
"""Hex digits of a hash as the documents print it (64 bits: a changed section never collides
with its old value by chance)."""


@dataclass(frozen=True, slots=True)
class StationFact:
    """A station as the documents describe it (purpose in Italian and, if given, English)."""

    id: str
    name: str
    kind: str
    locality: str | None
    road: str | None
    direction: str | None
    purpose: str | None
    purpose_en: str | None
    latitude: float | None
    longitude: float | None


@dataclass(frozen=True, slots=True)
class ListFact:
    """A hotlist's definition (never its plates) and the legal basis the comune gave it:
    ``basis`` for the list's id, else for its kind; None when it gave neither."""

    id: str
    name: str
    kind: str
    action: str
    priority: int
    description: str | None
    gate_stations: tuple[str, ...]
    gate_days: str | None
    gate_hours: str | None
    keeps_authorised: bool
    basis: str | None


@dataclass(frozen=True, slots=True)
class RoleFact:
    """Who may use the API, with which role: ``source`` token (the built-in administrator's),
    user (``api.users``) or ingress (Home Assistant's logged-in users)."""

    holder: str
    role: str
    source: Literal["token", "user", "ingress"]
    delegate: bool = False


@dataclass(frozen=True, slots=True)
class FrigateObserved:
    """Frigate's retention as its running configuration (``GET /api/config``) states it, at the
    moment the pack was generated: the most days any camera keeps recordings or snapshots."""

    max_days: float
    continuous_days: float
    cameras: int


@dataclass(frozen=True, slots=True)
class FrigateFacts:
    """What Frigate should keep: ``rufina-alpr stations frigate-config --retain-days`` writes
    ``days`` for motion recordings, alerts, detections and snapshots, and no continuous
    recording. ``observed`` is not part of the section's hash: it is a check made at generation
    time, not configuration."""

    days: int
    continuous_days: int = 0
    observed: FrigateObserved | None = field(default=None, compare=False)

    @property
    def verified(self) -> bool:
        """Frigate said it keeps no more than the documents state."""
        observed = self.observed
        return (
            observed is not None
            and observed.max_days <= self.days
            and observed.continuous_days <= self.continuous_days
        )


@dataclass(frozen=True, slots=True)
class PackInputs:
    """Everything a pack states, with a hash per section (`SECTIONS`)."""

    municipality: Municipality | None
    stations: tuple[StationFact, ...]
    retention: Retention
    purge_interval: float
    lists: tuple[ListFact, ...]
    roles: tuple[RoleFact, ...]
    controller: Controller
    frigate: FrigateFacts
    measures: tuple[Measure, ...]
    missing: tuple[Missing, ...]
    hashes: Mapping[str, str]

    def kind_basis(self, kind: str) -> str | None:
        return self.controller.legal_bases.get(kind)


def digest(value: Any) -> str:
    """The hash of a JSON-able value, independent of key order."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:HASH_LENGTH]


def expected_frigate_days(retention: Retention) -> int:
    """The whole days Frigate should keep recordings and snapshots: the transits' retention
    (``frigate-config --retain-days`` takes whole days, at least 1)."""
    return max(1, math.ceil(retention.transits))


_RECORD_DAYS: Final = (
    ("continuous", "days"),
    ("motion", "days"),
    ("retain", "days"),
    ("alerts", "retain", "days"),
    ("detections", "retain", "days"),
)


def _number(tree: Any, path: Sequence[str]) -> float | None:
    for key in path:
        tree = tree.get(key) if isinstance(tree, Mapping) else None
    return float(tree) if isinstance(tree, int | float) and not isinstance(tree, bool) else None


def frigate_observed(config: Mapping[str, Any]) -> FrigateObserved | None:
    """Frigate's retention from its ``/api/config`` answer: the most days any camera keeps
    recordings (when it records) or snapshots (when it takes them); None when it states none."""
    cameras = config.get("cameras")
    if not isinstance(cameras, Mapping) or not cameras:
        return None
    kept: list[float] = []
    continuous: list[float] = []
    for camera in cameras.values():
        if not isinstance(camera, Mapping):
            continue
        record, snapshots = camera.get("record") or {}, camera.get("snapshots") or {}
        if isinstance(record, Mapping) and record.get("enabled", True):
            days = [_number(record, path) for path in _RECORD_DAYS]
            kept += [day for day in days if day is not None]
            continuous.append(days[0] or 0.0)
        if isinstance(snapshots, Mapping) and snapshots.get("enabled", True):
            days_kept = _number(snapshots, ("retain", "default"))
            kept += [days_kept] if days_kept is not None else []
    if not kept:  # a configuration without retention values cannot vouch for any
        return None
    return FrigateObserved(
        max_days=max(kept),
        continuous_days=max(continuous, default=0.0),
        cameras=len(cameras),
    )


def pack_inputs(
    settings: Settings,
    lists: Iterable[HotlistInfo],
    *,
    frigate_observed: FrigateObserved | None = None,
) -> PackInputs:
    """The pack's facts from the running settings and the hotlists' definitions."""
    privacy = settings.privacy
    controller = privacy.controller
    stations = tuple(_station_fact(station) for station in settings.stations)
    list_facts = tuple(_list_fact(info, controller) for info in lists)
    roles = _roles(settings)
    frigate = FrigateFacts(days=expected_frigate_days(privacy.retention), observed=frigate_observed)
    measures = enforced_measures(settings)
    sections: dict[str, Any] = {
        "stations": {
            "municipality": asdict(settings.municipality) if settings.municipality else None,
            "stations": [asdict(station) for station in stations],
        },
        "retention": {"days": asdict(privacy.retention), "purge_interval": privacy.purge_interval},
        "lists": [asdict(item) for item in list_facts],
        "roles": [asdict(role) for role in roles],
        "controller": asdict(controller),
        "frigate": {"days": frigate.days, "continuous_days": frigate.continuous_days},
        "measures": [asdict(measure) for measure in measures],
    }
    missing = missing_particulars(
        municipality=settings.municipality,
        stations=stations,
        lists=list_facts,
        controller=controller,
        roles=roles,
        frigate=frigate,
    )
    return PackInputs(
        municipality=settings.municipality,
        stations=stations,
        retention=privacy.retention,
        purge_interval=privacy.purge_interval,
        lists=list_facts,
        roles=roles,
        controller=controller,
        frigate=frigate,
        measures=measures,
        missing=missing,
        hashes={name: digest(sections[name]) for name in SECTIONS},
    )


def _station_fact(station: Station) -> StationFact:
    return StationFact(
        id=station.id,
        name=station.name,
        kind=station.kind,
        locality=station.locality,
        road=station.road,
        direction=station.direction,
        purpose=station.purpose,
        purpose_en=station.purpose_en,
        latitude=station.latitude,
        longitude=station.longitude,
    )


def _list_fact(info: HotlistInfo, controller: Controller) -> ListFact:
    gate = info.gate
    hours = (
        f"{gate.from_hour:02d}-{gate.to_hour:02d}"
        if gate is not None and gate.from_hour is not None and gate.to_hour is not None
        else None
    )
    bases = controller.legal_bases
    return ListFact(
        id=info.id,
        name=info.name,
        kind=info.kind,
        action=info.action,
        priority=info.priority,
        description=info.description,
        gate_stations=gate.stations if gate is not None else (),
        gate_days=gate.days if gate is not None else None,
        gate_hours=hours,
        keeps_authorised=gate.keep_authorised if gate is not None else True,
        basis=bases.get(info.id, bases.get(info.kind)),
    )


def _roles(settings: Settings) -> tuple[RoleFact, ...]:
    api = settings.api
    roles = [RoleFact("admin", "admin", "token", api.delegate)]
    roles += [RoleFact(user.name, user.role, "user", user.delegate) for user in api.users]
    if api.ingress.enabled:
        roles += [RoleFact(f"ha:{name}", "admin", "ingress") for name in api.ingress.admins]
        roles.append(RoleFact("ha:*", api.ingress.role, "ingress"))
    return tuple(roles)


def sections_of(inputs: PackInputs, names: Sequence[str]) -> dict[str, str]:
    """The hashes of these sections, in `SECTIONS` order."""
    return {name: inputs.hashes[name] for name in SECTIONS if name in names}
