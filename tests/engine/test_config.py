"""Settings: YAML file, environment, add-on options.json, and errors that name the bad key."""

from __future__ import annotations

import json
import stat
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from rufina_alpr.config import Settings, load_settings, settings_from_mapping
from rufina_alpr.privacy.settings import Retention
from rufina_alpr.settings_sources import SettingsError, environment_overrides

TOKEN = "a-configured-token-0123456789"
STATIONS = [
    {"id": "st_pomino", "name": "Pomino", "camera": "cam_pomino", "kind": "lpr"},
    {"id": "st_piazza", "name": "Piazza", "camera": "cam_piazza", "kind": "context"},
]


def write_yaml(path: Path, content: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(content))
    return path


def load(tmp_path: Path, content: dict[str, Any], **kwargs: Any) -> Settings:
    config = write_yaml(tmp_path / "rufina.yaml", {"data_dir": str(tmp_path / "data"), **content})
    kwargs.setdefault("environ", {})
    return load_settings(config, **kwargs)


def settings_error(tmp_path: Path, content: dict[str, Any], **kwargs: Any) -> str:
    with pytest.raises(SettingsError) as caught:
        load(tmp_path, content, **kwargs)
    return str(caught.value)


# ----------------------------------------------------------------------------- sources
def test_yaml_file_with_defaults(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        {
            "mqtt": {"host": "broker.lan", "port": 8883, "username": "rufina"},
            "frigate": {"url": "http://frigate.lan:5000/", "retries": 1},
            "api": {"token": TOKEN},
            "stations": STATIONS,
        },
    )
    assert settings.mqtt.host == "broker.lan" and settings.mqtt.port == 8883
    assert settings.mqtt.client_id == "rufina-alpr-rufina"
    assert settings.mqtt.topic_prefix == "rufina_alpr"
    assert settings.frigate.url == "http://frigate.lan:5000"
    assert settings.frigate.retries == 1 and settings.frigate.timeout == 10.0
    assert str(settings.timezone) == "Europe/Rome"
    assert settings.recognition.labels == ("car", "motorcycle", "bus", "truck")
    assert settings.recognition.max_image_pixels == 40_000_000
    assert settings.second_pass is True
    assert settings.frigate.image_source == "clean" and settings.frigate.recording_frames == 3
    assert settings.store_url == f"sqlite:///{tmp_path / 'data' / 'rufina_alpr.db'}"
    assert [s.id for s in settings.stations] == ["st_pomino", "st_piazza"]
    pomino = settings.station_for_camera("cam_pomino")
    assert pomino is not None and pomino.reads_plates
    assert settings.station_for_camera("cam_elsewhere") is None
    assert settings.station("st_piazza") is not None


def test_relative_paths_resolve_against_the_yaml_folder(tmp_path: Path) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    config = write_yaml(
        folder / "rufina.yaml",
        {"data_dir": "state", "models": {"dir": "../models"}, "api": {"token": TOKEN}},
    )
    settings = load_settings(config, environ={})
    assert settings.data_dir == folder / "state"
    assert settings.models_dir == tmp_path / "models"


def test_environment_overrides_nest_and_parse_scalars(tmp_path: Path) -> None:
    environ = {
        "RUFINA_ALPR__MQTT__PORT": "1884",
        "RUFINA_ALPR__MQTT__HOST": "mqtt.env",
        "RUFINA_ALPR__RECOGNITION__LABELS": "[car, bus]",
        "RUFINA_ALPR__FRIGATE__TIMEOUT": "2.5",
        "RUFINA_ALPR__LOG_LEVEL": "DEBUG",
        "RUFINA_ALPR_MODELS": str(tmp_path / "models"),
        "RUFINA_ALPR_DATA": str(tmp_path / "env-data"),
        "RUFINA_ALPR_API_TOKEN": TOKEN,
        "UNRELATED": "ignored",
        "RUFINA_ALPRX__MQTT__PORT": "1",
    }
    settings = load(tmp_path, {"mqtt": {"host": "mqtt.yaml", "port": 1883}}, environ=environ)
    assert settings.mqtt.port == 1884 and settings.mqtt.host == "mqtt.env"
    assert settings.recognition.labels == ("car", "bus")
    assert settings.frigate.timeout == 2.5
    assert settings.log_level == "debug"
    assert settings.models_dir == tmp_path / "models"
    assert settings.data_dir == tmp_path / "env-data"
    assert settings.api.token == TOKEN


