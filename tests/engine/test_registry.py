"""The station registry: Rufina's 34 stations load, and each kind of mistake is reported clearly."""

from __future__ import annotations

import argparse
import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from rufina_alpr.cli.stations import add_stations_commands
from rufina_alpr.stations import (
    Registry,
    RegistryError,
    Station,
    default_registry_path,
    load_registry,
    parse_registry,
)

REGISTRY = Path(__file__).resolve().parents[2] / "frigate_config" / "stations.yaml"
NEW_LOCALITIES = {"Pomino", "Falgano", "Masseto", "Via Roma"}


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry(REGISTRY)


@pytest.fixture
def document() -> dict[str, Any]:
    """The registry as parsed YAML, to break in one place per test."""
    data: dict[str, Any] = yaml.safe_load(REGISTRY.read_text(encoding="utf-8"))
    return copy.deepcopy(data)


def station_entry(document: dict[str, Any], station_id: str) -> dict[str, Any]:
    entry: dict[str, Any] = next(s for s in document["stations"] if s["id"] == station_id)
    return entry


def problems_of(document: dict[str, Any]) -> tuple[str, ...]:
    with pytest.raises(RegistryError) as caught:
        parse_registry(document)
    return caught.value.problems


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="rufina-alpr")
    add_stations_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code = args.func(args)
    out, err = capsys.readouterr()
    return code, out, err


# --- the registry of Rufina -----------------------------------------------------------------------


def test_registry_has_the_34_stations_of_rufina(registry: Registry) -> None:
    stations = registry.stations
    assert len(stations) == 34
    assert len(registry.of_kind("lpr")) == 15
    assert len(registry.of_kind("context")) == 19
    new = [s for s in stations if s.new]
    assert len(new) == 8
    assert all(s.kind == "lpr" for s in new)
    assert {s.locality for s in new} == NEW_LOCALITIES
    assert registry.municipality.name == "Rufina"
    assert registry.summary() == "34 stations: 15 lpr (8 new), 19 context"


def test_every_station_is_complete_and_inside_the_municipality(registry: Registry) -> None:
    bounds = registry.municipality.bounds
    for station in registry.stations:
        assert station.name and station.locality and station.road, station.id
        assert station.purpose and station.purpose_en, station.id
        assert station.latitude is not None and station.longitude is not None
        assert bounds.contains(station.latitude, station.longitude), station.id
        assert station.streams is not None
        assert station.streams.record != station.streams.detect
    assert len({s.id for s in registry.stations}) == 34
    assert len({s.camera for s in registry.stations}) == 34


def test_lpr_stations_have_a_direction_zone(registry: Registry) -> None:
    for station in registry.of_kind("lpr"):
        assert station.reads_plates
        assert station.direction in ("inbound", "outbound")
        assert station.zone is not None
        assert station.direction_of([station.zone]) == station.direction
    assert not any(s.reads_plates for s in registry.of_kind("context"))


def test_two_way_context_station_gives_the_direction_of_each_zone(registry: Registry) -> None:
    station = registry.by_camera("municipio")
    assert station is not None
    assert station.direction == "both"
    assert station.direction_of(["municipio_inbound"]) == "inbound"
    assert station.direction_of(["municipio_outbound"]) == "outbound"
    assert station.direction_of([]) is None


def test_lookup_by_camera_and_id(registry: Registry) -> None:
    pomino = registry.by_camera("pomino_in")
    assert pomino is not None
    assert pomino.kind == "lpr" and pomino.new and pomino.locality == "Pomino"
    assert registry.by_id("pomino_in") is pomino
    assert registry.by_camera("not_a_camera") is None
    assert registry.by_id("not_a_station") is None


def test_registry_file_holds_no_credentials(registry: Registry) -> None:
    text = REGISTRY.read_text(encoding="utf-8")
    for userinfo in re.findall(r"://([^/@\s]*)@", text):
        assert re.fullmatch(r"\{FRIGATE_[A-Z0-9_]+\}:\{FRIGATE_[A-Z0-9_]+\}", userinfo)
    assert not re.search(r"^\s*(password|user|username)\s*:", text, re.MULTILINE)
    for station in registry.stations:
        assert station.streams is not None
        assert "{FRIGATE_RTSP_PASSWORD}" in station.streams.record


