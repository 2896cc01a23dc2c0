"""The panel's alert queue in a real browser (Debian's chromium through Playwright) against the
engine's API over a real store: alerts stored straight in the store show in the queue the most
urgent first, then the newest; Acknowledge is one click and the store records who; an alert raised
or withdrawn while the panel is open reaches it through the live stream (the audited list is asked
once); rejecting asks the reason, closing the outcome; the hits report downloads as CSV; the queue
speaks Italian and English; an impossible journey shows both sightings with their crops (asked once
per alert) and a near match at a gate shows the authorised plate it is near."""

from __future__ import annotations

import importlib
import importlib.util
import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from PIL import Image

from rufina_alpr import privacy
from rufina_alpr.alerts import Alert, ledger
from rufina_alpr.api.app import create_app, server_options
from rufina_alpr.transits import Transit

from .conftest import require
from .factories import a_transit
from .panel_pages import CHROMIUM, CHROMIUM_ARGS, REGISTRY, SCREENSHOTS, STATIONS, ScriptedReader

pytestmark = pytest.mark.slow

OPERATOR = "rossi-operator-token-0123456789abcdef"
OPERATOR_NAME = "agente.rossi"
REASON = "Sala operativa, turno di notte"
WORKER = "test-panel"  # not the engine's: its outbox leaves these alerts alone
WAIT = 20_000  # ms: the CI machine is busy


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    require(CHROMIUM.is_file(), "Debian's chromium (/usr/bin/chromium)")
    require(importlib.util.find_spec("playwright") is not None, "playwright (the dev extra)")
    playwright_api = importlib.import_module("playwright.async_api")
    async with playwright_api.async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        await launched.close()


@dataclass
class Panel:
    harness: Any
    server: TestServer
    page: Any
    console_errors: list[str]

    @property
    def engine(self) -> Any:
        return self.harness.engine

    async def store(self, work: Any) -> Any:
        """``work(connection)`` in one transaction on the database thread."""

        def run() -> Any:
            with self.engine.store.engine.begin() as connection:
                return work(connection)

        return await self.engine.db.run(run)

    async def open_live(self) -> None:
        page = self.page
        await page.goto(str(self.server.make_url("/panel/")))
        await page.fill("#login-token", OPERATOR)
        await page.click("#login-form button[type=submit]")
        await page.wait_for_selector("nav a[data-page=live][aria-current=page]")
        await page.fill("#live-reason", REASON)
        await page.click("#live-form button[type=submit]")
        await page.wait_for_selector(".live-state.pill-on", timeout=WAIT)

    async def queue(self) -> list[str]:
        ids: list[str] = await self.page.eval_on_selector_all(
            "#alert-queue-list > li", "items => items.map((li) => li.dataset.alert)"
        )
        return ids

    async def wait_queue(self, expected: list[str]) -> None:
        await self.page.wait_for_function(
            """(ids) => {
                const shown = [...document.querySelectorAll('#alert-queue-list > li')]
                  .map((li) => li.dataset.alert);
                return JSON.stringify(shown) === JSON.stringify(ids);
            }""",
            arg=expected,
            timeout=WAIT,
        )


@asynccontextmanager
async def open_panel(
    harness_factory: Any, browser: Any, users: list[dict[str, str]]
) -> AsyncIterator[Panel]:
    """An engine with the town's registry and ``users`` (besides the admin token), served on
    127.0.0.1, and an Italian page at 1280 px recording its console errors (not signed in)."""
    harness = await harness_factory(
        [], stations_file=REGISTRY, reader=ScriptedReader(), extra={"api": {"users": users}}
    )
    server = TestServer(create_app(harness.engine), host="127.0.0.1")
    await server.start_server(**server_options())
    context = await browser.new_context(
        locale="it-IT", timezone_id="Europe/Rome", viewport={"width": 1280, "height": 900}
    )
    page = await context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield Panel(harness, server, page, errors)
    finally:
        await context.close()
        await server.close()


