"""Camera stations: which Frigate camera is which station, and what the engine does with it.

The station registry (``frigate_config/stations.yaml``) is the single source of truth for the
engine, the Home Assistant devices and Frigate's configuration: :func:`load_registry` reads and
checks it, so that a mistake is reported once, clearly, before any of them starts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NoReturn
from urllib.parse import parse_qsl, urlsplit

import voluptuous as vol
import yaml

from rufina_alpr.errors import RufinaError

StationKind = Literal["lpr", "context"]
STATION_KINDS: tuple[StationKind, ...] = ("lpr", "context")
Direction = Literal["inbound", "outbound"]
DIRECTIONS: tuple[Direction, ...] = ("inbound", "outbound")
TWO_WAY = "both"
"""Station direction of a camera that sees both directions of travel (one zone per direction)."""

STATION_ID = vol.All(
    str, vol.Match(r"^[a-z0-9_]+$", msg="station id must be lowercase a-z, 0-9, _")
)
CAMERA_NAME = vol.All(
    str, vol.Match(r"^[a-zA-Z0-9_-]+$", msg="Frigate camera names are a-z, 0-9, _ and -")
)

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

ENGINE_FIELDS = (
    "id",
    "name",
    "camera",
    "kind",
    "zone",
    "direction",
    "locality",
    "latitude",
    "longitude",
)
"""The fields of an engine settings' inline station (``STATION_SCHEMA``), in their printed order."""

REGISTRY_VERSION = 1
REGISTRY_RELATIVE_PATH = Path("frigate_config") / "stations.yaml"


@dataclass(frozen=True, slots=True)
class Zone:
    """A Frigate zone of a station's camera; a vehicle entering it travels in ``direction``."""

    name: str
    coordinates: str
    direction: Direction | None = None


@dataclass(frozen=True, slots=True)
class Mask:
    """A Frigate motion mask (camera timestamp, running water, swaying trees...)."""

    name: str
    coordinates: str


@dataclass(frozen=True, slots=True)
class Streams:
    """RTSP URLs of a camera; credentials stay ``{FRIGATE_*}`` placeholders for Frigate to fill."""

    record: str
    detect: str


@dataclass(frozen=True, slots=True)
class Station:
    """A camera position: LPR stations read plates, context stations only count vehicles.

    ``zone`` and ``direction`` are the station's main reading zone and travel direction (``both``
    for a camera that sees both ways); :meth:`direction_of` gives a vehicle's direction from its
    zones. The fields after ``longitude`` come from the registry, for Frigate and Home Assistant.
    """

    id: str
    name: str
    camera: str
    kind: StationKind
    zone: str | None = None
    direction: str | None = None
    locality: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    new: bool = False
    road: str | None = None
    purpose: str | None = None
    purpose_en: str | None = None
    zones: tuple[Zone, ...] = ()
    streams: Streams | None = None
    motion_masks: tuple[Mask, ...] = ()

    @property
    def reads_plates(self) -> bool:
        return self.kind == "lpr"

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> Station:
        valid = STATION_SCHEMA(data)
        return cls(**{name: valid[name] for name in ENGINE_FIELDS if name in valid})

    def direction_of(self, entered_zones: Iterable[str]) -> Direction | None:
        """Direction of a vehicle that entered these Frigate zones; None when they don't tell."""
        entered = set(entered_zones)
        for zone in self.zones:
            if zone.direction is not None and zone.name in entered:
                return zone.direction
        if self.direction in DIRECTIONS and (self.zone is None or self.zone in entered):
            return self.direction
        return None

    def engine_settings(self) -> dict[str, Any]:
        """The station as an engine settings' inline entry (what ``from_mapping`` reads back)."""
        return {name: getattr(self, name) for name in ENGINE_FIELDS}


@dataclass(frozen=True, slots=True)
class Bounds:
    """Bounding box of the municipality: coordinates outside it are typing mistakes."""

    south: float
    north: float
    west: float
    east: float

    def contains(self, latitude: float, longitude: float) -> bool:
        return self.south <= latitude <= self.north and self.west <= longitude <= self.east

    def describe(self) -> str:
        return f"latitude {self.south:g}-{self.north:g}, longitude {self.west:g}-{self.east:g}"


@dataclass(frozen=True, slots=True)
class Municipality:
    """The town the registry covers."""

    name: str
    province: str
    bounds: Bounds
    latitude: float
    longitude: float
    istat_code: str | None = None


