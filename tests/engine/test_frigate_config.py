"""The generated Frigate config: valid for Frigate's schema and rules, per version, no secrets."""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from rufina_alpr.cli.stations import add_stations_commands
from rufina_alpr.frigate.config_gen import (
    FRIGATE_VERSIONS,
    PLATE_LABEL,
    VEHICLE_LABELS,
    generate_frigate_config,
)
from rufina_alpr.stations import Registry, load_registry

REPO = Path(__file__).resolve().parents[2]
REGISTRY = REPO / "frigate_config" / "stations.yaml"
FRIGATE_SHARED = REPO.parent / "shared" / "frigate"
SCHEMA_FILES = {"0.17": "config-schema-0.17.2.json", "0.18": "config-schema-0.18-dev.json"}
ROLES = {"detect", "record", "audio"}
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
OPTION_SETS: list[dict[str, Any]] = [
    {},
    {"frigate_lpr": True},
    {"detector": "cpu", "mqtt_auth": False, "retention_days": 30},
]


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry(REGISTRY)


@cache
def _load_schema(version: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(
        (FRIGATE_SHARED / SCHEMA_FILES[version]).read_text(encoding="utf-8")
    )
    return schema


def frigate_schema(version: str) -> dict[str, Any]:
    """Frigate's config JSON Schema; CI must have it, a laptop without ../shared skips."""
    path = FRIGATE_SHARED / SCHEMA_FILES[version]
    if not path.is_file():
        message = f"Frigate's config schema {path} is missing (../shared/frigate not checked out)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return _load_schema(version)


def schema_errors(config: dict[str, Any], version: str) -> list[str]:
    validator = jsonschema.Draft202012Validator(frigate_schema(version))
    return [
        f"{'.'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator.iter_errors(config)
    ]


def rule_violations(config: dict[str, Any], version: str) -> list[str]:
    """Frigate's cross-field rules that its JSON Schema cannot express (REFERENCE.md section 4)."""
    problems = []
    if config.get("version") != f"{version}-0":
        problems.append(f"version {config.get('version')!r} is not {version}-0")
    if config.get("mqtt", {}).get("enabled", True) and not config["mqtt"].get("host"):
        problems.append("mqtt.host missing")
    if ("user" in config["mqtt"]) != ("password" in config["mqtt"]):
        problems.append("mqtt user and password must be given together")
    global_lpr = config.get("lpr", {}).get("enabled", False)
    cameras: dict[str, Any] = config["cameras"]
    for name, camera in cameras.items():
        if not re.fullmatch(r"[a-zA-Z0-9_-]+", name):
            problems.append(f"{name}: bad camera name")
        inputs = camera["ffmpeg"]["inputs"]
        roles = [role for item in inputs for role in item["roles"]]
        if len(inputs) < 2:
            problems.append(f"{name}: a single input gets [record, detect] forced")
        if roles.count("detect") != 1:
            problems.append(f"{name}: exactly one detect input needed")
        if len(roles) != len(set(roles)) or not set(roles) <= ROLES:
            problems.append(f"{name}: roles {roles}")
        if config["record"]["enabled"] and "record" not in roles:
            problems.append(f"{name}: record enabled without a record input")
        if camera.get("detect", {}).get("enabled") is not True:
            problems.append(f"{name}: detect.enabled not set")
        if camera["detect"].get("fps", 5) > 10:
            problems.append(f"{name}: detect.fps above 10 on a generic camera")
        tracked = camera.get("objects", config.get("objects", {})).get("track", ["person"])
        for zone_name, zone in camera.get("zones", {}).items():
            if zone_name in cameras:
                problems.append(f"{name}: zone {zone_name} has a camera's name")
            if not set(zone["objects"]) <= set(tracked):
                problems.append(f"{name}: zone {zone_name} objects not tracked")
        if camera.get("lpr", {}).get("enabled") and not global_lpr:
            problems.append(f"{name}: camera lpr without global lpr")
        mask = camera.get("motion", {}).get("mask")
        if mask is not None and version == "0.17" and not isinstance(mask, (str, list)):
            problems.append(f"{name}: 0.17 masks are strings")
        if mask is not None and version == "0.18" and not isinstance(mask, dict):
            problems.append(f"{name}: 0.18 masks are named mappings")
    for text in strings_in(config):
        for placeholder in PLACEHOLDER.findall(text):
            if not re.fullmatch(r"FRIGATE_[A-Z0-9_]+", placeholder):
                problems.append(f"placeholder {{{placeholder}}} is not a FRIGATE_ variable")
    return problems


def strings_in(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in strings_in(item)]
    if isinstance(value, list):
        return [text for item in value for text in strings_in(item)]
    return []


def credentials_in(text: str) -> list[str]:
    """Anything that looks like a user, password or secret that is not a {FRIGATE_*} placeholder."""
    found = []
    for userinfo in re.findall(r"://([^/@\s]*)@", text):
        if not all(re.fullmatch(r"\{FRIGATE_[A-Z0-9_]+\}", p) for p in userinfo.split(":")):
            found.append(userinfo)
    for key, value in re.findall(r"(user|password|pass|pwd)\s*[:=]\s*([^\s&#]+)", text):
        if not re.fullmatch(r"['\"]?\{FRIGATE_[A-Z0-9_]+\}['\"]?", value):
            found.append(f"{key}={value}")
    return found


def generated(registry: Registry, version: str, **options: Any) -> tuple[str, dict[str, Any]]:
    text = generate_frigate_config(registry, version=version, **options)  # type: ignore[arg-type]
    config: dict[str, Any] = yaml.safe_load(text)
    return text, config


@pytest.mark.parametrize("options", OPTION_SETS, ids=["default", "frigate-lpr", "cpu-noauth"])
@pytest.mark.parametrize("version", FRIGATE_VERSIONS)
def test_generated_config_is_valid_for_frigate(
    registry: Registry, version: str, options: dict[str, Any]
) -> None:
    text, config = generated(registry, version, **options)
    assert schema_errors(config, version) == []
    assert rule_violations(config, version) == []
    assert credentials_in(text) == []
    assert len(config["cameras"]) == 34
    for camera in config["cameras"].values():
        roles = [role for item in camera["ffmpeg"]["inputs"] for role in item["roles"]]
        assert sorted(roles) == ["detect", "record"]


@pytest.mark.parametrize("version", FRIGATE_VERSIONS)
def test_generated_config_round_trips_to_the_registry(registry: Registry, version: str) -> None:
    _, config = generated(registry, version)
    cameras = config["cameras"]
    assert list(cameras) == [station.camera for station in registry.stations]
    streams = config["go2rtc"]["streams"]
    for station in registry.stations:
        camera = cameras[station.camera]
        assert camera["friendly_name"] == station.name
        zones = camera.get("zones", {})
        assert list(zones) == [zone.name for zone in station.zones]
        for zone in station.zones:
            assert zones[zone.name]["coordinates"] == zone.coordinates
        by_role = {item["roles"][0]: item["path"] for item in camera["ffmpeg"]["inputs"]}
        assert station.streams is not None
        for role, url in (("record", station.streams.record), ("detect", station.streams.detect)):
            restream = by_role[role].rsplit("/", 1)[1]
            assert streams[restream] == [url]
    assert len(streams) == 2 * len(registry.stations)


def test_version_specific_sections(registry: Registry) -> None:
    _, v17 = generated(registry, "0.17")
    _, v18 = generated(registry, "0.18")
    assert v17["version"] == "0.17-0" and v18["version"] == "0.18-0"
    assert v17["snapshots"]["clean_copy"] is True
    assert "clean_copy" not in v18["snapshots"]
    mask17 = v17["cameras"]["ponte_sieve_in"]["motion"]["mask"]
    mask18 = v18["cameras"]["ponte_sieve_in"]["motion"]["mask"]
    assert mask17 == [mask18["timestamp"]["coordinates"], mask18["river"]["coordinates"]]


def test_frigate_schema_catches_the_version_mistakes(registry: Registry) -> None:
    """The validation above is meaningful: 0.17 output is not valid 0.18 and vice versa."""
    _, v17 = generated(registry, "0.17")
    _, v18 = generated(registry, "0.18")
    assert any("clean_copy" in e for e in schema_errors(v17, "0.18"))
    assert any(
        e.startswith("cameras.ss67_selvapiana_in.motion.mask") for e in schema_errors(v17, "0.18")
    )
    assert any(
        e.startswith("cameras.ss67_selvapiana_in.motion.mask") for e in schema_errors(v18, "0.17")
    )
    broken = copy.deepcopy(v17)
    camera = broken["cameras"]["pomino_in"]
    camera["ffmpeg"]["inputs"][0]["roles"] = ["detect"]
    camera["objects"]["track"] = ["car"]
    del camera["detect"]["enabled"]
    assert rule_violations(broken, "0.17") == [
        "pomino_in: exactly one detect input needed",
        "pomino_in: roles ['detect', 'detect']",
        "pomino_in: record enabled without a record input",
        "pomino_in: detect.enabled not set",
        "pomino_in: zone pomino_in_lpr objects not tracked",
    ]


def test_detect_objects_and_privacy_settings(registry: Registry) -> None:
    _, config = generated(registry, "0.17", retention_days=14)
    for station in registry.stations:
        camera = config["cameras"][station.camera]
        detect = camera["detect"]
        if station.reads_plates:
            assert (detect["width"], detect["height"], detect["fps"]) == (1920, 1080, 10)
        else:
            assert (detect["width"], detect["height"], detect["fps"]) == (1280, 720, 5)
        assert camera["objects"]["track"] == list(VEHICLE_LABELS)
        assert "lpr" not in camera
    assert "lpr" not in config
    record = config["record"]
    assert record["enabled"] is True and record["continuous"]["days"] == 0
    assert record["motion"]["days"] == 14
    assert record["alerts"]["retain"]["days"] == record["detections"]["retain"]["days"] == 14
    assert config["snapshots"] == {"enabled": True, "clean_copy": True, "retain": {"default": 14}}
    _, default = generated(registry, "0.17")
    assert default["record"]["motion"]["days"] == 7


def test_frigate_lpr_option(registry: Registry) -> None:
    _, config = generated(registry, "0.18", frigate_lpr=True)
    assert config["lpr"] == {"enabled": True, "known_plates": {}}
    for station in registry.stations:
        camera = config["cameras"][station.camera]
        assert camera["lpr"] == {"enabled": station.reads_plates}
        assert (PLATE_LABEL in camera["objects"]["track"]) == station.reads_plates


def test_mqtt_and_detector_sections(registry: Registry) -> None:
    _, config = generated(registry, "0.17", mqtt_host="10.61.0.5", mqtt_port=1884)
    assert config["mqtt"] == {
        "enabled": True,
        "host": "10.61.0.5",
        "port": 1884,
        "topic_prefix": "frigate",
        "qos": 1,
        "user": "{FRIGATE_MQTT_USER}",
        "password": "{FRIGATE_MQTT_PASSWORD}",
    }
    assert config["detectors"] == {"ov": {"type": "openvino", "device": "CPU"}}
    assert config["model"]["path"] == "/openvino-model/ssdlite_mobilenet_v2.xml"
    _, cpu = generated(registry, "0.17", detector="cpu", mqtt_auth=False)
    assert cpu["detectors"] == {"cpu": {"type": "cpu"}}
    assert "model" not in cpu and "user" not in cpu["mqtt"]


def test_comments_say_where_values_come_from(registry: Registry) -> None:
    text = generate_frigate_config(registry)
    assert text.startswith(
        "# Frigate 0.17 configuration for the municipality of Rufina (FI): "
        "34 stations: 15 lpr (8 new), 19 context.\n"
    )
    assert "from stations.yaml: do not edit by hand" in text
    assert (
        "FRIGATE_MQTT_USER, FRIGATE_MQTT_PASSWORD, FRIGATE_RTSP_USER, FRIGATE_RTSP_PASSWORD" in text
    )
    assert "days: 7  # privacy retention" in text
    assert "  # pomino_in: Pomino - direzione Rufina (lpr, new station)\n" in text
    assert "width: 1920  # lpr station: plates need 1080p and several frames" in text
    assert "# inbound direction zone\n      pomino_in_lpr:" in text
    assert text.count("\n  # Purpose: ") == 34


def test_bad_arguments(registry: Registry) -> None:
    with pytest.raises(ValueError, match=r"Frigate version '0\.16'"):
        generate_frigate_config(registry, version="0.16")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="retention_days"):
        generate_frigate_config(registry, retention_days=0)


def test_cli_writes_the_frigate_config(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser(prog="rufina-alpr")
    add_stations_commands(parser.add_subparsers(dest="command", required=True))
    target = tmp_path / "config.yml"
    args = parser.parse_args(
        [
            "stations",
            "frigate-config",
            "--frigate-version",
            "0.18",
            "--frigate-lpr",
            "-o",
            str(target),
        ]
    )
    assert args.func(args) == 0
    assert capsys.readouterr().err == f"wrote {target}\n"
    assert target.read_text(encoding="utf-8") == generate_frigate_config(
        registry, version="0.18", frigate_lpr=True
    )
    args = parser.parse_args(["stations", "frigate-config", "--retain-days", "10"])
    assert args.func(args) == 0
    config = yaml.safe_load(capsys.readouterr().out)
    assert config["version"] == "0.17-0" and config["record"]["motion"]["days"] == 10
    with pytest.raises(SystemExit):
        parser.parse_args(["stations", "frigate-config", "--retain-days", "0"])