def test_default_registry_path_is_the_checkout_file() -> None:
    assert default_registry_path() == REGISTRY


def test_inline_station_still_works() -> None:
    station = Station(id="st01", name="Test", camera="cam01", kind="lpr")
    assert station.reads_plates and station.zones == () and not station.new
    inline = Station.from_mapping(
        {"id": "st02", "name": "Inline", "camera": "cam02", "kind": "context", "zone": "z"}
    )
    assert inline.zone == "z" and not inline.reads_plates


def test_one_way_inline_station_direction() -> None:
    station = Station(id="a", name="A", camera="a", kind="lpr", zone="gate", direction="inbound")
    assert station.direction_of(["gate"]) == "inbound"
    assert station.direction_of(["elsewhere"]) is None


def test_engine_settings_round_trip(registry: Registry) -> None:
    for station in registry.stations:
        again = Station.from_mapping(station.engine_settings())
        assert again.engine_settings() == station.engine_settings()


# --- each mistake, reported clearly ---------------------------------------------------------------


def test_duplicate_id(document: dict[str, Any]) -> None:
    document["stations"][1]["id"] = document["stations"][0]["id"]
    (problem,) = problems_of(document)
    assert "station 'ss67_selvapiana_in'" in problem
    assert "id 'ss67_selvapiana_in' is already used by stations[0]" in problem


def test_lpr_station_without_direction_zone(document: dict[str, Any]) -> None:
    del station_entry(document, "pomino_out")["zones"][0]["direction"]
    station_entry(document, "falgano_in")["zones"] = []
    problems = problems_of(document)
    assert len(problems) == 2
    assert problems[0].startswith("station 'pomino_out': zones: an lpr station needs a direction")
    assert problems[1].startswith("station 'falgano_in': zones: an lpr station needs a direction")


def test_coordinates_outside_the_municipality(document: dict[str, Any]) -> None:
    station_entry(document, "masseto_in")["latitude"] = 43.95
    (problem,) = problems_of(document)
    assert problem.startswith("station 'masseto_in': latitude/longitude: 43.95, 11.496 is outside")
    assert "municipality of Rufina (latitude 43.78-43.87, longitude 11.44-11.61)" in problem


def test_unknown_kind(document: dict[str, Any]) -> None:
    station_entry(document, "stazione")["kind"] = "ocr"
    (problem,) = problems_of(document)
    assert problem == "station 'stazione': kind: unknown kind 'ocr' (expected one of: lpr, context)"


@pytest.mark.parametrize(
    ("where", "mistake"),
    [
        ("profile", "rtsp://admin:Rufina2024@{host}:554/Streaming/Channels/101"),
        ("profile", "rtsp://{FRIGATE_RTSP_USER}:Rufina2024@{host}:554/Streaming/Channels/101"),
        ("profile", "http://{host}/cgi-bin/mjpg?user=admin&password=Rufina2024"),
        ("host", "admin:Rufina2024@10.61.3.21"),
        ("password", "Rufina2024"),
    ],
)
def test_credentials_in_clear(document: dict[str, Any], where: str, mistake: str) -> None:
    if where == "profile":
        document["stream_profiles"]["hikvision"]["record"] = mistake
        expected = "stream_profiles.hikvision.record: credentials written in clear"
    else:
        station_entry(document, "municipio")[where] = mistake
        expected = f"station 'municipio': {where}: credentials written in clear"
    (problem,) = problems_of(document)
    assert problem.startswith(expected)
    assert "Rufina2024" not in problem


