"""The alert queue orders alerts by priority (the list's), then kind (a list hit before a gate's
refusal before an impossible journey), confirmed before provisional, then the newest; it takes a
bounded share of a tablet's and a desktop's screen (the rest scrolls inside it) and folds to a
one-line count by priority, which the panel remembers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rufina_alpr.alerts import ledger

from .panel_pages import DESKTOP, OPERATOR, REASON, TABLET, WAIT, Pages, Tab, panel_pages, transit
from .test_panel_alerts import hotlist_alert

pytestmark = pytest.mark.slow

SHARE = 0.40  # of the screen's height, at most, that the open queue takes


@pytest.fixture
async def pages(harness_factory: Any) -> AsyncIterator[Pages]:
    async with panel_pages(harness_factory) as opened:
        yield opened


async def open_live(pages: Pages, size: tuple[int, int], lang: str = "it") -> Tab:
    tab = await pages.open(size, lang=lang, token=OPERATOR)
    await pages.go(tab, "live")
    await tab.page.fill("#live-reason", REASON)
    await tab.page.click("#live-form button[type=submit]")
    await tab.page.wait_for_selector(".live-state.pill-on", timeout=WAIT)
    return tab


async def shown(tab: Tab) -> list[str]:
    ids: list[str] = await tab.page.eval_on_selector_all(
        "#alert-queue-list > li", "items => items.map((li) => li.dataset.alert)"
    )
    return ids


async def height(tab: Tab) -> float:
    box = await tab.page.locator("#alerts").bounding_box()
    assert box is not None
    return float(box["height"])


async def test_the_queue_is_ordered_by_priority_bounded_and_folds(pages: Pages) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    at = [now - timedelta(minutes=n) for n in range(12)]
    stations = ["via_roma_in", "pomino_in", "falgano_in", "masseto_in", "ponte_sieve_in"]

    def car(n: int) -> Any:
        return transit(f"q{n}", stations[n % len(stations)], f"AB{100 + n}CD", at[n])

    stolen_old = hotlist_alert(car(9), 1)
    stolen_in_view = hotlist_alert(car(0), 1, status="provisional")
    gate = hotlist_alert(car(1), 2, kind="not_authorised", list_name="Residenti ZTL")
    watch = hotlist_alert(car(5), 2)
    journey = hotlist_alert(car(2), 2, kind="impossible_journey", list_name=None)
    extra = [hotlist_alert(car(n), 3) for n in (3, 4, 6, 7, 8)]
    everything = [gate, journey, stolen_in_view, watch, stolen_old, *extra]

    def raise_all(connection: Any) -> None:
        for alert in everything:
            assert ledger.raise_alert(connection, alert, cooldown=0) is not None

    await pages.store(raise_all)
    order = [
        stolen_old.id,  # P1 confirmed, though older
        stolen_in_view.id,  # P1 in view
        watch.id,  # P2 list hit, though older
        gate.id,  # P2 not authorised
        journey.id,  # P2 impossible journey, the newest of the three
        *[a.id for a in extra],  # P3, newest first
    ]

    # A tablet: the order, and at most SHARE of the screen, the rest scrolling inside.
    tab = await open_live(pages, TABLET)
    page = tab.page
    await page.wait_for_function(
        "(n) => document.querySelectorAll('#alert-queue-list > li').length === n",
        arg=len(order),
        timeout=WAIT,
    )
    assert await shown(tab) == order
    # One plate form: the queue's plates as the search's ("AB 105 CD"), from the bare "AB105CD".
    assert await page.inner_text(f"li[data-alert='{watch.id}'] .plate") == "AB 105 CD"
    assert await height(tab) <= SHARE * TABLET[1]
    scrolls = await page.evaluate(
        "(() => { const b = document.querySelector('#alert-queue-body');"
        " return b.scrollHeight > b.clientHeight; })()"
    )
    assert scrolls
    summary = await page.inner_text("#alert-queue-summary")
    assert "10 aperti" in summary and "P1: 2" in summary and "P2: 3" in summary
    assert "P3: 5" in summary
    await tab.shot("45-coda-allarmi-820")

    # Folded: one line with the count by priority; remembered when the page opens again.
    await page.click("#alert-queue-toggle")
    await page.wait_for_selector("#alert-queue-body", state="hidden")
    assert await page.get_attribute("#alert-queue-toggle", "aria-expanded") == "false"
    assert await page.inner_text("#alert-queue-toggle") == "Espandi"
    assert await height(tab) <= 90
    await tab.shot("46-coda-allarmi-ridotta-820")
    await page.reload()
    await page.wait_for_selector(".live-state.pill-on", timeout=WAIT)  # the reason is kept
    await page.wait_for_function(
        "() => document.querySelector('#alert-queue-summary')?.textContent.includes('10')",
        timeout=WAIT,
    )
    assert await page.is_hidden("#alert-queue-body")
    await page.click("#alert-queue-toggle")
    await page.wait_for_selector("#alert-queue-body", state="visible")
    assert await shown(tab) == order
    assert tab.errors == []

    # A desktop, in English: the same order and bound.
    desk = await open_live(pages, DESKTOP, lang="en")
    await desk.page.wait_for_function(
        "(n) => document.querySelectorAll('#alert-queue-list > li').length === n",
        arg=len(order),
        timeout=WAIT,
    )
    assert await shown(desk) == order
    assert await height(desk) <= SHARE * DESKTOP[1]
    assert "10 open" in await desk.page.inner_text("#alert-queue-summary")
    assert await desk.page.inner_text("#alert-queue-toggle") == "Collapse"
    await desk.shot("47-alert-queue-1440")
    assert desk.errors == []
