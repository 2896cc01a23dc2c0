"""Fixtures of the add-on's tests: the engine tests' real broker, models and photos."""

from __future__ import annotations

import importlib.machinery
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from tests.engine.conftest import (  # noqa: F401 - fixtures shared with the engine's tests
    IN_CI,
    models_dir,
    mosquitto,
    photos_dir,
    require,
)

REPO = Path(__file__).resolve().parents[2]
ADDON = REPO / "addon"
START_SCRIPT = ADDON / "rootfs" / "usr" / "bin" / "rufina-alpr-addon"
REGISTRY = REPO / "frigate_config" / "stations.yaml"


@pytest.fixture(scope="session")
def start_script() -> ModuleType:
    """The add-on's start script imported as a module (it has no .py suffix)."""
    loader = importlib.machinery.SourceFileLoader("rufina_alpr_addon_start", str(START_SCRIPT))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module
