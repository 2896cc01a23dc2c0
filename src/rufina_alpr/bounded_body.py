"""Reading an HTTP response body with a bound on the bytes received and on what they decode to.

aiohttp's ``read()`` keeps a body of any size, and with ``auto_decompress`` it inflates gzip
without a bound (1 MB of gzip became 3.4 GB and blocked the event loop 16 s). Here the body is
read raw in chunks and inflated with ``max_length``, so neither count can pass the limit; a
Content-Length over it is refused before any byte is read.
"""

from __future__ import annotations

import zlib
from typing import Final

import aiohttp
from aiohttp import hdrs

from rufina_alpr.errors import RufinaError

CHUNK: Final = 65_536
_WBITS: Final = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": 0}
"""The encodings Frigate's nginx sends (gzip, for JSON) and the other one of RFC 9110 that
aiohttp would have decoded; ``0`` lets zlib take a zlib header (raw deflate is not accepted)."""


class BodyRefused(RufinaError, ValueError):
    """The body is larger than allowed, on the wire or decoded, or its encoding is unknown."""


def _decoder(response: aiohttp.ClientResponse) -> zlib._Decompress | None:
    encoding = response.headers.get(hdrs.CONTENT_ENCODING, "identity").strip().lower()
    if encoding in ("", "identity"):
        return None
    if encoding not in _WBITS:
        raise BodyRefused(f"Content-Encoding {encoding!r} is not accepted")
    return zlib.decompressobj(_WBITS[encoding])


async def read_bounded(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """The body of a response requested with ``auto_decompress=False``, decoded, at most
    ``limit`` bytes received and at most ``limit`` bytes decoded; else `BodyRefused`."""
    decoder = _decoder(response)
    if response.content_length is not None and response.content_length > limit:
        raise BodyRefused(f"{response.content_length} bytes announced, limit {limit}")
    body = bytearray()
    received = 0
    async for chunk in response.content.iter_chunked(CHUNK):
        received += len(chunk)
        if received > limit:
            raise BodyRefused(f"more than {limit} bytes received")
        if decoder is None:
            body += chunk
            continue
        pending = chunk
        try:
            while pending and not decoder.eof:
                body += decoder.decompress(pending, limit + 1 - len(body))
                if len(body) > limit:
                    raise BodyRefused(f"decodes to more than {limit} bytes")
                pending = decoder.unconsumed_tail
        except zlib.error as err:
            raise BodyRefused(f"corrupt compressed body: {err}") from err
    if decoder is not None and not decoder.eof:
        raise BodyRefused("compressed body ends early")
    return bytes(body)
