"""The Home Assistant dashboard generator (issue 26, 1): the shipped files are its output, for
the town's registry, in Italian and English; another registry or instance gives its own ids; the
map has one marker per site; the Italian dashboard's own words hold no English.

Rendered in a real Home Assistant by tests/addon/test_dashboard.py; every entity it names exists
on a fresh install: tests/ha/test_dashboard.py.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from rufina_alpr.cli import main
from rufina_alpr.dashboard import build_dashboard, render_dashboard, sites
from rufina_alpr.dashboard_words import LANGUAGES, WORDS
from rufina_alpr.stations import load_registry

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = ROOT / "frigate_config" / "stations.yaml"
SHIPPED = {
    "it": ROOT / "dashboards" / "rufina_alpr.yaml",
    "en": ROOT / "dashboards" / "rufina_alpr.en.yaml",
}
# English words the Italian dashboard's own text must not hold (tests/addon checks the page).
ENGLISH = re.compile(
    r"\b(unavailable|unknown|online|offline|exact|fuzzy|plates?|transits?|last|camera|station|"
    r"vehicles?|alerts?|today|engine|match)\b",
    re.IGNORECASE,
)


def _visible(node: Any) -> list[str]:
    """The dashboard's own words: titles, names and the templates' text (Jinja and HTML tags,
    entity ids and station names, which come from the registry, left out)."""
    if isinstance(node, dict):
        found = [str(value) for key, value in node.items() if key in ("title", "name", "content")]
        return found + [text for value in node.values() for text in _visible(value)]
    if isinstance(node, list):
        return [text for item in node for text in _visible(item)]
    return []


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_shipped_dashboards_are_the_generators_output(
    language: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Never hand-edited: the file is what `rufina-alpr dashboard` prints for the town."""
    assert main(["dashboard", "--language", language, "--stations", str(REGISTRY)]) == 0
    printed = capsys.readouterr().out
    assert printed == SHIPPED[language].read_text(encoding="utf-8"), (
        f"regenerate: rufina-alpr dashboard --language {language} > {SHIPPED[language]}"
    )
    assert printed == render_dashboard(load_registry(REGISTRY), "rufina", language)


def test_another_instance_and_registry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Another town: its stations, its instance's entity ids (slugified as the integration
    does), nothing of Rufina's."""
    text = REGISTRY.read_text(encoding="utf-8").replace("id: pomino_in", "id: pomino_nord_in")
    registry = tmp_path / "stations.yaml"
    registry.write_text(text, encoding="utf-8")
    args = ["dashboard", "--language", "en", "--instance", "Dicomano-2", "--stations"]
    assert main([*args, str(registry)]) == 0
    printed = capsys.readouterr().out
    assert "sensor.dicomano_2_pomino_nord_in_last_plate" in printed
    assert "binary_sensor.dicomano_2_online" in printed
    assert "sensor[.]dicomano_2_hotlist_last_match_" in printed
    assert not re.findall(r"[.]rufina_", printed), "no entity of the engine `rufina`"


def test_a_broken_registry_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dashboard", "--stations", str(tmp_path / "missing.yaml")]) == 1
    assert "file not found" in capsys.readouterr().err


def test_one_map_marker_per_site() -> None:
    """An in/out pair is one site: 15 plate-reading stations, 8 places, 8 markers by name."""
    registry = load_registry(REGISTRY)
    found = sites(registry.stations)
    assert sum(len(site.stations) for site in found) == 15
    assert [site.name for site in found] == [
        "SS67 Selvapiana",
        "SS67 Contea",
        "Ponte sulla Sieve",
        "Via Piave - direzione centro",
        "Pomino",
        "Falgano",
        "Masseto",
        "Via Roma",
    ]
    overview = build_dashboard(registry, "rufina", "it")["views"][0]
    (card,) = [card for card in overview["cards"] if card["type"] == "map"]
    assert [marker["name"] for marker in card["entities"]] == [site.name for site in found]
    assert {marker["label_mode"] for marker in card["entities"]} == {"icon"}
    assert card["cluster"] is True


def test_health_first_and_no_logbook_of_bare_events() -> None:
    """The control-room view opens with the health; the logbook card of event entities ("Transit
    -> Transit", no plate) is gone."""
    for language in LANGUAGES:
        tree = build_dashboard(load_registry(REGISTRY), "rufina", language)
        first = tree["views"][0]["cards"][0]
        assert first["title"] == WORDS[language]["health"]
        assert "binary_sensor.rufina_via_piave_in_camera" in first["content"]
        assert "logbook" not in yaml.safe_dump(tree)


def test_the_italian_dashboard_has_no_english_words() -> None:
    """Its titles, names and templates, Jinja, tags, ids and registry names aside."""
    registry = load_registry(REGISTRY)
    names = sorted({s.name for s in registry.stations} | {s.name for s in sites(registry.stations)})
    leaks = []
    for text in _visible(yaml.safe_load(SHIPPED["it"].read_text(encoding="utf-8"))):
        words = re.sub(r"\{[{%].*?[}%]\}|<[^>]+>|\[\s*\"[^\]]*\]", " ", text, flags=re.DOTALL)
        for name in sorted(names, key=len, reverse=True):
            words = words.replace(name, " ")
        leaks += ENGLISH.findall(words)
    assert not leaks
    assert set(WORDS["it"]) == set(WORDS["en"])