@pytest.fixture
async def panel(harness_factory: Any, browser: Any) -> AsyncIterator[Panel]:
    users = [{"name": OPERATOR_NAME, "token": OPERATOR, "role": "operator"}]
    async with open_panel(harness_factory, browser, users) as opened:
        yield opened


def vehicle(event: str, station: str, plate: str, moment: datetime) -> Transit:
    """A car's transit as the engine stores it, its plate displayed as read."""
    return a_transit(
        STATIONS[station].camera,
        event,
        moment,
        plate,
        station=station,
        confidence=0.93,
        read_count=3,
    )


def hotlist_alert(
    transit: Transit,
    priority: int,
    *,
    status: str = "confirmed",
    kind: str = "hotlist",
    action: str = "alert",
    list_name: str | None = "Veicoli rubati",
    entry_plate: str | None = None,
) -> Alert:
    return ledger.new_alert(
        transit,
        kind=kind,
        status=status,
        worker=WORKER,
        now=datetime.now(UTC),
        action=action,
        priority=priority,
        read_plate=transit.plate,
        score=1.0,
        list_id="rubati" if list_name else None,
        list_name=list_name,
        list_kind="stolen" if list_name else None,
        entry_plate=entry_plate or transit.plate,
        reason="Denuncia 1234/2026",
    )


async def raise_all(panel: Panel, *alerts: Alert) -> None:
    def work(connection: Any) -> None:
        for alert in alerts:
            assert ledger.raise_alert(connection, alert, cooldown=0) is not None

    await panel.store(work)


async def test_the_queue_orders_alerts_and_acknowledges_in_one_click(panel: Panel) -> None:
    page = panel.page
    now = datetime.now(UTC)
    stations = ["via_roma_in", "pomino_in", "falgano_in", "pomino_out"]
    minutes = [now - timedelta(minutes=n) for n in (10, 5, 1)]
    urgent_old = hotlist_alert(vehicle("e1", stations[0], "AB123CD", minutes[0]), 1)
    later = hotlist_alert(vehicle("e2", stations[1], "EF456GH", minutes[1]), 2)
    latest = hotlist_alert(vehicle("e3", stations[2], "IJ789KL", minutes[2]), 2)
    in_view = hotlist_alert(vehicle("e4", stations[3], "MN012OP", now), 3, status="provisional")
    await raise_all(panel, later, in_view, urgent_old, latest)
    await panel.open_live()

    # Priority first, then the newest.
    await panel.wait_queue([urgent_old.id, latest.id, later.id, in_view.id])
    row = page.locator(f"#alert-queue-list li[data-alert='{latest.id}']")
    text = await row.inner_text()
    assert "IJ789KL" in text and "Veicoli rubati" in text
    assert STATIONS[stations[2]].name in text
    assert "ALLARME LISTA" in text and "nuovo" in text and "P2" in text
    provisional = page.locator(f"#alert-queue-list li[data-alert='{in_view.id}']")
    assert "in vista — provvisorio" in await provisional.inner_text()
    assert await provisional.get_attribute("data-status") == "provisional"
    assert await page.inner_text("#alert-queue-title") == "Coda degli allarmi"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / "10-coda-allarmi.png"), full_page=True)

    # One click: acknowledged in the store, by the panel's user, and the row says so.
    button = row.locator("button[data-step=acknowledge]")
    assert await button.get_attribute("aria-label") == "Presa visione dell'allarme IJ789KL"
    await button.click()
    await page.wait_for_selector(
        f"#alert-queue-list li[data-alert='{latest.id}'][data-state=acknowledged]", timeout=WAIT
    )
    text = await row.inner_text()
    assert "preso in carico" in text and OPERATOR_NAME in text
    assert await row.locator("button[data-step=acknowledge]").count() == 0
    stored = await panel.store(lambda c: ledger.find(c, latest.id))
    assert stored.state == "acknowledged" and stored.handled_by == OPERATOR_NAME
    assert [(s.step, s.by) for s in stored.steps] == [("acknowledge", OPERATOR_NAME)]
    # Still second: acknowledging does not move an alert.
    assert await panel.queue() == [urgent_old.id, latest.id, later.id, in_view.id]

    # The list was asked once, with the stream's reason; the stream was audited once.
    log = privacy.Audit(panel.engine.store)
    listed = await panel.engine.db.run(lambda: log.entries(action="alerts", limit=10))
    assert [(e.reason, e.actor) for e in listed] == [(REASON, OPERATOR_NAME)]
    assert len(await panel.engine.db.run(lambda: log.entries(action="live", limit=10))) == 1
    assert panel.console_errors == []