@pytest.mark.parametrize(
    ("name", "value", "path"),
    [
        ("RUFINA_ALPR_API_TOKEN", "*starts-like-a-yaml-alias", ("api", "token")),
        ("RUFINA_ALPR_API_TOKEN", "12345678901234567890", ("api", "token")),
        ("RUFINA_ALPR__MQTT__PASSWORD", "#not-a-comment", ("mqtt", "password")),
        ("RUFINA_ALPR__MQTT__PASSWORD", "[half-open", ("mqtt", "password")),
        ("RUFINA_ALPR__MQTT__PASSWORD", "123456", ("mqtt", "password")),
        ("RUFINA_ALPR__MQTT__USERNAME", "&anchor-like", ("mqtt", "username")),
    ],
)
def test_environment_values_yaml_would_mangle_stay_strings(
    name: str, value: str, path: tuple[str, str]
) -> None:
    overrides = environment_overrides({name: value})
    assert overrides[path[0]][path[1]] == value


def test_secret_from_the_environment_reaches_the_settings(tmp_path: Path) -> None:
    environ = {"RUFINA_ALPR__MQTT__PASSWORD": "#s3cret", "RUFINA_ALPR_API_TOKEN": "*" + TOKEN}
    settings = load(tmp_path, {}, environ=environ)
    assert settings.mqtt.password == "#s3cret"
    assert settings.api.token == "*" + TOKEN
    assert "s3cret" not in repr(settings) and TOKEN not in repr(settings)


def test_addon_options_mapping_and_precedence(tmp_path: Path) -> None:
    options = tmp_path / "options.json"
    options.write_text(
        json.dumps(
            {
                "frigate_url": "http://ccab4aaf-frigate:5000",
                "models_dir": "/share/rufina/models",
                "log_level": "warning",
                "api_token": TOKEN,
                "topic_prefix": "rufina_test",
                "instance": "town_hall",
                "store_url": "",
                "stations_file": None,
                "some_future_option": True,
            }
        )
    )
    settings = load(
        tmp_path,
        {"frigate": {"url": "http://from-yaml:5000"}, "instance": "yaml_instance"},
        addon_options=options,
        environ={"RUFINA_ALPR__INSTANCE": "from_env"},
    )
    assert settings.frigate.url == "http://ccab4aaf-frigate:5000"  # options beat YAML
    assert settings.models_dir == Path("/share/rufina/models")
    assert settings.log_level == "warning"
    assert settings.api.token == TOKEN
    assert settings.mqtt.topic_prefix == "rufina_test"
    assert settings.instance == "from_env"  # the environment beats options
    assert settings.store_url.startswith("sqlite:///")  # empty options are not set


def test_the_addon_settings_file_lies_beneath_the_addons_own_settings(tmp_path: Path) -> None:
    """The add-on's ``settings_file`` carries what no option does (the controller's particulars,
    retention per kind); the add-on's own file (broker, API token) and its options win."""
    further = write_yaml(
        tmp_path / "settings.yaml",
        {
            "privacy": {
                "controller": {"name": "Comune di Rufina", "dpo_email": "rpd@comune.rufina.fi.it"},
                "retention": {"reads": 2},
                "retention_days": 30,
            },
            "api": {"token": "a-token-the-user-should-not-set-here"},
            "mqtt": {"host": "not-the-supervisors-broker"},
        },
    )
    options = tmp_path / "options.json"
    options.write_text(json.dumps({"retention_days": 7, "settings_file": str(further)}))
    settings = load(
        tmp_path,
        {"api": {"token": TOKEN}, "mqtt": {"host": "core-mosquitto"}},
        addon_options=options,
    )
    assert settings.privacy.controller.name == "Comune di Rufina"
    assert settings.privacy.controller.dpo_email == "rpd@comune.rufina.fi.it"
    assert settings.privacy.retention.reads == 2
    assert settings.privacy.retention_days == 7  # the option wins
    assert settings.api.token == TOKEN and settings.mqtt.host == "core-mosquitto"
    options.write_text(json.dumps({"settings_file": str(tmp_path / "absent.yaml")}))
    message = settings_error(tmp_path, {}, addon_options=options)
    assert "absent.yaml" in message


