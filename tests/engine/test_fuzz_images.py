"""Fuzzing the engine's image path with hypothesis: fetched from a real HTTP server, decoded and
read exactly as a snapshot is (`FrigateClient` with the engine's caps, `Engine._recognize`).

Inputs: a real photo as JPEG, PNG and WebP, truncated, with bytes overwritten, with the size
fields of its header set to huge or zero values, random bytes after a format's signature, the
crafted tiny files of `crafted_images`, each served plain or gzipped. Properties: nothing but
`FrigateError` (fetch) or `ImageError` (decode) comes out, which is what the engine's read
handler turns into a counted, logged unread passage; OpenCV never returns a frame over the
pixel cap and is never asked to decode a format Frigate does not serve; and afterwards a good
photo still reads its plate.
"""

from __future__ import annotations

import asyncio
import gzip
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import aiohttp
import cv2
import numpy as np
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rufina_alpr.cli.demo import engine_settings
from rufina_alpr.engine.app import Engine
from rufina_alpr.frigate import FrigateClient, FrigateError
from rufina_alpr.recognizer import FORMATS, ImageError, Recognizer, image_format
from rufina_alpr.sim.photos import Photo, load_photos

from .conftest import TEST_STATIONS, plates_equal
from .crafted_images import NOT_SERVED_BY_FRIGATE, SERVED_BY_FRIGATE

MAX_MEGAPIXELS = 2
MAX_IMAGE_MEGABYTES = 1
EVENT = "1753373411.482137-fuzz01"


