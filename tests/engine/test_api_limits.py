"""Issue 20, the HTTP API's limits: connections capped below the file limit (counted, the
accept-error log bounded), request bodies bounded per route however they are sent, and refusals
that never echo what was sent. Real servers on 127.0.0.1; every wait is bounded by a count."""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import selectors
import socket
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from rufina_alpr.api.app import AcceptErrorLimiter, ApiSite, start_api
from rufina_alpr.api.context import Timeouts
from rufina_alpr.api.params import MAX_IMPORT_BYTES, MAX_JSON_BYTES
from rufina_alpr.config import settings_from_mapping
from rufina_alpr.engine.app import Engine
from rufina_alpr.recognizer import Recognizer
from rufina_alpr.sim.broker import free_port
from rufina_alpr.stations import default_registry_path

from .conftest import api_client

ADMIN = "limits-admin-token-0123456789abcdef"
AS_ADMIN = {"Authorization": f"Bearer {ADMIN}"}
REASON = {"reason": "incident 2026/20 on via Roma"}
CAP = 3
FAST = Timeouts(idle=30.0, body=5.0, lingering=30.0)  # slow sockets stay; refusals drain


@pytest.fixture
async def engine(tmp_path: Path, recognizer: Recognizer) -> AsyncIterator[Engine]:
    settings = settings_from_mapping(
        {
            "data_dir": str(tmp_path),
            "timezone": "Europe/Rome",
            "api": {"token": ADMIN, "port": free_port(), "max_connections": CAP},
            "stations_file": str(default_registry_path()),
        }
    )
    running = Engine(settings, recognizer)
    yield running
    await running.stop(drain_timeout=0)


@pytest.fixture
async def client(engine: Engine) -> AsyncIterator[TestClient[Any, Any]]:
    async with api_client(engine, FAST) as test_client:
        yield test_client


@pytest.fixture
async def running(engine: Engine) -> AsyncIterator[web.AppRunner]:
    runner = await start_api(engine, timeouts=FAST)
    yield runner
    await runner.cleanup()


def _complete(answer: bytes) -> bool:
    head, found, body = answer.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:] if found else ():
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return False


def _exchange(port: int, data: bytes) -> bytes:
    """Send ``data``; the answer, read until it is complete (by its Content-Length) or the
    server closes (a socket error after 15 s of silence)."""
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        sock.sendall(data)
        answer = b""
        try:
            while not _complete(answer) and (chunk := sock.recv(65_536)):
                answer += chunk
        except ConnectionResetError:  # closed at once, unread: the same as no answer
            pass
    return answer


def _health(port: int) -> bytes:
    return _exchange(port, b"GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")


def _closed_by_server(sockets: list[socket.socket], expected: int) -> set[socket.socket]:
    """Those of ``sockets`` the server closed, waiting (15 s of silence at most) for
    ``expected`` of them."""
    closed: set[socket.socket] = set()
    with selectors.DefaultSelector() as selector:
        for sock in sockets:
            selector.register(sock, selectors.EVENT_READ)
        while len(closed) < expected:
            ready = selector.select(15)
            if not ready:
                break
            for key, _ in ready:
                sock = cast(socket.socket, key.fileobj)
                try:
                    data = sock.recv(4096)
                except ConnectionResetError:
                    data = b""
                assert data == b"", data[:80]  # a slow client sent nothing: no answer is due
                closed.add(sock)
                selector.unregister(sock)
    return closed


@pytest.fixture
def slow_sockets() -> Iterator[list[socket.socket]]:
    opened: list[socket.socket] = []
    yield opened
    for sock in opened:
        sock.close()


