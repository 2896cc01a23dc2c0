"""The System page shows each plate-reading station's read quality (GET /api/v1/system
`read_quality`, as /api/v1/stats gives it per station): the stations reading well below their own
normal first and marked, the share read in the last hour against the normal, the commonest unread
reason in words (with what to check for an unreadable plate), in Italian and English, at desktop
and tablet widths; never a raw code."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import rufina_alpr.api.panel
from rufina_alpr.read_quality import REASONS, ReadQualityWatch
from rufina_alpr.store import PASSAGE_UNREAD

from .panel_pages import DESKTOP, STATIONS, TABLET, WAIT, Pages, panel_pages
from .test_panel_i18n import _language
from .test_read_quality import add

pytestmark = pytest.mark.slow

STATIC = Path(rufina_alpr.api.panel.__file__).parent / "static"
LOW = "via_roma_in"  # reads 50 % this hour against a normal of 90 %: low
FINE = "falgano_in"  # reads as usual; its name sorts before LOW's
NEW = "masseto_in"  # vehicles this hour, no normal yet
NO_PLATE = "no plate read"


@pytest.fixture
async def pages(harness_factory: Any) -> AsyncIterator[Pages]:
    async with panel_pages(harness_factory) as opened:
        yield opened


def test_every_unread_reason_has_words_in_both_languages() -> None:
    source = (STATIC / "i18n.js").read_text(encoding="utf-8")
    for language in ("it", "en"):
        strings = _language(source, language)
        assert {f"rq.reason.{code}" for code in REASONS} <= set(strings), language


def stations_passages(pages: Pages, now: datetime) -> None:
    """A normal week (900 of 1002 read at LOW and FINE), then this hour: LOW 15 of 30 read,
    FINE 27 of 30, NEW 8 of 10 (a snapshot missing for the others)."""
    store = pages.engine.store
    for station in (LOW, FINE):
        for day in range(1, 7):
            moment = now - timedelta(days=day, hours=3)
            add(store, station, moment, 150)
            add(store, station, moment, 17, status=PASSAGE_UNREAD, reason=NO_PLATE)
    recently = now - timedelta(minutes=20)
    add(store, LOW, recently, 15)
    add(store, LOW, recently, 13, status=PASSAGE_UNREAD, reason=NO_PLATE)
    add(store, LOW, recently, 2, status=PASSAGE_UNREAD, reason="no snapshot")
    add(store, FINE, recently, 27)
    add(store, FINE, recently, 3, status=PASSAGE_UNREAD, reason=NO_PLATE)
    add(store, NEW, recently, 8)
    add(store, NEW, recently, 2, status=PASSAGE_UNREAD, reason="no snapshot")


async def quality_rows(tab: Any) -> list[str]:
    found: list[str] = await tab.page.eval_on_selector_all(
        "#quality-table tbody tr", "rows => rows.map((r) => r.dataset.station)"
    )
    return found


RAW_CODE = re.compile(r"\b(?:" + "|".join(REASONS) + r"|null|undefined|NaN)\b")


async def test_the_system_page_shows_read_quality_low_stations_first(pages: Pages) -> None:
    await pages.engine.db.run(stations_passages, pages, datetime.now(UTC))
    # The normals are cached for an hour: a fresh watch reads the week just stored.
    pages.engine.housekeeping.read_quality = ReadQualityWatch()
    stations = (await pages.api("/api/v1/stats"))["stations"]
    assert stations[LOW]["read_quality"]["low"] is True
    assert stations[LOW]["read_quality"]["normal_share"] == pytest.approx(0.898, abs=0.001)
    assert stations[FINE]["read_quality"]["low"] is False
    system = (await pages.api("/api/v1/system"))["read_quality"]  # what the page reads
    assert system[LOW]["low"] is True and system[FINE]["low"] is False
    assert set(system) == {sid for sid, counts in stations.items() if "read_quality" in counts}
    plate_reading = [s for s in STATIONS.values() if s.reads_plates]
    assert STATIONS[FINE].name < STATIONS[LOW].name

    # Italian, desktop: the low station on top, marked, with a line saying so.
    tab = await pages.open(DESKTOP, lang="it")
    await pages.go(tab, "system")
    page = tab.page
    await page.wait_for_selector(f"#quality-table tr[data-station={LOW}].low", timeout=WAIT)
    shown = await quality_rows(tab)
    assert shown[0] == LOW and len(shown) == len(plate_reading)
    assert shown.index(FINE) < shown.index(NEW)  # then by name
    summary = await page.inner_text("#quality-summary")
    assert f"molto meno targhe del solito: 1 su {len(plate_reading)}" in summary
    low = await page.inner_text(f"#quality-table tr[data-station={LOW}]")
    assert STATIONS[LOW].name in low and "molto meno del solito" in low
    assert "50%" in low and "15 veicoli su 30" in low and "90%" in low
    assert "Nessuna targa letta nell'immagine" in low and "lente sporca" in low
    new = await page.inner_text(f"#quality-table tr[data-station={NEW}]")
    assert "80%" in new and "non ancora noto" in new
    assert "Frigate non ha fornito l'immagine del veicolo" in new
    fine = await page.inner_text(f"#quality-table tr[data-station={FINE}]")
    assert "90%" in fine and "molto meno" not in fine
    quiet = next(s.id for s in plate_reading if s.id not in (LOW, FINE, NEW))
    assert "Nessun veicolo nell'ultima ora" in await page.inner_text(
        f"#quality-table tr[data-station={quiet}]"
    )
    section = await page.inner_text("#sys-quality")
    assert "Qualità di lettura" in section and not RAW_CODE.search(section)
    assert not re.search(r"\bstazion", section, re.I)
    background = await page.locator(f"#quality-table tr[data-station={LOW}] td").first.evaluate(
        "td => getComputedStyle(td).backgroundColor"
    )
    assert background != await page.locator(
        f"#quality-table tr[data-station={FINE}] td"
    ).first.evaluate("td => getComputedStyle(td).backgroundColor")
    await page.locator("#sys-quality").scroll_into_view_if_needed()
    await tab.shot("50-sistema-qualita-lettura-1440")
    assert tab.errors == []

    # English, tablet: the same in English, and the page fits the screen's width.
    tablet = await pages.open(TABLET, lang="en")
    await pages.go(tablet, "system")
    await tablet.page.wait_for_selector(f"#quality-table tr[data-station={LOW}].low", timeout=WAIT)
    assert (await quality_rows(tablet))[0] == LOW
    assert "Stations reading far fewer plates than usual: 1 of" in await tablet.page.inner_text(
        "#quality-summary"
    )
    low = await tablet.page.inner_text(f"#quality-table tr[data-station={LOW}]")
    assert "far fewer than usual" in low and "15 of 30 vehicles" in low and "90%" in low
    assert "No plate read in the image" in low and "dirty lens" in low
    section = await tablet.page.inner_text("#sys-quality")
    assert "Read quality" in section and not RAW_CODE.search(section)
    width = await tablet.page.evaluate("document.documentElement.scrollWidth")
    assert width <= TABLET[0]
    await tablet.shot("51-system-read-quality-820")
    assert tablet.errors == []
