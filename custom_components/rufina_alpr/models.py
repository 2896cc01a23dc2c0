"""Typed views of the engine's MQTT payloads (contract version 1, see the engine's docs/mqtt.md).

The integration cannot import the engine (HA OS images are musl based and the engine pulls in
onnxruntime), so it checks the payloads itself with voluptuous, tolerantly: unknown fields are
ignored (adding a field does not bump the contract version), missing required ones are rejected.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .compat import vol
from .const import KIND_LPR, SUPPORTED_CONTRACT_VERSION
from .payload import (
    COUNT,
    NUMBER,
    OPTIONAL_TEXT,
    Payload,
    UnsupportedVersionError,
    checked,
    decode,
    parse_time,
)
from .read_quality import READ_QUALITY_SCHEMA, ReadQuality

_STATUS_SCHEMA = vol.Schema(
    {
        vol.Required("state"): vol.In(("online", "offline")),
        vol.Required("engine_version"): str,
        vol.Required("contract_version"): int,
        vol.Required("instance"): vol.All(str, vol.Length(min=1)),
        vol.Optional("api_url"): OPTIONAL_TEXT,
        vol.Optional("since"): OPTIONAL_TEXT,
    },
    extra=vol.ALLOW_EXTRA,
)

_STATION_SCHEMA = vol.Schema(
    {
        vol.Required("id"): vol.All(str, vol.Match(r"^[a-z0-9_]+$")),
        vol.Required("name"): vol.All(str, vol.Length(min=1)),
        vol.Required("camera"): str,
        vol.Required("kind"): vol.In(("lpr", "context")),
        vol.Optional("zone"): OPTIONAL_TEXT,
        vol.Optional("direction"): OPTIONAL_TEXT,
        vol.Optional("locality"): OPTIONAL_TEXT,
        vol.Optional("latitude"): vol.Any(None, NUMBER),
        vol.Optional("longitude"): vol.Any(None, NUMBER),
    },
    extra=vol.ALLOW_EXTRA,
)

_STATIONS_SCHEMA = vol.Schema({vol.Required("stations"): [dict]}, extra=vol.ALLOW_EXTRA)

_TRANSIT_SCHEMA = vol.Schema(
    {
        vol.Required("id"): vol.All(str, vol.Length(min=1)),
        vol.Required("event_id"): str,
        vol.Required("plate"): vol.All(str, vol.Length(min=1)),
        vol.Required("display"): str,
        vol.Required("country"): OPTIONAL_TEXT,
        vol.Required("format"): OPTIONAL_TEXT,
        vol.Required("confidence"): NUMBER,
        vol.Required("low_confidence"): bool,
        vol.Required("station"): vol.All(str, vol.Match(r"^[a-z0-9_]+$")),
        vol.Optional("station_name"): str,
        vol.Required("camera"): str,
        vol.Required("direction"): OPTIONAL_TEXT,
        vol.Required("time"): str,
        vol.Required("vehicle"): str,
        vol.Required("reads"): int,
        vol.Optional("frigate_plate"): OPTIONAL_TEXT,
        vol.Required("alternatives"): [
            vol.Schema(
                {vol.Required("plate"): str, vol.Required("score"): NUMBER}, extra=vol.ALLOW_EXTRA
            )
        ],
        vol.Required("hotlist"): vol.Any(None, dict),
        vol.Required("has_crop"): bool,
    },
    extra=vol.ALLOW_EXTRA,
)

_ALERT_ID = vol.All(str, vol.Length(min=1, max=36))

# An engine older than the alerts' workflow sent neither an alert id nor a status nor a kind:
# its matches are confirmed hotlist alerts that no one can handle from Home Assistant.
_HOTLIST_SCHEMA = vol.Schema(
    {
        vol.Required("transit"): dict,
        # null: an impossible journey (no list); not_authorised: no entry matched.
        vol.Required("list"): vol.Any(None, vol.All(str, vol.Length(min=1))),
        vol.Required("entry_plate"): OPTIONAL_TEXT,
        vol.Required("read_plate"): str,
        vol.Required("score"): NUMBER,
        vol.Required("match"): str,
        vol.Required("action"): str,
        vol.Optional("priority"): vol.Any(None, int),
        vol.Optional("reason"): OPTIONAL_TEXT,
        vol.Optional("alert_id"): vol.Any(None, _ALERT_ID),
        vol.Optional("status", default="confirmed"): vol.In(("provisional", "confirmed")),
        vol.Optional("alert_kind", default="hotlist"): str,
        vol.Optional("list_name"): OPTIONAL_TEXT,
        vol.Optional("related_transit"): vol.Any(None, dict),
    },
    extra=vol.ALLOW_EXTRA,
)

_ALERT_SCHEMA = vol.Schema(
    {
        vol.Required("alert_id"): _ALERT_ID,
        vol.Required("alert_kind"): str,
        vol.Required("status"): vol.In(("provisional", "confirmed", "withdrawn")),
        vol.Required("state"): str,
        vol.Required("change"): str,
        vol.Required("transit_id"): vol.All(str, vol.Length(min=1)),
        vol.Required("station"): vol.All(str, vol.Match(r"^[a-z0-9_]+$")),
        vol.Required("time"): str,
        vol.Optional("list"): OPTIONAL_TEXT,
        vol.Optional("priority"): vol.Any(None, int),
        vol.Optional("plate"): OPTIONAL_TEXT,
        vol.Optional("reason"): OPTIONAL_TEXT,
        vol.Optional("outcome"): OPTIONAL_TEXT,
        vol.Optional("by"): OPTIONAL_TEXT,
    },
    extra=vol.ALLOW_EXTRA,
)

_STATION_STATS_SCHEMA = vol.Schema(
    {
        vol.Required("transits_today"): COUNT,
        vol.Required("vehicles_last_hour"): COUNT,
        vol.Optional("vehicles_last_hour_by_class", default=dict): {str: COUNT},
        vol.Optional("vehicles_today"): COUNT,
        vol.Optional("vehicles_today_by_class", default=dict): {str: COUNT},
        vol.Optional("vehicles_today_by_direction", default=dict): {str: COUNT},
        vol.Optional("read_quality"): READ_QUALITY_SCHEMA,
    },
    extra=vol.ALLOW_EXTRA,
)

_STATS_SCHEMA = vol.Schema(
    {
        vol.Required("time"): str,
        vol.Required("transits_today"): COUNT,
        vol.Required("queue"): COUNT,
        vol.Optional("latency_ms", default=dict): {vol.Optional(str): vol.Any(None, NUMBER)},
        vol.Required("counters"): {str: COUNT},
        vol.Required("stations"): {str: _STATION_STATS_SCHEMA},
        vol.Optional("vehicles_today"): COUNT,
        vol.Optional("unique_vehicles_yesterday"): COUNT,
        vol.Optional("retention_days"): vol.All(NUMBER, vol.Range(min=0, min_included=False)),
    },
    extra=vol.ALLOW_EXTRA,
)


@dataclass(frozen=True, slots=True)
class EngineStatus:
    """The retained `status` payload (the last will says offline)."""

    online: bool
    instance: str
    engine_version: str
    contract_version: int
    api_url: str | None
    since: datetime | None

    @classmethod
    def from_payload(cls, payload: Payload) -> EngineStatus:
        data = checked(_STATUS_SCHEMA, decode(payload))
        return cls(
            online=data["state"] == "online",
            instance=data["instance"],
            engine_version=data["engine_version"],
            contract_version=data["contract_version"],
            api_url=data.get("api_url"),
            since=parse_time(data.get("since")),
        )


@dataclass(frozen=True, slots=True)
class Station:
    """One camera station as the engine announces it."""

    id: str
    name: str
    camera: str
    kind: str
    zone: str | None = None
    direction: str | None = None
    locality: str | None = None
    latitude: float | None = None
    longitude: float | None = None

    @property
    def reads_plates(self) -> bool:
        """LPR stations read plates; context stations only count vehicles."""
        return self.kind == KIND_LPR


def parse_stations(payload: Payload) -> dict[str, Station]:
    """The retained `stations` payload, by station id."""
    data = checked(_STATIONS_SCHEMA, decode(payload))
    stations: dict[str, Station] = {}
    for raw in data["stations"]:
        entry = checked(_STATION_SCHEMA, raw)
        stations[entry["id"]] = Station(
            id=entry["id"],
            name=entry["name"],
            camera=entry["camera"],
            kind=entry["kind"],
            zone=entry.get("zone"),
            direction=entry.get("direction"),
            locality=entry.get("locality"),
            latitude=entry.get("latitude"),
            longitude=entry.get("longitude"),
        )
    return stations


@dataclass(frozen=True, slots=True)
class Transit:
    """One vehicle passage; `payload` keeps the engine's full payload for events."""

    id: str
    station: str
    plate: str
    display: str
    confidence: float
    low_confidence: bool
    time: datetime | None
    vehicle: str
    direction: str | None
    event_id: str
    country: str | None
    has_crop: bool
    hotlist: dict[str, Any] | None
    alternatives: list[dict[str, Any]]
    payload: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Transit:
        if raw.get("v") != SUPPORTED_CONTRACT_VERSION:
            raise UnsupportedVersionError(raw.get("v"))
        data = checked(_TRANSIT_SCHEMA, raw)
        return cls(
            id=data["id"],
            station=data["station"],
            plate=data["plate"],
            display=data["display"],
            confidence=data["confidence"],
            low_confidence=data["low_confidence"],
            time=parse_time(data["time"]),
            vehicle=data["vehicle"],
            direction=data["direction"],
            event_id=data["event_id"],
            country=data["country"],
            has_crop=data["has_crop"],
            hotlist=data["hotlist"],
            alternatives=data["alternatives"],
            payload=raw,
        )

    @classmethod
    def from_payload(cls, payload: Payload) -> Transit:
        return cls.from_dict(decode(payload))


