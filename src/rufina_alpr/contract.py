"""The engine's MQTT contract: topics, payload builders and their JSON Schemas.

This module is the single source of truth for what the engine publishes; `docs/mqtt.md` documents
it and the Home Assistant integration is tested against the same schema files in `schemas/`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any, Final, Literal

import jsonschema
from referencing import Registry, Resource

from rufina_alpr import __version__
from rufina_alpr.stations import Station
from rufina_alpr.transits import Transit

CONTRACT_VERSION: Final = 1
DEFAULT_PREFIX: Final = "rufina_alpr"

PayloadKind = Literal[
    "transit", "status", "stations", "stats", "hotlist_match", "alert", "health", "hotlists"
]
PAYLOAD_KINDS: Final[tuple[PayloadKind, ...]] = (
    "transit",
    "status",
    "stations",
    "stats",
    "hotlist_match",
    "alert",
    "health",
    "hotlists",
)
AlertKind = Literal["hotlist", "not_authorised", "impossible_journey"]
AlertStatus = Literal["provisional", "confirmed", "withdrawn"]
AlertState = Literal["new", "acknowledged", "accepted", "rejected", "closed"]
AlertChange = Literal["confirmed", "withdrawn", "acknowledged", "accepted", "rejected", "closed"]
HealthState = Literal["online", "offline", "unknown"]

# QoS per topic: transits and alerts must arrive; retained state topics are refreshed anyway.
QOS_TRANSIT: Final = 1
QOS_STATE: Final = 1


@dataclass(frozen=True, slots=True)
class Topics:
    """Topic names under one configurable prefix."""

    prefix: str = DEFAULT_PREFIX

    @property
    def status(self) -> str:
        return f"{self.prefix}/status"

    @property
    def stations(self) -> str:
        return f"{self.prefix}/stations"

    @property
    def transit(self) -> str:
        return f"{self.prefix}/transit"

    @property
    def hotlist_match(self) -> str:
        return f"{self.prefix}/hotlist_match"

    @property
    def alert(self) -> str:
        return f"{self.prefix}/alert"

    @property
    def stats(self) -> str:
        return f"{self.prefix}/stats"

    @property
    def health(self) -> str:
        return f"{self.prefix}/health"

    @property
    def hotlists(self) -> str:
        return f"{self.prefix}/hotlists"

    def station_last(self, station_id: str) -> str:
        return f"{self.prefix}/{station_id}/last"

    def station_crop(self, station_id: str) -> str:
        return f"{self.prefix}/{station_id}/crop"


def iso_time(moment: datetime) -> str:
    """ISO 8601 with a zone offset, as every timestamp in the contract."""
    if moment.tzinfo is None:
        raise ValueError("contract timestamps must be timezone-aware")
    return moment.isoformat(timespec="milliseconds")


def status_payload(
    *,
    state: Literal["online", "offline"],
    instance: str,
    api_url: str | None,
    since: datetime | None,
) -> dict[str, Any]:
    return {
        "v": CONTRACT_VERSION,
        "state": state,
        "engine_version": __version__,
        "contract_version": CONTRACT_VERSION,
        "instance": instance,
        "api_url": api_url,
        "since": iso_time(since) if since else None,
    }


def station_entry(station: Station) -> dict[str, Any]:
    return {
        "id": station.id,
        "name": station.name,
        "camera": station.camera,
        "kind": station.kind,
        "zone": station.zone,
        "direction": station.direction,
        "locality": station.locality,
        "latitude": station.latitude,
        "longitude": station.longitude,
    }


def stations_payload(stations: tuple[Station, ...] | list[Station]) -> dict[str, Any]:
    return {"v": CONTRACT_VERSION, "stations": [station_entry(s) for s in stations]}


def health_payload(
    *,
    time: datetime,
    frigate_state: HealthState,
    available: str | None,
    last_stats: datetime | None,
    version: str | None,
    stations: dict[str, tuple[HealthState, str | None, dict[str, str]]],
    store: dict[str, Any] | None = None,
    privacy: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Frigate's health and each station's (state, reason, camera role states) as seen by the
    engine from ``frigate/available``, ``frigate/<camera>/status/<role>`` and ``frigate/stats``;
    ``store``: the engine's own store (``state`` ok or failing, ``error``, ``since``);
    ``privacy``: the privacy pack's state and the data-subject requests due (no plate)."""
    extra: dict[str, Any] = {"store": store} if store is not None else {}
    if privacy is not None:
        extra["privacy"] = privacy
    return {
        **extra,
        "v": CONTRACT_VERSION,
        "time": iso_time(time),
        "frigate": {
            "state": frigate_state,
            "available": available,
            "last_stats": iso_time(last_stats) if last_stats else None,
            "version": version,
        },
        "stations": {
            station_id: {"state": state, "reason": reason, "roles": dict(roles)}
            for station_id, (state, reason, roles) in stations.items()
        },
    }


