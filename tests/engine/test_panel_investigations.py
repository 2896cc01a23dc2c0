"""The panel's evidence, holds and tracking queries in a real browser (Debian's chromium through
Playwright) against the engine's API over a real store with the town's station registry: from the
search page an operator downloads one transit's evidence and the evidence of the transits shown
(ZIPs holding those transits) and holds a transit; on the Investigations page finds a vehicle seen
at one station and then at another and a loitering one (stations picked by name), places a hold on
a plate and releases it (the API shows both), all in Italian without an English word of the page;
the audit log records every step with its reason; a viewer has no Investigations page."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from rufina_alpr.transits import Transit

from . import test_panel_alerts
from .factories import a_transit
from .panel_pages import SCREENSHOTS, STATIONS
from .test_panel_alerts import OPERATOR, OPERATOR_NAME, WAIT, Panel, open_panel
from .test_panel_i18n import STATIC, _language
from .test_panel_privacy import ADMIN, sign_in

pytestmark = pytest.mark.slow

browser = test_panel_alerts.browser

VIEWER = "bianchi-viewer-token-0123456789abcdef"
REASON = "Indagine furto auto, PG 31/2026"
CASE = "PG 31/2026"
PLATE = "EF456GH"  # via Roma, then Pomino 20 minutes later
LOITERER = "LM789NP"  # four times at Falgano within the hour
OTHER = "QR321ST"


@pytest.fixture
async def panel(harness_factory: Any, browser: Any) -> AsyncIterator[Panel]:
    """The alert queue's panel (tests/engine/test_panel_alerts.py), with a viewer besides."""
    users = [
        {"name": OPERATOR_NAME, "token": OPERATOR, "role": "operator"},
        {"name": "bianchi", "token": VIEWER, "role": "viewer"},
    ]
    async with open_panel(harness_factory, browser, users) as opened:
        yield opened


def sighting(event: str, station: str, plate: str, moment: datetime) -> Transit:
    return a_transit(STATIONS[station].camera, event, moment, plate, station=station)


async def seed(panel: Panel) -> dict[str, Transit]:
    """Stored straight in the store, as the engine stores what it reads."""
    now = datetime.now(UTC).replace(microsecond=0)
    stored = {
        "roma": sighting("e1", "via_roma_in", PLATE, now - timedelta(minutes=50)),
        "pomino": sighting("e2", "pomino_in", PLATE, now - timedelta(minutes=30)),
        "other": sighting("e3", "pomino_out", OTHER, now - timedelta(minutes=40)),
        **{
            f"loiter{n}": sighting(f"l{n}", "falgano_in", LOITERER, now - timedelta(minutes=10 * n))
            for n in range(1, 5)
        },
    }
    engine = panel.engine
    for transit in stored.values():
        assert await engine.db.run(engine.store.add_transit, transit, [])
    return stored


async def api(panel: Panel, path: str, **params: str) -> Any:
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {ADMIN}"}) as session,
        session.get(panel.server.make_url(path), params=params) as response,
    ):
        assert response.status == 200, await response.text()
        return await response.json()


async def audited(panel: Panel, action: str) -> list[dict[str, Any]]:
    body = await api(panel, "/api/v1/audit", reason="Verifica del test", action=action)
    return [entry for entry in body["entries"] if entry["action"] == action]


async def downloaded(panel: Panel, selector: str) -> zipfile.ZipFile:
    async with panel.page.expect_download(timeout=WAIT) as waiting:
        await panel.page.click(selector)
    download = await waiting.value
    return zipfile.ZipFile(io.BytesIO(Path(await download.path()).read_bytes()))


def transits_in(archive: zipfile.ZipFile) -> set[str]:
    """The transits the evidence ZIP holds (``transits/<id>/transit.json``)."""
    return {
        name.split("/")[1]
        for name in archive.namelist()
        if name.startswith("transits/") and name.endswith("/transit.json")
    }


async def open_page(panel: Panel, name: str) -> None:
    await sign_in(panel, OPERATOR)
    await panel.page.click(f"nav a[data-page={name}]")
    await panel.page.wait_for_selector(f"nav a[data-page={name}][aria-current=page]")


