"""The shape holds: no module of the engine or of the Home Assistant integration over MAX_MODULE
lines and no class over MAX_CLASS, except the ones listed here with the size they may not grow past
(issue 22). A listed one that shrinks under the limit must leave the list, so the list only ever
gets shorter."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "rufina_alpr"
INTEGRATION = ROOT / "custom_components" / "rufina_alpr"
MAX_MODULE = 600
MAX_CLASS = 400

# Modules and classes over the limits, each with its size when it was listed: none now (the
# settings' sources left config.py for settings_sources.py, the privacy section for privacy/).
MODULES: dict[str, int] = {}
CLASSES: dict[str, int] = {}


def _modules() -> dict[str, Path]:
    """The engine's modules by their path in the package, the integration's by their path in
    the repository."""
    found = {path.relative_to(SRC).as_posix(): path for path in sorted(SRC.rglob("*.py"))}
    found.update(
        (path.relative_to(ROOT).as_posix(), path) for path in sorted(INTEGRATION.rglob("*.py"))
    )
    return found


def _sizes() -> tuple[dict[str, int], dict[str, int]]:
    """Lines per module and per class (`module:Class`), of the engine and the integration."""
    modules: dict[str, int] = {}
    classes: dict[str, int] = {}
    for name, path in _modules().items():
        source = path.read_text(encoding="utf-8")
        modules[name] = len(source.splitlines())
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ClassDef) and node.end_lineno is not None:
                classes[f"{name}:{node.name}"] = node.end_lineno - node.lineno + 1
    return modules, classes


@pytest.mark.parametrize(
    ("kind", "limit", "allowed"), [("module", MAX_MODULE, MODULES), ("class", MAX_CLASS, CLASSES)]
)
def test_nothing_grows_past_its_size(kind: str, limit: int, allowed: dict[str, int]) -> None:
    sizes = _sizes()[0 if kind == "module" else 1]
    over = {name: size for name, size in sizes.items() if size > max(limit, allowed.get(name, 0))}
    assert not over, f"{kind}s over {limit} lines (split them, or shrink them): {over}"


@pytest.mark.parametrize(
    ("kind", "limit", "allowed"), [("module", MAX_MODULE, MODULES), ("class", MAX_CLASS, CLASSES)]
)
def test_the_list_only_shrinks(kind: str, limit: int, allowed: dict[str, int]) -> None:
    """A listed module or class that is gone or now within the limit leaves the list."""
    sizes = _sizes()[0 if kind == "module" else 1]
    stale = sorted(name for name in allowed if sizes.get(name, 0) <= limit)
    assert not stale, f"within {limit} lines now, remove from the list in {__name__}: {stale}"
