"""Privacy controls (Italian Garante rules for municipal video surveillance).

``retention``: the purge of what is past its kind's retention; ``holds``: investigation holds that
keep transits past it; ``audit``: the append-only log of who looked for whom, and why;
``settings``: the privacy section of the engine's settings.
"""

from __future__ import annotations

from rufina_alpr.privacy.audit import Audit, AuditEntry
from rufina_alpr.privacy.holds import Hold, UnknownTransitError, hold, holds, release
from rufina_alpr.privacy.retention import PurgeReport, clear_retained, purge
from rufina_alpr.privacy.settings import Retention

__all__ = [
    "Audit",
    "AuditEntry",
    "Hold",
    "PurgeReport",
    "Retention",
    "UnknownTransitError",
    "clear_retained",
    "hold",
    "holds",
    "purge",
    "release",
]
