"""Frigate's HTTP answers are bounded and never redirected, against real servers on loopback.

A "Frigate" (an aiohttp server) answers with a gzip bomb, an oversized image, a body in an
unknown encoding, a truncated gzip, a redirect to another server; the client refuses each
without reading past its cap, counts and logs it, does not retry it, and never sends the JWT
cookie or the login to the other server. What Frigate's nginx really sends (gzip for JSON,
plain images) still works.
"""

from __future__ import annotations

import gzip
import logging
import time
import tracemalloc
import zlib
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from rufina_alpr.config import settings_from_mapping
from rufina_alpr.frigate import FrigateClient, FrigateError

EVENT = "1753373411.482137-abcdef"
LIMIT = 4_000_000
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Frigate:
    """A loopback server with handlers set per test; it records each request's path and the
    headers the client sent."""

    def __init__(self) -> None:
        self.routes: dict[str, Handler] = {}
        self.requests: list[str] = []
        self.headers: list[dict[str, str]] = []
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self.server = TestServer(app, host="127.0.0.1")

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request.path)
        self.headers.append(dict(request.headers))
        handler = self.routes.get(request.path)
        if handler is None:
            return web.json_response({"success": False}, status=404)
        return await handler(request)

    @property
    def url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")


@pytest.fixture
async def frigate() -> AsyncIterator[Frigate]:
    server = Frigate()
    await server.server.start_server()
    yield server
    await server.server.close()


@pytest.fixture
async def elsewhere() -> AsyncIterator[Frigate]:
    """Another host a redirect could point to."""
    server = Frigate()
    await server.server.start_server()
    yield server
    await server.server.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


def _client(
    session: aiohttp.ClientSession, frigate: Frigate, counts: Counter[str], **options: object
) -> FrigateClient:
    return FrigateClient(
        session,
        frigate.url,
        timeout=10,
        retries=2,
        backoff=0.01,
        max_image_bytes=LIMIT,
        count=lambda name: counts.update([name]),
        **options,  # type: ignore[arg-type]
    )


def _answer(body: bytes, *, encoding: str | None = None, kind: str = "image/jpeg") -> Handler:
    async def handler(_request: web.Request) -> web.Response:
        headers = {"Content-Encoding": encoding} if encoding else {}
        return web.Response(body=body, content_type=kind, headers=headers)

    return handler


def _streamed(chunks: int, size: int) -> Handler:
    """A chunked body without Content-Length, as a proxy or a broken Frigate may send."""

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "image/jpeg"})
        await response.prepare(request)
        for _ in range(chunks):
            await response.write(b"\xab" * size)
        await response.write_eof()
        return response

    return handler


def _gzip_of_zeros(size: int) -> bytes:
    """The gzip of ``size`` zero bytes, made without holding them (~1 KB of gzip per MB)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1_000_000)
    parts = [compressor.compress(block) for _ in range(size // len(block))]
    return b"".join([*parts, compressor.flush()])


SNAPSHOT = f"/api/events/{EVENT}/snapshot.jpg"
CLEAN = f"/api/events/{EVENT}/snapshot-clean.webp"


async def test_gzip_bomb_is_refused_within_the_cap(
    frigate: Frigate, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    """1 GB of zeros is ~1 MB of gzip: aiohttp's auto-decompression inflated all of it."""
    bomb = _gzip_of_zeros(1_000_000_000)
    assert len(bomb) < 1_100_000
    frigate.routes[SNAPSHOT] = _answer(bomb, encoding="gzip")
    counts: Counter[str] = Counter()
    client = _client(session, frigate, counts)
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(FrigateError, match="body refused: decodes to more than") as caught:
            await client.rendered_snapshot(EVENT)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.monotonic() - started < 2
    assert peak < 3 * LIMIT, f"{peak / 1e6:.0f} MB held"
    assert caught.value.status == 200
    assert counts == {"frigate_bodies_refused": 1}
    assert frigate.requests == [SNAPSHOT], "a refused body is not asked for again"
    assert any(f"GET {SNAPSHOT} refused" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("handler", "reason"),
    [
        (_answer(b"\xff" * (LIMIT + 1)), f"{LIMIT + 1} bytes announced"),
        (_streamed(100, 64_000), f"more than {LIMIT} bytes received"),
        (_answer(b"\xff\xd8\xff" * 100, encoding="br"), "Content-Encoding 'br' is not accepted"),
        (_answer(gzip.compress(b"\xff\xd8" * 5000)[:-20], encoding="gzip"), "ends early"),
        (_answer(b"not gzip at all", encoding="gzip"), "corrupt compressed body"),
    ],
    ids=["content-length", "chunked", "brotli", "truncated-gzip", "corrupt-gzip"],
)
async def test_bodies_over_the_cap_or_in_unknown_encodings_are_refused(
    frigate: Frigate, session: aiohttp.ClientSession, handler: Handler, reason: str
) -> None:
    frigate.routes[SNAPSHOT] = handler
    counts: Counter[str] = Counter()
    with pytest.raises(FrigateError, match=reason):
        await _client(session, frigate, counts).rendered_snapshot(EVENT)
    assert counts == {"frigate_bodies_refused": 1}
    assert frigate.requests == [SNAPSHOT]


