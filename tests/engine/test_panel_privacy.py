"""The panel's Privacy page in a real browser (Debian's chromium through Playwright) against the
engine's API over a real store, with the town's station registry: an admin sees the reminder on
the Privacy link while the pack was never generated, generates it (the ZIP downloads), reads the
DPIA in the page (it names every station of the registry, styled as printed) and prints it, in
Italian and English; registers an access and an erasure request (the one received 25 days ago is
highlighted and badged as due soon), downloads the access ZIP, erases the plate's data (the
dialog says it is irreversible; the table shows the request fulfilled and what a hold kept),
extends and refuses a request with a note; an operator has no Privacy page. Screenshots of the
rendered pack and of the register go to ``artifacts/screenshots/``."""

from __future__ import annotations

import asyncio
import io
import re
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
import sqlalchemy as sa

from rufina_alpr import privacy
from rufina_alpr.privacy.pack import DOCUMENT_IDS, SECTIONS
from rufina_alpr.privacy.subject import ErasureResult, HoldKept
from rufina_alpr.stations import load_registry
from rufina_alpr.store import transits

from . import test_panel_alerts
from .panel_pages import REGISTRY, SCREENSHOTS
from .test_panel_alerts import OPERATOR, WAIT, Panel, vehicle
from .test_panel_i18n import STATIC, _language

pytestmark = pytest.mark.slow

# The alert queue's fixtures: Debian's chromium, and the engine's API over a TestServer with the
# town's registry, a real store and an operator besides the harness's admin token.
browser = test_panel_alerts.browser
panel = test_panel_alerts.panel

ADMIN = "demo-token-not-for-production"  # the harness's admin token (demo.engine_settings)
REASON = "Richiesta dell'interessato, prot. 77/2026"
PLATE = "AB123CD"
OTHER = "ZZ999ZZ"
CASE = "PG 12/2026"
ROME = ZoneInfo("Europe/Rome")


async def sign_in(panel: Panel, token: str) -> None:
    page = panel.page
    await page.goto(str(panel.server.make_url("/panel/")))
    await page.fill("#login-token", token)
    await page.click("#login-form button[type=submit]")
    await page.wait_for_selector("nav a[data-page=system]")


async def open_privacy(panel: Panel) -> None:
    await sign_in(panel, ADMIN)
    await panel.page.click("nav a[data-page=privacy]")
    await panel.page.wait_for_selector("nav a[data-page=privacy][aria-current=page]")
    await panel.page.wait_for_selector("#privacy-requests")


async def badge(panel: Panel, reminder: str | None) -> None:
    """The Privacy link's badge says ``reminder`` (requests, pack), or there is none."""
    selector = "nav a[data-page=privacy] .nav-badge"
    await panel.page.wait_for_function(
        """([selector, reminder]) => {
            const found = document.querySelector(selector);
            return reminder === null ? !found : found?.dataset.reminder === reminder;
        }""",
        arg=[selector, reminder],
        timeout=WAIT,
    )


async def downloaded(panel: Panel, selector: str) -> bytes:
    async with panel.page.expect_download(timeout=WAIT) as waiting:
        await panel.page.click(selector)
    download = await waiting.value
    return Path(await download.path()).read_bytes()


async def show_document(panel: Panel, doc: str, lang: str) -> Any:
    """The document shown in the page's frame, once styled; returns the frame."""
    page = panel.page
    await page.select_option("#doc-select", doc)
    await page.select_option("#doc-lang", lang)
    await page.evaluate("() => { document.getElementById('doc-print').disabled = true; }")
    await page.click("#doc-form button[type=submit]")
    await page.wait_for_selector("#doc-print:not([disabled])", timeout=WAIT)
    frame = await (await page.query_selector("#doc-frame")).content_frame()
    assert frame is not None
    return frame