def test_unreadable_addon_options(tmp_path: Path) -> None:
    options = tmp_path / "options.json"
    options.write_text("{not json")
    message = settings_error(tmp_path, {}, addon_options=options)
    assert "add-on options" in message and str(options) in message
    message = settings_error(tmp_path, {}, addon_options=tmp_path / "missing.json")
    assert "missing.json" in message


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("content", "names"),
    [
        ({"mqtt": {"hots": "broker"}}, ["extra keys not allowed", "['mqtt']['hots']"]),
        ({"colour": "red"}, ["extra keys not allowed", "['colour']"]),
        ({"mqtt": {"port": "abc"}}, ["expected int", "['mqtt']['port']"]),
        ({"mqtt": {"port": 70000}}, ["['mqtt']['port']"]),
        ({"timezone": "Mars/Olympus"}, ["unknown time zone 'Mars/Olympus'", "['timezone']"]),
        ({"frigate": {"url": "frigate:5000"}}, ["expected a URL", "['frigate']['url']"]),
        ({"recognition": {"labels": "car"}}, ["expected a list", "['recognition']['labels']"]),
        ({"log_level": "verbose"}, ["['log_level']"]),
        ({"instance": "town hall"}, ["['instance']"]),
        ({"frigate": {"snapshot_quality": 20}}, ["['frigate']['snapshot_quality']"]),
        ({"models": {"second_pass": "sometimes"}}, ["['models']['second_pass']"]),
        ({"frigate": {"recording_frames": 0}}, ["['frigate']['recording_frames']"]),
        ({"stations": [{"id": "x"}]}, ["['stations'][0]"]),
    ],
)
def test_errors_name_the_bad_key(tmp_path: Path, content: dict[str, Any], names: list[str]) -> None:
    message = settings_error(tmp_path, {"api": {"token": TOKEN}, **content})
    assert message.startswith("invalid settings:")
    for name in names:
        assert name in message


def test_bad_environment_value_names_the_key(tmp_path: Path) -> None:
    message = settings_error(tmp_path, {}, environ={"RUFINA_ALPR__MQTT__PORT": "many"})
    assert "['mqtt']['port']" in message
    message = settings_error(tmp_path, {}, environ={"RUFINA_ALPR__MQTT__PROT": "1883"})
    assert "['mqtt']['prot']" in message


def test_short_api_token_is_refused_without_echoing_it(tmp_path: Path) -> None:
    message = settings_error(tmp_path, {"api": {"token": "tiny-s3cret"}})
    assert "['api']['token']" in message and "at least 16 characters" in message
    assert "tiny-s3cret" not in message


def test_wrong_password_type_is_refused_without_echoing_it(tmp_path: Path) -> None:
    message = settings_error(tmp_path, {"api": {"token": TOKEN}, "mqtt": {"password": 31337}})
    assert "['mqtt']['password']" in message
    assert "31337" not in message


@pytest.mark.parametrize(
    ("second", "duplicate"),
    [
        ({"id": "st_pomino", "name": "Again", "camera": "cam_other", "kind": "lpr"}, "id"),
        ({"id": "st_other", "name": "Other", "camera": "cam_pomino", "kind": "lpr"}, "camera"),
    ],
)
def test_duplicate_station(tmp_path: Path, second: dict[str, Any], duplicate: str) -> None:
    message = settings_error(tmp_path, {"api": {"token": TOKEN}, "stations": [STATIONS[0], second]})
    assert f"duplicate station {duplicate}" in message


def test_bad_stations_file_is_a_settings_error_naming_it(tmp_path: Path) -> None:
    message = settings_error(tmp_path, {"api": {"token": TOKEN}, "stations_file": "nowhere.yaml"})
    assert "stations_file" in message and "nowhere.yaml" in message
    broken = tmp_path / "stations.yaml"
    broken.write_text("stations: [unclosed")
    message = settings_error(tmp_path, {"api": {"token": TOKEN}, "stations_file": str(broken)})
    assert "stations_file" in message and "not valid YAML" in message


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("mqtt: [unclosed", "not valid YAML"),
        ("- a list\n- not a mapping\n", "must contain a mapping"),
    ],
)
def test_bad_settings_file(tmp_path: Path, text: str, reason: str) -> None:
    config = tmp_path / "rufina.yaml"
    config.write_text(text)
    with pytest.raises(SettingsError, match=reason):
        load_settings(config, environ={})
    with pytest.raises(SettingsError, match="cannot read settings file"):
        load_settings(tmp_path / "absent.yaml", environ={})