async def _until(condition: Any, what: str) -> None:
    for _ in range(3000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never: {what}")


# ----------------------------------------------------------------------- A. connections
async def test_connections_over_the_cap_are_closed_at_once_and_counted(
    engine: Engine, running: web.AppRunner, slow_sockets: list[socket.socket]
) -> None:
    """1,100 slow clients held every descriptor: /api/health timed out, Frigate fetches failed."""
    site = cast(ApiSite, next(iter(running.sites)))
    port = engine.settings.api.port
    assert site.max_connections == CAP
    for _ in range(CAP):
        slow_sockets.append(socket.create_connection(("127.0.0.1", port), timeout=15))
    await _until(lambda: site.open_connections == CAP, "the slow clients held every slot")
    excess = [socket.create_connection(("127.0.0.1", port), timeout=15) for _ in range(5)]
    slow_sockets.extend(excess)
    assert await asyncio.to_thread(_closed_by_server, excess, len(excess)) == set(excess)
    assert await asyncio.to_thread(_health, port) == b""  # full: closed, not left waiting
    assert engine.metrics.snapshot()["api_connections_refused"] == len(excess) + 1
    assert site.open_connections == CAP

    slow_sockets[0].close()  # one slot frees: the next client is served
    await _until(lambda: site.open_connections == CAP - 1, "the slot was freed")
    assert (await asyncio.to_thread(_health, port)).startswith(b"HTTP/1.1 200 ")


CHILD = textwrap.dedent(
    """
    import asyncio, logging, resource, sys
    from aiohttp import web
    from rufina_alpr.api import (
        ACCEPT_ERRORS, ApiSite, Timeouts, default_max_connections, server_options,
    )

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (int(sys.argv[1]), hard))
    logging.basicConfig(stream=sys.stderr, level=logging.INFO)
    logging.getLogger("asyncio").addFilter(ACCEPT_ERRORS)
    refused = 0

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def main() -> None:
        global refused
        app = web.Application()
        app.router.add_get("/api/health", health)
        options = server_options(Timeouts(idle=120.0))
        runner = web.AppRunner(app, **options)
        await runner.setup()

        def count() -> None:
            global refused
            refused += 1

        site = ApiSite(
            runner, "127.0.0.1", 0, max_connections=default_max_connections(),
            options={**options, "debug": False}, on_refused=count,
        )
        await site.start()
        print(site.port, site.max_connections, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        print(refused, flush=True)
        await runner.cleanup()

    asyncio.run(main())
    """
)


def test_the_default_cap_keeps_descriptors_free_under_a_low_file_limit() -> None:
    """More slow clients than the process has descriptors: the API refuses those over its cap
    (the file limit less a reserve), never runs out (no accept error), and serves a new client
    as soon as one slot frees."""
    limit, clients = 256, 320
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(limit)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    held: list[socket.socket] = []
    try:
        assert child.stdout is not None and child.stdin is not None
        port, cap = (int(word) for word in child.stdout.readline().split())
        assert 8 <= cap <= limit - 128
        for _ in range(clients):
            held.append(socket.create_connection(("127.0.0.1", port), timeout=15))
        refused = _closed_by_server(held, clients - cap)
        assert len(refused) == clients - cap
        assert _health(port) == b""
        next(sock for sock in held if sock not in refused).close()
        for _ in range(200):  # the slot frees when the server sees the close
            answer = _health(port)
            if answer:
                break
        assert answer.startswith(b"HTTP/1.1 200 "), answer[:80]
        child.stdin.write("stop\n")
        child.stdin.flush()
        assert int(child.stdout.readline()) >= clients - cap + 1
    finally:
        for sock in held:
            sock.close()
        try:
            _, errors = child.communicate(timeout=60)
        finally:
            child.kill()
    assert "out of system resource" not in errors
    assert "Too many open files" not in errors
    assert len(errors.splitlines()) < 20, errors[-2000:]


async def test_accept_errors_are_logged_once_per_interval_with_a_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Each failed accept (EMFILE) was logged with its traceback, again every second."""
    now = [0.0]
    limiter = AcceptErrorLimiter(interval=60.0, clock=lambda: now[0])
    asyncio_logger = logging.getLogger("asyncio")
    earlier = list(asyncio_logger.filters)
    for other in earlier:
        asyncio_logger.removeFilter(other)
    asyncio_logger.addFilter(limiter)
    loop = asyncio.get_running_loop()
    try:
        with caplog.at_level(logging.DEBUG, logger="asyncio"):
            for _ in range(2):
                for _ in range(1000):  # as asyncio reports them (its default handler)
                    loop.call_exception_handler(
                        {
                            "message": "socket.accept() out of system resource",
                            "exception": OSError(errno.EMFILE, "Too many open files"),
                        }
                    )
                    now[0] += 0.01
                now[0] += 60
            loop.call_exception_handler({"message": "something else"})
    finally:
        asyncio_logger.removeFilter(limiter)
        for other in earlier:
            asyncio_logger.addFilter(other)
    lines = [r for r in caplog.records if r.name == "asyncio"]
    assert [r.getMessage().startswith("socket.accept()") for r in lines] == [True, True, False]
    assert "; 999 more like it" in lines[1].getMessage()
    assert "Too many open files" in lines[1].getMessage()
    assert all(r.exc_info is None for r in lines[:2])
    assert len(caplog.text.splitlines()) < 10


# ----------------------------------------------------------------------- B. chunked import
async def _chunks(total: int, line: bytes) -> AsyncIterator[bytes]:
    sent = 0
    block = line * (65_536 // len(line))
    yield b"plate,reason\n"
    while sent < total:
        yield block
        sent += len(block)


async def test_a_chunked_import_over_4_mib_is_refused(
    engine: Engine, client: TestClient[Any, Any]
) -> None:
    """With no Content-Length the 4 MiB import limit was not checked: 8 MiB went in."""
    hotlists = engine.hotlists
    await engine.db.run(lambda: hotlists.create_list("stolen", "Rubati", "stolen", created_by="t"))
    response = await client.post(
        "/api/v1/hotlists/stolen/import",
        data=_chunks(MAX_IMPORT_BYTES + 65_536, b"XK00001Q,furto\n"),
        params=REASON,
        headers={**AS_ADMIN, "Content-Type": "text/csv"},
    )
    assert response.status == 413, await response.text()
    assert await response.json() == {
        "error": "payload_too_large",
        "message": "the body is at most 4 MiB",
    }
    assert await engine.db.run(hotlists.entries, "stolen") == []
    small = await client.post(  # under the limit, chunked, it is imported
        "/api/v1/hotlists/stolen/import",
        data=_chunks(65_536, b"XK00002Q,furto\n"),
        params=REASON,
        headers={**AS_ADMIN, "Content-Type": "text/csv"},
    )
    assert small.status == 200, await small.text()


# ----------------------------------------------------------------------- C. JSON bodies
async def test_an_announced_json_body_over_1_mib_is_refused_before_it_is_sent(
    engine: Engine, running: web.AppRunner
) -> None:
    """An 8 MB JSON body was read whole and parsed on the event loop (3 s)."""
    head = (
        f"POST /api/v1/hotlists HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {8 * 1024 * 1024}\r\n\r\n{{"
    )
    answer = await asyncio.to_thread(_exchange, engine.settings.api.port, head.encode())
    status, _, body = answer.partition(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert json.loads(body) == {
        "error": "payload_too_large",
        "message": "the body is at most 1 MiB",
    }


async def test_a_chunked_json_body_over_1_mib_is_refused(client: TestClient[Any, Any]) -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b'{"id": "x", "name": "'
        for _ in range(MAX_JSON_BYTES // 65_536 + 1):
            yield b"a" * 65_536
        yield b'", "kind": "stolen"}'

    response = await client.post(
        "/api/v1/hotlists", data=body(), headers={**AS_ADMIN, "Content-Type": "application/json"}
    )
    assert response.status == 413, await response.text()
    assert (await response.json())["error"] == "payload_too_large"


async def test_a_large_json_body_under_the_limit_is_still_read(
    client: TestClient[Any, Any],
) -> None:
    """Bodies over 64 KiB are parsed on a worker thread, with the same answers."""
    padded = {"id": "big", "name": "Big", "kind": "stolen", "description": "d" * 200_000}
    response = await client.post("/api/v1/hotlists", json=padded, headers=AS_ADMIN)
    assert response.status == 400, await response.text()  # read, parsed, then validated
    assert (await response.json())["message"].startswith("'description'")


# ----------------------------------------------------------------------- D. no echo
@pytest.mark.parametrize(
    "request_text",
    [
        f"GET /api/v1/info HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN}\x01\r\n\r\n",
        f"GET /api/v1/info HTTP/1.1\r\nHost: x\r\nAuthorization Bearer {ADMIN}\r\n\r\n",
        f"GET /api/v1/info?reason={ADMIN}\x01 HTTP/1.1\r\nHost: x\r\n\r\n",
    ],
    ids=["header value", "header line", "query"],
)
async def test_malformed_requests_are_refused_without_echoing_them(
    engine: Engine, running: web.AppRunner, request_text: str, caplog: pytest.LogCaptureFixture
) -> None:
    """aiohttp's 400 quoted the malformed line back, the bearer token in it."""
    with caplog.at_level(logging.DEBUG):
        answer = await asyncio.to_thread(
            _exchange, engine.settings.api.port, request_text.encode("latin-1")
        )
    assert answer.startswith(b"HTTP/1.1 400 ") or answer.startswith(b"HTTP/1.0 400 "), answer
    assert ADMIN[:12].encode() not in answer
    assert answer.endswith(b"\r\n\r\n400 Bad Request"), answer[-80:]
    assert ADMIN[:12] not in caplog.text


async def test_an_unknown_query_name_that_is_a_token_is_not_echoed(
    client: TestClient[Any, Any],
) -> None:
    response = await client.get("/api/v1/info", params={ADMIN: "1"}, headers=AS_ADMIN)
    assert response.status == 400
    text = await response.text()
    assert ADMIN[:12] not in text and "(not a name)" in text
    named = await client.get("/api/v1/info", params={"colour": "1"}, headers=AS_ADMIN)
    assert "'colour'" in (await named.json())["message"]


async def test_a_json_body_that_is_not_utf8_is_a_400(client: TestClient[Any, Any]) -> None:
    response = await client.post(
        "/api/v1/hotlists",
        data=b'{"id": "\xff"}',
        headers={**AS_ADMIN, "Content-Type": "application/json"},
    )
    assert response.status == 400, await response.text()