async def test_an_admin_generates_the_pack_and_reads_the_dpia_in_both_languages(
    panel: Panel,
) -> None:
    page = panel.page
    await open_privacy(panel)

    # Never generated: the page and the Privacy link say so.
    await page.wait_for_selector("#pack-state", timeout=WAIT)
    await badge(panel, "pack")
    assert await page.get_attribute("#pack-state", "data-state") == "missing"
    assert "non è mai stato generato" in await page.inner_text("#privacy-reminder")

    # Generate: the ZIP downloads with every document, and the pack is now current.
    archive = zipfile.ZipFile(io.BytesIO(await downloaded(panel, "#pack-generate")))
    names = archive.namelist()
    for doc in DOCUMENT_IDS:
        assert any(doc in name for name in names), (doc, names)
    await page.wait_for_selector("#pack-state[data-state=current]", timeout=WAIT)
    assert "Aggiornato" in await page.inner_text("#pack-status")
    await badge(panel, None)
    assert "mai stato generato" not in await page.inner_text("#privacy-reminder")
    documents = await page.eval_on_selector_all(
        "#pack-documents tbody tr", "rows => rows.map((tr) => tr.dataset.document)"
    )
    assert documents == list(DOCUMENT_IDS)

    # The DPIA in the page: every station of the town's registry, styled as it prints.
    frame = await show_document(panel, "dpia", "it")
    text = await frame.inner_text("body")
    assert "Valutazione d'impatto" in text
    stations = load_registry(REGISTRY).stations
    assert len(stations) == 34
    missing = [s.name for s in stations if s.name not in text]
    assert not missing, missing
    colour = await frame.evaluate("() => getComputedStyle(document.querySelector('h1')).color")
    assert colour == "rgb(29, 78, 137)"  # the document's own style (#1d4e89), not the panel's
    assert await frame.evaluate("() => document.scripts.length") == 0

    # Print prints the document, not the panel.
    await page.evaluate(
        """() => {
            const frame = document.getElementById('doc-frame');
            frame.contentWindow.print = () => { window.printed = frame.contentDocument.title; };
        }"""
    )
    await page.click("#doc-print")
    await page.wait_for_function("() => window.printed !== undefined", timeout=WAIT)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / "13-pacchetto-privacy-dpia.png"), full_page=True)

    # In English: the page, and the document in the panel's language by default.
    await page.click("#lang")
    await page.wait_for_selector("#pack-state[data-state=current]", timeout=WAIT)
    assert "Up to date" in await page.inner_text("#pack-status")
    assert await page.input_value("#doc-lang") == "en"
    assert await page.inner_text("#doc-form button[type=submit]") == "Show"
    frame = await show_document(panel, "dpia", "en")
    text = await frame.inner_text("body")
    assert "Data protection impact assessment" in text
    missing = [s.name for s in stations if s.name not in text]
    assert not missing, missing
    await page.screenshot(path=str(SCREENSHOTS / "13-privacy-pack-dpia-en.png"), full_page=True)

    # A new hotlist: the lists changed, so the documents stating them are out of date.
    await admin_api(
        panel, "POST", "/api/v1/hotlists", {"id": "ztl", "name": "ZTL", "kind": "watch"}
    )
    await pack_health(panel, "outdated")
    await page.reload()
    await page.wait_for_selector("#pack-state[data-state=outdated]", timeout=WAIT)
    await badge(panel, "pack")
    assert "lists" in await page.inner_text("#pack-changed")
    assert "no longer matches" in await page.inner_text("#privacy-reminder")
    states = await page.eval_on_selector_all(
        "#pack-documents tbody tr", "rows => rows.map((tr) => [tr.dataset.document, tr.className])"
    )
    assert dict(states) == {
        "dpia": "stale",
        "notices": "",  # states no list
        "informativa": "stale",
        "record": "stale",
        "todo": "stale",
    }
    assert panel.console_errors == []


async def admin_api(panel: Panel, method: str, path: str, body: dict[str, Any]) -> Any:
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {ADMIN}"}) as session,
        session.request(method, panel.server.make_url(path), json=body) as response,
    ):
        assert response.status < 300, await response.text()
        return await response.json()


async def pack_health(panel: Panel, state: str) -> None:
    """Until /api/health says the pack is ``state`` (the engine reads it each stats round)."""
    async with aiohttp.ClientSession() as session:
        for _ in range(150):
            async with session.get(panel.server.make_url("/api/health")) as response:
                if (await response.json()).get("privacy", {}).get("pack", {}).get("state") == state:
                    return
            await asyncio.sleep(0.2)
    raise AssertionError(f"the health never said the pack is {state}")


async def seed(panel: Panel) -> tuple[list[str], str]:
    """Three transits of PLATE (the oldest held for a case) and one of another plate."""
    now = datetime.now(UTC).replace(microsecond=0)
    places = ["via_roma_in", "pomino_in", "falgano_in"]
    mine = [
        vehicle(f"s{n}", st, PLATE, now - timedelta(hours=n + 1)) for n, st in enumerate(places)
    ]
    other = vehicle("o1", "pomino_out", OTHER, now - timedelta(hours=1))
    engine = panel.engine
    for transit in [*mine, other]:
        assert await engine.db.run(engine.store.add_transit, transit, [])
    await engine.db.run(
        lambda: privacy.hold(engine.store, [mine[-1].id], CASE, "Furto 12/2026", "pm.verdi")
    )
    return [t.id for t in mine], other.id