async def test_what_frigate_sends_is_read(frigate: Frigate, session: aiohttp.ClientSession) -> None:
    """Frigate's nginx gzips JSON when asked (``gzip_types application/json``), never JPEG,
    WebP or PNG; a body of exactly the cap is accepted."""
    config = b'{"cameras": {"cam_pomino": {"detect": {"width": 1920, "height": 1080}}}}'
    frigate.routes["/api/config"] = _answer(
        gzip.compress(config), encoding="gzip", kind="application/json"
    )
    image = b"\xff\xd8\xff" + b"\x00" * (LIMIT - 5) + b"\xff\xd9"
    frigate.routes[SNAPSHOT] = _answer(image)
    counts: Counter[str] = Counter()
    client = _client(session, frigate, counts)
    assert (await client.config())["cameras"]["cam_pomino"]["detect"]["width"] == 1920
    assert await client.rendered_snapshot(EVENT) == image
    assert counts == {}
    # The client offers only what it decodes (aiohttp would add br with brotli installed).
    assert {h["Accept-Encoding"] for h in frigate.headers} == {"gzip, deflate"}


async def test_oversized_clean_copy_falls_back_to_the_snapshot(
    frigate: Frigate, session: aiohttp.ClientSession
) -> None:
    """Like a clean copy Frigate cannot serve: snapshot.jpg may still be usable."""
    frigate.routes["/api/version"] = _answer(b"0.17.2-f0a1b2c", kind="text/plain")
    frigate.routes[CLEAN] = _answer(_gzip_of_zeros(50_000_000), encoding="gzip")
    image = b"\xff\xd8\xff\xe0" + b"\x11" * 1000 + b"\xff\xd9"
    frigate.routes[SNAPSHOT] = _answer(image)
    counts: Counter[str] = Counter()
    assert await _client(session, frigate, counts).snapshot(EVENT, ended=True) == image
    assert counts == {"frigate_bodies_refused": 1}
    assert frigate.requests == ["/api/version", CLEAN, SNAPSHOT]


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_redirects_are_not_followed(
    frigate: Frigate,
    elsewhere: Frigate,
    session: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
    status: int,
) -> None:
    """Frigate's API never redirects an image, event or login request: following one would
    send the JWT cookie (and on 307/308 the login's password) to wherever it points."""
    caplog.set_level(logging.DEBUG, logger="rufina_alpr")
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJydWZpbmEifQ.c2lnbmF0dXJl"

    async def login(_request: web.Request) -> web.Response:
        response = web.json_response({})
        response.set_cookie("frigate_token", token)
        return response

    async def redirected(request: web.Request) -> web.Response:
        host = elsewhere.url.partition("//")[2]
        target = f"http://intruder:hunter2@{host}{request.path}?stolen=1"
        return web.Response(status=status, headers={"Location": target})

    frigate.routes["/api/login"] = login
    frigate.routes[SNAPSHOT] = redirected
    elsewhere.routes[SNAPSHOT] = _answer(b"\xff\xd8\xff\xd9")
    counts: Counter[str] = Counter()
    client = _client(session, frigate, counts, username="rufina", password="s3cret-pw")
    with pytest.raises(FrigateError, match=f"redirect \\(HTTP {status}\\) not followed") as caught:
        await client.rendered_snapshot(EVENT)
    assert caught.value.status == status
    assert elsewhere.requests == []
    assert frigate.requests == ["/api/login", SNAPSHOT], "a redirect is not retried"
    assert counts == {"frigate_redirects_refused": 1}
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"redirect (HTTP {status}, to {elsewhere.url})" in line for line in lines)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for secret in (token, "s3cret-pw", "hunter2", "stolen"):
        assert secret not in logged

    # A login answered with a redirect: the password does not follow it either.
    frigate.routes["/api/login"] = redirected
    elsewhere.routes["/api/login"] = login
    client = _client(session, frigate, counts, username="rufina", password="s3cret-pw")
    with pytest.raises(FrigateError, match="POST /api/login: redirect"):
        await client.rendered_snapshot(EVENT)
    assert elsewhere.requests == []
    assert counts == {"frigate_redirects_refused": 2}


def test_the_image_cap_is_configured(tmp_path: Path) -> None:
    base = {"data_dir": str(tmp_path), "api": {"token": "x" * 24}}
    assert settings_from_mapping(base).frigate.max_image_bytes == 32_000_000
    custom = {**base, "frigate": {"max_image_megabytes": 8}}
    assert settings_from_mapping(custom).frigate.max_image_bytes == 8_000_000