@dataclass(frozen=True, slots=True)
class Registry:
    """All stations of the town, in registry order, with their lookups."""

    municipality: Municipality
    stations: tuple[Station, ...]
    source: Path | None = None
    _by_camera: dict[str, Station] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "_by_camera", {station.camera: station for station in self.stations}
        )

    def by_camera(self, camera: str) -> Station | None:
        """The station of a Frigate camera, None for a camera the town did not register."""
        return self._by_camera.get(camera)

    def by_id(self, station_id: str) -> Station | None:
        return next((station for station in self.stations if station.id == station_id), None)

    def of_kind(self, kind: StationKind) -> tuple[Station, ...]:
        return tuple(station for station in self.stations if station.kind == kind)

    def summary(self) -> str:
        """One line such as ``34 stations: 15 lpr (8 new), 19 context``."""
        parts = []
        for kind in STATION_KINDS:
            stations = self.of_kind(kind)
            new = sum(station.new for station in stations)
            parts.append(f"{len(stations)} {kind}" + (f" ({new} new)" if new else ""))
        return f"{len(self.stations)} stations: {', '.join(parts)}"

    def engine_settings(self) -> dict[str, Any]:
        """The engine's ``stations:`` settings, for setups that cannot read the registry file."""
        return {"stations": [station.engine_settings() for station in self.stations]}


class RegistryError(RufinaError, ValueError):
    """The registry cannot be used; ``problems`` lists every mistake, naming station and key."""

    def __init__(self, source: Path | None, problems: Iterable[str]) -> None:
        self.source = source
        self.problems = tuple(problems)
        where = str(source) if source is not None else "station registry"
        count = len(self.problems)
        listing = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(f"{where}: {count} error{'s' if count != 1 else ''}\n{listing}")


def default_registry_path() -> Path:
    """The checkout's ``frigate_config/stations.yaml``, else the one under the working directory."""
    checkout = Path(__file__).resolve().parents[2] / REGISTRY_RELATIVE_PATH
    return checkout if checkout.is_file() else Path.cwd() / REGISTRY_RELATIVE_PATH


