"""The HTTP API package's shape: leaves import no resource module, and no import cycle.

``context``, ``params``, ``auth`` and ``audit`` are the leaves; every resource module (one per
resource, and the panel's ``live`` and ``panel``) imports only leaves; ``app`` collects the
resource modules; the package's ``__init__`` re-exports from ``app`` and the leaves. Handlers
read `ApiContext`, not the engine: only ``context`` imports it (for typing), and no module opens SQL
(the queries are the store's).
"""

from __future__ import annotations

import ast
from pathlib import Path

import rufina_alpr.api

PACKAGE = Path(rufina_alpr.api.__file__).parent
PREFIX = "rufina_alpr.api"
LEAVES = frozenset({"context", "params", "auth", "audit"})
FACADES = frozenset({"__init__", "app"})


def _module_names() -> set[str]:
    return {path.stem for path in PACKAGE.glob("*.py")}


def _imports(name: str, modules: set[str]) -> set[str]:
    """The package's modules that ``name`` imports (at import time or under TYPE_CHECKING)."""
    tree = ast.parse((PACKAGE / f"{name}.py").read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module is not None:
            if node.level:  # relative: resolve against the package
                base = PREFIX if node.level == 1 else None
                module = f"{base}.{node.module}" if base and node.module else base
            else:
                module = node.module
            if module == PREFIX:
                found |= {alias.name for alias in node.names if alias.name in modules}
            elif module and module.startswith(PREFIX + "."):
                found.add(module.removeprefix(PREFIX + ".").split(".")[0])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(PREFIX + "."):
                    found.add(alias.name.removeprefix(PREFIX + ".").split(".")[0])
    return (found & modules) - {name}


def _graph() -> dict[str, set[str]]:
    modules = _module_names()
    return {name: _imports(name, modules) for name in modules}


def test_the_package_has_its_leaves_and_resources() -> None:
    modules = _module_names()
    assert modules >= LEAVES | FACADES
    assert modules >= {"system", "transits", "tracking", "traffic", "holds", "hotlists", "admin"}
    assert modules >= {"live", "panel"}
    assert (PACKAGE / "static" / "index.html").is_file()


def test_leaves_import_only_leaves() -> None:
    graph = _graph()
    for leaf in LEAVES:
        assert graph[leaf] <= LEAVES, f"{leaf} imports {sorted(graph[leaf] - LEAVES)}"


def test_resource_modules_import_only_leaves() -> None:
    graph = _graph()
    for name, imported in graph.items():
        if name in LEAVES | FACADES:
            continue
        assert imported <= LEAVES, f"{name} imports {sorted(imported - LEAVES)}"


def test_no_module_imports_app_but_the_package() -> None:
    graph = _graph()
    assert {name for name, imported in graph.items() if "app" in imported} <= {"__init__"}


def test_the_import_graph_has_no_cycle() -> None:
    graph = _graph()
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, f"import cycle: {' -> '.join((*path, name))}"
        if name in done:
            return
        for imported in sorted(graph[name]):
            visit(imported, (*path, name))
        done.add(name)

    for name in sorted(graph):
        visit(name, ())


def _imported_modules(name: str) -> set[str]:
    """Every module ``name`` imports, absolute, with ``from X import y`` as X and X.y."""
    found: set[str] = set()
    for node in ast.walk(ast.parse((PACKAGE / f"{name}.py").read_text())):
        if isinstance(node, ast.ImportFrom) and node.module is not None and not node.level:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_only_the_context_imports_the_engine() -> None:
    """Handlers read `ApiContext`; the engine's module is named once (context.py, for typing)."""
    engine_modules = ("rufina_alpr.engine",)
    importers = {
        name
        for name in _module_names()
        if any(module.startswith(engine_modules) for module in _imported_modules(name))
    }
    assert importers <= {"context"}


def test_no_module_opens_sql() -> None:
    """The API calls store functions on the database thread; SQL is the store's."""
    for name in _module_names():
        sql = {m for m in _imported_modules(name) if m.split(".")[0] == "sqlalchemy"}
        assert not sql, f"{name} imports {sorted(sql)}"