async def test_an_operator_exports_evidence_and_holds_transits_from_the_search(
    panel: Panel,
) -> None:
    stored = await seed(panel)
    page = panel.page
    await open_page(panel, "search")
    await page.fill("#search-plate", PLATE)
    await page.fill("#search-reason", REASON)
    await page.fill("#search-case", CASE)
    await page.click("#search-form button[type=submit]")
    await page.wait_for_selector("#search-tools", timeout=WAIT)
    shown = await page.eval_on_selector_all(
        "#search-results tbody tr", "rows => rows.map((tr) => tr.dataset.transit)"
    )
    assert set(shown) == {stored["roma"].id, stored["pomino"].id}

    # One transit's evidence: a ZIP with that transit only.
    roma = f"#search-results tr[data-transit='{stored['roma'].id}']"
    archive = await downloaded(panel, f"{roma} [data-action=evidence]")
    assert transits_in(archive) == {stored["roma"].id}
    assert "SHA256SUMS" in archive.namelist()

    # The transits shown: both of the plate, not the other vehicle's.
    archive = await downloaded(panel, "#search-export")
    assert transits_in(archive) == {stored["roma"].id, stored["pomino"].id}
    await page.wait_for_selector("#search-tools-message >> text=Prove scaricate", timeout=WAIT)
    await page.locator("#main").screenshot(path=str(SCREENSHOTS / "21-ricerca-prove.png"))

    # A hold on one transit: the dialog asks the case number (the search's) and the reason.
    await page.click(f"{roma} [data-action=hold]")
    await page.wait_for_selector("#hold-dialog[open]")
    assert await page.input_value("#hold-case") == CASE
    assert await page.input_value("#hold-reason") == REASON
    assert "Via Roma" in await page.inner_text("#hold-what")
    assert await english_words(panel) == []
    await page.click("#hold-dialog [data-confirm=hold]")
    await page.wait_for_selector("#search-tools-message >> text=Vincolo", timeout=WAIT)
    assert await page.locator("#hold-dialog").count() == 0
    holds = (await api(panel, "/api/v1/holds", active="true"))["holds"]
    assert [(h["transit_ids"], h["case_number"]) for h in holds] == [([stored["roma"].id], CASE)]

    # A hold on the transits shown, under another case number.
    await page.click("#search-hold")
    await page.fill("#hold-case", "PG 32/2026")
    await page.click("#hold-dialog [data-confirm=hold]")
    await page.wait_for_selector("#search-tools-message >> text=PG 32/2026", timeout=WAIT)
    holds = (await api(panel, "/api/v1/holds", active="true"))["holds"]
    assert {h["case_number"]: set(h["transit_ids"]) for h in holds} == {
        CASE: {stored["roma"].id},
        "PG 32/2026": {stored["roma"].id, stored["pomino"].id},
    }

    # The audit log has each, with the search's reason and case number.
    for action, count in (("evidence_transit", 1), ("evidence_search", 1), ("hold", 2)):
        entries = await audited(panel, action)
        assert len(entries) == count, action
        assert {e["reason"] for e in entries} == {REASON}, action
        assert entries[-1]["case_number"] == CASE, action
        assert {e["actor"] for e in entries} == {OPERATOR_NAME}
    assert panel.console_errors == []


async def english_words(panel: Panel) -> list[str]:
    """The page's English strings (those not spelt the same in Italian) found in the page."""
    source = (STATIC / "i18n.js").read_text(encoding="utf-8")
    italian, english = _language(source, "it"), _language(source, "en")
    text = await panel.page.evaluate(
        """() => [document.body.innerText,
                  ...[...document.querySelectorAll('[aria-label], option')]
                     .map((el) => el.getAttribute('aria-label') || el.textContent)].join('\\n')"""
    )
    found = []
    for key, value in english.items():
        if not key.startswith(("inv.", "nav.")) or value == italian[key]:
            continue
        for part in re.split(r"\{\w+\}", value):
            words = part.strip()
            if len(words.strip(" .:()…")) >= 4 and re.search(
                rf"(?<!\w){re.escape(words)}(?!\w)", text
            ):
                found.append(f"{key}: {words}")
    return found