async def register(
    panel: Panel, kind: str, plate: str, *, received: str | None = None, reference: str = ""
) -> None:
    page = panel.page
    await page.select_option("#request-kind", kind)
    await page.fill("#request-plate", plate)
    await page.fill("#request-requester", "Mario Bianchi, mario.bianchi@example.org")
    await page.fill("#request-reference", reference)
    if received:
        await page.fill("#request-received", received)
    await page.evaluate("() => { document.getElementById('request-message').textContent = ''; }")
    await page.click("#request-form button[type=submit]")
    await page.wait_for_function(
        "() => document.getElementById('request-message').textContent.includes('registrata')",
        timeout=WAIT,
    )


async def stored(panel: Panel, ids: list[str]) -> set[str]:
    """Which of these transits the store still has."""
    query = sa.select(transits.c.id).where(transits.c.id.in_(ids))
    return set(await panel.store(lambda c: c.scalars(query).all()))


def row(kind: str, plate: str) -> str:
    return f"#requests-table tr[data-kind={kind}][data-plate={plate}]"


async def test_an_admin_keeps_the_register_of_requests_and_answers_them(panel: Panel) -> None:
    page = panel.page
    mine, other = await seed(panel)
    await open_privacy(panel)
    await page.fill("#requests-reason", REASON)
    await page.click("#requests-form button[type=submit]")
    await page.wait_for_selector("#requests-summary", timeout=WAIT)

    # An access request received today, an erasure request received 25 days ago.
    await register(panel, "access", PLATE, reference="PEC 2026/118")
    await page.wait_for_selector(row("access", PLATE), timeout=WAIT)
    received = (datetime.now(ROME) - timedelta(days=25)).date().isoformat()
    await register(panel, "erasure", PLATE, received=received)
    await page.wait_for_selector(row("erasure", PLATE), timeout=WAIT)
    order = await page.eval_on_selector_all(
        "#requests-table tbody tr", "rows => rows.map((tr) => tr.dataset.kind)"
    )
    assert order == ["erasure", "access"]  # the earliest deadline first
    erasure = page.locator(row("erasure", PLATE))
    assert "due-soon" in (await erasure.get_attribute("class") or "")
    assert re.fullmatch(r"[45] g", (await erasure.locator("td.days").inner_text()).strip())
    access = page.locator(row("access", PLATE))
    assert (await access.locator("td.days").inner_text()).strip() in ("29 g", "30 g")
    assert "PEC 2026/118" in await access.inner_text()

    # The reminder: the Privacy link's badge counts the request due soon, the page says so.
    await badge(panel, "requests")
    assert await page.inner_text("nav a[data-page=privacy] .nav-badge [aria-hidden]") == "1"
    assert "in scadenza entro 7 giorni: 1" in await page.inner_text("#privacy-reminder")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    register_card = page.locator("#privacy-requests")
    await register_card.screenshot(path=str(SCREENSHOTS / "14-richieste-interessati.png"))

    # Access: the ZIP of everything held about the plate, with the cover letter.
    archive = zipfile.ZipFile(
        io.BytesIO(await downloaded(panel, f"{row('access', PLATE)} button[data-action=access]"))
    )
    listing = archive.read("transits.csv").decode()
    assert all(transit in listing for transit in mine) and other not in listing
    assert PLATE in archive.read("manifest.json").decode()

    # Erasure: a dialog says it cannot be undone; then what went and what a hold kept.
    await erasure.locator("button[data-action=erase]").click()
    dialog = page.locator("#erase-dialog")
    await dialog.wait_for(timeout=WAIT)
    assert "irreversibile" in await dialog.inner_text()
    # The keyboard lands on Cancel; Escape closes the dialog and nothing is erased.
    assert await page.evaluate("() => document.activeElement.dataset.cancel") == "erase"
    await page.keyboard.press("Escape")
    await dialog.wait_for(state="detached", timeout=WAIT)
    assert await erasure.get_attribute("data-status") == "open"
    assert await stored(panel, [*mine, other]) == {*mine, other}
    await erasure.locator("button[data-action=erase]").click()
    await dialog.wait_for(timeout=WAIT)
    await dialog.locator("button[data-confirm=erase]").click()
    result = page.locator("#erase-result")
    await result.wait_for(timeout=WAIT)
    text = await result.inner_text()
    assert "Cancellati" in text and "Conservati" in text
    kept = result.locator("[data-result=kept] [data-hold]")
    assert " ".join((await kept.inner_text()).split()).startswith(f"pratica {CASE} (vincolo")
    assert (await kept.inner_text()).endswith("transiti: 1")
    assert await result.locator("[data-result=erased] [data-result=transits]").inner_text() == (
        "transiti: 2"
    )
    await page.wait_for_selector(f"{row('erasure', PLATE)}[data-status=fulfilled]", timeout=WAIT)
    erased = page.locator(row("erasure", PLATE))
    assert "Evasa" in await erased.inner_text()
    await erased.locator("details.result summary").click()  # the outcome, in the row too
    assert CASE in await erased.locator("details.result").inner_text()
    await register_card.screenshot(path=str(SCREENSHOTS / "14-richieste-cancellazione.png"))
    assert await erased.locator("button[data-action=erase]").count() == 0
    assert await stored(panel, [*mine, other]) == {mine[-1], other}  # held; the other plate's
    await badge(panel, "pack")  # no request due soon now; the pack was never generated

    # Extend, then refuse, each with the note the requester is told.
    await register(panel, "access", OTHER)
    extend = page.locator(f"{row('access', OTHER)} button[data-action=extend]")
    await extend.click()
    await page.fill(f"{row('access', OTHER)} input[data-note=extend]", "Richiesta complessa")
    await page.click(f"{row('access', OTHER)} button[data-confirm=extend]")
    await page.wait_for_function(
        "(selector) => document.querySelector(selector)?.textContent.includes('prorogata')",
        arg=row("access", OTHER),
        timeout=WAIT,
    )
    assert (await page.locator(f"{row('access', OTHER)} td.days").inner_text()).strip() in (
        "89 g",
        "90 g",
    )
    await page.click(f"{row('access', OTHER)} button[data-action=refuse]")
    await page.fill(f"{row('access', OTHER)} input[data-note=refuse]", "Targa non del richiedente")
    await page.click(f"{row('access', OTHER)} button[data-confirm=refuse]")
    await page.wait_for_selector(f"{row('access', OTHER)}[data-status=refused]", timeout=WAIT)
    assert "Targa non del richiedente" in await page.inner_text(row("access", OTHER))

    # In English, the register reloads with the reason given.
    await page.click("#lang")
    await page.wait_for_selector(f"{row('erasure', PLATE)}[data-status=fulfilled]", timeout=WAIT)
    assert "Fulfilled" in await page.inner_text(row("erasure", PLATE))
    assert "Refused" in await page.inner_text(row("access", OTHER))
    assert "Deadline" in await page.inner_text("#requests-table thead")
    await register_card.screenshot(path=str(SCREENSHOTS / "14-subject-requests-en.png"))
    assert panel.console_errors == []