@dataclass(frozen=True, slots=True)
class HotlistMatch:
    """An alert as the engine raised it: a transit (provisional: the reads of a vehicle still
    in view) that matched a hotlist entry, is not authorised at a gate, or made an impossible
    journey (`related_transit`: the earlier sighting)."""

    transit: Transit
    list: str | None
    score: float
    match: str
    action: str
    payload: dict[str, Any] = field(repr=False, compare=False)
    alert_id: str | None = None
    status: str = "confirmed"
    alert_kind: str = "hotlist"
    list_name: str | None = None
    related_transit: Transit | None = None

    @classmethod
    def from_payload(cls, payload: Payload) -> HotlistMatch:
        raw = decode(payload)
        data = checked(_HOTLIST_SCHEMA, raw)
        related = data.get("related_transit")
        return cls(
            transit=Transit.from_dict(data["transit"]),
            list=data["list"],
            score=data["score"],
            match=data["match"],
            action=data["action"],
            payload=raw,
            alert_id=data.get("alert_id"),
            status=data["status"],
            alert_kind=data["alert_kind"],
            list_name=data.get("list_name"),
            related_transit=Transit.from_dict(related) if related is not None else None,
        )


@dataclass(frozen=True, slots=True)
class AlertUpdate:
    """What became of an alert (`<prefix>/alert`): `change` says what this message reports,
    `status` whether the vehicle's transit confirmed or withdrew it, `state` its handling."""

    alert_id: str
    alert_kind: str
    status: str
    state: str
    change: str
    transit_id: str
    station: str
    time: datetime | None
    list: str | None
    priority: int | None
    plate: str | None
    reason: str | None
    outcome: str | None
    by: str | None
    payload: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_payload(cls, payload: Payload) -> AlertUpdate:
        raw = decode(payload)
        data = checked(_ALERT_SCHEMA, raw)
        return cls(
            alert_id=data["alert_id"],
            alert_kind=data["alert_kind"],
            status=data["status"],
            state=data["state"],
            change=data["change"],
            transit_id=data["transit_id"],
            station=data["station"],
            time=parse_time(data["time"]),
            list=data.get("list"),
            priority=data.get("priority"),
            plate=data.get("plate"),
            reason=data.get("reason"),
            outcome=data.get("outcome"),
            by=data.get("by"),
            payload=raw,
        )


