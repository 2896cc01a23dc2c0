"""The HTTP API on a real port: health is public, everything under /api/v1 needs the token."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from rufina_alpr import __version__, contract
from rufina_alpr.api import MAX_PAGE, create_app
from rufina_alpr.config import settings_from_mapping
from rufina_alpr.recognizer import Recognizer
from rufina_alpr.service import Engine
from rufina_alpr.transits import Transit, transit_id

from .conftest import TEST_STATIONS

TOKEN = "api-test-token-0123456789abcdef"
PLATE = "FG456HJ"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
V1 = ["/api/v1/info", "/api/v1/transits", "/api/v1/stats"]


@pytest.fixture
async def engine(tmp_path: Path, recognizer: Recognizer) -> AsyncIterator[Engine]:
    settings = settings_from_mapping(
        {
            "data_dir": str(tmp_path),
            "api": {"token": TOKEN},
            "stations": [
                {"id": s.id, "name": s.name, "camera": s.camera, "kind": s.kind}
                for s in TEST_STATIONS
            ],
        }
    )
    running = Engine(settings, recognizer)
    for index in range(3):
        event_id = f"1753373411.48213{index}-api{index:03d}"
        stored = Transit(
            id=transit_id(event_id),
            event_id=event_id,
            station_id="st_pomino",
            camera="cam_pomino",
            time=datetime(2025, 7, 24, 10, index, tzinfo=UTC),
            vehicle="car",
            plate=PLATE,
            display="FG 456 HJ",
            country="IT",
            format="it_car",
            confidence=0.9,
            low_confidence=False,
            read_count=2,
        )
        assert await running.in_db(running.store.add_transit, stored, [])
    yield running
    await running.stop(drain_timeout=0)


@pytest.fixture
async def client(engine: Engine) -> AsyncIterator[TestClient[Any, Any]]:
    async with TestClient(TestServer(create_app(engine), host="127.0.0.1")) as test_client:
        yield test_client


async def test_health_is_public(client: TestClient[Any, Any]) -> None:
    response = await client.get("/api/health")
    assert response.status == 200
    body = await response.json()
    assert body == {"status": "ok", "mqtt": False, "queue": 0}


@pytest.mark.parametrize("path", V1)
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token-0123456789abcdef"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Bearer {TOKEN[:-1]}"},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer"},
        {"Authorization": TOKEN},
        {"Authorization": f"Basic {TOKEN}"},
        {"X-Api-Token": TOKEN},
    ],
)
async def test_v1_needs_the_bearer_token(
    client: TestClient[Any, Any], path: str, headers: dict[str, str]
) -> None:
    response = await client.get(path, headers=headers)
    assert response.status == 401
    body = await response.json()
    assert body["error"] == "unauthorized"
    assert TOKEN not in await response.text()


@pytest.mark.parametrize("path", V1)
async def test_v1_with_the_token(client: TestClient[Any, Any], path: str) -> None:
    response = await client.get(path, headers=AUTH)
    assert response.status == 200
    lower = await client.get(path, headers={"Authorization": f"bearer {TOKEN}"})
    assert lower.status == 200, "the scheme is case-insensitive"


async def test_unknown_path_does_not_leak_without_token(client: TestClient[Any, Any]) -> None:
    assert (await client.get("/api/v1/nothing-here")).status == 401
    assert (await client.get("/api/v1/nothing-here", headers=AUTH)).status == 404
    assert (await client.post("/api/v1/transits", headers=AUTH)).status == 405


async def test_info(client: TestClient[Any, Any], recognizer: Recognizer) -> None:
    body = await (await client.get("/api/v1/info", headers=AUTH)).json()
    assert body == {
        "instance": "rufina",
        "engine_version": __version__,
        "contract_version": contract.CONTRACT_VERSION,
        "stations": len(TEST_STATIONS),
        "detector": recognizer.info.detector,
        "ocr": recognizer.info.ocr,
    }


async def test_transits_follow_the_contract_newest_first(client: TestClient[Any, Any]) -> None:
    body = await (await client.get("/api/v1/transits", headers=AUTH)).json()
    times = [t["time"] for t in body["transits"]]
    assert len(times) == 3 and times == sorted(times, reverse=True)
    for payload in body["transits"]:
        contract.validate("transit", payload)
        assert payload["station_name"] == "Pomino"
    limited = await (await client.get("/api/v1/transits?limit=2", headers=AUTH)).json()
    assert [t["id"] for t in limited["transits"]] == [t["id"] for t in body["transits"][:2]]


async def test_stats_follow_the_contract(client: TestClient[Any, Any]) -> None:
    body = await (await client.get("/api/v1/stats", headers=AUTH)).json()
    contract.validate("stats", body)


@pytest.mark.parametrize("limit", ["1", str(MAX_PAGE)])
async def test_limit_bounds_accepted(client: TestClient[Any, Any], limit: str) -> None:
    response = await client.get("/api/v1/transits", params={"limit": limit}, headers=AUTH)
    assert response.status == 200


@pytest.mark.parametrize(
    ("limit", "message"),
    [
        ("0", f"between 1 and {MAX_PAGE}"),
        ("-5", f"between 1 and {MAX_PAGE}"),
        (str(MAX_PAGE + 1), f"between 1 and {MAX_PAGE}"),
        ("99999999999999999999999", f"between 1 and {MAX_PAGE}"),
        ("ten", "must be an integer"),
        ("1.5", "must be an integer"),
        ("", "must be an integer"),
    ],
)
async def test_bad_limit_is_a_400(client: TestClient[Any, Any], limit: str, message: str) -> None:
    response = await client.get("/api/v1/transits", params={"limit": limit}, headers=AUTH)
    assert response.status == 400
    body = await response.json()
    assert body["error"] == "bad_request" and message in body["message"]


async def test_bad_limit_needs_the_token_first(client: TestClient[Any, Any]) -> None:
    assert (await client.get("/api/v1/transits?limit=zero")).status == 401


async def test_no_plate_or_token_in_the_logs(
    client: TestClient[Any, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await client.get("/api/v1/transits", headers=AUTH)
    await client.get("/api/v1/transits", headers={"Authorization": "Bearer not-the-token"})
    await client.get("/api/v1/transits?limit=x", headers=AUTH)
    for record in caplog.records:
        text = record.getMessage()
        assert TOKEN not in text and "not-the-token" not in text
        if record.levelno >= logging.INFO:
            assert PLATE not in text