def hotlists_payload(
    *, changed: datetime, lists: list[tuple[str, int, int, str]]
) -> dict[str, Any]:
    """The hotlists' change notice: each list's (id, active entries, expired entries,
    revision), never a plate; ``changed``: when the engine saw them so."""
    return {
        "v": CONTRACT_VERSION,
        "changed": iso_time(changed),
        "lists": [
            {"id": list_id, "entries": entries, "expired": expired, "revision": revision}
            for list_id, entries, expired, revision in lists
        ],
    }


def encode(payload: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON, the wire form of every JSON payload."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


# ----------------------------------------------------------------------------- signatures
# Anyone who may publish on the prefix could otherwise make up transits, alerts and state: every
# JSON payload carries `sent`, `kid` and `sig`, an HMAC-SHA256 with a key consumers obtain over
# the engine's authenticated API (GET /api/v1/contract). See docs/mqtt.md, "Signatures".
SIGNING_KEY_BYTES: Final = 32
SIGNATURE_FIELDS: Final = ("sent", "kid", "sig")


def new_signing_key() -> str:
    """A fresh random key, as hex (the form the store keeps and the API gives)."""
    return secrets.token_hex(SIGNING_KEY_BYTES)


def key_id(key: str) -> str:
    """A short public name of a key: consumers see the engine's key changed, not a forgery."""
    return hashlib.sha256(b"rufina-alpr key id\0" + bytes.fromhex(key)).hexdigest()[:16]


def canonical(payload: dict[str, Any]) -> bytes:
    """What the signature covers: the payload without `sig`, keys sorted, no blanks, ASCII."""
    unsigned = {k: v for k, v in payload.items() if k != "sig"}
    return json.dumps(
        unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")


def signature(payload: dict[str, Any], key: str) -> str:
    """HMAC-SHA256 of `canonical(payload)`, as hex."""
    return hmac.new(bytes.fromhex(key), canonical(payload), hashlib.sha256).hexdigest()


def verify(payload: dict[str, Any], key: str) -> bool:
    """True when the payload carries this key's id and a matching signature."""
    sig = payload.get("sig")
    if not isinstance(sig, str) or payload.get("kid") != key_id(key):
        return False
    return hmac.compare_digest(sig, signature(payload, key))


class Signer:
    """Signs every JSON payload the engine publishes (one key for all the engine's workers)."""

    def __init__(self, key: str) -> None:
        if len(bytes.fromhex(key)) < 16:
            raise ValueError("a signing key needs at least 16 bytes")
        self.key = key
        self.kid = key_id(key)

    def sign(self, payload: dict[str, Any], *, now: datetime | None = None) -> dict[str, Any]:
        """A copy of the payload with `sent` (now), `kid` and `sig`; the payload is unchanged."""
        signed = {k: v for k, v in payload.items() if k not in SIGNATURE_FIELDS}
        signed["sent"] = iso_time(now or datetime.now(UTC))
        signed["kid"] = self.kid
        signed["sig"] = signature(signed, self.key)
        return signed

    def encode(self, payload: dict[str, Any]) -> bytes:
        """The signed payload's wire form (what `encode` gives, with the signature)."""
        return encode(self.sign(payload))


@cache
def schema(kind: PayloadKind) -> dict[str, Any]:
    """The JSON Schema of one payload kind, from the package's `schemas/` folder."""
    text = resources.files("rufina_alpr.schemas").joinpath(f"{kind}.schema.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def _is_zoned_time(value: object) -> bool:
    """``date-time``: ISO 8601 with a zone offset, as `iso_time` writes it.

    jsonschema checks this format only when the optional rfc3339-validator is installed, and
    otherwise accepts any string; the contract's own check does not depend on that.
    """
    if not isinstance(value, str):
        return True
    return "T" in value.upper() and datetime.fromisoformat(value).tzinfo is not None


@cache
def _format_checker() -> jsonschema.FormatChecker:
    checker = jsonschema.FormatChecker()
    checker.checks("date-time", raises=ValueError)(_is_zoned_time)
    return checker


@cache
def _validator(kind: PayloadKind) -> jsonschema.protocols.Validator:
    registry = _schema_registry()
    cls = jsonschema.validators.validator_for(schema(kind))
    return cls(schema(kind), registry=registry, format_checker=_format_checker())


@cache
def _schema_registry() -> Any:
    resources_ = [
        (f"{kind}.schema.json", Resource.from_contents(schema(kind))) for kind in PAYLOAD_KINDS
    ]
    return Registry().with_resources(resources_)


def validate(kind: PayloadKind, payload: dict[str, Any]) -> None:
    """Raise `jsonschema.ValidationError` when a payload breaks the contract."""
    _validator(kind).validate(payload)


def transit_payload(transit: Transit, station_name: str | None = None) -> dict[str, Any]:
    return {
        "v": CONTRACT_VERSION,
        "id": transit.id,
        "event_id": transit.event_id,
        "plate": transit.plate,
        "display": transit.display,
        "country": transit.country,
        "format": transit.format,
        "confidence": round(transit.confidence, 4),
        "low_confidence": transit.low_confidence,
        "station": transit.station_id,
        "station_name": station_name or transit.station_id,
        "camera": transit.camera,
        "direction": transit.direction,
        "time": iso_time(transit.time),
        "vehicle": transit.vehicle,
        "reads": transit.read_count,
        "frigate_plate": transit.frigate_plate,
        "alternatives": [
            {"plate": plate, "score": round(score, 4)} for plate, score in transit.alternatives
        ],
        "hotlist": transit.hotlist,
        "has_crop": transit.crop_jpeg is not None,
        "original_plate": transit.original_plate,
    }


def hotlist_match_payload(
    transit_payload_: dict[str, Any],
    *,
    alert_id: str,
    status: Literal["provisional", "confirmed"],
    alert_kind: AlertKind,
    list_id: str | None,
    list_name: str | None,
    entry_plate: str | None,
    read_plate: str,
    score: float,
    match: Literal["exact", "fuzzy"],
    action: Literal["alert", "stop_and_check"],
    priority: int | None,
    reason: str | None,
    related_transit: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An alert as raised: the whole transit (as `transit_payload` built it; provisional: the
    reads so far, under the id its transit will have), the entry it matched and the alert's id."""
    return {
        "v": CONTRACT_VERSION,
        "alert_id": alert_id,
        "status": status,
        "alert_kind": alert_kind,
        "transit": transit_payload_,
        "list": list_id,
        "list_name": list_name,
        "entry_plate": entry_plate,
        "read_plate": read_plate,
        "score": round(score, 4),
        "match": match,
        "action": action,
        "priority": priority,
        "reason": reason,
        "related_transit": related_transit,
    }


def alert_update_payload(
    *,
    alert_id: str,
    alert_kind: AlertKind,
    status: AlertStatus,
    state: AlertState,
    change: AlertChange,
    transit_id: str,
    station_id: str,
    list_id: str | None,
    priority: int | None,
    time: datetime,
    plate: str | None = None,
    reason: str | None = None,
    outcome: str | None = None,
    by: str | None = None,
) -> dict[str, Any]:
    """What became of an alert (``change``): confirmed or withdrawn by its transit, or a step
    of its handling."""
    return {
        "v": CONTRACT_VERSION,
        "alert_id": alert_id,
        "alert_kind": alert_kind,
        "status": status,
        "state": state,
        "change": change,
        "transit_id": transit_id,
        "station": station_id,
        "list": list_id,
        "priority": priority,
        "plate": plate,
        "reason": reason,
        "outcome": outcome,
        "by": by,
        "time": iso_time(time),
    }