async def test_the_live_stream_keeps_the_queue_current(panel: Panel) -> None:
    page = panel.page
    now = datetime.now(UTC)
    listed = hotlist_alert(vehicle("e1", "via_roma_in", "AB123CD", now - timedelta(minutes=3)), 2)
    in_view_transit = vehicle("e2", "pomino_in", "QR345ST", now - timedelta(seconds=5))
    in_view = hotlist_alert(in_view_transit, 1, status="provisional")
    await raise_all(panel, listed, in_view)
    await panel.open_live()
    await panel.wait_queue([in_view.id, listed.id])

    # Raised while the panel is open: in its place, through the stream (at one priority a list
    # hit before a gate's plate to review).
    gate = hotlist_alert(
        vehicle("e3", "falgano_in", "UV678WX", now - timedelta(seconds=1)),
        2,
        kind="not_authorised",
        action="review",
        list_name="Residenti ZTL",
    )
    await raise_all(panel, gate)
    await panel.wait_queue([in_view.id, listed.id, gate.id])
    gate_text = await page.inner_text(f"#alert-queue-list li[data-alert='{gate.id}']")
    assert "NON AUTORIZZATO" in gate_text and "da verificare" in gate_text

    # The vehicle's transit does not match: withdrawn in the store, gone from the queue with a
    # notice for its plate.
    settled = await panel.store(
        lambda c: ledger.settle(
            c, in_view_transit, None, kind="hotlist", cooldown=0, now=datetime.now(UTC)
        )
    )
    assert settled is not None and settled.change == "withdrawn"
    await panel.wait_queue([listed.id, gate.id])
    notice = page.locator(f"#alert-notices [data-withdrawn='{in_view.id}']")
    await notice.wait_for(timeout=WAIT)
    assert "Ritirato" in await notice.inner_text() and "QR345ST" in await notice.inner_text()

    # Handled by another operator elsewhere (the API's ledger call): the row follows.
    await panel.store(
        lambda c: ledger.apply_step(c, listed.id, "accept", actor="agente.verdi", acting_user=None)
    )
    await page.wait_for_selector(
        f"#alert-queue-list li[data-alert='{listed.id}'][data-state=accepted]", timeout=WAIT
    )
    assert "agente.verdi" in await page.inner_text(f"li[data-alert='{listed.id}']")

    # Close asks the outcome; the closed alert leaves the queue.
    row = page.locator(f"#alert-queue-list li[data-alert='{listed.id}']")
    await row.locator("button[data-step=close]").click()
    await row.locator("select[data-choice=close]").select_option("fined")
    await row.locator("button[data-confirm=close]").click()
    await panel.wait_queue([gate.id])
    closed = await panel.store(lambda c: ledger.find(c, listed.id))
    assert (closed.state, closed.outcome, closed.handled_by) == ("closed", "fined", OPERATOR_NAME)

    # Reject asks the reason.
    row = page.locator(f"#alert-queue-list li[data-alert='{gate.id}']")
    await row.locator("button[data-step=reject]").click()
    await row.locator("select[data-choice=reject]").select_option("list_out_of_date")
    await row.locator("button[data-confirm=reject]").click()
    await panel.wait_queue([])
    await page.wait_for_selector("#alert-queue-empty:not([hidden])", timeout=WAIT)
    rejected = await panel.store(lambda c: ledger.find(c, gate.id))
    assert (rejected.state, rejected.reject_reason) == ("rejected", "list_out_of_date")

    # The hits report: every alert of the period, as CSV, asked with the stream's reason.
    await page.click("#alert-report summary")
    async with page.expect_download(timeout=WAIT) as waiting:
        await page.click("#report-csv")
    download = await waiting.value
    csv = Path(await download.path()).read_text(encoding="utf-8")
    assert csv.splitlines()[0].startswith("alert_id,kind,status,state")
    assert listed.id in csv and gate.id in csv and in_view.id in csv
    log = privacy.Audit(panel.engine.store)
    (report,) = await panel.engine.db.run(lambda: log.entries(action="alerts_report", limit=10))
    assert report.reason == REASON
    assert panel.console_errors == []


