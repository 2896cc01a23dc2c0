"""The database's one owner at run time: `Database` runs every store call on a single thread.

SQLite allows one writer at a time, and one thread keeps the store's calls in order off the event
loop. `write` is `run` for the calls an event's outcome depends on: a database failure becomes
`StoreError`, is counted, and is reported (the health shows it until a later write succeeds).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy.exc import SQLAlchemyError

from rufina_alpr.metrics import Metrics
from rufina_alpr.store.schema import StoreError
from rufina_alpr.store.transits import Store

T = TypeVar("T")

THREAD_PREFIX = "store"
"""The database thread's name prefix."""


class Database:
    """The store and the single thread its calls run on.

    ``on_failure`` gets the failure's type name when `write` fails; ``on_success`` is called
    after a `write` that writes succeeded (on a full disk reads still work: counting them as
    success would make the state flap).
    """

    def __init__(
        self,
        store: Store,
        *,
        metrics: Metrics,
        on_failure: Callable[[str], None] | None = None,
        on_success: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self._metrics = metrics
        self._on_failure = on_failure
        self._on_success = on_success
        self._thread = ThreadPoolExecutor(1, thread_name_prefix=THREAD_PREFIX)

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """Run a store call on the single database thread."""
        return await asyncio.get_running_loop().run_in_executor(self._thread, function, *args)

    async def write(self, function: Callable[..., T], *args: Any, writes: bool = True) -> T:
        """`run` for the calls an event's outcome depends on: a database failure raises
        `StoreError` (and is counted as ``store_failures`` and reported to ``on_failure``);
        success, when the call ``writes``, is reported to ``on_success``."""
        try:
            result = await self.run(function, *args)
        except (SQLAlchemyError, OSError) as err:  # not a bug of ours: those fail the task
            name = type(err).__name__
            self._metrics.inc("store_failures")
            if self._on_failure is not None:
                self._on_failure(name)
            raise StoreError(name) from err
        if writes and self._on_success is not None:
            self._on_success()
        return result

    async def close(self) -> None:
        """Close the store on its thread, then end the thread (after the calls queued before)."""
        await self.run(self.store.close)
        self._thread.shutdown(wait=True)
