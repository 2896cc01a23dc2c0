"""The package's boundary: the engine never imports the command line or the host stand-ins.

`rufina_alpr.cli` (the `rufina-alpr` command, demo, bench) and `rufina_alpr.sim` (the Frigate
replay, the loopback broker, a temporary PostgreSQL) sit on top of the engine; every other module
of `rufina_alpr` must run without them. The sources are parsed, not imported, so the check has no
import side effects and also sees imports inside functions.
"""

from __future__ import annotations

import ast
import graphlib
import importlib
from pathlib import Path

import pytest

from rufina_alpr.errors import RufinaError

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "rufina_alpr"
OUTSIDE = ("rufina_alpr.cli", "rufina_alpr.sim")
# The entry point of `python -m rufina_alpr` is the command line itself.
ENTRY_POINTS = {"__main__.py"}


def _module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _engine_modules() -> list[Path]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        top = path.relative_to(PACKAGE).parts
        if top[0] in {"cli", "sim"} or (len(top) == 1 and top[0] in ENTRY_POINTS):
            continue
        found.append(path)
    return found


def _imported(path: Path, root: Path = PACKAGE) -> set[str]:
    """Every module the file imports: relative imports resolved, ``from X import y`` as X.y."""
    name = _module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and node.value.startswith(OUTSIDE)
        ):
            # importlib.import_module("rufina_alpr.sim...") or a plugin path given as a string.
            names.add(node.value)
    return names


def _outside(name: str) -> bool:
    return any(name == top or name.startswith(f"{top}.") for top in OUTSIDE)


def test_the_engine_modules_are_found() -> None:
    names = {_module_name(path) for path in _engine_modules()}
    assert {"rufina_alpr.engine.app", "rufina_alpr.api", "rufina_alpr.store"} <= names
    assert not any(_outside(name) for name in names)


@pytest.mark.parametrize("path", _engine_modules(), ids=_module_name)
def test_engine_module_never_imports_cli_or_sim(path: Path) -> None:
    crossing = sorted(name for name in _imported(path) if _outside(name))
    assert not crossing, f"{_module_name(path)} imports {crossing}: the engine must not need them"


def test_the_check_sees_every_form_of_import(tmp_path: Path) -> None:
    """The parser catches absolute, relative, from-package and in-function imports."""
    root = tmp_path / "rufina_alpr"
    (root / "web").mkdir(parents=True)
    samples = {
        "a.py": "import rufina_alpr.sim.broker\n",
        "b.py": "from rufina_alpr import cli\n",
        "c.py": "from .sim.replay import load_photos\n",
        "web/d.py": "def f():\n    from ..cli import main\n",
        "e.py": "import importlib\nimportlib.import_module('rufina_alpr.sim.pgtemp')\n",
    }
    for relative, text in samples.items():
        (root / relative).write_text(text, encoding="utf-8")
        assert any(_outside(name) for name in _imported(root / relative, root)), relative
    (root / "f.py").write_text("from rufina_alpr import config, simple\n", encoding="utf-8")
    assert not any(_outside(name) for name in _imported(root / "f.py", root))


@pytest.mark.parametrize("path", _engine_modules(), ids=_module_name)
def test_engine_errors_share_one_base(path: Path) -> None:
    """Every exception the engine defines derives from `RufinaError`, so callers can tell the
    engine's refusals from bugs (`except RufinaError`)."""
    module = importlib.import_module(_module_name(path))
    errors = [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, BaseException)
        and value.__module__ == module.__name__
    ]
    strays = [error.__name__ for error in errors if not issubclass(error, RufinaError)]
    assert not strays, f"{module.__name__}: {strays} do not derive from RufinaError"


def _runtime_imports(path: Path, modules: set[str]) -> set[str]:
    """The package's modules a file imports when it runs (inside functions too; not the ones
    under ``if TYPE_CHECKING:``), ``from package import module`` as that module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    typing_only = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for statement in block.body
        for node in ast.walk(statement)
    }
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join([*parts[: len(parts) - node.level + 1], *filter(None, [base])])
            for alias in node.names:
                module = f"{base}.{alias.name}"
                found.add(module if module in modules else base)
    return (found & modules) - {name}


def test_no_import_cycles() -> None:
    """No module of the package imports, directly or through others, a module that imports it
    (a function-level import hides a cycle, it does not remove it)."""
    paths = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph = {name: _runtime_imports(path, set(paths)) for name, path in paths.items()}
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as err:
        pytest.fail(f"import cycle: {' -> '.join(err.args[1])}")
