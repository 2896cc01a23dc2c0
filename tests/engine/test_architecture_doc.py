"""docs/architecture.md draws a vehicle's path as calls between the engine's modules: every call
and every file it names must exist, so the page cannot drift from the code unnoticed."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "rufina_alpr"
PAGE = ROOT / "docs" / "architecture.md"


def _diagrams() -> str:
    return "\n".join(re.findall(r"```\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.S))


def _members() -> dict[str, set[str]]:
    """Each class's and each module's names (methods, fields, functions), by its short name."""
    found: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found.setdefault(path.stem, set()).update(
            node.name
            for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        )
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                names = found.setdefault(node.name, set())
                for item in node.body:
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        names.add(item.name)
                    elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                        names.add(item.target.id)
    return found


def test_every_call_on_the_vehicles_path_exists() -> None:
    members = _members()
    calls = set(re.findall(r"\b([A-Za-z_]\w*)\.([A-Za-z_]\w*)\b", _diagrams()))
    calls = {(owner, name) for owner, name in calls if name != "py"}
    assert len(calls) > 30  # the path is drawn
    missing = sorted(f"{o}.{n}" for o, n in calls if n not in members.get(o, set()))
    assert not missing, f"docs/architecture.md names calls the code does not have: {missing}"


def test_every_file_on_the_vehicles_path_exists() -> None:
    files = set(re.findall(r"\b([a-z_]+(?:/[a-z_]+)?\.py)\b", _diagrams()))
    assert len(files) > 10
    missing = sorted(name for name in files if not (PACKAGE / name).is_file())
    assert not missing, f"docs/architecture.md names files that do not exist: {missing}"
