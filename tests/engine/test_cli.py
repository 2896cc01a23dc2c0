"""`rufina-alpr` as a new user meets it on a fresh clone: each mistake a one-line error and a
non-zero exit, never a traceback (issue 20). The data folder, the API port, output files, the
demo's rate, models offline, hotlist stations and plates already listed."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.error import URLError

import pytest
import sqlalchemy as sa

from rufina_alpr import cli, recognizer
from rufina_alpr.cli import main
from rufina_alpr.store import Store, audit_log

ROOT = Path(__file__).resolve().parents[2]


def _one_line_error(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


# ----------------------------------------------------------------------------- serve
def test_example_config_needs_no_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The example had ``data_dir: /data`` live: a normal user got a traceback, root a /data."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("RUFINA_ALPR_DATA", raising=False)
    text = (ROOT / "config.example.yaml").read_text()
    assert "\ndata_dir: /data" not in text
    settings = cli.load_settings(ROOT / "config.example.yaml", environ={})
    assert settings.data_dir == tmp_path / ".local" / "share" / "rufina-alpr"
    assert (settings.data_dir / "api_token").is_file()


@pytest.fixture
def no_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """`serve` without loading models (the checks here come before or after them)."""
    monkeypatch.setattr(cli, "Recognizer", lambda settings: object())


def test_serve_with_a_data_dir_it_cannot_create_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_models: None
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    config = tmp_path / "config.yaml"
    config.write_text(f"data_dir: {blocker / 'data'}\n")
    assert main(["serve", "-c", str(config)]) == 2
    line = _one_line_error(capsys.readouterr().err)
    assert line.startswith("error: invalid settings: data_dir ")
    assert str(blocker / "data") in line and "RUFINA_ALPR_DATA" in line


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield int(taken.getsockname()[1])


def test_serve_on_a_port_in_use_names_the_port_and_the_setting(
    tmp_path: Path,
    busy_port: int,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    no_models: None,
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"data_dir: {tmp_path}\napi:\n  host: 127.0.0.1\n  port: {busy_port}\n")
    assert main(["serve", "-c", str(config)]) == 5
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1, errors
    assert f"127.0.0.1:{busy_port}" in errors[0]
    assert "api.port" in errors[0] and "RUFINA_ALPR__API__PORT" in errors[0]
    assert "Traceback" not in capsys.readouterr().err


# ----------------------------------------------------------------------------- output files
@pytest.mark.parametrize(
    "command",
    [
        ["stations", "frigate-config"],
        ["stations", "engine-config"],
    ],
)
def test_stations_output_to_an_unwritable_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    target = tmp_path / "missing" / "out.yaml"
    assert main([*command, "-o", str(target)]) == 2
    line = _one_line_error(capsys.readouterr().err)
    assert line.startswith(f"error: cannot write {target}: ")


@pytest.fixture
def hotlist_config(tmp_path: Path) -> list[str]:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"data_dir: {tmp_path}\nstore:\n  url: sqlite:///{tmp_path / 'cli.db'}\n"
        "stations:\n"
        "  - {id: st_a, name: A, camera: cam_a, kind: lpr}\n"
        "  - {id: st_b, name: B, camera: cam_b, kind: lpr}\n"
    )
    assert main(["hotlist", "create", "stolen", "--name", "Rubati", "--kind", "stolen",
                 "-c", str(config)]) == 0  # fmt: skip
    return ["-c", str(config)]


def test_hotlist_export_to_an_unwritable_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], hotlist_config: list[str]
) -> None:
    capsys.readouterr()
    target = tmp_path / "missing" / "list.csv"
    assert main(["hotlist", "export", "stolen", "-o", str(target), *hotlist_config]) == 2
    assert _one_line_error(capsys.readouterr().err).startswith(f"error: cannot write {target}: ")


# ----------------------------------------------------------------------------- hotlist add
def test_hotlist_add_refuses_an_unknown_station_listing_the_known(
    capsys: pytest.CaptureFixture[str], hotlist_config: list[str]
) -> None:
    capsys.readouterr()
    add = ["hotlist", "add", "stolen", "AB123CD", "--reason", "furto", *hotlist_config]
    assert main([*add, "--stations", "st_a,nowhere"]) == 1
    line = _one_line_error(capsys.readouterr().err)
    assert line == "error: unknown station nowhere; known stations: st_a, st_b"
    assert main([*add, "--stations", "st_b"]) == 0


def test_hotlist_add_without_stations_in_the_settings_refuses_any_station(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With no stations configured a scope used to be taken as it came (and never matched)."""
    config = tmp_path / "bare.yaml"
    config.write_text(f"data_dir: {tmp_path}\nstore:\n  url: sqlite:///{tmp_path / 'b.db'}\n")
    c = ["-c", str(config)]
    assert main(["hotlist", "create", "stolen", "--name", "R", "--kind", "stolen", *c]) == 0
    capsys.readouterr()
    assert main(["hotlist", "add", "stolen", "AB123CD", "--reason", "x", "--stations", "st_a",
                 *c]) == 1  # fmt: skip
    line = _one_line_error(capsys.readouterr().err)
    assert "unknown station st_a" in line and "no stations" in line


