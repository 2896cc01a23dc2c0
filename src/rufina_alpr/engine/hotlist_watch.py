"""The hotlists' change notice (`<prefix>/hotlists`, retained): each list's id, sizes and revision,
so that consumers (Home Assistant's hotlist sensors and to-do lists) refresh at once instead of
polling the API.

`HotlistWatch` is the one place that decides to publish it: the API pokes it after every hotlist
write (created, deleted, gate, entry added, replaced or removed, import), and it looks again every
`INTERVAL` for what nobody pokes about (entries expiring, the CLI or another worker writing). It
publishes only when the summary differs from the last one sent, and again on every connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from typing import Final

from rufina_alpr import contract
from rufina_alpr.engine.publisher import Publisher
from rufina_alpr.hotlists import Hotlists
from rufina_alpr.metrics import Metrics
from rufina_alpr.store.database import Database

_LOGGER = logging.getLogger(__name__)

INTERVAL: Final = 15.0
"""Seconds between looks when nothing pokes the watch (an expiry is noticed this late at most)."""

Summary = list[tuple[str, int, int, str]]
"""Each list's (id, active entries, expired entries, revision), as the notice carries them."""


class HotlistWatch:
    """Publishes the hotlists' notice when they changed (one loop: checks never overlap)."""

    def __init__(
        self,
        hotlists: Hotlists,
        *,
        db: Database,
        publisher: Publisher,
        metrics: Metrics,
        connected: asyncio.Event,
        interval: float = INTERVAL,
    ) -> None:
        self.hotlists = hotlists
        self.db = db
        self.publisher = publisher
        self.metrics = metrics
        self._connected = connected
        self.interval = interval
        self._wake = asyncio.Event()
        self._sent: Summary | None = None

    def poke(self) -> None:
        """A hotlist may have changed: look now (from the event loop)."""
        self._wake.set()

    def republish(self) -> None:
        """Connected (again): publish even an unchanged notice (a broker may have lost it)."""
        self._sent = None
        self._wake.set()

    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()  # a poke from now on is another round
            if not self._connected.is_set():
                continue
            try:
                await self.check()
            except Exception:  # the next round tries again; the engine keeps running
                self.metrics.inc("hotlist_notice_failed")
                _LOGGER.exception("hotlists change notice not published")

    async def check(self) -> bool:
        """Publish the notice when the lists differ from the last one sent; True if it did."""
        hotlists = self.hotlists

        def read() -> Summary:
            lists = hotlists.lists()
            revisions = hotlists.revisions()  # a list deleted in between: left out, poked again
            return [
                (info.id, info.entries, info.expired, revisions[info.id])
                for info in lists
                if info.id in revisions
            ]

        summary = await self.db.run(read)
        if summary == self._sent:
            return False
        self._sent = summary
        now = datetime.now(self.publisher.settings.timezone)
        self.publisher.publish_hotlists(contract.hotlists_payload(changed=now, lists=summary))
        _LOGGER.debug("hotlists notice published: %d lists", len(summary))
        return True