async def test_an_operator_runs_the_queries_and_places_and_releases_a_hold(
    panel: Panel,
) -> None:
    stored = await seed(panel)
    page = panel.page
    await open_page(panel, "investigations")
    await page.wait_for_selector("#holds-out >> text=Nessun vincolo", timeout=WAIT)
    await page.fill("#inv-reason", REASON)
    await page.fill("#inv-case", CASE)

    # Seen at via Roma, then at Pomino within the hour: the stations picked by name.
    await page.select_option("#seen-from", label=STATIONS["via_roma_in"].name)
    await page.select_option("#seen-to", label=STATIONS["pomino_in"].name)
    await page.click("#inv-seen-form button[type=submit]")
    await page.wait_for_selector("#seen-table", timeout=WAIT)
    rows = await page.eval_on_selector_all(
        "#seen-table tbody tr", "rows => rows.map((tr) => [tr.dataset.plate, tr.dataset.then])"
    )
    assert rows == [[PLATE, stored["pomino"].id]]
    assert "20 min" in await page.inner_text("#seen-table tbody")
    assert STATIONS["pomino_in"].name in await page.inner_text("#seen-table thead")

    # Loitering at Falgano: four sightings of one plate within the hour.
    await page.select_option("#loiter-station", label=STATIONS["falgano_in"].name)
    await page.click("#inv-loiter-form button[type=submit]")
    await page.wait_for_selector("#loiter-table", timeout=WAIT)
    rows = await page.eval_on_selector_all(
        "#loiter-table tbody tr", "rows => rows.map((tr) => [tr.dataset.plate, tr.dataset.count])"
    )
    assert rows == [[LOITERER, "4"]]

    # A hold on every transit of the plate in the period, then released.
    await page.fill("#hold-plate", PLATE)
    await page.fill("#hold-new-case", CASE)
    await page.click("#hold-form button[type=submit]")
    await page.wait_for_selector("#holds-table tr[data-active=true]", timeout=WAIT)
    assert "Vincolo" in await page.inner_text("#holds-message")
    (hold,) = (await api(panel, "/api/v1/holds", active="true"))["holds"]
    assert set(hold["transit_ids"]) == {stored["roma"].id, stored["pomino"].id}
    assert hold["case_number"] == CASE

    assert await english_words(panel) == []
    assert "null" not in await page.inner_text("#main")
    await page.screenshot(path=str(SCREENSHOTS / "20-indagini.png"), full_page=True)

    await page.click(f"#holds-table tr[data-hold='{hold['id']}'] [data-action=release]")
    await page.wait_for_selector("#holds-out >> text=Nessun vincolo", timeout=WAIT)
    assert (await api(panel, "/api/v1/holds", active="true"))["holds"] == []
    (released,) = (await api(panel, "/api/v1/holds"))["holds"]
    assert released["released_at"] is not None
    await page.uncheck("#holds-active")
    await page.wait_for_selector(f"#holds-table tr[data-hold='{hold['id']}'][data-active=false]")
    assert "revocato il" in await page.inner_text("#holds-table")
    assert await english_words(panel) == []

    for action in ("seen_then", "loitering", "hold_search", "hold", "hold_release"):
        entries = await audited(panel, action)
        assert len(entries) == 1, action
        assert entries[0]["reason"] == REASON, action
    assert (await audited(panel, "hold"))[0]["case_number"] == CASE

    # The same page in English speaks English.
    await page.click("#lang")
    await page.wait_for_selector("#inv-seen >> text=Seen at one station, then at another")
    assert await english_words(panel)  # what finds no English in Italian finds it here
    assert panel.console_errors == []


async def test_a_viewer_has_no_investigations_page(panel: Panel) -> None:
    page = panel.page
    await sign_in(panel, VIEWER)
    assert await page.locator("nav a[data-page=investigations]").count() == 0
    await page.goto(str(panel.server.make_url("/panel/#/investigations")))
    await page.wait_for_selector("nav a[data-page=system][aria-current=page]", timeout=WAIT)
    assert await page.locator("#inv-holds").count() == 0
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {VIEWER}"}) as session,
        session.get(panel.server.make_url("/api/v1/holds")) as response,
    ):
        assert response.status == 403
    assert panel.console_errors == []


def test_every_string_of_the_investigations_page_exists_in_both_languages() -> None:
    source = (STATIC / "i18n.js").read_text(encoding="utf-8")
    italian, english = _language(source, "it"), _language(source, "en")
    code = (STATIC / "investigations.js").read_text(encoding="utf-8")
    used = set(re.findall(r'\bt\("([\w.]+)"', code)) | {"nav.investigations"}
    assert used <= set(italian) & set(english), used - (set(italian) & set(english))
