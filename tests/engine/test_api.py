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
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient

from rufina_alpr import __version__, contract
from rufina_alpr.config import settings_from_mapping
from rufina_alpr.engine.app import Engine
from rufina_alpr.plate_formats import written_form
from rufina_alpr.recognizer import Recognizer
from rufina_alpr.stations import default_registry_path
from rufina_alpr.store import audit_log

from .conftest import api_client
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
    await running.db.run(insert_day, running.store, day)
    yield running
    await running.stop(drain_timeout=0)


@pytest.fixture
async def client(engine: Engine) -> AsyncIterator[TestClient[Any, Any]]:
    async with api_client(engine) as test_client:
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
    # The test engine has no broker: degraded, and why (it said "ok" with "mqtt": false).
    assert await response.json() == {
        "status": "degraded",
        "mqtt": False,
        "frigate": True,
        "queue": 0,
        "store": {"state": "ok", "error": None, "since": None},
        "privacy": None,  # the engine has not read its store yet (not started)
    }
    described = await client.get("/api/openapi.yaml")
    assert described.status == 200
    assert (await described.text()).startswith("openapi: 3.1")


async def test_health_shows_a_failing_store(client: TestClient[Any, Any], engine: Engine) -> None:
    """While outcomes cannot be stored (disk full: tests/engine/test_intake.py) health says so."""
    engine.health.store_error = ("OperationalError", datetime(2026, 12, 2, 18, 0, tzinfo=UTC))
    response = await client.get("/api/health")
    assert response.status == 200  # the add-on's watchdog would restart on anything else
    body = await response.json()
    assert body["status"] == "degraded"
    assert body["store"] == {
        "state": "failing",
        "error": "OperationalError",
        "since": "2026-12-02T18:00:00.000+00:00",
    }


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
    ("PATCH", "/api/v1/transits/x", "operator"),
    ("GET", "/api/v1/transits/x/crop", "operator"),
    ("GET", "/api/v1/transits/x/evidence", "operator"),
    ("GET", "/api/v1/evidence", "operator"),
    ("GET", "/api/v1/route", "operator"),
    ("GET", "/api/v1/queries/seen-then", "operator"),
    ("GET", "/api/v1/queries/loitering", "operator"),
    ("GET", "/api/v1/travel-times", "viewer"),
    ("GET", "/api/v1/traffic", "viewer"),
    ("GET", "/api/v1/traffic/unique", "viewer"),
    ("GET", "/api/v1/holds", "operator"),
    ("POST", "/api/v1/holds", "operator"),
    ("POST", "/api/v1/holds/1/release", "operator"),
    ("POST", "/api/v1/purge", "admin"),
    ("GET", "/api/v1/hotlists", "operator"),
    ("POST", "/api/v1/hotlists", "operator"),
    ("GET", "/api/v1/hotlists/x", "operator"),
    ("DELETE", "/api/v1/hotlists/x", "operator"),
    ("GET", "/api/v1/hotlists/x/entries", "operator"),
    ("POST", "/api/v1/hotlists/x/entries", "operator"),
    ("DELETE", "/api/v1/hotlists/x/entries/AB123CD", "operator"),
    ("POST", "/api/v1/hotlists/x/import", "operator"),
    ("GET", "/api/v1/hotlists/x/export", "operator"),
    ("GET", "/api/v1/alerts", "operator"),
    ("GET", "/api/v1/alerts/report.csv", "operator"),
    ("GET", "/api/v1/alerts/x", "operator"),
    ("GET", "/api/v1/alerts/x/frame", "operator"),
    ("POST", "/api/v1/alerts/x/steps", "operator"),
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
        before = len(await engine.db.run(audit_rows, engine))
        response = await client.request(
            method, path, headers=bearer(token), params={"reason": REASON}
        )
        if ranks[caller] < ranks[role]:
            assert response.status == 403, (caller, path)
            body = await response.json()
            assert body["error"] == "forbidden" and role in body["message"]
            assert len(await engine.db.run(audit_rows, engine)) == before, "refused: not audited"
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
        "delegate": False,
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
    "/api/v1/evidence?plate={plate}&since={since}&until={until}",
    "/api/v1/route?plate={plate}",
    "/api/v1/queries/seen-then?from_station=pomino_in&to_station=via_roma_in",
    "/api/v1/queries/loitering?station=via_roma_in",
    "/api/v1/hotlists/stolen/entries",
    "/api/v1/hotlists/stolen/export",
    "/api/v1/audit",
]


