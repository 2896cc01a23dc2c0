"""Tiny image files that declare huge frames, one per format OpenCV can decode.

Each is a few bytes to a few hundred bytes and announces ``HUGE`` x ``HUGE`` pixels (300 MP,
900 MB as BGR): what an attacker on Frigate's network, or a broken proxy, could serve as a
snapshot. The JPEG, PNG and WebP ones are well-formed headers of formats Frigate serves; the
others are formats Frigate never serves.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from typing import Final

HUGE: Final = 17_320


def bmp_rle8() -> bytes:
    """An RLE8 BMP whose pixel data is "end of bitmap": OpenCV fills the rest of the frame."""
    palette = b"\x00\x00\x00\x00\xff\xff\xff\x00"
    info = struct.pack("<IiiHHIIiiII", 40, HUGE, HUGE, 1, 8, 1, 2, 2835, 2835, 2, 0)
    pixels = b"\x00\x01"
    offset = 14 + len(info) + len(palette)
    header = b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset)
    return header + info + palette + pixels


def pnm() -> bytes:
    return f"P6\n{HUGE} {HUGE}\n255\n".encode() + b"\x80" * 64


def pfm() -> bytes:
    return f"PF\n{HUGE} {HUGE}\n-1.0\n".encode() + b"\x00" * 64


def radiance_hdr() -> bytes:
    return f"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y {HUGE} +X {HUGE}\n".encode() + b"\x00" * 64


def sun_raster() -> bytes:
    return struct.pack(">8I", 0x59A66A95, HUGE, HUGE, 24, 0, 1, 0, 0)


def gif() -> bytes:
    screen = struct.pack("<HHBBB", HUGE, HUGE, 0x80, 0, 0) + b"\x00" * 6
    image = b"\x2c" + struct.pack("<HHHHB", 0, 0, HUGE, HUGE, 0) + b"\x02\x02\x44\x01\x00\x3b"
    return b"GIF89a" + screen + image


def tiff() -> bytes:
    entries = [
        (256, 4, 1, HUGE),  # width
        (257, 4, 1, HUGE),  # height
        (258, 3, 1, 8),  # bits per sample
        (259, 3, 1, 1),  # no compression
        (262, 3, 1, 1),  # black is zero
        (273, 4, 1, 8),  # strip offset
        (277, 3, 1, 1),  # samples per pixel
        (278, 4, 1, HUGE),  # rows per strip
        (279, 4, 1, HUGE * HUGE),  # strip byte count
    ]
    ifd = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        ifd += struct.pack("<HHII", tag, kind, count, value)
    return b"II*\x00" + struct.pack("<I", 8 + 8) + b"\x00" * 8 + ifd + b"\x00\x00\x00\x00"


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png() -> bytes:
    header = struct.pack(">IIBBBBB", HUGE, HUGE, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(b""))
        + _png_chunk(b"IEND", b"")
    )


def webp() -> bytes:
    canvas = (HUGE - 1).to_bytes(3, "little") * 2
    chunk = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00" + canvas
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


def jpeg() -> bytes:
    frame = struct.pack(">HBHHB", 11, 8, HUGE, HUGE, 1) + b"\x01\x11\x00"
    return b"\xff\xd8\xff\xc0" + frame + b"\xff\xd9"


NOT_SERVED_BY_FRIGATE: Final[dict[str, Callable[[], bytes]]] = {
    "BMP": bmp_rle8,
    "PNM": pnm,
    "PFM": pfm,
    "Radiance HDR": radiance_hdr,
    "Sun raster": sun_raster,
    "GIF": gif,
    "TIFF": tiff,
}
SERVED_BY_FRIGATE: Final[dict[str, Callable[[], bytes]]] = {
    "JPEG": jpeg,
    "PNG": png,
    "WebP": webp,
}