def _audit(tmp_path: Path) -> list[Any]:
    store = Store(f"sqlite:///{tmp_path / 'cli.db'}", worker="t")
    try:
        with store.engine.connect() as connection:
            return list(connection.execute(sa.select(audit_log).order_by(audit_log.c.id)))
    finally:
        store.close()


def test_hotlist_add_of_a_listed_plate_needs_replace_and_is_audited(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], hotlist_config: list[str]
) -> None:
    """It used to overwrite the reason and who added it, silently."""
    add = ["hotlist", "add", "stolen", "AB 123 CD", *hotlist_config]
    assert main([*add, "--reason", "denuncia 12/2026", "--by", "agente.rossi"]) == 0
    capsys.readouterr()
    assert main([*add, "--reason", "altro", "--by", "agente.bianchi"]) == 1
    line = _one_line_error(capsys.readouterr().err)
    assert "already on list stolen, added by agente.rossi" in line
    assert "denuncia 12/2026" in line and "--replace" in line
    assert main(["hotlist", "export", "stolen", *hotlist_config]) == 0
    assert "AB123CD,denuncia 12/2026," in capsys.readouterr().out

    assert main([*add, "--reason", "altro", "--by", "agente.bianchi", "--replace"]) == 0
    assert "replaced the entry added by agente.rossi" in capsys.readouterr().out
    rows = [row for row in _audit(tmp_path) if row.action == "hotlist_add"]
    assert [(row.actor, row.role) for row in rows] == [
        ("agente.rossi", "cli"),
        ("agente.bianchi", "cli"),
    ]
    query = rows[-1].query if isinstance(rows[-1].query, dict) else json.loads(rows[-1].query)
    assert query["replace"] is True
    assert query["replaced"]["reason"] == "denuncia 12/2026"
    assert query["replaced"]["added_by"] == "agente.rossi"


# ----------------------------------------------------------------------------- demo
@pytest.mark.parametrize("rate", ["0", "-1", "nan", "inf", "fast"])
def test_demo_refuses_a_rate_that_is_not_above_zero(
    rate: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["demo", f"--rate={rate}"])
    assert exit_.value.code == 2
    assert "--rate" in capsys.readouterr().err


# ----------------------------------------------------------------------------- models offline
def _offline(*_args: Any, **_kwargs: Any) -> Any:
    raise URLError("[Errno -2] Name or service not known")


@pytest.mark.parametrize(
    "command",
    [["read", "photo.jpg"], ["models", "check"]],
)
def test_offline_without_models_says_how_to_give_them(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    """It was a bare "cannot load the recognition models: <urlopen error ...>"."""
    monkeypatch.setattr(cli, "default_models_dir", lambda: None)
    monkeypatch.setattr(recognizer, "fast_alpr_yolov9_detector", _offline)
    assert main(command) == 3
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "cannot download fast-alpr's default models" in err
    for named in ("--models", "RUFINA_ALPR_MODELS", "shared/models", recognizer.OFFLINE_OCR):
        assert named in err, named


def test_bench_refuses_an_unwritable_out_folder_before_it_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], photos_dir: Path
) -> None:
    """The report was written only after minutes of benchmarking: a traceback lost it all."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert main(["bench", "--data", str(photos_dir), "--out", str(blocker / "report")]) == 2
    output = capsys.readouterr().out
    assert f"cannot write to {blocker / 'report'}" in output and "Traceback" not in output


def test_serve_raises_its_file_limit_towards_the_hard_one() -> None:
    """1,100 slow API clients exhausted Debian's soft limit of 1,024 descriptors."""
    script = (
        "import resource\n"
        "from rufina_alpr.cli import raise_file_limit\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (256, 4096))\n"
        "print(raise_file_limit(8192), resource.getrlimit(resource.RLIMIT_NOFILE)[0])\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (2048, 2048))\n"
        "print(raise_file_limit(1024))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["4096", "4096", "2048"]  # up to the hard limit, never lower