async def make_stolen_list(client: TestClient[Any, Any]) -> None:
    response = await client.post(
        "/api/v1/hotlists",
        headers=AS_OPERATOR,
        json={"id": "stolen", "name": "Veicoli rubati", "kind": "stolen"},
    )
    assert response.status in (201, 409)


def _fill(path: str, day: TrafficDay) -> str:
    first = day.transits[0]
    window = {"since": day.start.astimezone(UTC), "until": day.end.astimezone(UTC)}
    return path.format(
        id=first.id, plate=first.plate, **{k: quote(v.isoformat()) for k, v in window.items()}
    )


@pytest.mark.parametrize("path", PLATE_CALLS)
async def test_plate_calls_need_a_reason(
    client: TestClient[Any, Any], engine: Engine, day: TrafficDay, path: str
) -> None:
    url = _fill(path, day)
    await make_stolen_list(client)
    before = len(await engine.db.run(audit_rows, engine))
    for params in ({}, {"reason": ""}, {"reason": "   "}):
        response = await client.get(url, headers=AS_ADMIN, params=params)
        assert response.status == 400
        assert (await response.json())["error"] == "reason_required"
    short = await client.get(url, headers=AS_ADMIN, params={"reason": "x"})
    assert short.status == 400
    assert len(await engine.db.run(audit_rows, engine)) == before, "refused: nothing returned"


@pytest.mark.parametrize("path", PLATE_CALLS)
async def test_plate_calls_are_audited_with_reason(
    client: TestClient[Any, Any], engine: Engine, day: TrafficDay, path: str
) -> None:
    url = _fill(path, day)
    await make_stolen_list(client)
    before = len(await engine.db.run(audit_rows, engine))
    response = await client.get(
        url,
        headers=AS_OPERATOR if "audit" not in url else AS_ADMIN,
        params={"reason": REASON, "case_number": "PM-2026-17"},
    )
    assert response.status == 200, await response.text()
    rows = (await engine.db.run(audit_rows, engine))[before:]
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
        if t.station_id in stations and since <= t.time < until and t.vehicle == "car"
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


async def test_an_unknown_station_is_404(client: TestClient[Any, Any], engine: Engine) -> None:
    response = await client.get(
        "/api/v1/transits", headers=AS_OPERATOR, params={"reason": REASON, "station": "nowhere"}
    )
    assert response.status == 404
    assert "unknown station" in (await response.json())["message"]


async def test_an_unknown_query_parameter_is_400(
    client: TestClient[Any, Any], engine: Engine
) -> None:
    response = await client.get(
        "/api/v1/transits", headers=AS_OPERATOR, params={"reason": REASON, "plates": "AB123CD"}
    )
    assert response.status == 400
    assert "unknown query parameter" in (await response.json())["message"]
    assert "AB123CD" not in (await response.text())


