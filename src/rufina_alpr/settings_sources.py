"""Where the engine's settings come from, before the schema checks them: a YAML file, the Home
Assistant add-on's options (and the further settings file one of them names) and the environment,
merged in that order of precedence (`rufina_alpr.config.load_settings`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import yaml

from rufina_alpr.errors import RufinaError

ENV_PREFIX: Final = "RUFINA_ALPR__"
ENV_SHORT: Final = {
    "RUFINA_ALPR_MODELS": ("models", "dir"),
    "RUFINA_ALPR_DATA": ("data_dir",),
    "RUFINA_ALPR_API_TOKEN": ("api", "token"),
}
SECRET_KEYS: Final = frozenset({"password", "token"})
"""Keys whose values are never echoed in error messages and always read as plain strings."""


class SettingsError(RufinaError, ValueError):
    """Invalid settings; the message names the offending key."""


def deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def set_path(target: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value


def environment_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """Settings from the environment; values are parsed as YAML scalars (``8787`` is an int)."""
    overrides: dict[str, Any] = {}
    for name, raw in environ.items():
        if name in ENV_SHORT:
            path = ENV_SHORT[name]
        elif name.startswith(ENV_PREFIX):
            path = tuple(part.lower() for part in name[len(ENV_PREFIX) :].split("__") if part)
        else:
            continue
        if path:
            plain = name in ENV_SHORT or path[-1] in SECRET_KEYS
            set_path(overrides, path, _environment_value(raw, plain=plain))
    return overrides


def _environment_value(raw: str, *, plain: bool) -> Any:
    """A YAML scalar (``8787`` an int, ``[car, bus]`` a list) unless YAML would mangle it.

    Paths, tokens and passwords stay strings; text YAML cannot parse (``*x``, ``[x``) or reads as
    a comment (``#x``) stays the string it is instead of failing or vanishing.
    """
    if not raw:
        return None
    if plain:
        return raw
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw
    if value is None and raw.strip() not in ("~", "null", "Null", "NULL"):
        return raw
    return value


# Home Assistant add-on options (flat keys, as in addon/config.yaml) mapped onto the settings tree.
ADDON_OPTION_PATHS: Final = {
    "frigate_url": ("frigate", "url"),
    "models_dir": ("models", "dir"),
    "stations_file": ("stations_file",),
    "log_level": ("log_level",),
    "api_token": ("api", "token"),
    "topic_prefix": ("mqtt", "topic_prefix"),
    "instance": ("instance",),
    "store_url": ("store", "url"),
    "retention_days": ("privacy", "retention_days"),
    "ingress": ("api", "ingress", "enabled"),
    "ingress_role": ("api", "ingress", "role"),
    "ingress_admins": ("api", "ingress", "admins"),
    "map_tiles": ("panel", "map_tiles"),
}


ADDON_SETTINGS_FILE: Final = "settings_file"
"""The add-on option naming a YAML file of further engine settings (those no option carries:
the controller's particulars, retention per kind...), read beneath the add-on's own settings."""


def addon_overrides(options: Mapping[str, Any]) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    for key, value in options.items():
        if key in ADDON_OPTION_PATHS and value not in (None, ""):
            set_path(overrides, ADDON_OPTION_PATHS[key], value)
    return overrides


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text()) or {}
    except OSError as err:
        raise SettingsError(f"cannot read settings file {path}: {err.strerror}") from err
    except yaml.YAMLError as err:
        raise SettingsError(f"settings file {path} is not valid YAML: {err}") from err
    if not isinstance(loaded, dict):
        raise SettingsError(f"settings file {path} must contain a mapping")
    return loaded