async def test_the_queue_speaks_english_too(panel: Panel) -> None:
    page = panel.page
    now = datetime.now(UTC)
    alert = hotlist_alert(
        vehicle("e1", "via_roma_in", "AB123CD", now),
        1,
        status="provisional",
        action="stop_and_check",
    )
    journey = hotlist_alert(
        vehicle("e2", "pomino_in", "EF456GH", now - timedelta(minutes=1)),
        2,
        kind="impossible_journey",
        list_name=None,
    )
    await raise_all(panel, alert, journey)
    await panel.open_live()
    await panel.wait_queue([alert.id, journey.id])
    row = page.locator(f"#alert-queue-list li[data-alert='{alert.id}']")
    assert "CONTROLLARE" in await row.inner_text()
    assert await row.locator("button[data-step=acknowledge]").inner_text() == "Presa visione"
    assert "VIAGGIO IMPOSSIBILE" in await page.inner_text(f"li[data-alert='{journey.id}']")

    await page.click("#lang")  # the view redraws and reconnects with the reason it had
    await page.wait_for_function(
        "document.querySelector('#alert-queue-title')?.textContent === 'Alert queue'",
        timeout=WAIT,
    )
    await panel.wait_queue([alert.id, journey.id])
    row = page.locator(f"#alert-queue-list li[data-alert='{alert.id}']")
    text = await row.inner_text()
    assert "STOP AND CHECK" in text and "in view — provisional" in text and "Priority" not in text
    assert await row.locator("button[data-step=acknowledge]").inner_text() == "Acknowledge"
    assert await row.locator(".prio").get_attribute("aria-label") == "Priority 1"
    assert "IMPOSSIBLE JOURNEY" in await page.inner_text(f"li[data-alert='{journey.id}']")
    await row.locator("button[data-step=reject]").click()
    options = await row.locator("select[data-choice=reject] option").all_inner_texts()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / "11-alert-queue-reject.png"), full_page=True)
    assert options == ["Misread", "Wrong vehicle", "Cloned plate", "List out of date", "Other"]
    assert panel.console_errors == []


def crop_jpeg(colour: str) -> bytes:
    """A small plate crop, a real JPEG the browser decodes."""
    out = io.BytesIO()
    Image.new("RGB", (120, 28), colour).save(out, format="JPEG")
    return out.getvalue()


JOURNEY_READY = """(id) => {
    const box = document.querySelector(`#alert-queue-list li[data-alert="${id}"] .journey`);
    if (!box || box.dataset.journey !== 'ready') return false;
    const crops = [...box.querySelectorAll('figure.sighting img.crop')];
    return crops.length === 2 && crops.every((img) => img.complete && img.naturalWidth > 0);
}"""