async def test_a_request_refused_before_routing_is_logged_without_its_path(
    client: TestClient[Any, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    plate = "AB123CD"
    response = await client.get(
        "/api/v1/transits", headers=AS_OPERATOR, params={"plate": plate, "reason": "r" * 9000}
    )
    assert response.status == 400  # aiohttp's own refusal: the request line is too long
    assert response.content_type == "text/plain"  # as the description's BadRequest says
    access = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert len(access) == 1 and access[0].startswith("UNKNOWN (not routed) 400 ")
    refused = [r for r in caplog.records if r.name == "rufina_alpr.http"]
    assert [r.getMessage() for r in refused] == [
        "Error handling request from 127.0.0.1: LineTooLong"
    ]
    assert plate not in caplog.text and "rrrr" not in caplog.text


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
        ({"plate": "**"}, "'plate'"),
        ({"plate": "AB_12"}, "'plate'"),
        ({"plate": "A" * 40}, "'plate'"),
        ({"since": "yesterday"}, "ISO 8601"),
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
    assert await engine.db.run(audit_rows, engine) == []


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
    row = (await engine.db.run(audit_rows, engine))[-1]
    assert row.action == "evidence_transit" and row.results == 1


async def test_evidence_for_a_search(
    client: TestClient[Any, Any], engine: Engine, day: TrafficDay
) -> None:
    plate = day.loiterer
    expected = {t.id for t in day.transits if t.plate == plate}
    window = {"since": day.start.isoformat(), "until": day.end.isoformat()}
    response = await client.get(
        "/api/v1/evidence", headers=AS_OPERATOR, params={"reason": REASON, "plate": plate, **window}
    )
    assert response.status == 200
    manifest, files = _verify_zip(await response.read())
    assert set(manifest["transits"]) == expected
    assert sum(1 for name in files if name.endswith("/crop.jpg")) == len(expected)
    assert manifest["query"]["plate"] == plate
    row = (await engine.db.run(audit_rows, engine))[-1]
    assert row.action == "evidence_search" and row.results == len(expected)
    for given in ({}, {"since": day.start.isoformat()}, {"until": day.end.isoformat()}):
        unbounded = await client.get(
            "/api/v1/evidence",
            headers=AS_OPERATOR,
            params={"reason": REASON, "plate": plate, **given},
        )
        assert unbounded.status == 400, "an export names its period"
        assert "'since' and 'until'" in (await unbounded.json())["message"]
    missing = await client.get(
        "/api/v1/transits/nothing/evidence", headers=AS_OPERATOR, params={"reason": REASON}
    )
    assert missing.status == 404


# ------------------------------------------------------------------ tracking
async def test_vehicle_route(client: TestClient[Any, Any], day: TrafficDay) -> None:
    plate = day.loiterer
    expected = sorted((t for t in day.transits if t.plate == plate), key=lambda t: t.time)
    status, body = await get_json(
        client, "/api/v1/route", AS_OPERATOR, plate=plate, reason=REASON, journey_gap=3600
    )
    assert status == 200
    assert body["plate"] == plate and body["transits"] == len(expected)
    got = [t["id"] for j in body["journeys"] for t in j["transits"]]
    assert got == [t.id for t in expected]
    journey = body["journeys"][0]
    assert journey["stations"] == [t["station"] for t in journey["transits"]]
    assert len(journey["legs"]) == len(journey["transits"]) - 1
    assert all(leg["seconds"] > 0 for leg in journey["legs"])
    short = (
        await get_json(
            client, "/api/v1/route", AS_OPERATOR, plate=plate, reason=REASON, journey_gap=60
        )
    )[1]
    assert len(short["journeys"]) == len(expected), "every gap is longer than a minute"
    wildcard = await client.get(
        "/api/v1/route", headers=AS_OPERATOR, params={"plate": "AB*", "reason": REASON}
    )
    assert wildcard.status == 400
    missing = await client.get("/api/v1/route", headers=AS_OPERATOR, params={"reason": REASON})
    assert missing.status == 400 and "'plate' is required" in (await missing.json())["message"]


async def test_seen_at_pomino_then_in_rufina(client: TestClient[Any, Any], day: TrafficDay) -> None:
    status, body = await get_json(
        client,
        "/api/v1/queries/seen-then",
        AS_OPERATOR,
        from_station="pomino_in",
        to_station="via_roma_in",
        since=day.at(2).isoformat(),
        until=day.at(4).isoformat(),
        within=3600,
        reason=REASON,
    )
    assert status == 200
    assert tuple(r["plate"] for r in body["results"]) == day.night_pomino_rufina
    assert body["total"] == len(day.night_pomino_rufina)
    for result in body["results"]:
        assert result["first"]["station"] == "pomino_in"
        assert result["then"]["station"] == "via_roma_in"
        assert 0 < result["elapsed"] <= 3600
    bad = await client.get(
        "/api/v1/queries/seen-then",
        headers=AS_OPERATOR,
        params={"from_station": "pomino_in", "to_station": "atlantis", "reason": REASON},
    )
    # A station that does not exist is a resource not found, as an unknown hotlist is.
    assert bad.status == 404 and "unknown station" in (await bad.json())["message"]


async def test_loitering(client: TestClient[Any, Any], day: TrafficDay) -> None:
    status, body = await get_json(
        client,
        "/api/v1/queries/loitering",
        AS_OPERATOR,
        min_count=6,
        window=3 * 3600,
        since=day.start.isoformat(),
        until=day.end.isoformat(),
        reason=REASON,
    )
    assert status == 200
    loiterer = next(r for r in body["results"] if r["plate"] == day.loiterer)
    assert loiterer["count"] >= 6
    assert set(loiterer["transit_ids"]) <= {t.id for t in day.transits if t.plate == day.loiterer}


async def test_travel_times_json_and_csv(client: TestClient[Any, Any], day: TrafficDay) -> None:
    params = {"since": day.start.isoformat(), "until": day.end.isoformat()}
    status, body = await get_json(client, "/api/v1/travel-times", AS_VIEWER, **params)
    assert status == 200 and body["pairs"]
    pomino = next(
        p
        for p in body["pairs"]
        if (p["from_station"], p["to_station"]) == ("pomino_in", "via_roma_in")
    )
    assert 13 * 60 <= pomino["median"] <= 16 * 60 and pomino["p90"] >= pomino["median"]
    response = await client.get(
        "/api/v1/travel-times", headers=AS_VIEWER, params={**params, "format": "csv"}
    )
    assert response.status == 200 and response.content_type == "text/csv"
    rows = list(csv.DictReader(io.StringIO(await response.text())))
    assert [(r["from_station"], r["to_station"], int(r["count"])) for r in rows] == [
        (p["from_station"], p["to_station"], p["count"]) for p in body["pairs"]
    ]
    text = await response.text()
    assert all(t.plate not in text for t in day.transits[:50]), "statistics carry no plate"


# ------------------------------------------------------------------ hotlists
async def test_hotlist_crud_import_export(
    client: TestClient[Any, Any], engine: Engine, day: TrafficDay
) -> None:
    stolen_plate = next(p for p, kind in day.hotlisted.items() if kind == "stolen")
    response = await client.post(
        "/api/v1/hotlists",
        headers=AS_OPERATOR,
        json={"id": "stolen", "name": "Veicoli rubati", "kind": "stolen", "description": "SDI"},
    )
    assert response.status == 201
    created = await response.json()
    assert created["action"] == "alert" and created["entries"] == 0
    again = await client.post(
        "/api/v1/hotlists",
        headers=AS_OPERATOR,
        json={"id": "stolen", "name": "x", "kind": "stolen"},
    )
    assert again.status == 409 and (await again.json())["error"] == "conflict"
    for bad in (
        {"id": "Bad Id", "name": "x", "kind": "stolen"},
        {"id": "x", "name": "x", "kind": "nonsense"},
        {"id": "x", "name": "x"},
        {"id": "x", "name": "x", "kind": "watch", "priority": 99},
    ):
        refused = await client.post("/api/v1/hotlists", headers=AS_OPERATOR, json=bad)
        assert refused.status == 400, bad
    not_json = await client.post(
        "/api/v1/hotlists",
        headers=AS_OPERATOR,
        data="{",
        skip_auto_headers=(),
    )
    assert not_json.status in (400, 415)
    add = await client.post(
        "/api/v1/hotlists/stolen/entries",
        headers=AS_OPERATOR,
        json={
            "plate": stolen_plate[:2] + " " + stolen_plate[2:],
            "reason": "denuncia di furto 123/2026",
            "expires_at": "2027-01-01T00:00:00+01:00",
            "stations": ["via_roma_in"],
            "from_hour": 22,
            "to_hour": 6,
        },
    )
    assert add.status == 201, await add.text()
    entry = await add.json()
    assert entry["plate"] == stolen_plate and entry["added_by"] == "agente.rossi"
    assert entry["display"] == written_form(stolen_plate)  # as the panel and HA show it
    for bad_entry in (
        {"plate": "x", "reason": "r"},
        {"plate": "AB123CD"},
        {"plate": "AB123CD", "reason": "r", "expires_at": "tomorrow"},
        {"plate": "AB123CD", "reason": "r", "expires_at": "2027-01-01T00:00:00"},
        {"plate": "AB123CD", "reason": "r", "from_hour": 3},
    ):
        refused = await client.post(
            "/api/v1/hotlists/stolen/entries", headers=AS_OPERATOR, json=bad_entry
        )
        assert refused.status == 400, bad_entry
    unknown_station = await client.post(  # a station that does not exist is not found
        "/api/v1/hotlists/stolen/entries",
        headers=AS_OPERATOR,
        json={"plate": "AB123CD", "reason": "r", "stations": ["atlantis"]},
    )
    assert unknown_station.status == 404
    nowhere = await client.post(
        "/api/v1/hotlists/nowhere/entries",
        headers=AS_OPERATOR,
        json={"plate": "AB123CD", "reason": "r"},
    )
    assert nowhere.status == 404
    _status, lists = await get_json(client, "/api/v1/hotlists", AS_OPERATOR)
    assert [(h["id"], h["entries"]) for h in lists["hotlists"]] == [("stolen", 1)]
    imported = await client.post(
        "/api/v1/hotlists/stolen/import",
        headers={**AS_OPERATOR, "Content-Type": "text/csv"},
        params={"reason": "weekly SDI list"},
        data="plate,reason,priority,expires,notes,stations,hours\n"
        "EF456GH,furto,1,2027-06-30,,,\n"
        "!!,bad plate,,,,,\n"
        "ZZ999ZZ,furto,,2020-01-01,,,\n",
    )
    assert imported.status == 200, await imported.text()
    report = await imported.json()
    assert (report["added"], report["updated"]) == (2, 0)
    assert [r["line"] for r in report["rejected"]] == [3]
    # A file that is no list of plates is refused at line 1 and, even with replace, empties
    # nothing (it is answered, not a 400: the description cannot say what a CSV must hold).
    for wrong in ("targhe,motivo\nAB123CD,x\n", "", "\n"):
        refused = await client.post(
            "/api/v1/hotlists/stolen/import",
            headers={**AS_OPERATOR, "Content-Type": "text/csv"},
            params={"replace": "true", "format": "csv"},
            data=wrong,
        )
        assert refused.status == 200, await refused.text()
        answer = await refused.json()
        assert (answer["added"], answer["updated"], answer["removed"]) == (0, 0, 0)
        assert [r["line"] for r in answer["rejected"]] == [1]
    _, entries = await get_json(
        client, "/api/v1/hotlists/stolen/entries", AS_OPERATOR, reason=REASON
    )
    assert [e["plate"] for e in entries["entries"]] == sorted(["EF456GH", stolen_plate])
    _, everything = await get_json(
        client,
        "/api/v1/hotlists/stolen/entries",
        AS_OPERATOR,
        reason=REASON,
        include_expired="true",
    )
    assert len(everything["entries"]) == 3
    export = await client.get(
        "/api/v1/hotlists/stolen/export", headers=AS_OPERATOR, params={"reason": REASON}
    )
    assert export.status == 200 and export.content_type == "text/csv"
    exported = list(csv.DictReader(io.StringIO(await export.text())))
    assert sorted(r["plate"] for r in exported) == sorted(["EF456GH", "ZZ999ZZ", stolen_plate])
    removed = await client.delete(
        "/api/v1/hotlists/stolen/entries/EF456GH", headers=AS_OPERATOR, params={"reason": "found"}
    )
    assert removed.status == 204
    gone = await client.delete("/api/v1/hotlists/stolen/entries/EF456GH", headers=AS_OPERATOR)
    assert gone.status == 404
    _, one = await get_json(client, "/api/v1/hotlists/stolen", AS_OPERATOR)
    assert (one["entries"], one["expired"]) == (1, 1)
    actions = [r.action for r in await engine.db.run(audit_rows, engine)]
    for action in (
        "hotlist_create",
        "hotlist_add",
        "hotlist_import",
        "hotlist_entries",
        "hotlist_export",
        "hotlist_remove",
    ):
        assert action in actions
    deleted = await client.delete("/api/v1/hotlists/stolen", headers=AS_OPERATOR)
    assert deleted.status == 204
    assert (await client.get("/api/v1/hotlists/stolen", headers=AS_OPERATOR)).status == 404


async def test_hotlist_counts_replacing_an_entry_and_csv_lines_that_broke_the_import(
    client: TestClient[Any, Any], engine: Engine
) -> None:
    """Issue 20: an empty list showed 1 entry and -1 expired; adding a listed plate silently
    replaced its reason and author; a stray carriage return or a year-1 date answered 500."""
    created = await client.post(
        "/api/v1/hotlists", headers=AS_OPERATOR, json={"id": "w", "name": "W", "kind": "watch"}
    )
    assert created.status == 201
    _, lists = await get_json(client, "/api/v1/hotlists", AS_OPERATOR)
    assert [(h["id"], h["entries"], h["expired"]) for h in lists["hotlists"]] == [("w", 0, 0)]

    entries = "/api/v1/hotlists/w/entries"
    first = await client.post(
        entries, headers=AS_ADMIN, json={"plate": "AB123CD", "reason": "denuncia 12/2026"}
    )
    assert first.status == 201
    again = await client.post(
        entries, headers=AS_OPERATOR, json={"plate": "ab 123 cd", "reason": "x"}
    )
    assert again.status == 409, await again.text()
    refusal = await again.json()
    assert refusal["error"] == "conflict"
    assert "denuncia 12/2026" in refusal["message"] and '"replace": true' in refusal["message"]
    replaced = await client.post(
        entries,
        headers=AS_OPERATOR,
        json={"plate": "AB123CD", "reason": "aggiornato", "replace": True},
    )
    assert replaced.status == 201
    assert (await replaced.json())["added_by"] == "agente.rossi"
    add_rows = [r for r in await engine.db.run(audit_rows, engine) if r.action == "hotlist_add"]
    assert len(add_rows) == 2  # the refused one changed nothing
    assert add_rows[-1].query["replace"] is True
    old = add_rows[-1].query["replaced"]
    assert (old["reason"], old["added_by"]) == ("denuncia 12/2026", "admin")
    year_one = await client.post(
        entries,
        headers=AS_OPERATOR,
        json={"plate": "EF456GH", "reason": "x", "expires_at": "0001-01-01T00:00:00+01:00"},
    )
    assert year_one.status == 201, await year_one.text()  # clamped: expired long ago
    assert (await year_one.json())["expires_at"].startswith("1900-01-01")

    imported = await client.post(
        "/api/v1/hotlists/w/import",
        headers={**AS_OPERATOR, "Content-Type": "text/csv"},
        data="plate,reason,expires\n"
        "GH789JK,fu\rrto,\n"
        "IJ012KL,furto,0001-01-01\n"
        "KL345MN,furto,0001-01-01T00:00:00\n"
        "MN678OP,furto,2030-01-01\n",
    )
    assert imported.status == 200, await imported.text()
    report = await imported.json()
    assert report["added"] == 1
    assert [r["line"] for r in report["rejected"]] == [2, 3, 4]
    assert report["rejected_count"] == 3
    # One bad line repeated a hundred thousand times: counted, the first hundred listed.
    flood = await client.post(
        "/api/v1/hotlists/w/import",
        headers={**AS_OPERATOR, "Content-Type": "text/csv"},
        data="plate,reason\n" + "not a plate!,x\n" * 100_000,
    )
    assert flood.status == 200, await flood.text()
    answer = await flood.json()
    assert answer["rejected_count"] == 100_000 and len(answer["rejected"]) == 100
    assert len(await flood.read()) < 20_000
    export = await client.get(
        "/api/v1/hotlists/w/export", headers=AS_OPERATOR, params={"reason": REASON}
    )
    assert export.status == 200


# ------------------------------------------------------------------ traffic
async def test_traffic_counts_json_and_csv(client: TestClient[Any, Any], day: TrafficDay) -> None:
    window = {"since": day.start.isoformat(), "until": day.end.isoformat()}
    status, body = await get_json(
        client, "/api/v1/traffic", AS_VIEWER, period="1d", by="none", **window
    )
    assert status == 200
    per_station: dict[str, int] = {}
    for passage in day.passages:
        per_station[passage.station_id] = per_station.get(passage.station_id, 0) + 1
    assert {c["station"]: c["count"] for c in body["counts"]} == per_station
    status, hourly = await get_json(
        client, "/api/v1/traffic", AS_VIEWER, period="1h", station="via_roma_in", **window
    )
    assert status == 200
    assert sum(c["count"] for c in hourly["counts"]) == per_station["via_roma_in"]
    assert {c["station"] for c in hourly["counts"]} == {"via_roma_in"}
    response = await client.get(
        "/api/v1/traffic",
        headers=AS_VIEWER,
        params={**window, "period": "15m", "format": "csv"},
    )
    assert response.status == 200 and response.content_type == "text/csv"
    rows = list(csv.DictReader(io.StringIO(await response.text())))
    assert sum(int(r["count"]) for r in rows) == len(day.passages)
    assert set(rows[0]) == {"station", "period", "start", "vehicle", "direction", "count"}
    # A window longer than the period allows is cut to its last days, and says so in `since`.
    until = day.end.astimezone(UTC)
    status, cut = await get_json(
        client,
        "/api/v1/traffic",
        AS_VIEWER,
        period="15m",
        since="2000-01-01T00:00:00Z",
        until=until.isoformat(),
    )
    assert status == 200
    assert datetime.fromisoformat(cut["since"]) == until - timedelta(days=31)
    assert sum(c["count"] for c in cut["counts"]) == len(day.passages)
    bad_by = await client.get("/api/v1/traffic", headers=AS_VIEWER, params={"by": "plate"})
    assert bad_by.status == 400


async def test_windows_reversed_are_empty_and_too_long_are_cut(
    client: TestClient[Any, Any], day: TrafficDay
) -> None:
    """Every window the description allows is answered: reversed ones hold nothing, long ones
    are cut to the longest the query allows (its last days), and the answer says which."""
    start, end = day.start.astimezone(UTC), day.end.astimezone(UTC)
    reversed_window = {"since": end.isoformat(), "until": start.isoformat()}
    status, found = await get_json(
        client, "/api/v1/transits", AS_OPERATOR, reason=REASON, **reversed_window
    )
    assert (status, found["transits"]) == (200, [])
    for path, role, extra in (
        ("/api/v1/queries/loitering", AS_OPERATOR, {"reason": REASON, "min_count": 2}),
        ("/api/v1/travel-times", AS_VIEWER, {}),
        ("/api/v1/traffic/unique", AS_VIEWER, {}),
        ("/api/v1/traffic", AS_VIEWER, {"period": "1d"}),
    ):
        status, empty = await get_json(client, path, role, **extra, **reversed_window)
        assert status == 200, (path, empty)
        assert empty["since"] == empty["until"] == contract.iso_time(end), path
        contents = {k: v for k, v in empty.items() if isinstance(v, list) and k != "by"}
        assert contents and all(v == [] for v in contents.values()), (path, empty)
        # The same query over everything since 1990 (before the store's years: from 2000): its
        # last days, with the data in them.
        status, cut = await get_json(
            client, path, role, **extra, since="1990-01-01T00:00:00Z", until=end.isoformat()
        )
        longest = {"/api/v1/traffic/unique": 732, "/api/v1/traffic": 732}.get(path, 366)
        assert status == 200, (path, cut)
        assert datetime.fromisoformat(cut["since"]) == end - timedelta(days=longest), path
        assert any(cut[k] for k in contents), (path, cut)


@pytest.mark.parametrize(
    ("since", "until", "clamped"),
    [
        ("0001-01-01T00:00:00+05:00", "1999-12-31T23:59:59Z", ("2000-01-01", "2000-01-01")),
        ("2250-01-01T00:00:00Z", "9999-12-31T23:59:59-01:00", ("2200-01-01", "2200-01-01")),
        ("1970-01-01T00:00:00Z", "2000-06-01T00:00:00Z", ("2000-01-01", "2000-06-01")),
    ],
)
async def test_times_outside_the_stores_years_are_clamped(
    client: TestClient[Any, Any], since: str, until: str, clamped: tuple[str, str]
) -> None:
    status, found = await get_json(
        client,
        "/api/v1/queries/seen-then",
        AS_OPERATOR,
        reason=REASON,
        from_station="pomino_in",
        to_station="via_roma_in",
        since=since,
        until=until,
    )
    assert status == 200, found
    assert (found["since"][:10], found["until"][:10]) == clamped


async def test_crops_take_ids_one_per_parameter(
    client: TestClient[Any, Any], day: TrafficDay
) -> None:
    ids = [t.id for t in day.transits[:2]]
    status, found = await get_json(client, "/api/v1/crops", AS_OPERATOR, id=ids, reason=REASON)
    assert status == 200 and set(found["crops"]) == set(ids)
    for bad in ([",".join(ids)], [""], [ids[0], "../x"], ["a"] * 101):
        response = await client.get(
            "/api/v1/crops",
            headers=AS_OPERATOR,
            params=[("reason", REASON), *(("id", i) for i in bad)],
        )
        assert response.status == 400, bad
        assert "'id'" in (await response.json())["message"]


async def test_unique_vehicles_per_day(client: TestClient[Any, Any], day: TrafficDay) -> None:
    status, body = await get_json(
        client,
        "/api/v1/traffic/unique",
        AS_VIEWER,
        since=day.start.isoformat(),
        until=day.at(23, 59).isoformat(),
    )
    assert status == 200
    network = [d for d in body["days"] if d["station"] == "*"]
    assert network == [
        {
            "station": "*",
            "day": day.day.isoformat(),
            "vehicles": len({t.plate for t in day.transits}),
        }
    ]


# ------------------------------------------------------------------ holds and purge
async def test_hold_purge_release(
    client: TestClient[Any, Any], engine: Engine, day: TrafficDay
) -> None:
    plate = day.loiterer
    held_ids = {t.id for t in day.transits if t.plate == plate}
    other = next(t for t in day.transits if t.plate != plate)
    response = await client.post(
        "/api/v1/holds",
        headers=AS_OPERATOR,
        json={"case_number": "PM-2026-17", "reason": "loitering near the school", "plate": plate},
    )
    assert response.status == 201, await response.text()
    hold = await response.json()
    assert set(hold["transit_ids"]) == held_ids and hold["active"] is True
    by_id = await client.post(
        "/api/v1/holds",
        headers=AS_OPERATOR,
        json={"case_number": "PM-2026-18", "reason": "hit and run", "transit_ids": [other.id]},
    )
    assert by_id.status == 201
    for bad, code in (
        ({"case_number": "X", "reason": "why not"}, 400),
        ({"case_number": "X", "reason": "r", "transit_ids": [other.id]}, 400),
        ({"reason": "why not", "transit_ids": [other.id]}, 400),
        ({"case_number": "X", "reason": "why not", "transit_ids": ["nope"]}, 404),
        ({"case_number": "X", "reason": "why not", "plate": "AB1*"}, 400),
        ({"case_number": "X", "reason": "why not", "plate": "ZZ000ZZ"}, 404),
    ):
        refused = await client.post("/api/v1/holds", headers=AS_OPERATOR, json=bad)
        assert refused.status == code, (bad, await refused.text())
    status, listed = await get_json(client, "/api/v1/holds", AS_OPERATOR, active="true")
    assert status == 200 and [h["case_number"] for h in listed["holds"]] == [
        "PM-2026-18",
        "PM-2026-17",
    ]
    released = await client.post(
        f"/api/v1/holds/{by_id_json['id']}/release" if (by_id_json := await by_id.json()) else "",
        headers=AS_OPERATOR,
        params={"reason": "case closed"},
    )
    assert released.status == 200 and (await released.json())["active"] is False
    missing = await client.post("/api/v1/holds/999999/release", headers=AS_OPERATOR)
    assert missing.status == 404
    window = {"since": day.start.isoformat(), "until": day.end.isoformat(), "period": "1h"}
    before = (await get_json(client, "/api/v1/traffic", AS_VIEWER, **window))[1]["counts"]
    purged = await client.post(
        "/api/v1/purge", headers=AS_ADMIN, params={"reason": "monthly check"}
    )
    assert purged.status == 200
    report = await purged.json()
    assert report["transits"] == len(day.transits) - len(held_ids)
    assert report["held"] == len(held_ids)
    assert report["audit_entries"] == 0, "the audit log keeps its own, longer retention"
    after = (await get_json(client, "/api/v1/traffic", AS_VIEWER, **window))[1]["counts"]
    assert after == before, "the aggregates survive the purge"
    status, body = await get_json(
        client, "/api/v1/transits", AS_OPERATOR, reason=REASON, limit=MAX_PAGE
    )
    assert {t["id"] for t in body["transits"]} == held_ids
    assert body["transits"][0]["plate"] == plate
    actions = [r.action for r in await engine.db.run(audit_rows, engine)]
    assert actions.count("hold") == 2 and "hold_release" in actions and "purge" in actions


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
    assert status == 200
    assert [e["actor"] for e in body["entries"]] == ["admin"]
    since = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    status, body = await get_json(
        client, "/api/v1/audit", AS_ADMIN, reason="monthly audit review", since=since
    )
    assert body["entries"] == []
    # The audit query itself is in the log.
    rows = await engine.db.run(audit_rows, engine)
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
        "/api/v1/evidence",
        headers=AS_ADMIN,
        params={"plate": plate, "reason": REASON, "since": "2026-01-01", "until": "2027-01-01"},
    )
    for record in caplog.records:
        text = record.getMessage()
        for secret in (ADMIN, OPERATOR, VIEWER, "not-the-token"):
            assert secret not in text
        if record.levelno >= logging.INFO:
            assert plate not in text
