"""The store's side of the pack: the hotlists' definitions it states (never their plates), the
``privacy_packs`` row of each pack generated, and the status of the latest one against the
configuration now (``/api/health``'s ``privacy.pack``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import sqlalchemy as sa

from rufina_alpr.config import Settings
from rufina_alpr.hotlists import HotlistInfo
from rufina_alpr.hotlists.models import info_from_row
from rufina_alpr.privacy.pack.inputs import PackInputs, pack_inputs
from rufina_alpr.privacy.pack.manifest import GeneratedPack, staleness
from rufina_alpr.store import Store, hotlists, privacy_packs
from rufina_alpr.store.schema import utc

PackState = Literal["current", "outdated", "missing"]


@dataclass(frozen=True, slots=True)
class PackStatus:
    """The latest pack against the configuration now: ``outdated`` its documents out of date,
    ``changed`` the sections that changed since (both empty when current or missing)."""

    state: PackState
    generated_at: datetime | None = None
    generated_by: str | None = None
    outdated: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()


def list_definitions(store: Store) -> list[HotlistInfo]:
    """Every hotlist's definition (kind, action, gate), without counting or reading entries."""
    query = sa.select(hotlists).order_by(hotlists.c.priority, hotlists.c.id)
    with store.engine.begin() as connection:
        return [info_from_row(row._mapping) for row in connection.execute(query)]


def current_inputs(store: Store, settings: Settings) -> PackInputs:
    """The pack's inputs now: the settings and the store's hotlist definitions."""
    return pack_inputs(settings, list_definitions(store))


def record_pack(store: Store, pack: GeneratedPack) -> int:
    """Record a generated pack (``privacy_packs``); its row id."""
    with store.engine.begin() as connection:
        inserted = connection.execute(
            privacy_packs.insert().values(
                generated_at=pack.generated_at,
                generated_by=pack.manifest["generated_by"],
                sections=pack.sections,
                documents=pack.documents,
            )
        )
        key = inserted.inserted_primary_key
        assert key is not None  # an insert of one row
        return int(key[0])


def pack_status(store: Store, inputs: PackInputs) -> PackStatus:
    """The latest recorded pack against ``inputs``: missing when none was generated."""
    query = sa.select(privacy_packs).order_by(privacy_packs.c.id.desc()).limit(1)
    with store.engine.begin() as connection:
        row = connection.execute(query).first()
    if row is None:
        return PackStatus("missing")
    stale = staleness(row.sections or {}, row.documents or {}, inputs)
    return PackStatus(
        "current" if stale.current else "outdated",
        generated_at=utc(row.generated_at),
        generated_by=row.generated_by,
        outdated=tuple(stale.outdated),
        changed=stale.changed,
    )


def current_status(store: Store, settings: Settings) -> PackStatus:
    """The latest pack against the configuration running now (the health's ``privacy.pack``)."""
    return pack_status(store, current_inputs(store, settings))
