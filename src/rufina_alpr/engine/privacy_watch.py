"""What the health says of the comune's privacy obligations (`PrivacyWatch`): whether the privacy
pack was generated from the configuration running now, and the data-subject requests that are
open, due within a week or overdue (GDPR art. 12(3)). Counts and states only, never a plate.

Both need the store: the housekeeping refreshes them each stats round, and the API after each
change of a request or a new pack, so the health payload (``<prefix>/health``, ``/api/health``)
only reads the last value.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from rufina_alpr import contract
from rufina_alpr.config import Settings
from rufina_alpr.privacy import requests
from rufina_alpr.privacy.pack import PackStatus, current_status
from rufina_alpr.store.database import Database

_LOGGER = logging.getLogger(__name__)


class PrivacyWatch:
    """The privacy section of the health, as last read from the store."""

    def __init__(self, settings: Settings, db: Database, *, changed: Callable[[], None]) -> None:
        self.settings = settings
        self.db = db
        self._changed = changed
        """Called when the section changed (the health is published again)."""
        self.state: dict[str, Any] | None = None
        """None until the store was first read: the health has no privacy section then."""

    async def refresh(self) -> None:
        """Read the pack's state and the requests due; a store failure keeps the last value."""
        store = self.db.store
        settings = self.settings
        now = datetime.now(settings.timezone)
        try:
            due = await self.db.run(lambda: requests.due_summary(store, now))
            pack: PackStatus = await self.db.run(lambda: current_status(store, settings))
        except Exception:  # the next round tries again; the health keeps the last value
            _LOGGER.exception("the privacy section of the health could not be read")
            return
        state = {
            "pack": {
                "state": pack.state,
                "generated_at": contract.iso_time(pack.generated_at) if pack.generated_at else None,
                "outdated": list(pack.outdated),
                "changed": list(pack.changed),
            },
            "requests": {
                "open": due.open,
                "due_soon": due.due_soon,
                "overdue": due.overdue,
                "next_due": contract.iso_time(due.next_due) if due.next_due else None,
            },
        }
        if state != self.state:
            self.state = state
            self._changed()
