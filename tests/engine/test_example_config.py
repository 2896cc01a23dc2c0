"""The documented example settings load as they are, with the whole station registry."""

from __future__ import annotations

from pathlib import Path

from rufina_alpr.config import load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_example_config_loads(tmp_path: Path) -> None:
    settings = load_settings(
        ROOT / "config.example.yaml", environ={"RUFINA_ALPR_DATA": str(tmp_path)}
    )
    assert settings.data_dir == tmp_path
    assert len(settings.stations) == 34
    assert sum(s.reads_plates for s in settings.stations) == 15
    assert settings.store_url.startswith("sqlite:///")
    assert settings.timezone.key == "Europe/Rome"
