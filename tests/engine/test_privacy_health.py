"""The health's privacy section (issue 25): the privacy pack's state against the configuration
running now and the data-subject requests due, on the retained `<prefix>/health` (signed, valid
against the contract) and on `/api/health`; an API change (a request registered, a pack generated)
shows at once, a change of the lists makes the pack outdated. Counts and states only, no plate."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rufina_alpr import contract
from rufina_alpr.config import settings_from_mapping
from rufina_alpr.engine.app import Engine
from rufina_alpr.mqtt import Message, MqttLink
from rufina_alpr.privacy import requests
from rufina_alpr.stations import default_registry_path

from .conftest import api_client
from .panel_pages import ScriptedReader

ADMIN = "privacy-health-admin-token-0123456789"
AS_ADMIN = {"Authorization": f"Bearer {ADMIN}"}
PLATE = "EF456GH"


class HealthListener:
    """Home Assistant's view: every `rufina_alpr/health` payload, signature checked."""

    def __init__(self, host: str, port: int) -> None:
        self.payloads: list[dict[str, Any]] = []
        self.raw: list[bytes] = []
        self.link = MqttLink(
            host=host,
            port=port,
            client_id="test-privacy-health",
            subscriptions=(("rufina_alpr/health", 1),),
            on_message=self._keep,
            clean_session=True,
            manual_ack=False,
        )

    def _keep(self, message: Message) -> None:
        self.raw.append(message.payload)
        self.payloads.append(json.loads(message.payload))

    def privacy(self) -> dict[str, Any] | None:
        return self.payloads[-1].get("privacy") if self.payloads else None


async def test_the_health_tells_the_pack_state_and_the_requests_due(harness_factory: Any) -> None:
    harness = await harness_factory(
        [],
        reader=ScriptedReader(),
        stations_file=default_registry_path(),
        extra={"api": {"token": ADMIN}, "stats_interval": 3600},
    )
    engine = harness.engine
    listener = HealthListener(harness.broker.host, harness.broker.port)
    await listener.link.start()
    await asyncio.wait_for(listener.link.connected.wait(), 10)
    try:
        await harness.wait_for(lambda: listener.privacy() is not None, 30, "the privacy section")
        assert listener.privacy() == {
            "pack": {"state": "missing", "generated_at": None, "outdated": [], "changed": []},
            "requests": {"open": 0, "due_soon": 0, "overdue": 0, "next_due": None},
        }
        # One request received 40 days ago (overdue), one 25 days ago (due within a week).
        now = datetime.now(UTC)
        for days in (40, 25):
            await engine.db.run(
                lambda days=days: requests.create(
                    engine.store,
                    "access",
                    PLATE,
                    "Mario Bianchi, prot. 1234",
                    "ufficio.privacy",
                    received_at=now - timedelta(days=days),
                )
            )
        async with api_client(engine) as client:
            # A request registered through the API shows at once (no stats round waited for).
            created = await client.post(
                "/api/v1/privacy/requests",
                headers=AS_ADMIN,
                json={"kind": "erasure", "plate": "ZZ999ZZ", "requester": "Anna Verdi"},
            )
            assert created.status == 201, await created.text()
            await harness.wait_for(
                lambda: (listener.privacy() or {}).get("requests", {}).get("open") == 3,
                30,
                "three requests open on the health",
            )
            due = listener.privacy()["requests"]  # type: ignore[index]
            assert (due["due_soon"], due["overdue"]) == (1, 1)
            assert due["next_due"] == contract.iso_time(
                now - timedelta(days=40) + timedelta(days=30)
            )
            generated = await client.post("/api/v1/privacy/pack", headers=AS_ADMIN)
            assert generated.status == 200, await generated.text()
            await harness.wait_for(
                lambda: (listener.privacy() or {}).get("pack", {}).get("state") == "current",
                30,
                "the pack current on the health",
            )
            body = await (await client.get("/api/health")).json()
            assert body["privacy"] == listener.privacy()
            # A new list changes what the documents say: the pack is out of date.
            await engine.db.run(
                lambda: engine.hotlists.create_list(
                    "furti", "Veicoli rubati", "stolen", created_by="comandante"
                )
            )
            await engine.privacy.refresh()
            await harness.wait_for(
                lambda: (listener.privacy() or {}).get("pack", {}).get("state") == "outdated",
                30,
                "the pack outdated on the health",
            )
            pack = listener.privacy()["pack"]  # type: ignore[index]
            assert pack["changed"] == ["lists"]
            assert "dpia" in pack["outdated"] and "notices" not in pack["outdated"]
    finally:
        await listener.link.stop()
    key = engine.store.signing_key()
    for raw, payload in zip(listener.raw, listener.payloads, strict=True):
        contract.validate("health", payload)
        assert contract.verify(payload, key)
        assert PLATE.encode() not in raw and b"ZZ999ZZ" not in raw


async def test_health_without_a_store_read_has_no_privacy_section(tmp_path: Path) -> None:
    """An engine that has not read its store yet says nothing rather than "missing"."""
    settings = settings_from_mapping(
        {
            "data_dir": str(tmp_path),
            "frigate": {"url": "http://frigate.local:5000"},
            "api": {"token": ADMIN},
        }
    )
    engine = Engine(settings, ScriptedReader())
    try:
        assert "privacy" not in engine.health.payload()
        await engine.privacy.refresh()
        assert engine.health.payload()["privacy"]["pack"]["state"] == "missing"
    finally:
        await engine.stop(drain_timeout=0)
