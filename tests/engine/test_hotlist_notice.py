"""The hotlists' change notice (`<prefix>/hotlists`, docs/mqtt.md): a real engine on a real
Mosquitto broker publishes it, signed and valid, whenever a list is created, changed (an entry
added, replaced, removed, an import, an expiry, a write by another process) or deleted; never a
plate; retained for a subscriber that comes later."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from rufina_alpr import contract
from rufina_alpr.hotlists import Hotlists
from rufina_alpr.mqtt import Message, MqttLink

from .conftest import Harness, api_client
from .panel_pages import ScriptedReader

ADMIN = "notice-admin-token-0123456789abcdef"
AS_ADMIN = {"Authorization": f"Bearer {ADMIN}"}
REASON = {"reason": "stolen vehicle report 17/2026"}
PLATES = ("AB123CD", "EF456GH", "LM789NP")
WAIT = 20.0


class Notices:
    """A subscriber to the notice, as Home Assistant: every message, checked and verified."""

    def __init__(self, harness: Harness, key: str, name: str) -> None:
        self.key = key
        self.received: list[dict[str, Any]] = []
        self.raw: list[bytes] = []
        self._arrived = asyncio.Event()
        self.link = MqttLink(
            host=harness.broker.host,
            port=harness.broker.port,
            client_id=f"test-notice-{name}",
            subscriptions=((contract.Topics().hotlists, 1),),
            on_message=self._keep,
            manual_ack=False,
            clean_session=True,
        )

    def _keep(self, message: Message) -> None:
        payload = json.loads(message.payload)
        contract.validate("hotlists", payload)
        assert contract.verify(payload, self.key), "the engine signs the notice"
        self.raw.append(message.payload)
        self.received.append(payload)
        self._arrived.set()

    async def start(self) -> None:
        await self.link.start()
        await asyncio.wait_for(self.link.connected.wait(), 10)

    async def until(self, check: Callable[[dict[str, int]], bool], what: str) -> dict[str, Any]:
        """The first notice (latest first) whose {list: entries} passes ``check``."""

        async def arrived() -> dict[str, Any]:
            while True:
                for payload in reversed(self.received):
                    if check(sizes(payload)):
                        return payload
                self._arrived.clear()
                await self._arrived.wait()

        try:
            return await asyncio.wait_for(arrived(), WAIT)
        except TimeoutError:
            raise AssertionError(f"no notice with {what}: {self.received[-3:]}") from None


def sizes(payload: dict[str, Any]) -> dict[str, int]:
    return {item["id"]: item["entries"] for item in payload["lists"]}


def revision(payload: dict[str, Any], list_id: str) -> str:
    return next(item["revision"] for item in payload["lists"] if item["id"] == list_id)


@pytest.fixture
async def harness(harness_factory: Any) -> Harness:
    made: Harness = await harness_factory(
        [], reader=ScriptedReader(), extra={"api": {"port": 0, "token": ADMIN}}
    )
    return made


@pytest.fixture
async def notices(harness: Harness) -> AsyncIterator[Notices]:
    assert harness.engine is not None
    subscriber = Notices(harness, harness.engine.store.signing_key(), "live")
    await subscriber.start()
    yield subscriber
    await subscriber.link.stop()


@pytest.fixture
async def client(harness: Harness) -> AsyncIterator[TestClient[Any, Any]]:
    assert harness.engine is not None
    async with api_client(harness.engine) as test_client:
        yield test_client


async def _ok(response: Any, status: int) -> Any:
    assert response.status == status, await response.text()
    return await response.json() if status != 204 else None


async def test_every_api_change_is_noticed_at_once(
    harness: Harness, notices: Notices, client: TestClient[Any, Any]
) -> None:
    """Create, add, replace (same size, new revision), import, remove, delete: each a notice,
    on the API's word alone (the watch's own rounds are an hour apart here)."""
    await notices.until(lambda lists: lists == {}, "no list yet")  # published on connecting
    assert harness.engine is not None
    harness.engine.hotlist_watch.interval = 3600.0
    harness.engine.hotlist_watch.poke()  # ends the round that waits with the old interval
    stolen = {"id": "stolen", "name": "Veicoli rubati", "kind": "stolen"}
    await _ok(await client.post("/api/v1/hotlists", json=stolen, headers=AS_ADMIN), 201)
    await notices.until(lambda lists: lists == {"stolen": 0}, "the new list")

    entries = "/api/v1/hotlists/stolen/entries"
    entry = {"plate": PLATES[0], "reason": "denuncia 17/2026"}
    await _ok(await client.post(entries, json=entry, headers=AS_ADMIN), 201)
    added = await notices.until(lambda lists: lists == {"stolen": 1}, "one entry")

    replaced = {**entry, "reason": "denuncia 18/2026", "replace": True}
    await _ok(await client.post(entries, json=replaced, headers=AS_ADMIN), 201)
    after = await notices.until(
        lambda _: revision(notices.received[-1], "stolen") != revision(added, "stolen"),
        "a new revision",
    )
    assert sizes(after) == {"stolen": 1}, "a replaced entry changes the revision, not the size"

    csv = "plate,reason\n" + "".join(f"{plate},furto\n" for plate in PLATES[1:])
    imported = await client.post(
        "/api/v1/hotlists/stolen/import", data=csv.encode(), params=REASON, headers=AS_ADMIN
    )
    await _ok(imported, 200)
    await notices.until(lambda lists: lists == {"stolen": 3}, "the imported entries")

    removed = await client.delete(f"{entries}/{PLATES[1]}", params=REASON, headers=AS_ADMIN)
    await _ok(removed, 204)
    await notices.until(lambda lists: lists == {"stolen": 2}, "one entry removed")

    deleted = await client.delete("/api/v1/hotlists/stolen", params=REASON, headers=AS_ADMIN)
    await _ok(deleted, 204)
    await notices.until(lambda lists: lists == {}, "the list deleted")

    for raw in notices.raw:  # sizes and revisions only: never a plate
        assert not any(plate.encode() in raw for plate in PLATES)


async def test_a_refused_write_publishes_nothing_new(
    harness: Harness, notices: Notices, client: TestClient[Any, Any]
) -> None:
    """A write the API refuses changes no list: the notice is not published again."""
    await notices.until(lambda lists: lists == {}, "no list yet")
    refused = await client.post(
        "/api/v1/hotlists/missing/entries",
        json={"plate": PLATES[0], "reason": "x"},
        headers=AS_ADMIN,
    )
    assert refused.status == 404
    assert harness.engine is not None
    assert not await harness.engine.hotlist_watch.check(), "nothing changed"
    assert len(notices.received) == 1


async def test_expiry_and_other_writers_are_noticed_and_retained(
    harness: Harness, notices: Notices
) -> None:
    """A write by another process (the CLI) and an entry expiring reach the notice on the
    watch's own round; a subscriber that comes later gets the latest notice, retained."""
    engine = harness.engine
    assert engine is not None
    await notices.until(lambda lists: lists == {}, "no list yet")
    engine.hotlist_watch.interval = 0.2
    engine.hotlist_watch.poke()  # ends the round that waits with the old interval
    other = Hotlists(engine.store)  # another process's view of the same store
    other.create_list("police", "Ricercati", "police", created_by="cli")
    expires = datetime.now(UTC) + timedelta(seconds=2)
    other.add_entry("police", PLATES[2], "ricerca", added_by="cli", expires_at=expires)
    await notices.until(lambda lists: lists == {"police": 1}, "the other writer's entry")
    expired = await notices.until(lambda lists: lists == {"police": 0}, "the entry expired")
    assert expired["lists"][0]["expired"] == 1

    later = Notices(harness, engine.store.signing_key(), "later")
    await later.start()
    try:
        retained = await later.until(lambda lists: lists == {"police": 0}, "the retained notice")
    finally:
        await later.link.stop()
    assert retained["lists"] == expired["lists"]