@dataclass(frozen=True, slots=True)
class StationStats:
    """Per-station aggregates from the `stats` payload."""

    transits_today: int
    vehicles_last_hour: int
    vehicles_last_hour_by_class: dict[str, int]
    vehicles_today: int | None = None
    vehicles_today_by_class: dict[str, int] = field(default_factory=dict)
    vehicles_today_by_direction: dict[str, int] = field(default_factory=dict)
    read_quality: ReadQuality | None = None
    """Plate-reading stations of an engine that reports it (read_quality.py)."""


@dataclass(frozen=True, slots=True)
class EngineStats:
    """The retained `stats` payload: aggregates only, never plates."""

    time: datetime | None
    transits_today: int
    queue: int
    latency_p50: float | None
    latency_p95: float | None
    counters: dict[str, int]
    stations: dict[str, StationStats]
    vehicles_today: int | None = None
    unique_vehicles_yesterday: int | None = None
    retention_days: float | None = None
    """How long the engine keeps plates: Home Assistant keeps them no longer (retention.py)."""

    @classmethod
    def from_payload(cls, payload: Payload) -> EngineStats:
        data = checked(_STATS_SCHEMA, decode(payload))
        return cls(
            time=parse_time(data["time"]),
            transits_today=data["transits_today"],
            queue=data["queue"],
            latency_p50=data["latency_ms"].get("p50"),
            latency_p95=data["latency_ms"].get("p95"),
            counters=data["counters"],
            stations={
                station_id: StationStats(
                    transits_today=entry["transits_today"],
                    vehicles_last_hour=entry["vehicles_last_hour"],
                    vehicles_last_hour_by_class=entry["vehicles_last_hour_by_class"],
                    vehicles_today=entry.get("vehicles_today"),
                    vehicles_today_by_class=entry["vehicles_today_by_class"],
                    vehicles_today_by_direction=entry["vehicles_today_by_direction"],
                    read_quality=ReadQuality.from_data(entry.get("read_quality")),
                )
                for station_id, entry in data["stations"].items()
            },
            vehicles_today=data.get("vehicles_today"),
            unique_vehicles_yesterday=data.get("unique_vehicles_yesterday"),
            retention_days=data.get("retention_days"),
        )


