"""The common base of the engine's own errors, so a caller can tell them from a bug."""

from __future__ import annotations


class RufinaError(Exception):
    """Raised by the engine for bad input, a refused request or an unavailable peer; each
    subclass also keeps the builtin base (`ValueError`, `RuntimeError`) callers catch today."""
