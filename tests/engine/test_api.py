"""The HTTP API on a real loopback port with a real store holding a generated day of traffic.

Health and the OpenAPI description are public; everything else needs a bearer token whose role is
enough (viewer < operator < admin); every plate-returning call needs a reason and is audited.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import zipfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient, TestServer

from rufina_alpr import __version__, contract
from rufina_alpr.api import AccessLogger, create_app
from rufina_alpr.config import settings_from_mapping
from rufina_alpr.recognizer import Recognizer
from rufina_alpr.service import Engine
from rufina_alpr.stations import default_registry_path
from rufina_alpr.store import audit_log

from .traffic_day import CROP, TrafficDay, generate_day, insert_day

ADMIN = "api-admin-token-0123456789abcdef"
OPERATOR = "api-operator-token-0123456789abc"
VIEWER = "api-viewer-token-0123456789abcde"
MAX_PAGE = 200
REASON = "incident 2026/17 on via Roma"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


AS_ADMIN, AS_OPERATOR, AS_VIEWER = bearer(ADMIN), bearer(OPERATOR), bearer(VIEWER)


@pytest.fixture(scope="module")
def day() -> TrafficDay:
    return generate_day(scale=0.15)


@pytest.fixture
async def engine(tmp_path: Path, recognizer: Recognizer, day: TrafficDay) -> AsyncIterator[Engine]:
    settings = settings_from_mapping(
        {
            "data_dir": str(tmp_path),
            "timezone": "Europe/Rome",
            "frigate": {"url": "http://frigate.local:5000"},
            "api": {
                "token": ADMIN,
                "max_page": MAX_PAGE,
                "users": [
                    {"name": "agente.rossi", "token": OPERATOR, "role": "operator"},
                    {"name": "ufficio.tecnico", "token": VIEWER, "role": "viewer"},
                ],
            },
            "stations_file": str(default_registry_path()),
        }
    )
    running = Engine(settings, recognizer)
    await running.in_db(insert_day, running.store, day)
    yield running
    await running.stop(drain_timeout=0)


@pytest.fixture
async def client(engine: Engine) -> AsyncIterator[TestClient[Any, Any]]:
    server = TestServer(create_app(engine), host="127.0.0.1")
    await server.start_server(access_log_class=AccessLogger)  # as `start_api` runs it
    async with TestClient(server) as test_client:
        yield test_client


def audit_rows(engine: Engine) -> list[Any]:
    with engine.store.engine.connect() as connection:
        return list(connection.execute(sa.select(audit_log).order_by(audit_log.c.id)))


async def get_json(
    client: TestClient[Any, Any], path: str, headers: dict[str, str], **params: Any
) -> tuple[int, Any]:
    response = await client.get(path, headers=headers, params=params)
    return response.status, await response.json()


# ------------------------------------------------------------------ authentication and roles
async def test_health_and_openapi_are_public(client: TestClient[Any, Any]) -> None:
    response = await client.get("/api/health")
    assert response.status == 200
    assert await response.json() == {"status": "ok", "mqtt": False, "queue": 0}
    described = await client.get("/api/openapi.yaml")
    assert described.status == 200
    assert (await described.text()).startswith("openapi: 3.1")


BAD_HEADERS = [
    {},
    {"Authorization": "Bearer wrong-token-0123456789abcdef"},
    {"Authorization": f"Bearer {ADMIN}x"},
    {"Authorization": f"Bearer {ADMIN[:-1]}"},
    {"Authorization": "Bearer "},
    {"Authorization": "Bearer"},
    {"Authorization": ADMIN},
    {"Authorization": f"Basic {ADMIN}"},
    {"X-Api-Token": ADMIN},
]
# (method, path, least role) of every protected route, with a valid reason where one is needed.
PROTECTED = [
    ("GET", "/metrics", "viewer"),
    ("GET", "/api/v1/info", "viewer"),
    ("GET", "/api/v1/stats", "viewer"),
    ("GET", "/api/v1/transits", "operator"),
    ("GET", "/api/v1/transits/x", "operator"),
    ("GET", "/api/v1/transits/x/crop", "operator"),
    ("GET", "/api/v1/transits/x/evidence", "operator"),
    ("GET", "/api/v1/evidence", "operator"),
    ("GET", "/api/v1/audit", "admin"),
    ("GET", "/api/v1/settings", "admin"),
]


@pytest.mark.parametrize(("method", "path", "role"), PROTECTED)
@pytest.mark.parametrize("headers", BAD_HEADERS)
async def test_no_valid_token_is_a_401(
    client: TestClient[Any, Any], method: str, path: str, role: str, headers: dict[str, str]
) -> None:
    response = await client.request(method, path, headers=headers, params={"reason": REASON})
    assert response.status == 401
    body = await response.json()
    assert body["error"] == "unauthorized"
    assert ADMIN not in await response.text()


@pytest.mark.parametrize(("method", "path", "role"), PROTECTED)
async def test_roles(
    client: TestClient[Any, Any], engine: Engine, method: str, path: str, role: str
) -> None:
    ranks = {"viewer": 0, "operator": 1, "admin": 2}
    for token, caller in ((VIEWER, "viewer"), (OPERATOR, "operator"), (ADMIN, "admin")):
        before = len(await engine.in_db(audit_rows, engine))
        response = await client.request(
            method, path, headers=bearer(token), params={"reason": REASON}
        )
        if ranks[caller] < ranks[role]:
            assert response.status == 403, (caller, path)
            body = await response.json()
            assert body["error"] == "forbidden" and role in body["message"]
            assert len(await engine.in_db(audit_rows, engine)) == before, "refused: not audited"
        else:
            assert response.status != 403, (caller, path)
            assert response.status != 401


async def test_bearer_scheme_is_case_insensitive(client: TestClient[Any, Any]) -> None:
    response = await client.get("/api/v1/info", headers={"Authorization": f"bearer {VIEWER}"})
    assert response.status == 200
    assert (await response.json())["role"] == "viewer"


async def test_unknown_path_does_not_leak_without_token(client: TestClient[Any, Any]) -> None:
    assert (await client.get("/api/v1/nothing-here")).status == 401
    missing = await client.get("/api/v1/nothing-here", headers=AS_ADMIN)
    assert missing.status == 404
    assert (await missing.json())["error"] == "not_found"
    wrong = await client.post("/api/v1/stats", headers=AS_ADMIN)
    assert wrong.status == 405
    assert (await wrong.json())["error"] == "method_not_allowed"


async def test_info(client: TestClient[Any, Any], recognizer: Recognizer, engine: Engine) -> None:
    status, body = await get_json(client, "/api/v1/info", AS_OPERATOR)
    assert status == 200
    assert body == {
        "instance": "rufina",
        "engine_version": __version__,
        "contract_version": contract.CONTRACT_VERSION,
        "stations": len(engine.settings.stations),
        "detector": recognizer.info.detector,
        "ocr": recognizer.info.ocr,
        "role": "operator",
    }


async def test_stats_follow_the_contract(client: TestClient[Any, Any]) -> None:
    status, body = await get_json(client, "/api/v1/stats", AS_VIEWER)
    assert status == 200
    contract.validate("stats", body)


# ------------------------------------------------------------------ reasons and the audit log
PLATE_CALLS = [
    "/api/v1/transits",
    "/api/v1/transits/{id}",
    "/api/v1/transits/{id}/crop",
    "/api/v1/transits/{id}/evidence",
    "/api/v1/evidence?plate={plate}",
    "/api/v1/audit",
]


def _fill(path: str, day: TrafficDay) -> str:
    first = day.transits[0]
    return path.format(id=first.id, plate=first.plate)


@pytest.mark.parametrize("path", PLATE_CALLS)
async def test_plate_calls_need_a_reason(
    client: TestClient[Any, Any], engine: Engine, day: TrafficDay, path: str
) -> None:
    url = _fill(path, day)
    for params in ({}, {"reason": ""}, {"reason": "   "}):
        response = await client.get(url, headers=AS_ADMIN, params=params)
        assert response.status == 400
        assert (await response.json())["error"] == "reason_required"
    short = await client.get(url, headers=AS_ADMIN, params={"reason": "x"})
    assert short.status == 400
    assert await engine.in_db(audit_rows, engine) == [], "a refused request returns nothing"


@pytest.mark.parametrize("path", PLATE_CALLS)
async def test_plate_calls_are_audited_with_reason(
    client: TestClient[Any, Any], engine: Engine, day: TrafficDay, path: str
) -> None:
    url = _fill(path, day)
    response = await client.get(
        url,
        headers=AS_OPERATOR if "audit" not in url else AS_ADMIN,
        params={"reason": REASON, "case_number": "PM-2026-17"},
    )
    assert response.status == 200, await response.text()
    rows = await engine.in_db(audit_rows, engine)
    assert len(rows) == 1
    row = rows[0]
    assert row.reason == REASON and row.case_number == "PM-2026-17"
    assert row.actor == ("admin" if "audit" in url else "agente.rossi")
    assert row.role == ("admin" if "audit" in url else "operator")
    assert row.results is not None and row.results >= 0
    assert abs((row.time.replace(tzinfo=UTC) - datetime.now(UTC)).total_seconds()) < 60


# ------------------------------------------------------------------ transit search
async def test_search_exact_plate(client: TestClient[Any, Any], day: TrafficDay) -> None:
    plate = day.loiterer
    expected = sorted((t for t in day.transits if t.plate == plate), key=lambda t: t.time)
    assert len(expected) >= 3
    status, body = await get_json(
        client, "/api/v1/transits", AS_OPERATOR, plate=plate.lower(), reason=REASON
    )
    assert status == 200
    assert [t["id"] for t in body["transits"]] == [t.id for t in reversed(expected)]
    for payload in body["transits"]:
        contract.validate("transit", payload)
    assert body["next_offset"] is None


async def test_search_wildcards_stations_time_and_class(
    client: TestClient[Any, Any], day: TrafficDay
) -> None:
    plate = day.transits[5].plate
    pattern = plate[:3] + "*"
    expected = {t.id for t in day.transits if t.plate.startswith(plate[:3])}
    status, body = await get_json(
        client, "/api/v1/transits", AS_OPERATOR, plate=pattern, reason=REASON, limit=MAX_PAGE
    )
    assert status == 200 and {t["id"] for t in body["transits"]} == expected
    single = "??" + plate[2:5] + "??"
    expected = {t.id for t in day.transits if len(t.plate) == 7 and t.plate[2:5] == plate[2:5]}
    body = (
        await get_json(
            client, "/api/v1/transits", AS_OPERATOR, plate=single, reason=REASON, limit=MAX_PAGE
        )
    )[1]
    assert {t["id"] for t in body["transits"]} == expected
    # stations, window, class
    stations = ["via_roma_in", "pomino_out"]
    since, until = day.at(7), day.at(9)
    expected = {
        t.id
        for t in day.transits
        if t.station_id in stations and since <= t.time <= until and t.vehicle == "car"
    }
    collected: set[str] = set()
    offset: int | None = 0
    while offset is not None:
        status, body = await get_json(
            client,
            "/api/v1/transits",
            AS_OPERATOR,
            station=",".join(stations),
            since=since.isoformat(),
            until=until.replace(tzinfo=None).isoformat(),  # no zone: the engine's (Rome)
            vehicle="car",
            reason=REASON,
            limit=7,
            offset=offset,
        )
        assert status == 200 and len(body["transits"]) <= 7
        collected |= {t["id"] for t in body["transits"]}
        offset = body["next_offset"]
    assert collected == expected and expected


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"limit": "0"}, f"between 1 and {MAX_PAGE}"),
        ({"limit": str(MAX_PAGE + 1)}, f"between 1 and {MAX_PAGE}"),
        ({"limit": "99999999999999999999999"}, f"between 1 and {MAX_PAGE}"),
        ({"limit": "ten"}, "must be an integer"),
        ({"limit": "1.5"}, "must be an integer"),
        ({"offset": "-1"}, "'offset' must be between"),
        ({"plate": "AB%"}, "'plate'"),
        ({"plate": "AB_12"}, "'plate'"),
        ({"plate": "A" * 40}, "'plate'"),
        ({"station": "nowhere"}, "unknown station"),
        ({"since": "yesterday"}, "ISO 8601"),
        (
            {"since": "2026-03-10T10:00:00+01:00", "until": "2026-03-10T09:00:00+01:00"},
            "'since' must not be after 'until'",
        ),
        ({"case_number": "x" * 65}, "'case_number'"),
        ({"reason": "r" * 501}, "'reason'"),
    ],
)
async def test_bad_search_parameters_are_400(
    client: TestClient[Any, Any], engine: Engine, params: dict[str, str], message: str
) -> None:
    response = await client.get(
        "/api/v1/transits", headers=AS_OPERATOR, params={"reason": REASON, **params}
    )
    assert response.status == 400
    body = await response.json()
    assert body["error"] in ("bad_request", "reason_required") and message in body["message"]
    assert await engine.in_db(audit_rows, engine) == []


async def test_page_limit_bounds(client: TestClient[Any, Any]) -> None:
    for limit in (1, MAX_PAGE):
        status, body = await get_json(
            client, "/api/v1/transits", AS_OPERATOR, reason=REASON, limit=limit
        )
        assert status == 200 and len(body["transits"]) == limit
        assert body["next_offset"] == limit


# ------------------------------------------------------------------ one transit, crop, evidence
async def test_one_transit_and_its_crop(client: TestClient[Any, Any], day: TrafficDay) -> None:
    first = day.transits[0]
    status, body = await get_json(
        client, f"/api/v1/transits/{first.id}", AS_OPERATOR, reason=REASON
    )
    assert status == 200 and body["plate"] == first.plate and body["has_crop"] is True
    contract.validate("transit", body)
    crop = await client.get(
        f"/api/v1/transits/{first.id}/crop", headers=AS_OPERATOR, params={"reason": REASON}
    )
    assert crop.status == 200 and crop.content_type == "image/jpeg"
    assert await crop.read() == CROP
    missing = await client.get(
        "/api/v1/transits/no-such-id/crop", headers=AS_OPERATOR, params={"reason": REASON}
    )
    assert missing.status == 404 and (await missing.json())["error"] == "not_found"


def _verify_zip(data: bytes) -> tuple[dict[str, Any], dict[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    manifest = json.loads(files["manifest.json"])
    listed = {entry["path"]: entry for entry in manifest["files"]}
    assert set(listed) == set(files) - {"manifest.json", "manifest.csv", "SHA256SUMS"}
    for path, entry in listed.items():
        assert hashlib.sha256(files[path]).hexdigest() == entry["sha256"], path
        assert len(files[path]) == entry["bytes"]
    rows = list(csv.DictReader(io.StringIO(files["manifest.csv"].decode())))
    assert {row["path"]: row["sha256"] for row in rows} == {
        path: entry["sha256"] for path, entry in listed.items()
    }
    sums = dict(reversed(line.split("  ", 1)) for line in files["SHA256SUMS"].decode().splitlines())
    assert set(sums) == set(files) - {"SHA256SUMS"}
    for path, digest in sums.items():
        assert hashlib.sha256(files[path]).hexdigest() == digest
    return manifest, files


async def test_evidence_for_one_transit(
    client: TestClient[Any, Any], engine: Engine, day: TrafficDay
) -> None:
    first = day.transits[0]
    response = await client.get(
        f"/api/v1/transits/{first.id}/evidence",
        headers=AS_OPERATOR,
        params={"reason": REASON, "case_number": "PM-2026-17"},
    )
    assert response.status == 200 and response.content_type == "application/zip"
    assert "attachment" in response.headers["Content-Disposition"]
    manifest, files = _verify_zip(await response.read())
    assert manifest["reason"] == REASON and manifest["case_number"] == "PM-2026-17"
    assert manifest["generated_by"] == "agente.rossi"
    assert manifest["transits"] == [first.id]
    folder = f"transits/{first.id}"
    assert files[f"{folder}/crop.jpg"] == CROP
    assert json.loads(files[f"{folder}/transit.json"])["plate"] == first.plate
    reads = json.loads(files[f"{folder}/reads.json"])
    assert [r["text"] for r in reads] == [first.plate]
    snapshot = json.loads(files[f"{folder}/snapshot.json"])
    assert snapshot["event_id"] == first.event_id
    assert snapshot["paths"]["snapshot"] == f"/api/events/{first.event_id}/snapshot.jpg"
    assert snapshot["snapshot_url"].startswith("http://frigate.local:5000/api/events/")
    row = (await engine.in_db(audit_rows, engine))[-1]
    assert row.action == "evidence_transit" and row.results == 1


async def test_evidence_for_a_search(
    client: TestClient[Any, Any], engine: Engine, day: TrafficDay
) -> None:
    plate = day.loiterer
    expected = {t.id for t in day.transits if t.plate == plate}
    response = await client.get(
        "/api/v1/evidence", headers=AS_OPERATOR, params={"reason": REASON, "plate": plate}
    )
    assert response.status == 200
    manifest, files = _verify_zip(await response.read())
    assert set(manifest["transits"]) == expected
    assert sum(1 for name in files if name.endswith("/crop.jpg")) == len(expected)
    assert manifest["query"]["plate"] == plate
    row = (await engine.in_db(audit_rows, engine))[-1]
    assert row.action == "evidence_search" and row.results == len(expected)
    everything = await client.get(
        "/api/v1/evidence", headers=AS_OPERATOR, params={"reason": REASON}
    )
    assert everything.status == 400, "an export needs a criterion"
    missing = await client.get(
        "/api/v1/transits/nothing/evidence", headers=AS_OPERATOR, params={"reason": REASON}
    )
    assert missing.status == 404


# ------------------------------------------------------------------ admin
async def test_audit_log_is_filterable(
    client: TestClient[Any, Any], engine: Engine, day: TrafficDay
) -> None:
    for _ in range(3):
        await client.get("/api/v1/transits", headers=AS_OPERATOR, params={"reason": REASON})
    await client.get(
        f"/api/v1/transits/{day.transits[0].id}", headers=AS_ADMIN, params={"reason": REASON}
    )
    status, body = await get_json(
        client, "/api/v1/audit", AS_ADMIN, reason="monthly audit review", actor="agente.rossi"
    )
    assert status == 200
    assert [e["action"] for e in body["entries"]] == ["search"] * 3
    assert all(e["reason"] == REASON and e["role"] == "operator" for e in body["entries"])
    status, body = await get_json(
        client, "/api/v1/audit", AS_ADMIN, reason="monthly audit review", action="transit"
    )
    assert [e["actor"] for e in body["entries"]] == ["admin"]
    since = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    status, body = await get_json(
        client, "/api/v1/audit", AS_ADMIN, reason="monthly audit review", since=since
    )
    assert body["entries"] == []
    # The audit query itself is in the log.
    rows = await engine.in_db(audit_rows, engine)
    assert [r.action for r in rows][-3:] == ["audit_log"] * 3


async def test_settings_without_secrets(client: TestClient[Any, Any]) -> None:
    response = await client.get("/api/v1/settings", headers=AS_ADMIN)
    assert response.status == 200
    text = await response.text()
    assert ADMIN not in text and OPERATOR not in text and VIEWER not in text
    body = json.loads(text)
    assert body["privacy"]["retention_days"] == 7
    assert {u["name"]: u["role"] for u in body["api"]["users"]} == {
        "agente.rossi": "operator",
        "ufficio.tecnico": "viewer",
    }


# ------------------------------------------------------------------ metrics and logs
async def test_prometheus_metrics(client: TestClient[Any, Any], engine: Engine) -> None:
    engine.metrics.inc("transits_stored", 5)
    engine.metrics.observe_latency(0.25)
    response = await client.get("/metrics", headers=AS_VIEWER)
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = await response.text()
    assert "# TYPE rufina_alpr_transits_stored_total counter" in text
    assert "rufina_alpr_transits_stored_total 5" in text
    assert 'rufina_alpr_read_latency_seconds{quantile="0.5"} 0.25' in text
    assert f"rufina_alpr_stations {len(engine.settings.stations)}" in text
    for line in text.splitlines():
        assert line.startswith("#") or line.startswith("rufina_alpr_"), line


async def test_no_plate_or_token_in_info_logs(
    client: TestClient[Any, Any], day: TrafficDay, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    plate = day.loiterer
    await client.get(
        "/api/v1/transits", headers=AS_OPERATOR, params={"plate": plate, "reason": REASON}
    )
    await client.get("/api/v1/transits", headers=bearer("not-the-token"))
    await client.get("/api/v1/transits?limit=x", headers=AS_ADMIN)
    await client.get(
        "/api/v1/evidence", headers=AS_ADMIN, params={"plate": plate, "reason": REASON}
    )
    for record in caplog.records:
        text = record.getMessage()
        for secret in (ADMIN, OPERATOR, VIEWER, "not-the-token"):
            assert secret not in text
        if record.levelno >= logging.INFO:
            assert plate not in text