class LoopbackFrigate:
    """A Frigate stand-in on loopback serving one body, and the client, on their own event
    loop in a thread, so that hypothesis can drive them from a plain test function."""

    def __init__(self, engine: Engine) -> None:
        self.body, self.gzipped = b"", False
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self._engine = engine
        self._call(self._start())

    def _call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=30)

    async def _serve(self, _request: web.Request) -> web.Response:
        if self.gzipped:
            return web.Response(
                body=gzip.compress(self.body, 1),
                content_type="image/jpeg",
                headers={"Content-Encoding": "gzip"},
            )
        return web.Response(body=self.body, content_type="image/jpeg")

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get(f"/api/events/{EVENT}/snapshot.jpg", self._serve)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()
        self.session = aiohttp.ClientSession()
        frigate = self._engine.settings.frigate
        self.client = FrigateClient(
            self.session,
            str(self.server.make_url("")),
            timeout=10,
            retries=0,
            max_image_bytes=frigate.max_image_bytes,
            count=self._engine.metrics.inc,
        )

    def fetch(self, body: bytes, gzipped: bool) -> bytes:
        self.body, self.gzipped = body, gzipped
        data: bytes = self._call(self.client.rendered_snapshot(EVENT))
        return data

    async def _stop(self) -> None:
        await self.session.close()
        await self.server.close()

    def close(self) -> None:
        self._call(self._stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


@pytest.fixture(scope="module")
def good_photo(photos_dir: Path) -> Photo:
    return next(p for p in load_photos(photos_dir) if p.plate)


@pytest.fixture(scope="module")
def seeds(good_photo: Photo) -> dict[str, bytes]:
    """The photo at 320 px wide (fuzzed images decode fast) in each format Frigate serves."""
    image = cv2.imread(str(good_photo.path))
    small = cv2.resize(image, (320, round(image.shape[0] * 320 / image.shape[1])))
    encoded = {}
    for name, suffix in zip(FORMATS, (".jpg", ".png", ".webp"), strict=True):
        ok, buffer = cv2.imencode(suffix, small)
        assert ok
        encoded[name] = buffer.tobytes()
    return encoded


@pytest.fixture(scope="module")
def engine(
    recognizer: Recognizer, models_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    settings = engine_settings(
        broker_host="127.0.0.1",
        broker_port=1,
        frigate_url="http://127.0.0.1:1",
        data_dir=tmp_path_factory.mktemp("fuzz-engine"),
        stations=TEST_STATIONS,
        models_dir=models_dir,
        extra={
            "recognition": {"max_image_megapixels": MAX_MEGAPIXELS},
            "frigate": {"max_image_megabytes": MAX_IMAGE_MEGABYTES},
        },
    )
    engine = Engine(settings, recognizer)
    yield engine
    engine.store.close()


@pytest.fixture(scope="module")
def frigate(engine: Engine) -> Iterator[LoopbackFrigate]:
    server = LoopbackFrigate(engine)
    yield server
    server.close()


def _header_fields(data: bytes) -> list[tuple[int, int, str]]:
    """(offset, length, byte order) of the width and height fields of a seed's header."""
    kind = image_format(data)
    if kind == "PNG":
        return [(16, 4, "big"), (20, 4, "big")]
    if kind == "WebP":  # VP8X canvas, VP8 frame size or VP8L packed size, as the seed has
        return [(24, 3, "little"), (27, 3, "little"), (26, 2, "little"), (28, 2, "little")]
    sof = next(
        i for i in range(2, len(data) - 9) if data[i] == 0xFF and data[i + 1] in (0xC0, 0xC2)
    )
    return [(sof + 5, 2, "big"), (sof + 7, 2, "big")]


@st.composite
def image_bodies(draw: st.DrawFn, seeds: dict[str, bytes]) -> bytes:
    kind = draw(st.sampled_from(["seed", "signature", "crafted", "empty", "oversized"]))
    if kind == "empty":
        return b""
    if kind == "oversized":  # over the byte cap: refused on the wire, or once gzip-decoded
        return b"\xff\xd8\xff" + bytes(MAX_IMAGE_MEGABYTES * 1_000_000) + b"\xff\xd9"
    if kind == "crafted":
        crafted = {**NOT_SERVED_BY_FRIGATE, **SERVED_BY_FRIGATE}
        return crafted[draw(st.sampled_from(sorted(crafted)))]()
    if kind == "signature":
        prefix = draw(
            st.sampled_from([b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"RIFF\x00\x00\x00\x00WEBP"])
        )
        return prefix + draw(st.binary(max_size=256))
    data = bytearray(seeds[draw(st.sampled_from(sorted(seeds)))])
    for offset, length, order in draw(st.lists(st.sampled_from(_header_fields(data)))):
        value = draw(st.sampled_from([0, 1, 2 ** (length * 8) - 1, draw(st.integers(0, 2**16))]))
        data[offset : offset + length] = (value % 2 ** (length * 8)).to_bytes(length, order)
    if image_format(data) == "PNG":  # a header with a valid CRC reaches the decoder
        data[29:33] = zlib.crc32(data[12:29]).to_bytes(4, "big")
    for _ in range(draw(st.integers(0, 4))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    if draw(st.integers(0, 3)) == 0:
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


def test_fuzzed_images_are_refused_or_read_within_the_caps(
    engine: Engine, frigate: LoopbackFrigate, seeds: dict[str, bytes], good_photo: Photo
) -> None:
    cap = engine.settings.recognition.max_image_pixels
    decoded: list[tuple[int, ...]] = []
    outcomes: dict[str, int] = {}
    real_imdecode = cv2.imdecode

    def watched_imdecode(buffer: np.ndarray, flags: int) -> np.ndarray | None:
        assert flags == cv2.IMREAD_COLOR, "a reduced decode decodes in full first"
        assert image_format(buffer.tobytes()) in FORMATS
        result = real_imdecode(buffer, flags)
        if result is not None:
            decoded.append(result.shape)
        return result

    @settings(
        max_examples=500,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(body=image_bodies(seeds), gzipped=st.booleans())
    def check(body: bytes, gzipped: bool) -> None:
        try:
            data = frigate.fetch(body, gzipped)
        except FrigateError:
            outcomes["fetch refused"] = outcomes.get("fetch refused", 0) + 1
            return
        assert data == body
        try:
            engine.scheduler.recognize(data, None, None)
        except ImageError as err:
            reason = str(err).split(" (")[0]
            outcomes[reason] = outcomes.get(reason, 0) + 1
            return
        outcomes["read"] = outcomes.get("read", 0) + 1

    with mock.patch.object(cv2, "imdecode", watched_imdecode):
        check()
    assert all(shape[0] * shape[1] <= cap for shape in decoded)
    # The generator reached each outcome: refused bodies, refused images, and reads.
    assert {"read", "image too large", "not a decodable image"} <= set(outcomes), outcomes
    assert engine.metrics.counters["frigate_bodies_refused"] == outcomes.get("fetch refused", 0)

    # A good photo still reads afterwards, through the same path.
    full = cv2.imread(str(good_photo.path))
    scale = min(1.0, (cap / (full.shape[0] * full.shape[1])) ** 0.5)
    ok, buffer = cv2.imencode(".jpg", cv2.resize(full, None, fx=scale, fy=scale))
    assert ok
    reads = engine.scheduler.recognize(frigate.fetch(buffer.tobytes(), True), None, None)
    assert good_photo.plate and any(plates_equal(r.text, good_photo.plate) for r in reads)