def test_every_problem_is_reported_at_once(document: dict[str, Any]) -> None:
    station_entry(document, "stazione")["kind"] = "ocr"
    station_entry(document, "masseto_in")["longitude"] = 12.0
    station_entry(document, "cimitero")["zones"] = [
        {"name": "municipio", "coordinates": "0,0,1,0,1,1"}
    ]
    station_entry(document, "turicchi")["stream_profile"] = "axis"
    station_entry(document, "scuole")["zones"][0]["coordinates"] = "0,0,2,2"
    del station_entry(document, "casini")["latitude"]
    problems = problems_of(document)
    assert len(problems) == 6
    text = "\n".join(problems)
    assert "station 'cimitero': zone 'municipio' has the camera name of stations[15]" in text
    assert "station 'turicchi': stream_profile: unknown profile 'axis'" in text
    assert "station 'scuole': zones[0].coordinates: expected 'x1,y1,x2,y2,x3,y3,...'" in text
    assert "station 'casini': latitude: required key not provided" in text


def test_zone_direction_must_match_a_one_way_station(document: dict[str, Any]) -> None:
    station_entry(document, "via_roma_in")["zones"][0]["direction"] = "outbound"
    (problem,) = problems_of(document)
    assert (
        problem == "station 'via_roma_in': zones[0].direction: outbound zone on an inbound station"
    )


def test_duplicate_zone_name(document: dict[str, Any]) -> None:
    station_entry(document, "casini")["zones"][0]["name"] = "scopeti_inbound"
    (problem,) = problems_of(document)
    assert problem == "station 'casini': zone 'scopeti_inbound' is already used by stations[23]"


def test_unknown_key_and_missing_section(document: dict[str, Any]) -> None:
    station_entry(document, "rimaggio")["lattitude"] = 43.83
    assert problems_of(document) == ("station 'rimaggio': lattitude: unknown key",)
    del document["municipality"]
    assert problems_of(document) == ("municipality: required key not provided",)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="file not found"):
        load_registry(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("stations: [\n", encoding="utf-8")
    with pytest.raises(RegistryError, match="not valid YAML") as caught:
        load_registry(broken)
    assert str(caught.value).startswith(f"{broken}: 1 error")


# --- the CLI --------------------------------------------------------------------------------------


def test_stations_check(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["stations", "check"], capsys)
    assert code == 0
    assert out == "34 stations: 15 lpr (8 new), 19 context; 0 errors\n"


def test_stations_check_reports_errors(
    tmp_path: Path, document: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    station_entry(document, "stazione")["kind"] = "ocr"
    station_entry(document, "pomino_in")["latitude"] = 44.5
    path = tmp_path / "stations.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    code, out, err = run_cli(["stations", "check", "--file", str(path)], capsys)
    assert code == 1
    assert out == ""
    assert err.startswith(f"{path}: 2 errors\n")
    assert "station 'stazione': kind: unknown kind 'ocr'" in err
    assert "station 'pomino_in': latitude/longitude: 44.5, 11.5262 is outside" in err


def test_stations_list(registry: Registry, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["stations", "list"], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["ID", "KIND", "NEW", "LOCALITY"]
    assert len(lines) == 1 + 34 + 1
    for line, station in zip(lines[1:], registry.stations, strict=False):
        assert line.startswith(station.id + " ")
    assert lines[-1] == registry.summary()


def test_stations_engine_config_round_trips(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(["stations", "engine-config"], capsys)
    assert code == 0
    settings = yaml.safe_load(out)
    assert list(settings) == ["stations"]
    entries = settings["stations"]
    assert [list(entry) for entry in entries] == [
        ["id", "name", "camera", "kind", "zone", "direction", "locality", "latitude", "longitude"]
    ] * 34
    stations = [Station.from_mapping(entry) for entry in entries]
    assert [s.engine_settings() for s in stations] == [
        s.engine_settings() for s in registry.stations
    ]
    target = tmp_path / "engine-stations.yaml"
    code, out, _ = run_cli(["stations", "engine-config", "-o", str(target)], capsys)
    assert code == 0 and out == ""
    assert yaml.safe_load(target.read_text(encoding="utf-8")) == settings
