"""The Home Assistant dashboard, generated from the station registry, in Italian or English.

A control room reads it in five seconds: the system's health first (only what is wrong), the
hotlist alerts in words, the last plate of every station with its time and a map with one marker
per site. Entity ids are the integration's stable ones (`<platform>.<instance>_<station>_<key>`,
the engine's `<platform>.<instance>_<key>`), so the same registry and instance always give the
same file: `rufina-alpr dashboard` prints it, dashboards/ holds the town's (a test keeps them
equal). Words come from `dashboard_words`; station names from the registry.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from rufina_alpr.dashboard_words import WORDS
from rufina_alpr.stations import Registry, Station

NOT_A_VALUE = "['unknown', 'unavailable']"
TIME = "timestamp_custom('%d/%m %H:%M:%S', true, '-')"


@dataclass(frozen=True)
class Site:
    """Where one or more plate-reading stations stand together (an in/out pair): one marker."""

    name: str
    stations: tuple[Station, ...]


def sites(stations: Iterable[Station]) -> list[Site]:
    """The plate-reading stations grouped by site: ids that differ only by `_in`/`_out`; named
    by what their names share before " - " (else the first station's name)."""
    groups: dict[str, list[Station]] = {}
    for station in stations:
        if station.reads_plates:
            groups.setdefault(re.sub(r"_(in|out)$", "", station.id), []).append(station)
    found = []
    for members in groups.values():
        places = {station.name.split(" - ")[0] for station in members}
        name = places.pop() if len(members) > 1 and len(places) == 1 else members[0].name
        found.append(Site(name, tuple(members)))
    return found


class _Ids:
    """The integration's stable entity ids for one engine instance."""

    def __init__(self, instance: str) -> None:
        self.instance = re.sub(r"[^a-z0-9]+", "_", instance.lower()).strip("_")

    def engine(self, platform: str, key: str) -> str:
        return f"{platform}.{self.instance}_{key}"

    def station(self, platform: str, station: Station, key: str) -> str:
        return f"{platform}.{self.instance}_{station.id}_{key}"


def _pairs(rows: Iterable[tuple[str, str]]) -> str:
    """A Jinja list literal of [entity id, name] pairs, one a line."""
    lines = ",\n".join(f"  {json.dumps(list(row), ensure_ascii=False)}" for row in rows)
    return f"[\n{lines}\n]"


def _health(ids: _Ids, stations: tuple[Station, ...], said: Mapping[str, str]) -> str:
    """Engine, Frigate and only the cameras that are offline, by station name."""
    cameras = _pairs((ids.station("binary_sensor", s, "camera"), s.name) for s in stations)
    engine = ids.engine("binary_sensor", "online")
    frigate = ids.engine("binary_sensor", "frigate")
    return f"""{{%- set cameras = {cameras} %}}
{{%- set ns = namespace(off=[], unknown=0) %}}
{{%- for entity, name in cameras %}}
{{%- if is_state(entity, 'off') %}}{{% set ns.off = ns.off + [name] %}}
{{%- elif not is_state(entity, 'on') %}}{{% set ns.unknown = ns.unknown + 1 %}}{{% endif %}}
{{%- endfor %}}
{{% if is_state('{engine}', 'on') -%}}
<ha-alert alert-type="success">{said["engine_up"]}</ha-alert>
{{%- else -%}}
<ha-alert alert-type="error">{said["engine_down"]}</ha-alert>
{{%- endif %}}
{{% if is_state('{frigate}', 'on') -%}}
<ha-alert alert-type="success">{said["frigate_up"]}</ha-alert>
{{%- elif is_state('{frigate}', 'off') -%}}
<ha-alert alert-type="error">{said["frigate_down"]}</ha-alert>
{{%- else -%}}
<ha-alert alert-type="warning">{said["frigate_unknown"]}</ha-alert>
{{%- endif %}}
{{% if ns.off -%}}
<ha-alert alert-type="error">{said["cameras_down"]}: {{{{ ns.off | join(', ') }}}}</ha-alert>
{{%- elif ns.unknown -%}}
<ha-alert alert-type="warning">{said["cameras_unknown"]}</ha-alert>
{{%- else -%}}
<ha-alert alert-type="success">{said["cameras_up"]}</ha-alert>
{{%- endif %}}"""


def _alerts(ids: _Ids, said: Mapping[str, str]) -> str:
    """The lists' last matches, newest first: plate, list, station, how long ago, match type."""
    pattern = ids.engine("sensor", "hotlist_last_match_").replace(".", "[.]")
    kinds = json.dumps({kind: said[kind] for kind in ("exact", "fuzzy")}, ensure_ascii=False)
    minutes = said["minutes_ago"].format(m="{{ m }}")
    hours = said["hours_ago"].format(h="{{ m // 60 }}", m="{{ m % 60 }}")
    return f"""{{%- set kinds = {kinds} %}}
{{%- set ns = namespace(found=[]) %}}
{{%- for e in integration_entities('rufina_alpr') | select('match', '{pattern}') %}}
{{%- set t = as_datetime(states(e), none) %}}
{{%- if t %}}{{% set ns.found = ns.found + [[t, e]] %}}{{% endif %}}
{{%- endfor %}}
{{%- for t, e in ns.found | sort(attribute='0', reverse=true) %}}
{{%- set m = ((now() - t).total_seconds() // 60) | int %}}
{{%- set plate = state_attr(e, 'display') or state_attr(e, 'read_plate') %}}
- **{{{{ plate }}}}** · {{{{ state_attr(e, 'list_name') }}}} · \
{{{{ state_attr(e, 'station_name') }}}} · \
{{% if m < 1 %}}{said["just_now"]}{{% elif m < 60 %}}{minutes}{{% else %}}{hours}{{% endif %}} \
({{{{ as_local(t).strftime('%d/%m %H:%M') }}}}, {{{{ kinds.get(state_attr(e, 'match'), '') }}}})
{{%- else %}}
{said["no_alerts"]}
{{%- endfor %}}"""


def _last_plates(ids: _Ids, stations: tuple[Station, ...], said: Mapping[str, str]) -> str:
    """A table: station, plate (marked when only the last known), the transit's own time."""
    rows = _pairs(
        (ids.station("sensor", s, "last_plate"), s.name) for s in stations if s.reads_plates
    )
    stale = json.dumps(said["stale"], ensure_ascii=False)
    return f"""{{%- set rows = {rows} %}}
| {said["station"]} | {said["plate"]} | {said["passed"]} |
|---|---|---|
{{%- for entity, name in rows %}}
{{%- set plate = states(entity) %}}
{{%- set written = state_attr(entity, 'display') or plate %}}
| {{{{ name }}}} | {{{{ '-' if plate in {NOT_A_VALUE} else written }}}}\
{{{{ ' _(' ~ {stale} ~ ')_' if state_attr(entity, 'stale') }}}} | \
{{{{ as_timestamp(state_attr(entity, 'time'), none) | {TIME} }}}} |
{{%- endfor %}}"""


def _map(ids: _Ids, stations: tuple[Station, ...], said: Mapping[str, str]) -> dict[str, Any]:
    """One marker per site (its first station's located entity), an icon, not a label: labels
    of neighbouring sites cannot overlap; markers that would are clustered. Details on tap."""
    return {
        "type": "map",
        "title": said["map"],
        "theme_mode": "light",
        "aspect_ratio": "16:10",
        "default_zoom": 14,
        "hours_to_show": 0,
        "cluster": True,
        "entities": [
            {
                "entity": ids.station("sensor", site.stations[0], "last_plate"),
                "name": site.name,
                "label_mode": "icon",
            }
            for site in sites(stations)
        ],
    }


def _overview(ids: _Ids, stations: tuple[Station, ...], said: Mapping[str, str]) -> dict[str, Any]:
    return {
        "title": said["overview"],
        "path": said["overview_path"],
        "icon": "mdi:car-search",
        "cards": [
            {"type": "markdown", "title": said["health"], "content": _health(ids, stations, said)},
            {"type": "markdown", "title": said["alerts"], "content": _alerts(ids, said)},
            {
                "type": "markdown",
                "title": said["last_plates"],
                "content": _last_plates(ids, stations, said),
            },
            _map(ids, stations, said),
        ],
    }


def _crops(ids: _Ids, stations: tuple[Station, ...], said: Mapping[str, str]) -> dict[str, Any]:
    tiles = [
        {
            "type": "picture-entity",
            "entity": ids.station("image", station, "plate_crop"),
            "name": station.name,
            "show_state": False,
            "show_name": True,
        }
        for station in stations
        if station.reads_plates
    ]
    return {
        "title": said["crops"],
        "path": said["crops_path"],
        "icon": "mdi:image-multiple",
        "cards": [{"type": "grid", "columns": 3, "square": False, "cards": tiles}],
    }


def _traffic(ids: _Ids, stations: tuple[Station, ...], said: Mapping[str, str]) -> dict[str, Any]:
    """Vehicles per hour, one graph per locality (registry order)."""
    places: dict[str, list[Station]] = {}
    for station in stations:
        places.setdefault(station.locality or station.name, []).append(station)
    graphs = [
        {
            "type": "history-graph",
            "title": said["per_hour"].format(place=place),
            "hours_to_show": 24,
            "entities": [
                {"entity": ids.station("sensor", s, "vehicles_per_hour"), "name": s.name}
                for s in members
            ],
        }
        for place, members in places.items()
    ]
    return {
        "title": said["traffic"],
        "path": said["traffic_path"],
        "icon": "mdi:chart-line",
        "cards": graphs,
    }


def _status(ids: _Ids, stations: tuple[Station, ...], said: Mapping[str, str]) -> dict[str, Any]:
    engine = [
        ("binary_sensor", "online", "connection"),
        ("binary_sensor", "frigate", "frigate"),
        ("sensor", "transits_today", "transits_today"),
        ("sensor", "vehicles_today", "vehicles_today"),
        ("sensor", "unique_vehicles_yesterday", "unique_yesterday"),
        ("sensor", "queue", "queue"),
        ("sensor", "latency_p50", "latency"),
    ]
    today = [
        {"entity": ids.station("sensor", s, "vehicles_today"), "name": s.name} for s in stations
    ]
    return {
        "title": said["status"],
        "path": said["status_path"],
        "icon": "mdi:heart-pulse",
        "cards": [
            {
                "type": "entities",
                "title": said["engine"],
                "entities": [
                    {"entity": ids.engine(platform, key), "name": said[word]}
                    for platform, key, word in engine
                ],
            },
            {"type": "entities", "title": said["today_per_station"], "entities": today},
        ],
    }


def build_dashboard(registry: Registry, instance: str, language: str) -> dict[str, Any]:
    """The Lovelace dashboard (YAML mode) for a registry and an engine instance."""
    said = WORDS[language]
    ids = _Ids(instance)
    stations = registry.stations
    views = [build(ids, stations, said) for build in (_overview, _crops, _traffic, _status)]
    return {"title": f"{registry.municipality.name} ALPR", "views": views}


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (the templates) as literal blocks, readable in the file."""


def _string(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _string)


def render_dashboard(registry: Registry, instance: str, language: str) -> str:
    """The dashboard's YAML file: a header saying how it was made, then the dashboard."""
    command = f"rufina-alpr dashboard --language {language} --instance {instance}"
    header = (
        f"# {registry.municipality.name} ALPR - Home Assistant dashboard ({language}), generated "
        "from the station registry:\n"
        f"#   {command} [--stations FILE]\n"
        "# Do not edit by hand: change the registry or src/rufina_alpr/dashboard*.py and run the\n"
        "# command again (tests/engine/test_dashboard_yaml.py keeps the shipped files equal).\n"
        "# Entity ids: the integration's stable ones, `<platform>.<instance>_<station id>_<key>`\n"
        "# (engine: `<platform>.<instance>_<key>`). How to add it: README, section Dashboard.\n"
    )
    body = yaml.dump(
        build_dashboard(registry, instance, language),
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=100,
    )
    return header + body
