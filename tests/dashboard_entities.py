"""The entity ids the shipped Lovelace dashboards name, for the tests that check they exist.

Shared by tests/ha (Home Assistant's test harness) and tests/addon (a real Home Assistant): plain
Python, importable in both environments.
"""

from __future__ import annotations

import pathlib
import re
from typing import Any

DASHBOARDS = tuple(
    pathlib.Path(__file__).resolve().parents[1] / "dashboards" / name
    for name in ("rufina_alpr.yaml", "rufina_alpr.en.yaml")
)
# An entity id a template names (a pattern such as `sensor[.]rufina_` is not one).
TEMPLATE_ENTITY = re.compile(r"\b(?:binary_sensor|sensor|image|event)\.[a-z0-9_]+")


def dashboard_entities(node: Any) -> set[str]:
    """Every entity id the dashboard names (cards, rows, map markers, templates)."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "entity" and isinstance(value, str):
                found.add(value)
            elif key == "entities" and isinstance(value, list):
                found.update(item for item in value if isinstance(item, str))
                found |= dashboard_entities(value)
            elif key == "content" and isinstance(value, str):
                found.update(TEMPLATE_ENTITY.findall(value))
            else:
                found |= dashboard_entities(value)
    elif isinstance(node, list):
        for item in node:
            found |= dashboard_entities(item)
    return found