async def test_an_impossible_journey_shows_both_sightings_and_a_near_match_its_entry(
    panel: Panel,
) -> None:
    page = panel.page
    now = datetime.now(UTC).replace(microsecond=0)
    there = replace(
        vehicle("j1", "ss67_selvapiana_out", "GH321JK", now - timedelta(seconds=90)),
        crop_jpeg=crop_jpeg("navy"),
    )
    here = replace(
        vehicle("j2", "ss67_contea_in", "GH321JK", now - timedelta(seconds=30)),
        crop_jpeg=crop_jpeg("darkred"),
    )
    for transit in (there, here):
        assert await panel.engine.db.run(panel.engine.store.add_transit, transit, [])
    journey = ledger.new_alert(
        here,
        kind="impossible_journey",
        status="confirmed",
        worker=WORKER,
        now=datetime.now(UTC),
        action="alert",
        priority=3,
        read_plate=here.plate,
        score=here.confidence,
        reason=(
            "seen at ss67_selvapiana_out 12:00:00 CET, 6.3 km away, 60 s earlier"
            " (here 12:01:00 CET; fastest plausible 174 s at 130 km/h)"
        ),
        related_transit_id=there.id,
    )
    gate = hotlist_alert(
        vehicle("g1", "pomino_in", "AB123CE", now),
        2,
        kind="not_authorised",
        action="review",
        list_name="Residenti ZTL",
        entry_plate="AB123CD",
    )
    await raise_all(panel, journey, gate)
    await panel.open_live()
    await panel.wait_queue([gate.id, journey.id])

    # Both sightings, the oldest first, each with its station, time, plate and crop.
    await page.wait_for_function(JOURNEY_READY, arg=journey.id, timeout=WAIT)
    row = page.locator(f"#alert-queue-list li[data-alert='{journey.id}']")
    sightings = row.locator(".journey figure.sighting")
    assert await sightings.evaluate_all("items => items.map((f) => f.dataset.transit)") == [
        there.id,
        here.id,
    ]
    first, second = await sightings.all_inner_texts()
    # Plates in the panel's one display form (util.formatPlate), as the engine writes them.
    assert STATIONS["ss67_selvapiana_out"].name in first and "GH 321 JK" in first
    assert "Prima lettura" in first
    assert STATIONS["ss67_contea_in"].name in second and "GH 321 JK" in second
    assert "Seconda lettura, 60 s dopo" in second
    assert "6.3 km" in await row.inner_text()
    alt = await row.locator("img.crop").first.get_attribute("alt")
    assert alt == f"Ritaglio della targa GH 321 JK a {STATIONS['ss67_selvapiana_out'].name}"

    # The gate's near match shows the authorised plate it is near.
    near = page.locator(f"#alert-queue-list li[data-alert='{gate.id}'] .near")
    assert await near.get_attribute("data-entry-plate") == "AB123CD"
    assert " ".join((await near.inner_text()).split()) == "vicina a AB 123 CD"
    gate_text = await page.inner_text(f"#alert-queue-list li[data-alert='{gate.id}']")
    assert "null" not in gate_text and "undefined" not in gate_text
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / "12-viaggio-impossibile.png"), full_page=True)

    # Asked once, audited with the stream's reason: the other transit, both crops in one batch.
    log = privacy.Audit(panel.engine.store)

    async def audited(action: str) -> list[Any]:
        return list(await panel.engine.db.run(lambda: log.entries(action=action, limit=10)))

    (other,) = await audited("transit")
    (crops,) = await audited("transit_crops")
    assert (other.reason, other.actor, other.results) == (REASON, OPERATOR_NAME, 1)
    assert (crops.reason, crops.actor, crops.results) == (REASON, OPERATOR_NAME, 2)

    # A stream event redraws the row from memory: not asked again.
    await row.locator("button[data-step=acknowledge]").click()
    await page.wait_for_selector(
        f"#alert-queue-list li[data-alert='{journey.id}'][data-state=acknowledged]"
        " .journey[data-journey=ready]",
        timeout=WAIT,
    )
    await page.wait_for_function(JOURNEY_READY, arg=journey.id, timeout=WAIT)
    assert len(await audited("transit")) == 1 and len(await audited("transit_crops")) == 1

    # In English too.
    await page.click("#lang")
    await page.wait_for_function(
        "document.querySelector('#alert-queue-title')?.textContent === 'Alert queue'",
        timeout=WAIT,
    )
    await panel.wait_queue([gate.id, journey.id])
    await page.wait_for_function(JOURNEY_READY, arg=journey.id, timeout=WAIT)
    text = await page.inner_text(f"#alert-queue-list li[data-alert='{journey.id}'] .journey")
    assert "First sighting" in text and "Second sighting, 60 s later" in text
    near = page.locator(f"#alert-queue-list li[data-alert='{gate.id}'] .near")
    assert " ".join((await near.inner_text()).split()) == "near AB 123 CD"
    assert panel.console_errors == []
