"""Engine settings: one voluptuous schema fed by a YAML file, the environment or add-on options.

Precedence: built-in defaults < YAML file < add-on ``options.json`` < environment variables:
``RUFINA_ALPR__SECTION__KEY=value`` (double underscores nest) and the short forms (`ENV_SHORT`);
`rufina_alpr.settings_sources` reads and merges them.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import voluptuous as vol
from voluptuous.humanize import humanize_error

from rufina_alpr.contract import DEFAULT_PREFIX
from rufina_alpr.frigate import DEFAULT_MAX_IMAGE_BYTES
from rufina_alpr.intake import DEFAULT_MAX_PAYLOAD
from rufina_alpr.panel_settings import PANEL_SCHEMA, PanelSettings, panel_settings
from rufina_alpr.privacy.settings import PRIVACY_SCHEMA, PrivacySettings, privacy_settings
from rufina_alpr.settings_sources import (
    ADDON_SETTINGS_FILE,
    SECRET_KEYS,
    SettingsError,
    addon_overrides,
    deep_merge,
    environment_overrides,
    read_yaml,
)
from rufina_alpr.stations import (
    STATION_SCHEMA,
    Municipality,
    RegistryError,
    Station,
    load_registry,
)

VEHICLE_LABELS: Final = ("car", "motorcycle", "bus", "truck")
# API roles, least to most: viewer (statistics), operator (searches, hotlists), admin (audit).
ROLES: Final = ("viewer", "operator", "admin")
MIN_TOKEN_LENGTH: Final = 16


def _timezone(value: Any) -> str:
    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise vol.Invalid(f"unknown time zone {value!r}") from err
    return str(value)


_PORT = vol.All(vol.Coerce(int), vol.Range(min=1, max=65535))
_POSITIVE = vol.All(vol.Coerce(float), vol.Range(min=0, min_included=False))

SCHEMA: Final = vol.Schema(
    {
        vol.Optional("instance", default="rufina"): vol.All(str, vol.Match(r"^[A-Za-z0-9_-]+$")),
        vol.Optional("timezone", default="Europe/Rome"): _timezone,
        vol.Optional("data_dir", default="~/.local/share/rufina-alpr"): str,
        vol.Optional("log_level", default="info"): vol.All(
            vol.Lower, vol.In(["debug", "info", "warning", "error"])
        ),
        vol.Optional("mqtt", default={}): {
            vol.Optional("host", default="127.0.0.1"): str,
            vol.Optional("port", default=1883): _PORT,
            vol.Optional("username"): vol.Any(None, str),
            vol.Optional("password"): vol.Any(None, str),
            vol.Optional("client_id"): vol.Any(None, str),
            vol.Optional("topic_prefix", default=DEFAULT_PREFIX): vol.Match(r"^[^#+$][^#+]*$"),
            vol.Optional("frigate_prefix", default="frigate"): vol.Match(r"^[^#+$][^#+]*$"),
            vol.Optional("shared_group"): vol.Any(None, vol.Match(r"^[A-Za-z0-9_-]+$")),
            vol.Optional("keepalive", default=30): vol.All(vol.Coerce(int), vol.Range(min=5)),
            # Frigate's messages are a few KB; a bigger one is refused before it is parsed.
            vol.Optional("max_payload_bytes", default=DEFAULT_MAX_PAYLOAD): vol.All(
                vol.Coerce(int), vol.Range(min=4096)
            ),
        },
        vol.Optional("frigate", default={}): {
            vol.Optional("url", default="http://127.0.0.1:5000"): vol.Url(),
            vol.Optional("timeout", default=10.0): _POSITIVE,
            vol.Optional("retries", default=3): vol.All(vol.Coerce(int), vol.Range(min=0, max=10)),
            vol.Optional("snapshot_quality", default=95): vol.All(
                vol.Coerce(int), vol.Range(min=50, max=100)
            ),
            # Port 8971: Frigate's login (JWT cookie) and TLS; port 5000 needs neither.
            vol.Optional("username"): vol.Any(None, str),
            vol.Optional("password"): vol.Any(None, str),
            vol.Optional("cookie_name", default="frigate_token"): vol.All(str, vol.Length(min=1)),
            vol.Optional("verify_tls", default=True): vol.Boolean(),
            vol.Optional("ca_file"): vol.Any(None, str),
            # A larger image body (on the wire, or gzip-decoded) is refused unread.
            vol.Optional("max_image_megabytes", default=32): vol.All(
                vol.Coerce(float), vol.Range(min=0.1)
            ),
            # What our OCR reads: "clean" (snapshot-clean.webp/.png), "recording" (the record
            # stream's frame at the snapshot time, vehicle box scaled from detect resolution) or
            # "snapshot" (snapshot.jpg as Frigate serves it); each falls back to the next one.
            vol.Optional("image_source", default="clean"): vol.In(
                ["clean", "recording", "snapshot"]
            ),
            # Frigate writes 10 s record segments and moves each into its database only once it
            # is closed (its record maintainer runs every 5 s): a frame at t can be asked for
            # from about t + 15 s. Earlier reads take the snapshot; the end read waits.
            vol.Optional("recording_delay", default=16.0): vol.All(
                vol.Coerce(float), vol.Range(min=0)
            ),
            # With "recording": at an event's end, the record frames of its last snapshots
            # (Frigate's best frames so far, the final one included) are read and fused.
            vol.Optional("recording_frames", default=3): vol.All(
                vol.Coerce(int), vol.Range(min=1, max=10)
            ),
            # Write our plate (and hotlist names as sub_label) back to Frigate's event (admin).
            vol.Optional("write_back", default={}): {
                vol.Optional("plate", default=False): vol.Boolean(),
                vol.Optional("sub_label", default=False): vol.Boolean(),
            },
            # Frigate publishes with QoS 0: events missed on MQTT are found in GET /api/events
            # at start-up and every ``reconcile_interval`` seconds (0: never), looking
            # ``reconcile_lookback`` seconds back.
            vol.Optional("reconcile_interval", default=300.0): vol.All(
                vol.Coerce(float), vol.Range(min=0)
            ),
            vol.Optional("reconcile_lookback", default=3600.0): _POSITIVE,
            # Dedicated LPR cameras send no `end`: their event is complete after this quiet time.
            vol.Optional("lpr_event_quiet", default=5.0): _POSITIVE,
            # Frigate is down when frigate/stats is older than this (Frigate sends it every 60 s).
            vol.Optional("stats_timeout", default=180.0): _POSITIVE,
        },
        vol.Optional("models", default={}): {
            vol.Optional("dir"): vol.Any(None, str),
            vol.Optional("detector", default="auto"): str,
            vol.Optional("crop_detector", default="auto"): str,
            vol.Optional("ocr", default="auto"): str,
            vol.Optional("detector_threshold", default=0.35): vol.All(
                vol.Coerce(float), vol.Range(min=0.05, max=0.95)
            ),
            vol.Optional("threads", default=1): vol.All(vol.Coerce(int), vol.Range(min=1, max=64)),
            # Read again where the first detector pass finds no plate or the OCR is unsure: the
            # other detector size, then tiles of a wide frame (`ModelSettings.second_pass`).
            vol.Optional("second_pass", default=True): vol.Boolean(),
        },
        vol.Optional("recognition", default={}): {
            vol.Optional("workers", default=2): vol.All(vol.Coerce(int), vol.Range(min=1, max=64)),
            vol.Optional("queue_size", default=64): vol.All(vol.Coerce(int), vol.Range(min=1)),
            vol.Optional("max_reads_per_event", default=3): vol.All(
                vol.Coerce(int), vol.Range(min=1, max=20)
            ),
            vol.Optional("min_update_interval", default=0.0): vol.All(
                vol.Coerce(float), vol.Range(min=0)
            ),
            vol.Optional("max_image_megapixels", default=40): _POSITIVE,
            vol.Optional("low_confidence", default=0.75): vol.All(
                vol.Coerce(float), vol.Range(min=0, max=1)
            ),
            vol.Optional("event_timeout", default=600): _POSITIVE,
            vol.Optional("labels", default=list(VEHICLE_LABELS)): [str],
        },
        vol.Optional("store", default={}): {
            vol.Optional("url"): vol.Any(None, str),
        },
        vol.Optional("api", default={}): {
            vol.Optional("host", default="127.0.0.1"): str,
            vol.Optional("port", default=8787): vol.All(
                vol.Coerce(int), vol.Range(min=0, max=65535)
            ),
            vol.Optional("token"): vol.Any(
                None,
                vol.All(str, vol.Length(min=MIN_TOKEN_LENGTH)),
                msg=f"must be a string of at least {MIN_TOKEN_LENGTH} characters",
            ),
            vol.Optional("public_url"): vol.Any(None, vol.Url()),
            # A delegate's token may name the person it acts for (X-Rufina-Acting-User), whom the
            # audit log then records: Home Assistant's token, acting for its users. ``delegate``
            # here is the built-in token's (the add-on turns it on: it hands that token to HA).
            vol.Optional("delegate", default=False): vol.Boolean(),
            # Named users and their roles; ``token`` above is the built-in admin.
            vol.Optional("users", default=[]): [
                {
                    vol.Required("name"): vol.All(str, vol.Length(min=1, max=120)),
                    vol.Required("token"): vol.All(str, vol.Length(min=MIN_TOKEN_LENGTH)),
                    vol.Required("role"): vol.In(ROLES),
                    vol.Optional("delegate", default=False): vol.Boolean(),
                }
            ],
            vol.Optional("max_page", default=500): vol.All(
                vol.Coerce(int), vol.Range(min=1, max=10000)
            ),
            # Open API connections at most (each holds a file descriptor); none: computed from
            # the process's file limit less a reserve for Frigate, the broker and the store.
            vol.Optional("max_connections", default=None): vol.Any(
                None, vol.All(vol.Coerce(int), vol.Range(min=1, max=1_000_000))
            ),
            # Home Assistant ingress (the add-on's panel): requests that come from the
            # Supervisor's ingress proxy (peer address in ``trusted_proxies``, with its
            # X-Ingress-Path header) are the logged-in HA user, with ``role`` (``admins``: HA user
            # names that get the admin role). Off by default: the add-on turns it on.
            vol.Optional("ingress", default={}): {
                vol.Optional("enabled", default=False): vol.Boolean(),
                vol.Optional("trusted_proxies", default=["172.30.32.2"]): [
                    vol.All(str, vol.Length(min=1, max=64))
                ],
                vol.Optional("role", default="operator"): vol.In(ROLES),
                vol.Optional("admins", default=[]): [vol.All(str, vol.Length(min=1, max=120))],
            },
        },
        vol.Optional("privacy", default={}): PRIVACY_SCHEMA,
        vol.Optional("panel", default={}): PANEL_SCHEMA,
        vol.Optional("hotlists", default={}): {
            vol.Optional("cooldown", default=300.0): vol.All(vol.Coerce(float), vol.Range(min=0)),
            vol.Optional("fuzzy_min_score", default=0.8): vol.All(
                vol.Coerce(float), vol.Range(min=0.5, max=1)
            ),
            # Alert while the vehicle is in view, on a read this sure of its plate (provisional:
            # its transit confirms or withdraws it).
            vol.Optional("in_view", default=True): bool,
            vol.Optional("in_view_min_confidence", default=0.85): vol.All(
                vol.Coerce(float), vol.Range(min=0.5, max=1)
            ),
            # Keep Frigate's full frame of every alert, with its SHA-256 at capture.
            vol.Optional("evidence_frames", default=True): bool,
        },
        vol.Optional("tracking", default={}): {
            vol.Optional("journey_gap", default=1800.0): _POSITIVE,
            # A plate seen at two stations faster than this drive allows: a cloned plate (or a
            # misread). Measured travel times decide where there are journey_min_samples.
            vol.Optional("impossible_journey", default=True): bool,
            vol.Optional("journey_speed_kmh", default=130.0): vol.All(
                vol.Coerce(float), vol.Range(min=10, max=400)
            ),
            vol.Optional("journey_min_samples", default=5): vol.All(int, vol.Range(min=1)),
            vol.Optional("journey_priority", default=3): vol.All(int, vol.Range(min=1, max=9)),
        },
        vol.Optional("stats_interval", default=60.0): _POSITIVE,
        vol.Optional("stations_file"): vol.Any(None, str),
        vol.Optional("stations", default=[]): [STATION_SCHEMA],
    }
)


@dataclass(frozen=True, slots=True)
class MqttSettings:
    host: str
    port: int
    username: str | None
    password: str | None = field(repr=False)
    client_id: str
    topic_prefix: str
    frigate_prefix: str
    shared_group: str | None
    keepalive: int
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD


@dataclass(frozen=True, slots=True)
class FrigateSettings:
    url: str
    timeout: float
    retries: int
    snapshot_quality: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    cookie_name: str = "frigate_token"
    verify_tls: bool = True
    ca_file: str | None = None
    image_source: str = "clean"
    recording_delay: float = 16.0
    recording_frames: int = 3
    write_back_plate: bool = False
    write_back_sub_label: bool = False
    reconcile_interval: float = 300.0
    reconcile_lookback: float = 3600.0
    lpr_event_quiet: float = 5.0
    stats_timeout: float = 180.0
    max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES


@dataclass(frozen=True, slots=True)
class RecognitionSettings:
    workers: int
    queue_size: int
    max_reads_per_event: int
    min_update_interval: float
    max_image_pixels: int
    low_confidence: float
    event_timeout: float
    labels: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ApiUser:
    """Who calls the API, with what role (viewer < operator < admin); a ``delegate`` may act for
    another person (the API's X-Rufina-Acting-User header)."""

    name: str
    token: str = field(repr=False)
    role: str
    delegate: bool = False


@dataclass(frozen=True, slots=True)
class IngressSettings:
    """Trust Home Assistant's ingress proxy (see ``rufina_alpr.api.auth``)."""

    enabled: bool = False
    trusted_proxies: tuple[str, ...] = ("172.30.32.2",)
    role: str = "operator"
    admins: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ApiSettings:
    host: str
    port: int
    token: str = field(repr=False)
    public_url: str | None
    users: tuple[ApiUser, ...] = ()
    max_page: int = 500
    ingress: IngressSettings = field(default_factory=IngressSettings)
    max_connections: int | None = None  # None: computed (rufina_alpr.api.default_max_connections)
    delegate: bool = False  # the built-in token (``token``) may act for another person


@dataclass(frozen=True, slots=True)
class HotlistSettings:
    cooldown: float = 300.0
    fuzzy_min_score: float = 0.8
    in_view: bool = True
    in_view_min_confidence: float = 0.85
    evidence_frames: bool = True


@dataclass(frozen=True, slots=True)
class TrackingSettings:
    journey_gap: float = 1800.0
    impossible_journey: bool = True
    journey_speed_kmh: float = 130.0
    journey_min_samples: int = 5
    journey_priority: int = 3


@dataclass(frozen=True, slots=True)
class Settings:
    instance: str
    timezone: ZoneInfo
    data_dir: Path
    log_level: str
    mqtt: MqttSettings
    frigate: FrigateSettings
    models_dir: Path | None
    detector: str
    crop_detector: str
    ocr: str
    detector_threshold: float
    model_threads: int
    second_pass: bool
    recognition: RecognitionSettings
    store_url: str
    api: ApiSettings
    stats_interval: float
    stations: tuple[Station, ...]
    privacy: PrivacySettings = field(default_factory=PrivacySettings)
    hotlists: HotlistSettings = HotlistSettings()
    tracking: TrackingSettings = TrackingSettings()
    panel: PanelSettings = field(default_factory=PanelSettings)
    municipality: Municipality | None = None
    """The town of ``stations_file``'s registry (the privacy pack names it); None without one."""

    def station_for_camera(self, camera: str) -> Station | None:
        return next((s for s in self.stations if s.camera == camera), None)

    def station(self, station_id: str) -> Station | None:
        return next((s for s in self.stations if s.id == station_id), None)


def load_settings(
    path: str | Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    addon_options: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Read, merge and validate settings; raise `SettingsError` naming the bad key."""
    raw: dict[str, Any] = {}
    if path is not None:
        raw = read_yaml(Path(path))
    if addon_options is not None:
        try:
            options = json.loads(Path(addon_options).read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise SettingsError(f"cannot read add-on options {addon_options}: {err}") from err
        if options.get(ADDON_SETTINGS_FILE):
            # The user's file lies beneath: the broker, API and data folder the add-on set win.
            raw = deep_merge(read_yaml(Path(options[ADDON_SETTINGS_FILE])), raw)
        raw = deep_merge(raw, addon_overrides(options))
    raw = deep_merge(raw, environment_overrides(os.environ if environ is None else environ))
    if overrides:
        raw = deep_merge(raw, overrides)
    return settings_from_mapping(raw, base_dir=Path(path).parent if path else Path.cwd())


def settings_from_mapping(raw: Mapping[str, Any], *, base_dir: Path | None = None) -> Settings:
    try:
        valid = SCHEMA(dict(raw))
    except vol.MultipleInvalid as err:
        raise SettingsError(f"invalid settings: {_describe(dict(raw), err)}") from err
    base = base_dir or Path.cwd()

    def resolve(value: str) -> Path:
        candidate = Path(value).expanduser()
        return candidate if candidate.is_absolute() else (base / candidate).resolve()

    data_dir = resolve(valid["data_dir"])
    stations, municipality = _stations(valid, resolve)
    mqtt, frigate, models = valid["mqtt"], valid["frigate"], valid["models"]
    recognition, api = valid["recognition"], valid["api"]
    store_url = valid["store"].get("url") or f"sqlite:///{data_dir / 'rufina_alpr.db'}"
    return Settings(
        instance=valid["instance"],
        timezone=ZoneInfo(valid["timezone"]),
        data_dir=data_dir,
        log_level=valid["log_level"],
        mqtt=MqttSettings(
            host=mqtt["host"],
            port=mqtt["port"],
            username=mqtt.get("username"),
            password=mqtt.get("password"),
            client_id=mqtt.get("client_id") or f"rufina-alpr-{valid['instance']}",
            topic_prefix=mqtt["topic_prefix"],
            frigate_prefix=mqtt["frigate_prefix"],
            shared_group=mqtt.get("shared_group"),
            keepalive=mqtt["keepalive"],
            max_payload_bytes=mqtt["max_payload_bytes"],
        ),
        frigate=FrigateSettings(
            url=frigate["url"].rstrip("/"),
            timeout=frigate["timeout"],
            retries=frigate["retries"],
            snapshot_quality=frigate["snapshot_quality"],
            username=frigate.get("username"),
            password=frigate.get("password"),
            cookie_name=frigate["cookie_name"],
            verify_tls=frigate["verify_tls"],
            ca_file=str(resolve(frigate["ca_file"])) if frigate.get("ca_file") else None,
            image_source=frigate["image_source"],
            recording_delay=frigate["recording_delay"],
            recording_frames=frigate["recording_frames"],
            write_back_plate=frigate["write_back"]["plate"],
            write_back_sub_label=frigate["write_back"]["sub_label"],
            reconcile_interval=frigate["reconcile_interval"],
            reconcile_lookback=frigate["reconcile_lookback"],
            lpr_event_quiet=frigate["lpr_event_quiet"],
            stats_timeout=frigate["stats_timeout"],
            max_image_bytes=int(frigate["max_image_megabytes"] * 1_000_000),
        ),
        models_dir=resolve(models["dir"]) if models.get("dir") else None,
        detector=models["detector"],
        crop_detector=models["crop_detector"],
        ocr=models["ocr"],
        detector_threshold=models["detector_threshold"],
        model_threads=models["threads"],
        second_pass=models["second_pass"],
        recognition=RecognitionSettings(
            workers=recognition["workers"],
            queue_size=recognition["queue_size"],
            max_reads_per_event=recognition["max_reads_per_event"],
            min_update_interval=recognition["min_update_interval"],
            max_image_pixels=int(recognition["max_image_megapixels"] * 1_000_000),
            low_confidence=recognition["low_confidence"],
            event_timeout=recognition["event_timeout"],
            labels=tuple(recognition["labels"]),
        ),
        store_url=store_url,
        api=ApiSettings(
            host=api["host"],
            port=api["port"],
            token=api.get("token") or _generated_token(data_dir),
            public_url=api.get("public_url"),
            users=tuple(
                ApiUser(u["name"], u["token"], u["role"], u["delegate"]) for u in api["users"]
            ),
            max_page=api["max_page"],
            max_connections=api["max_connections"],
            delegate=api["delegate"],
            ingress=IngressSettings(
                enabled=api["ingress"]["enabled"],
                trusted_proxies=tuple(api["ingress"]["trusted_proxies"]),
                role=api["ingress"]["role"],
                admins=tuple(api["ingress"]["admins"]),
            ),
        ),
        stats_interval=valid["stats_interval"],
        stations=stations,
        privacy=privacy_settings(valid["privacy"]),
        hotlists=HotlistSettings(**valid["hotlists"]),
        tracking=TrackingSettings(**valid["tracking"]),
        panel=panel_settings(valid["panel"]),
        municipality=municipality,
    )


def _describe(raw: dict[str, Any], err: vol.MultipleInvalid) -> str:
    """Each error with its key; the offending value too, except for secrets."""
    return "; ".join(
        str(error)
        if error.path and str(error.path[-1]) in SECRET_KEYS
        else humanize_error(raw, error)
        for error in err.errors
    )


def _stations(
    valid: dict[str, Any], resolve: Any
) -> tuple[tuple[Station, ...], Municipality | None]:
    """The inline stations and the registry's, with the registry's municipality."""
    stations = [Station.from_mapping(entry) for entry in valid["stations"]]
    municipality = None
    if valid.get("stations_file"):
        try:
            registry = load_registry(resolve(valid["stations_file"]))
        except RegistryError as err:
            raise SettingsError(f"invalid settings: stations_file: {err}") from err
        stations.extend(registry.stations)
        municipality = registry.municipality
    seen: set[str] = set()
    for station in stations:
        for key in (f"id {station.id}", f"camera {station.camera}"):
            if key in seen:
                raise SettingsError(f"invalid settings: stations: duplicate station {key}")
            seen.add(key)
    return tuple(stations), municipality


def _generated_token(data_dir: Path) -> str:
    """A random API token kept in the data dir, so an unconfigured engine is never open."""
    token_file = data_dir / "api_token"
    try:
        if token_file.is_file():
            kept = token_file.read_text().strip()
            if len(kept) >= MIN_TOKEN_LENGTH:  # an empty file (a crash while writing) is replaced
                return kept
        token = secrets.token_urlsafe(32)
        data_dir.mkdir(parents=True, exist_ok=True)
        token_file.touch(mode=0o600)
        token_file.write_text(token)
    except OSError as err:  # a data_dir such as /data for a normal user: a traceback before
        raise SettingsError(unusable_data_dir(data_dir, err)) from err
    return token


def unusable_data_dir(data_dir: Path, err: OSError) -> str:
    """One line saying that ``data_dir`` cannot be used and which settings choose another."""
    return (
        f"invalid settings: data_dir {data_dir} cannot be created or written "
        f"({err.strerror or err}): set data_dir in the settings file, or RUFINA_ALPR_DATA, to a "
        "folder this user can write"
    )