async def test_an_operator_has_no_privacy_page(panel: Panel) -> None:
    page = panel.page
    await sign_in(panel, OPERATOR)
    assert await page.locator("nav a[data-page=privacy]").count() == 0
    await page.goto(str(panel.server.make_url("/panel/#/privacy")))
    await page.wait_for_selector("nav a[data-page=live][aria-current=page]", timeout=WAIT)
    assert await page.locator("#privacy-pack").count() == 0
    async with aiohttp.ClientSession() as session:
        for path in ("/api/v1/privacy/pack", f"/api/v1/privacy/requests?reason={REASON}"):
            async with session.get(
                panel.server.make_url(path), headers={"Authorization": f"Bearer {OPERATOR}"}
            ) as response:
                assert response.status == 403, path
    assert panel.console_errors == []


def test_every_string_of_the_privacy_page_exists_in_both_languages() -> None:
    source = (STATIC / "i18n.js").read_text(encoding="utf-8")
    italian, english = _language(source, "it"), _language(source, "en")
    code = (STATIC / "privacy.js").read_text(encoding="utf-8")
    used = set(re.findall(r'\bt\("([\w.]+)"', code))
    # The keys it builds: per document, section, kind, status and what an erasure did.
    result = ErasureResult(0, 0, 0, 0, 0, 0, 0, 0, held=(HoldKept(1, CASE, 1),)).as_json()
    access = ("files", "hotlist_entries", "hotlist_entries_in_zip", "note")  # api.subject_requests
    names = {*result, *result["erased"], *result["kept"], *access}
    used |= {f"priv.doc.{doc}" for doc in DOCUMENT_IDS} | {f"priv.section.{s}" for s in SECTIONS}
    used |= {f"priv.res.{name}" for name in names}
    groups = {
        "priv.kind": ("access", "erasure"),
        "priv.status": ("open", "fulfilled", "refused"),
        "priv.pack": ("current", "outdated", "missing"),
        "priv.lang": ("it", "en"),
        "priv.label": ("access", "erase", "extend", "refuse"),
        "priv.req.note": ("extend", "refuse"),
        "priv.req.confirm": ("extend", "refuse"),
        "priv.req.done": ("extend", "refuse"),
    }
    used |= {f"{group}.{name}" for group, values in groups.items() for name in values}
    assert used <= set(italian), used - set(italian)
    assert used <= set(english), used - set(english)
