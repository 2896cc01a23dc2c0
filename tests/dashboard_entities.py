"""The entity ids the shipped Lovelace dashboard names, for the tests that check they exist.

Shared by tests/ha (Home Assistant's test harness) and tests/addon (a real Home Assistant): plain
Python, importable in both environments.
"""

from __future__ import annotations

from typing import Any


def dashboard_entities(node: Any) -> set[str]:
    """Every entity id the dashboard names (cards, rows, map markers, logbook lists)."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "entity" and isinstance(value, str):
                found.add(value)
            elif key == "entities" and isinstance(value, list):
                found.update(item for item in value if isinstance(item, str))
                found |= dashboard_entities(value)
            elif key != "content":
                found |= dashboard_entities(value)
    elif isinstance(node, list):
        for item in node:
            found |= dashboard_entities(item)
    return found