@dataclass(frozen=True, slots=True)
class Hotlist:
    """A hotlist as the API lists it: no plates, only its size."""

    id: str
    name: str
    kind: str
    action: str
    entries: int
    expired: int

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Hotlist | None:
        """The list, or None when the item is not shaped like one."""
        try:
            return cls(
                id=str(data["id"]),
                name=str(data.get("name") or data["id"]),
                kind=str(data.get("kind", "")),
                action=str(data.get("action", "")),
                entries=int(data.get("entries", 0)),
                expired=int(data.get("expired", 0)),
            )
        except (KeyError, TypeError, ValueError):
            return None


_HOTLIST_NOTICE_ITEM = vol.Schema(
    {
        vol.Required("id"): vol.All(str, vol.Length(min=1)),
        vol.Required("entries"): COUNT,
        vol.Required("expired"): COUNT,
        vol.Required("revision"): str,
    },
    extra=vol.ALLOW_EXTRA,
)

_HOTLISTS_SCHEMA = vol.Schema(
    {vol.Required("changed"): str, vol.Required("lists"): [_HOTLIST_NOTICE_ITEM]},
    extra=vol.ALLOW_EXTRA,
)


@dataclass(frozen=True, slots=True)
class HotlistsNotice:
    """The retained `hotlists` change notice: each list's sizes and revision, never a plate."""

    changed: datetime | None
    lists: dict[str, tuple[int, int, str]]
    """(active entries, expired entries, revision) by list id."""

    @classmethod
    def from_payload(cls, payload: Payload) -> HotlistsNotice:
        data = checked(_HOTLISTS_SCHEMA, decode(payload))
        return cls(
            changed=parse_time(data["changed"]),
            lists={
                item["id"]: (item["entries"], item["expired"], item["revision"])
                for item in data["lists"]
            },
        )
