"""`AlertBook`: the alerts over the store, each call its own transaction, for the API and the
panel's live feed (which open no SQL of their own). Synchronous: run on the database thread."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rufina_alpr.alerts import ledger
from rufina_alpr.alerts.models import Alert
from rufina_alpr.store import Store


class AlertBook:
    """The queue, one alert, its handling steps, its frame and the alerts changed lately."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def listing(self, **filters: Any) -> list[Alert]:
        """`ledger.listing` (``open_only``, ``station_id``, ``list_id``, ``kind``, ``state``,
        ``outcome``, ``since``, ``until``, ``limit``)."""
        with self.store.engine.begin() as connection:
            return ledger.listing(connection, **filters)

    def find(self, id_: str) -> Alert | None:
        with self.store.engine.begin() as connection:
            return ledger.find(connection, id_)

    def step(
        self,
        id_: str,
        step: str,
        *,
        actor: str,
        acting_user: str | None,
        reason: str | None = None,
        outcome: str | None = None,
        note: str | None = None,
    ) -> Alert:
        """`ledger.apply_step` in a transaction of its own."""
        with self.store.engine.begin() as connection:
            return ledger.apply_step(
                connection,
                id_,
                step,
                actor=actor,
                acting_user=acting_user,
                reason=reason,
                outcome=outcome,
                note=note,
            )

    def frame(self, id_: str) -> tuple[bytes, str, str, datetime] | None:
        with self.store.engine.begin() as connection:
            return ledger.frame(connection, id_)

    def changed_since(self, since: datetime, limit: int = 500) -> list[Alert]:
        with self.store.engine.begin() as connection:
            return ledger.changed_since(connection, since, limit=limit)