def load_registry(path: str | Path) -> Registry:
    """Read and check the station registry; raise :class:`RegistryError` listing every mistake."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RegistryError(source, ["file not found"]) from None
    except OSError as exc:
        raise RegistryError(source, [f"cannot read the file: {exc.strerror}"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RegistryError(source, [f"not valid YAML: {exc}"]) from None
    return parse_registry(data, source=source)


def parse_registry(data: Any, *, source: Path | None = None) -> Registry:
    """Check an already parsed registry document and build the :class:`Registry`."""
    try:
        top = _REGISTRY_SCHEMA(data)
    except vol.MultipleInvalid as exc:
        raise RegistryError(source, [_describe(error) for error in exc.errors]) from None
    municipality = _municipality(top["municipality"])
    defaults = top["defaults"]
    problems: list[str] = []
    checked: list[tuple[int, str, dict[str, Any]]] = []
    for index, raw in enumerate(top["stations"]):
        label = _label(index, raw)
        try:
            entry = _STATION_ENTRY(raw)
        except vol.MultipleInvalid as exc:
            problems.extend(f"{label}: {_describe(error)}" for error in exc.errors)
            continue
        entry.setdefault("camera", entry["id"])
        entry_problems = _entry_problems(entry, municipality, top["stream_profiles"], defaults)
        problems.extend(f"{label}: {problem}" for problem in entry_problems)
        checked.append((index, label, entry))
    problems.extend(_cross_station_problems(checked))
    if problems:
        raise RegistryError(source, problems)
    stations = tuple(_station(entry, top["stream_profiles"], defaults) for _, _, entry in checked)
    return Registry(municipality=municipality, stations=stations, source=source)


# --- schema -------------------------------------------------------------------------------------

CLEAR_CREDENTIALS = (
    "credentials written in clear: put {FRIGATE_RTSP_USER}/{FRIGATE_RTSP_PASSWORD} placeholders in "
    "the stream templates and the values in Frigate's environment"
)
_CREDENTIAL_KEYS = ("user", "username", "password", "passwd", "pwd")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_ENV_PLACEHOLDER = re.compile(r"\{FRIGATE_[A-Z0-9_]+\}")
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://(?P<netloc>[^/?#]*)")
_HOST = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$")
_POLYGON_NUMBER = re.compile(r"^\s*(0(\.[0-9]+)?|1(\.0+)?)\s*$")


def _refuse_credentials(_value: object) -> NoReturn:
    raise vol.Invalid(CLEAR_CREDENTIALS)


def _no_credential_keys() -> dict[Any, Any]:
    return {vol.Optional(key): _refuse_credentials for key in _CREDENTIAL_KEYS}


def _has_clear_credentials(url: str) -> bool:
    match = _URL.match(url)
    netloc = match["netloc"] if match else ""
    if "@" in netloc:
        userinfo = netloc.rsplit("@", 1)[0]
        if not all(_ENV_PLACEHOLDER.fullmatch(part) for part in userinfo.split(":")):
            return True
    query = urlsplit(url).query
    return any(
        key.lower() in _CREDENTIAL_KEYS and not _ENV_PLACEHOLDER.fullmatch(value)
        for key, value in parse_qsl(query, keep_blank_values=True)
    )


def _stream_template(value: object) -> str:
    if not isinstance(value, str) or not _URL.match(value):
        raise vol.Invalid("expected a stream URL such as rtsp://...")
    if _has_clear_credentials(value):
        raise vol.Invalid(CLEAR_CREDENTIALS)
    for name in _PLACEHOLDER.findall(value):
        if name != "host" and not _ENV_PLACEHOLDER.fullmatch(f"{{{name}}}"):
            raise vol.Invalid(
                f"unknown placeholder {{{name}}}: "
                "use {host} or {FRIGATE_...} environment variables"
            )
    if "{host}" not in value:
        raise vol.Invalid("a stream template needs the {host} placeholder")
    return value


def _host(value: object) -> str:
    if not isinstance(value, str):
        raise vol.Invalid("expected a host name or IP address")
    if "@" in value:
        raise vol.Invalid(CLEAR_CREDENTIALS)
    if not _HOST.match(value):
        raise vol.Invalid(f"{value!r} is not a host name or IP address")
    return value


def _polygon(value: object) -> str:
    numbers = value.split(",") if isinstance(value, str) else []
    if len(numbers) < 6 or len(numbers) % 2 or not all(_POLYGON_NUMBER.match(n) for n in numbers):
        raise vol.Invalid("expected 'x1,y1,x2,y2,x3,y3,...': at least 3 points, relative (0 to 1)")
    return ",".join(number.strip() for number in numbers)


def _kind(value: object) -> StationKind:
    if value not in STATION_KINDS:
        raise vol.Invalid(f"unknown kind {value!r} (expected one of: {', '.join(STATION_KINDS)})")
    return value


def _one_of(*choices: str) -> Any:
    def check(value: object) -> str:
        if value not in choices:
            raise vol.Invalid(f"{value!r} is not one of: {', '.join(choices)}")
        return value

    return check


_TEXT = vol.All(str, vol.Length(min=1, msg="must not be empty"))
_DEGREES = vol.All(
    vol.Any(float, int, msg="expected a number in decimal degrees"), vol.Coerce(float)
)
_MASKS = {vol.All(str, vol.Match(r"^[a-zA-Z0-9_-]+$")): _polygon}

_REGISTRY_SCHEMA = vol.Schema(
    {
        vol.Required("version"): vol.All(
            int, vol.In([REGISTRY_VERSION], msg=f"this engine reads version {REGISTRY_VERSION}")
        ),
        vol.Required("municipality"): {
            vol.Required("name"): _TEXT,
            vol.Required("province"): _TEXT,
            vol.Optional("istat_code"): _TEXT,
            vol.Required("centre"): {
                vol.Required("latitude"): _DEGREES,
                vol.Required("longitude"): _DEGREES,
            },
            vol.Required("bounds"): {
                vol.Required(side): _DEGREES for side in ("south", "north", "west", "east")
            },
        },
        vol.Required("stream_profiles"): {
            vol.All(str, vol.Match(r"^[a-z0-9_]+$")): {
                vol.Required("record"): _stream_template,
                vol.Required("detect"): _stream_template,
                **_no_credential_keys(),
            }
        },
        vol.Optional("defaults", default={}): {
            vol.Optional("stream_profile"): str,
            vol.Optional("motion_masks", default={}): _MASKS,
        },
        vol.Required("stations"): vol.All(list, vol.Length(min=1, msg="no stations")),
    }
)

_ZONE_ENTRY = vol.Schema(
    {
        vol.Required("name"): CAMERA_NAME,
        vol.Optional("direction"): _one_of(*DIRECTIONS),
        vol.Required("coordinates"): _polygon,
    }
)

_STATION_ENTRY = vol.Schema(
    {
        vol.Required("id"): STATION_ID,
        vol.Required("name"): _TEXT,
        vol.Optional("camera"): CAMERA_NAME,
        vol.Required("kind"): _kind,
        vol.Optional("new", default=False): bool,
        vol.Required("locality"): _TEXT,
        vol.Required("road"): _TEXT,
        vol.Optional("direction"): _one_of(*DIRECTIONS, TWO_WAY),
        vol.Required("latitude"): _DEGREES,
        vol.Required("longitude"): _DEGREES,
        vol.Required("host"): _host,
        vol.Optional("stream_profile"): str,
        vol.Required("purpose"): {vol.Required("it"): _TEXT, vol.Optional("en"): _TEXT},
        vol.Optional("zones", default=[]): [_ZONE_ENTRY],
        vol.Optional("motion_masks", default={}): _MASKS,
        **_no_credential_keys(),
    }
)


# --- checks across keys and stations ------------------------------------------------------------


def _describe(error: vol.Invalid) -> str:
    path = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in error.path)
    message = "unknown key" if error.msg == "extra keys not allowed" else error.msg
    return f"{path.lstrip('.')}: {message}" if path else message


def _label(index: int, raw: object) -> str:
    station_id = raw.get("id") if isinstance(raw, Mapping) else None
    return f"station {station_id!r}" if isinstance(station_id, str) else f"stations[{index}]"


def _municipality(data: dict[str, Any]) -> Municipality:
    return Municipality(
        name=data["name"],
        province=data["province"],
        istat_code=data.get("istat_code"),
        latitude=data["centre"]["latitude"],
        longitude=data["centre"]["longitude"],
        bounds=Bounds(**data["bounds"]),
    )


def _entry_problems(
    entry: dict[str, Any],
    municipality: Municipality,
    profiles: dict[str, Any],
    defaults: dict[str, Any],
) -> list[str]:
    problems = []
    profile = entry.get("stream_profile", defaults.get("stream_profile"))
    if profile is None:
        problems.append("stream_profile: none given here nor in defaults.stream_profile")
    elif profile not in profiles:
        problems.append(
            f"stream_profile: unknown profile {profile!r} (known: {', '.join(sorted(profiles))})"
        )
    latitude, longitude = entry["latitude"], entry["longitude"]
    if not municipality.bounds.contains(latitude, longitude):
        problems.append(
            f"latitude/longitude: {latitude:g}, {longitude:g} is outside the municipality of "
            f"{municipality.name} ({municipality.bounds.describe()})"
        )
    zones = entry["zones"]
    if entry["kind"] == "lpr" and not any("direction" in zone for zone in zones):
        problems.append(
            "zones: an lpr station needs a direction zone (a zone with direction: inbound or "
            "outbound) so that its reads get a direction of travel"
        )
    station_direction = entry.get("direction")
    for index, zone in enumerate(zones):
        zone_direction = zone.get("direction")
        if station_direction in DIRECTIONS and zone_direction not in (None, station_direction):
            problems.append(
                f"zones[{index}].direction: {zone_direction} zone on an {station_direction} station"
            )
    return problems


def _cross_station_problems(checked: list[tuple[int, str, dict[str, Any]]]) -> list[str]:
    problems = []
    first: dict[tuple[str, str], int] = {}
    for index, label, entry in checked:
        names = [("id", entry["id"]), ("camera", entry["camera"])]
        names += [("zone", zone["name"]) for zone in entry["zones"]]
        for key, name in names:
            if (key, name) in first:
                problems.append(
                    f"{label}: {key} {name!r} is already used by stations[{first[key, name]}]"
                )
                if key == "id":
                    break  # its camera, named after the id by default, would be reported twice
            first.setdefault((key, name), index)
    for _, label, entry in checked:
        for zone in entry["zones"]:
            owner = first.get(("camera", zone["name"]))
            if owner is not None:
                problems.append(
                    f"{label}: zone {zone['name']!r} has the camera name of stations[{owner}]"
                )
    return problems


def _station(entry: dict[str, Any], profiles: dict[str, Any], defaults: dict[str, Any]) -> Station:
    zones = tuple(
        Zone(name=zone["name"], coordinates=zone["coordinates"], direction=zone.get("direction"))
        for zone in entry["zones"]
    )
    main_zone = next((zone.name for zone in zones if zone.direction is not None), None)
    profile = profiles[entry.get("stream_profile") or defaults["stream_profile"]]
    masks = {**defaults["motion_masks"], **entry["motion_masks"]}
    return Station(
        id=entry["id"],
        name=entry["name"],
        camera=entry["camera"],
        kind=entry["kind"],
        zone=main_zone,
        direction=entry.get("direction"),
        locality=entry["locality"],
        latitude=entry["latitude"],
        longitude=entry["longitude"],
        new=entry["new"],
        road=entry["road"],
        purpose=entry["purpose"]["it"],
        purpose_en=entry["purpose"].get("en"),
        zones=zones,
        streams=Streams(
            record=profile["record"].replace("{host}", entry["host"]),
            detect=profile["detect"].replace("{host}", entry["host"]),
        ),
        motion_masks=tuple(Mask(name, coordinates) for name, coordinates in masks.items()),
    )
