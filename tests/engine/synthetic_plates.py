"""Synthetic Italian plates for tests: the labelled photos here are Slovak, Czech, UK, ...

Renders plates after the 1999 layout (white, black characters of equal height, blue EU band with
stars and "I" on the left, blue band on the right, the Republic's emblem after the first two
letters; motorcycles square, two rows) with Pillow and a bold condensed sans font, and pastes them
onto a plain synthetic car-rear scene so that the whole read path (detector + OCR) can run on them.
The proportions were tuned until fast-alpr's OCR read nearly all of them.
"""

from __future__ import annotations

import random
from functools import cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from rufina_alpr.plate_formats import ITALIAN_LETTERS

_FONTS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
)
# DejaVu Sans' J hangs below the line and, narrowed, reads as I; the monospaced one reads as J.
_J_FONTS = ("/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf", *_FONTS)
_WHITE = (250, 250, 248)
_BLACK = (20, 20, 20)
_BLUE = (0, 51, 153)
_YELLOW = (255, 204, 0)
_ASPHALT = (95, 100, 105)
_LETTERS = "".join(sorted(ITALIAN_LETTERS))
Box = tuple[int, int, int, int]


@cache
def _font(size: int, char: str = "") -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """A bold sans font; Pillow's built-in one when none of the usual files is installed."""
    for path in _J_FONTS if char == "J" else _FONTS:
        if Path(path).is_file():
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size)


def _letters(rng: random.Random, count: int) -> str:
    return "".join(rng.choice(_LETTERS) for _ in range(count))


def random_car_plate(rng: random.Random) -> str:
    """A valid Italian car plate (``AB123CD``)."""
    return f"{_letters(rng, 2)}{rng.randrange(1000):03d}{_letters(rng, 2)}"


def random_moto_plate(rng: random.Random) -> str:
    """A valid Italian motorcycle plate (``AB12345``)."""
    return f"{_letters(rng, 2)}{rng.randrange(100000):05d}"


def _eu_band(draw: ImageDraw.ImageDraw, box: Box) -> None:
    """Blue band with a ring of yellow stars and the country letter I."""
    x0, y0, x1, y1 = box
    draw.rectangle(box, fill=_BLUE)
    width = x1 - x0
    cx, cy, radius = (x0 + x1) / 2, y0 + (y1 - y0) * 0.3, width * 0.28
    star = max(1.0, width * 0.045)
    for k in range(12):
        sx, sy = cx + radius * np.cos(np.pi * k / 6), cy + radius * np.sin(np.pi * k / 6)
        draw.ellipse((sx - star, sy - star, sx + star, sy + star), fill=_YELLOW)
    font = _font(int((y1 - y0) * 0.38))
    draw.text((cx, y0 + (y1 - y0) * 0.78), "I", font=font, fill=_WHITE, anchor="mm")


def _emblem(draw: ImageDraw.ImageDraw, cx: float, cy: float, radius: float) -> None:
    """The small emblem of the Republic printed between the first letters and the digits."""
    ring = max(1, round(radius / 5))
    draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), outline=_BLACK, width=ring)
    draw.regular_polygon((cx, cy, radius * 0.6), 5, fill=_BLACK)


def _glyph(char: str, height: int, squeeze: float) -> Image.Image:
    """One character's mask cropped to its ink, ``height`` tall and narrowed by ``squeeze``.

    Glyphs are drawn one by one so that every character has the same height, as on plates.
    """
    canvas = Image.new("L", (4 * height, 5 * height), 0)
    font = _font(2 * height, char)
    ImageDraw.Draw(canvas).text((height, 2 * height), char, font=font, fill=255)
    ink = canvas.crop(canvas.getbbox())
    width = max(1, round(ink.width * height / ink.height * squeeze))
    return ink.resize((width, height), Image.Resampling.LANCZOS)


def _text_row(image: Image.Image, text: str, box: Box, squeeze: float) -> list[float]:
    """Black characters centred in ``box``; a space is a wider gap, as between plate groups.

    Returns the x of each gap's centre.
    """
    x0, y0, x1, y1 = box
    height = y1 - y0
    gap, space = height * 0.08, height * 0.3
    glyphs = [None if ch == " " else _glyph(ch, height, squeeze) for ch in text]
    total = sum(space if g is None else g.width + gap for g in glyphs) - gap
    scale = min(1.0, (x1 - x0) / total)
    x = x0 + (x1 - x0 - total * scale) / 2
    gaps = []
    for glyph in glyphs:
        if glyph is None:
            gaps.append(x + (space - gap) * scale / 2)
            x += space * scale
            continue
        mask = glyph.resize((max(1, round(glyph.width * scale)), height))
        image.paste(Image.new("RGB", mask.size, _BLACK), (round(x), y0), mask)
        x += (glyph.width + gap) * scale
    return gaps


def _to_bgr(image: Image.Image) -> np.ndarray:
    return cv2.cvtColor(np.asarray(image), cv2.COLOR_RGB2BGR)


