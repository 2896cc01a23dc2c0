"""The System page shows each station's camera as the engine's health sees it (Frigate's
``frigate/<camera>/status/detect`` through the real broker): the offline ones first and marked,
with since when and the reason in words, in Italian ("postazione", never "stazione") and English,
at desktop and tablet widths; ``GET /api/v1/system`` carries the same."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import rufina_alpr.api.panel

from .panel_pages import DESKTOP, STATIONS, TABLET, WAIT, Pages, panel_pages

pytestmark = pytest.mark.slow

STATIC = Path(rufina_alpr.api.panel.__file__).parent / "static"
DOWN = "via_roma_in"  # detect offline
OFF = "pomino_out"  # detection disabled in Frigate, no frames
UP = "falgano_in"


@pytest.fixture
async def pages(harness_factory: Any) -> AsyncIterator[Pages]:
    async with panel_pages(harness_factory) as opened:
        yield opened


def test_the_italian_panel_says_postazione_never_stazione() -> None:
    source = (STATIC / "i18n.js").read_text(encoding="utf-8")
    italian = source[source.index("  it: {") : source.index("  en: {")]
    assert re.findall(r"\bstazion\w*", italian, re.I) == []
    assert "Postazione" in italian


async def rows(tab: Any) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = await tab.page.eval_on_selector_all(
        "#cameras-table tbody tr", "rows => rows.map((r) => [r.dataset.station, r.dataset.state])"
    )
    return found


async def test_the_system_page_lists_offline_cameras_first_with_why_and_since(
    pages: Pages,
) -> None:
    replay = pages.harness.replay
    await replay.camera_status(STATIONS[DOWN].camera, "detect", "offline")
    await replay.camera_status(STATIONS[OFF].camera, "detect", "disabled")
    await replay.camera_status(STATIONS[UP].camera, "detect", "online")
    await pages.harness.wait_for(
        lambda: pages.engine.health.camera_roles.get(STATIONS[UP].camera),
        30,
        "the cameras' states through the broker",
    )

    # The API: offline first, then by name, with the reason and since when.
    cameras = (await pages.api("/api/v1/system"))["cameras"]
    assert len(cameras) == len(STATIONS)
    offline = [c for c in cameras if c["state"] == "offline"]
    assert [c["station"] for c in cameras[: len(offline)]] == [c["station"] for c in offline]
    by_id = {c["station"]: c for c in cameras}
    assert by_id[DOWN]["state"] == "offline" and by_id[DOWN]["reason"] == "detect_offline"
    assert by_id[OFF]["reason"] == "disabled" and by_id[UP]["state"] == "online"
    assert by_id[DOWN]["name"] == STATIONS[DOWN].name and by_id[DOWN]["since"]

    # Italian, desktop: the offline rows on top, marked, their reason in words.
    tab = await pages.open(DESKTOP, lang="it")
    await pages.go(tab, "system")
    page = tab.page
    await page.wait_for_selector(f"#cameras-table tr[data-station={DOWN}].offline", timeout=WAIT)
    shown = await rows(tab)
    assert {s for s, state in shown[:2]} == {DOWN, OFF} and all(
        state == "offline" for _, state in shown[:2]
    )
    assert all(state != "offline" for _, state in shown[2:])
    down = page.locator(f"#cameras-table tr[data-station={DOWN}]")
    text = await down.inner_text()
    assert STATIONS[DOWN].name in text and "non in linea" in text
    assert "Frigate non analizza le immagini di questa telecamera" in text
    assert await down.locator("time").get_attribute("datetime") == by_id[DOWN]["since"]
    assert "Rilevamento disattivato in Frigate" in await page.inner_text(
        f"#cameras-table tr[data-station={OFF}]"
    )
    assert "2 telecamere su 34 non in linea" in await page.inner_text("#cameras-summary")
    background = await down.locator("td").first.evaluate(
        "td => getComputedStyle(td).backgroundColor"
    )
    assert background != await page.locator(
        f"#cameras-table tr[data-station={UP}] td"
    ).first.evaluate("td => getComputedStyle(td).backgroundColor")
    headers = await page.locator("#cameras-table thead th").all_inner_texts()
    assert headers[0] == "Postazione"
    await tab.shot("40-sistema-telecamere-1440")

    # The camera comes back: the page, refreshing itself, moves it down.
    await replay.camera_status(STATIONS[DOWN].camera, "detect", "online")
    await page.wait_for_selector(
        f"#cameras-table tr[data-station={DOWN}][data-state=online]", timeout=WAIT
    )
    assert [s for s, _ in await rows(tab)][:1] == [OFF]
    assert tab.errors == []

    # English, tablet: the same, and the table fits the screen's width.
    tablet = await pages.open(TABLET, lang="en")
    await pages.go(tablet, "system")
    await tablet.page.wait_for_selector(
        f"#cameras-table tr[data-station={OFF}].offline", timeout=WAIT
    )
    text = await tablet.page.inner_text(f"#cameras-table tr[data-station={OFF}]")
    assert "offline" in text and "Detection turned off in Frigate" in text
    assert "1 of 34 cameras offline" in await tablet.page.inner_text("#cameras-summary")
    width = await tablet.page.evaluate("document.documentElement.scrollWidth")
    assert width <= TABLET[0]
    await tablet.shot("41-system-cameras-820")
    assert tablet.errors == []
