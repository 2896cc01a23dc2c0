"""The route map takes the width it has (a 820 px tablet, a 1440 px desktop), its labels never
cover one another (a dense route through the town centre, an in/out pair at one site), and it
draws the streets only when the admin names a tile server (``panel.map_tiles``): then its tiles
load from that one host (a local aiohttp tile server here) and the panel's Content Security
Policy allows images from it and from nowhere else; without it the panel asks nothing of any
other host and its CSP names none."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from PIL import Image

from rufina_alpr.config import settings_from_mapping
from rufina_alpr.settings_sources import SettingsError, addon_overrides

from .panel_pages import DESKTOP, REASON, TABLET, WAIT, Pages, panel_pages, transit

pytestmark = pytest.mark.slow

PLATE = "FG456HK"
# Through Rufina's centre and back: stations a few hundred metres apart, two in/out pairs.
ROUTE = [
    "ss67_selvapiana_in",
    "ponte_sieve_in",
    "via_piave_in",
    "via_roma_in",
    "via_roma_out",
    "ponte_sieve_out",
    "ss67_selvapiana_out",
]
LABELS_APART = """() => {
  const boxes = [...document.querySelectorAll('svg.station-map .map-label')]
    .map((el) => el.getBoundingClientRect());
  const overlaps = [];
  boxes.forEach((a, i) => boxes.slice(i + 1).forEach((b) => {
    const w = Math.min(a.right, b.right) - Math.max(a.left, b.left);
    const h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
    if (w > 0.5 && h > 0.5) overlaps.push([a.x, a.y, b.x, b.y]);
  }));
  return { count: boxes.length, overlaps };
}"""


@pytest.mark.parametrize(
    "template",
    [
        "https://tile.openstreetmap.org/{z}/{x}.png",  # no {y}
        "ftp://tiles.example/{z}/{x}/{y}.png",
        "https://{z}.tiles.example/{z}/{x}/{y}.png",  # the host must be one
        "https://user:secret@tiles.example/{z}/{x}/{y}.png",
        "https://tiles.example/{z}/{x}/{y}.png; script-src *",  # nothing else in the CSP
        "/{z}/{x}/{y}.png",
    ],
)
def test_a_tile_server_is_one_http_host_with_the_three_placeholders(
    template: str, tmp_path: Path
) -> None:
    with pytest.raises(SettingsError, match="map_tiles"):
        settings_from_mapping({"data_dir": str(tmp_path), "panel": {"map_tiles": template}})


def test_the_tile_server_s_origin_is_what_the_csp_names(tmp_path: Path) -> None:
    tiles = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    data = {"data_dir": str(tmp_path)}
    settings = settings_from_mapping({**data, "panel": {"map_tiles": tiles}})
    assert settings.panel.tile_origin == "https://tile.openstreetmap.org"
    assert settings_from_mapping(data).panel.tile_origin is None
    # The add-on's option lands in the same place.
    assert addon_overrides({"map_tiles": tiles}) == {"panel": {"map_tiles": tiles}}


def tile_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (256, 256), "lightsteelblue").save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
async def tile_server() -> AsyncIterator[tuple[str, list[str]]]:
    """A tile server on 127.0.0.1: its URL template and the paths it was asked for."""
    asked: list[str] = []
    png = tile_png()

    async def tile(request: web.Request) -> web.Response:
        asked.append(request.path)
        return web.Response(body=png, content_type="image/png")

    app = web.Application()
    app.router.add_get("/tiles/{z}/{x}/{y}.png", tile)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}/tiles/{{z}}/{{x}}/{{y}}.png", asked
    await runner.cleanup()


async def store_route(pages: Pages) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    for n, station in enumerate(ROUTE):
        moment = start + timedelta(minutes=2 * n)
        stored = transit(f"r{n}", station, PLATE, moment)
        assert await pages.engine.db.run(pages.engine.store.add_transit, stored, [])


async def show_route(pages: Pages, size: tuple[int, int], lang: str = "it") -> Any:
    tab = await pages.open(size, lang=lang)
    await pages.go(tab, "route")
    page = tab.page
    await page.fill("#route-plate", PLATE)
    await page.fill("#route-reason", REASON)
    await page.click("#route-form button[type=submit]")
    await page.wait_for_selector("svg.station-map .labels", timeout=WAIT)
    return tab


async def csp(pages: Pages) -> str:
    async with (
        aiohttp.ClientSession() as session,
        session.get(str(pages.server.make_url("/panel/"))) as response,
    ):
        header: str = response.headers["Content-Security-Policy"]
    return header


async def check_map(tab: Any, size: tuple[int, int]) -> None:
    """The map fills its card (under the timeline on a tablet) and no label covers another."""
    page = tab.page
    svg = page.locator("svg.station-map").first
    box = await svg.bounding_box()
    card = await page.locator("section[data-journey='1']").bounding_box()
    assert box is not None and card is not None
    if size == TABLET:
        assert box["width"] >= card["width"] - 40  # the card's whole width, less its padding
    else:
        assert box["width"] >= 0.6 * card["width"]  # beside the timeline, the larger part
    assert await page.evaluate("document.documentElement.scrollWidth") <= size[0]
    labels = await page.evaluate(LABELS_APART)
    assert labels["overlaps"] == [], labels
    # Every stop numbered, each distinct station once ("4" and "5": the in/out pair apart).
    stops = await page.eval_on_selector_all(
        "svg.station-map g.stop", "gs => gs.map((g) => g.dataset.station)"
    )
    assert sorted(stops) == sorted(set(ROUTE))
    assert labels["count"] >= len(ROUTE) + 3  # the numbers, names, times and places shown


async def test_without_a_tile_server_the_map_is_drawn_offline_and_asks_nobody(
    harness_factory: Any,
) -> None:
    async with panel_pages(harness_factory) as pages:
        header = await csp(pages)
        assert "img-src 'self' data: blob:;" in header
        await store_route(pages)
        for size, name in ((TABLET, "42-percorso-mappa-820"), (DESKTOP, "43-percorso-mappa-1440")):
            tab = await show_route(pages, size)
            await check_map(tab, size)
            assert await tab.page.locator("svg.station-map .tiles").count() == 0
            origin = str(pages.server.make_url("/")).rstrip("/")
            foreign = [u for u in tab.requests if not u.startswith((origin, "data:", "blob:"))]
            assert foreign == []
            await tab.shot(name)
            assert tab.errors == []


async def test_with_a_tile_server_the_streets_load_from_that_host_only(
    harness_factory: Any, tile_server: tuple[str, list[str]]
) -> None:
    template, asked = tile_server
    origin = template.split("/tiles/")[0]
    settings = {"panel": {"map_tiles": template, "map_attribution": "© Tiles for the test"}}
    async with panel_pages(harness_factory, settings=settings) as pages:
        header = await csp(pages)
        assert f"img-src 'self' data: blob: {origin};" in header
        assert header.count("127.0.0.1") == 1  # nowhere but img-src
        await store_route(pages)
        tab = await show_route(pages, TABLET, lang="en")
        page = tab.page
        hrefs = await page.eval_on_selector_all(
            "svg.station-map .tiles image", "images => images.map((i) => i.getAttribute('href'))"
        )
        assert hrefs and all(h.startswith(f"{origin}/tiles/") for h in hrefs)
        wanted = {h[len(origin) :] for h in hrefs}
        await pages.harness.wait_for(lambda: wanted <= set(asked), 30, "every tile asked for")
        assert "© Tiles for the test" in await page.text_content("svg.station-map .attribution")
        await check_map(tab, TABLET)
        outside = [u for u in tab.requests if u.startswith("http") and "127.0.0.1" not in u]
        assert outside == []
        await tab.shot("44-route-map-tiles-820")
        assert tab.errors == []