def render_car_plate(text: str, *, width: int = 520) -> np.ndarray:
    """A 520x110 mm Italian car plate (``AB 123 CD``) as a BGR image ``width`` pixels wide."""
    height = round(width * 110 / 520)
    band, pad = round(width * 0.085), round(height * 0.2)
    image = Image.new("RGB", (width, height), _WHITE)
    draw = ImageDraw.Draw(image)
    _eu_band(draw, (0, 0, band, height - 1))
    draw.rectangle((width - band, 0, width - 1, height - 1), fill=_BLUE)
    spaced = f"{text[:2]} {text[2:5]} {text[5:]}"
    gaps = _text_row(image, spaced, (band + pad, pad, width - band - pad, height - pad), 0.7)
    _emblem(draw, gaps[0], height * 0.3, height * 0.07)
    draw.rectangle((0, 0, width - 1, height - 1), outline=_BLACK, width=max(1, width // 260))
    return _to_bgr(image)


def render_moto_plate(text: str, *, width: int = 280) -> np.ndarray:
    """A square motorcycle plate: ``AB`` between two blue bands on top, ``12345`` below."""
    height, band, pad = width, round(width * 0.18), round(width * 0.06)
    mid = height // 2
    image = Image.new("RGB", (width, height), _WHITE)
    draw = ImageDraw.Draw(image)
    _eu_band(draw, (0, 0, band, mid))
    draw.rectangle((width - band, 0, width - 1, mid), fill=_BLUE)
    _text_row(image, text[:2], (band + pad, pad, width - band - pad, mid - pad // 2), 0.45)
    _text_row(image, text[2:], (pad, mid + pad // 2, width - pad, height - pad), 0.45)
    draw.rectangle((0, 0, width - 1, height - 1), outline=_BLACK, width=max(1, width // 140))
    return _to_bgr(image)


def _plate_corners(
    plate_img: np.ndarray, size: tuple[int, int], plate_width: int, tilt: float
) -> np.ndarray:
    """Where the plate's corners land on the bumper (clockwise from top left)."""
    width, height = size
    plate_h = round(plate_img.shape[0] * plate_width / plate_img.shape[1])
    x0, y0 = width // 2 - plate_width // 2, int(height * 0.8) - 60 - plate_h // 2
    skew = tilt * plate_h
    return np.float32(
        [
            [x0, y0 + max(skew, 0)],
            [x0 + plate_width, y0 + max(-skew, 0)],
            [x0 + plate_width, y0 + plate_h + max(-skew, 0)],
            [x0, y0 + plate_h + max(skew, 0)],
        ]
    )


def scene_plate_box(
    plate_img: np.ndarray,
    *,
    size: tuple[int, int] = (640, 480),
    plate_width: int = 160,
    tilt: float = 0.0,
) -> Box:
    """The plate's box ``(x, y, w, h)`` in the scene that ``scene_with_plate`` makes with these."""
    x, y, w, h = cv2.boundingRect(_plate_corners(plate_img, size, plate_width, tilt))
    return int(x), int(y), int(w), int(h)


def scene_with_plate(
    plate_img: np.ndarray,
    *,
    size: tuple[int, int] = (640, 480),
    plate_width: int = 160,
    blur: float = 0.0,
    jpeg_quality: int | None = None,
    tilt: float = 0.0,
    noise: float = 0.0,
    seed: int = 0,
) -> np.ndarray:
    """A plain car-rear scene (BGR; ``size`` is width x height) with the plate on the bumper.

    ``tilt`` skews the plate by that fraction of its height (mild perspective), ``blur`` is a
    Gaussian sigma in pixels, ``noise`` the sigma of added Gaussian noise, ``jpeg_quality``
    re-encodes the scene; ``seed`` picks the car's colour and the noise.
    """
    width, height = size
    rng = np.random.default_rng(seed)
    scene = np.full((height, width, 3), _ASPHALT, np.uint8)
    body = tuple(int(v) for v in rng.integers(40, 200, 3))
    cx, half = width // 2, int(width * 0.35)
    top, bottom = int(height * 0.2), int(height * 0.8)
    cv2.rectangle(scene, (cx - half, top), (cx + half, bottom), body, -1)
    window = int(height * 0.2)
    cv2.rectangle(
        scene, (cx - half * 2 // 3, top + 15), (cx + half * 2 // 3, top + window), (40,) * 3, -1
    )
    for side in (-1, 1):  # tail lights
        lx, ly = cx + side * (half - 45), top + window + 20
        cv2.rectangle(scene, (lx - 30, ly), (lx + 30, ly + 30), (30, 30, 190), -1)
    cv2.rectangle(scene, (cx - half, bottom - 60), (cx + half, bottom), (35,) * 3, -1)  # bumper

    corners = _plate_corners(plate_img, size, plate_width, tilt)
    plate_h = round(plate_img.shape[0] * plate_width / plate_img.shape[1])
    plate = cv2.resize(plate_img, (plate_width, plate_h), interpolation=cv2.INTER_AREA)
    source = np.float32([[0, 0], [plate_width, 0], [plate_width, plate_h], [0, plate_h]])
    matrix = cv2.getPerspectiveTransform(source, corners)
    warped = cv2.warpPerspective(plate, matrix, size)
    mask = cv2.warpPerspective(np.full((plate_h, plate_width), 255, np.uint8), matrix, size)
    scene[mask > 127] = warped[mask > 127]

    if blur > 0:
        scene = cv2.GaussianBlur(scene, (0, 0), blur)
    if noise > 0:
        scene = np.clip(scene + rng.normal(0, noise, scene.shape), 0, 255).astype(np.uint8)
    if jpeg_quality is not None:
        _, encoded = cv2.imencode(".jpg", scene, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
        scene = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
    return scene