# ----------------------------------------------------------------------------- API token
def test_generated_token_is_persisted_private_and_reused(tmp_path: Path) -> None:
    raw = {"data_dir": str(tmp_path / "data")}
    first = settings_from_mapping(raw)
    token_file = tmp_path / "data" / "api_token"
    assert len(first.api.token) >= 32
    assert token_file.read_text() == first.api.token
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert settings_from_mapping(raw).api.token == first.api.token
    assert first.api.token not in repr(first)


def test_configured_token_wins_and_writes_no_file(tmp_path: Path) -> None:
    settings = settings_from_mapping({"data_dir": str(tmp_path), "api": {"token": TOKEN}})
    assert settings.api.token == TOKEN
    assert not (tmp_path / "api_token").exists()


@pytest.mark.parametrize("left_behind", ["", "\n", "short"])
def test_empty_or_short_token_file_is_replaced(tmp_path: Path, left_behind: str) -> None:
    """A crash between creating and writing the file must not leave the API open to ``""``."""
    (tmp_path / "api_token").write_text(left_behind)
    token = settings_from_mapping({"data_dir": str(tmp_path)}).api.token
    assert len(token) >= 32
    assert (tmp_path / "api_token").read_text() == token


# ----------------------------------------------------------------------------- privacy
def test_retention_of_each_kind_defaults_from_retention_days(tmp_path: Path) -> None:
    defaults = load(tmp_path, {"api": {"token": TOKEN}}).privacy
    assert defaults.retention == Retention(7, 7, 7, 7, 7, 365)
    three = load(tmp_path, {"api": {"token": TOKEN}, "privacy": {"retention_days": 3}}).privacy
    assert three.retention == Retention(3, 3, 3, 3, 3, 365)
    assert three.retention.of("hits") == timedelta(days=3)


def test_retention_per_kind_and_the_older_names(tmp_path: Path) -> None:
    kinds = {"transits": 10, "reads": 2, "crops": 4, "frames": 3, "hits": 5, "audit": 30}
    settings = load(tmp_path, {"api": {"token": TOKEN}, "privacy": {"retention": kinds}})
    assert settings.privacy.retention == Retention(**kinds)
    # retention_days and audit_retention_days say the transits' and the audit log's.
    assert (settings.privacy.retention_days, settings.privacy.audit_retention_days) == (10, 30)
    partly = load(
        tmp_path,
        {
            "api": {"token": TOKEN},
            "privacy": {"retention_days": 6, "audit_retention_days": 90, "retention": {"reads": 1}},
        },
    )
    assert partly.privacy.retention == Retention(6, 1, 6, 6, 6, 90)


@pytest.mark.parametrize(
    ("privacy", "names"),
    [
        (
            {"retention_days": 5, "retention": {"reads": 7}},
            ["reads are kept 7 days but their transits 5", "['privacy']['retention']['reads']"],
        ),
        (
            {"retention": {"transits": 3, "crops": 4}},
            ["crops are kept 4 days but their transits 3", "['privacy']['retention']['crops']"],
        ),
        ({"retention": {"frames": 0}}, ["['privacy']['retention']['frames']"]),
        ({"retention": {"hits": 400}}, ["['privacy']['retention']['hits']"]),
        ({"retention": {"audit": 0.5}}, ["['privacy']['retention']['audit']"]),
        ({"retention": {"faces": 3}}, ["extra keys not allowed", "['privacy']['retention']"]),
    ],
)
def test_retention_refused_names_the_kind(
    tmp_path: Path, privacy: dict[str, Any], names: list[str]
) -> None:
    message = settings_error(tmp_path, {"api": {"token": TOKEN}, "privacy": privacy})
    for name in names:
        assert name in message
