"""CSV cells a spreadsheet will not run: every CSV the engine exports goes through `safe_row`.

A cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is a formula to Excel
and LibreOffice (CSV injection: a hotlist note ``=HYPERLINK(...)`` would run on the operator's
desk). As OWASP advises, such text cells get a leading ``'``; `unescape_cell` takes it off again
when the engine reads its own export back (hotlist import), so an export round-trips.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """A text cell that cannot start a formula; numbers and other values as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def safe_row(row: Iterable[Any]) -> list[Any]:
    return [safe_cell(value) for value in row]


def safe_mapping(row: Mapping[str, Any]) -> dict[str, Any]:
    return {key: safe_cell(value) for key, value in row.items()}


def unescape_cell(text: str) -> str:
    """The text `safe_cell` escaped, as it was."""
    if text.startswith("'") and text[1:].startswith(FORMULA_START):
        return text[1:]
    return text
