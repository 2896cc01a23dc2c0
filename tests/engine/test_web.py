"""The operator panel in a real browser (Debian's chromium through Playwright) against a real engine
fed by the Frigate replay with real photos: every page loads without a console error, a plate
search returns the replayed transits and is audited with its reason, a hotlist entry added in the
panel raises a live alert on the next matching vehicle, the route page lists the stations in
order, and Home Assistant's ingress path works without a token. Screenshots of every page (Italian
UI) go to ``artifacts/screenshots/``."""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from rufina_alpr import privacy
from rufina_alpr.api.app import create_app, server_options
from rufina_alpr.sim.photos import Photo, load_photos
from rufina_alpr.stations import load_registry

from .conftest import require
from .panel_pages import CHROMIUM, CHROMIUM_ARGS, REGISTRY, SCREENSHOTS

pytestmark = pytest.mark.slow

TOKEN = "demo-token-not-for-production"  # the harness's admin token (demo.engine_settings)
REASON = "Indagine furto 42/2026"
CAMERAS = {s.id: s.camera for s in load_registry(REGISTRY).stations}


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
    console_errors: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return str(self.server.make_url("/panel/"))

    async def replay(self, photo: Photo, station: str) -> dict[str, Any]:
        """One vehicle at a station; returns its transit once the engine published it."""
        before = len(self.harness.received)
        await self.harness.replay.replay_one(photo, CAMERAS[station])
        await self.harness.wait_for(
            lambda: len(self.harness.received) > before, 120, f"the transit at {station}"
        )
        transit: dict[str, Any] = self.harness.received[-1]
        return transit

    async def login(self) -> None:
        await self.page.goto(self.url)
        await self.page.fill("#login-token", TOKEN)
        await self.page.click("#login-form button[type=submit]")
        await self.page.wait_for_selector("nav a[data-page=live]")

    async def go(self, page_id: str) -> None:
        await self.page.click(f"nav a[data-page={page_id}]")
        await self.page.wait_for_selector(f"nav a[data-page={page_id}][aria-current=page]")

    async def shot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
async def panel(harness_factory: Any, photos_dir: Path, browser: Any) -> AsyncIterator[Panel]:
    photos = load_photos(photos_dir)
    harness = await harness_factory(photos, stations_file=REGISTRY)
    server = TestServer(create_app(harness.engine), host="127.0.0.1")
    await server.start_server(**server_options())
    context = await browser.new_context(
        locale="it-IT", timezone_id="Europe/Rome", viewport={"width": 1280, "height": 900}
    )
    page = await context.new_page()
    result = Panel(harness, server, page)

    def console(message: Any) -> None:
        if message.type == "error":
            result.console_errors.append(message.text)

    page.on("console", console)
    page.on("pageerror", lambda error: result.console_errors.append(str(error)))
    yield result
    await context.close()
    await server.close()


def photo_named(photos_dir: Path, name: str) -> Photo:
    return next(p for p in load_photos(photos_dir) if p.path.name == name)


async def _audit(panel: Panel, action: str) -> list[privacy.AuditEntry]:
    engine = panel.harness.engine
    log = privacy.Audit(engine.store)
    return await engine.db.run(lambda: log.entries(action=action, limit=50))


# ----------------------------------------------------------------------------- every page
async def test_every_page_loads_in_italian_without_console_errors(
    panel: Panel, photos_dir: Path
) -> None:
    page = panel.page
    first = await panel.replay(photo_named(photos_dir, "eu11.jpg"), "via_roma_in")
    await panel.replay(photo_named(photos_dir, "eu1.jpg"), "pomino_in")
    await panel.replay(photo_named(photos_dir, "eu11.jpg"), "pomino_out")

    await page.goto(panel.url)
    await page.wait_for_selector("#login-form")
    assert await page.get_attribute("html", "lang") == "it"
    assert await page.inner_text("#login-form h1") == "Accesso"
    await panel.shot("00-accesso")
    await panel.login()
    # Keyboard: the page's content has the focus after navigating, its form is the next stop.
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.id") == "live-reason"

    # Live: the reason first, then the backlog of stored transits.
    await page.fill("#live-reason", REASON)
    await page.click("#live-form button[type=submit]")
    await page.wait_for_selector(f"#live-table tr[data-transit='{first['id']}']")
    await page.wait_for_selector(".live-state.pill-on")
    assert await page.locator("#live-table tbody tr").count() == 3
    assert await page.locator("#live-table tbody img.crop").count() >= 1
    await panel.shot("01-diretta")

    await panel.go("search")
    await page.fill("#search-plate", first["plate"][:3] + "*")
    await page.click("#search-form button[type=submit]")
    await page.wait_for_selector("#search-results table")
    await panel.shot("02-ricerca")

    await page.click(f"#search-results a[href='#/route?plate={first['plate']}']")
    await page.wait_for_selector("#route-results ol.timeline")
    await page.wait_for_selector("#route-results svg")
    await panel.shot("03-percorso")

    await panel.go("hotlists")
    await page.fill("#hl-id", "rubati")
    await page.fill("#hl-name", "Veicoli rubati")
    await page.select_option("#hl-kind", "stolen")
    await page.click("#hotlist-create button[type=submit]")
    await page.wait_for_selector("#hotlists tr[data-list=rubati]")
    await page.fill("#hl-plate", "AB123CD")
    await page.fill("#hl-entry-reason", "Denuncia 1234")
    await page.fill("#hl-expires", "2099-12-31T23:59")
    await page.click("#hotlist-add button[type=submit]")
    await page.fill("#hl-reason", REASON)
    await page.click("#hotlist-reason button[type=submit]")
    await page.wait_for_selector("#hotlist-entries tr[data-plate=AB123CD]")
    # Listed already: refused in Italian, its reason kept; replaced only when asked.
    await page.fill("#hl-plate", "AB123CD")
    await page.fill("#hl-entry-reason", "Altro motivo")
    await page.click("#hotlist-add button[type=submit]")
    refusal = await page.wait_for_selector(".error[role=alert]")
    assert "già in lista" in (await refusal.inner_text())
    await page.check("#hl-replace-entry")
    await page.click("#hotlist-add button[type=submit]")
    await page.click("#hotlist-reason button[type=submit]")
    await page.wait_for_selector("#hotlist-entries tr[data-plate=AB123CD] >> text=Altro motivo")
    await panel.shot("04-liste")

    await panel.go("traffic")
    await page.wait_for_selector("#traffic-out svg")
    await panel.shot("05-traffico")

    # A search Home Assistant's token made for one of its users: the person, then the token.
    log = privacy.Audit(panel.harness.engine.store)
    await panel.harness.engine.db.run(
        lambda: log.record(
            "home-assistant", "operator", "search", {}, acting_user="Comandante Bianchi"
        )
    )
    await panel.go("audit")
    await page.fill("#audit-reason", "Controllo periodico del registro")
    await page.click("#audit-form button[type=submit]")
    await page.wait_for_selector("#audit-table tr[data-action=search]")
    acting = page.locator("#audit-table td", has_text="Comandante Bianchi tramite home-assistant")
    assert await acting.count() == 1
    await panel.shot("06-registro")

    await panel.go("system")
    await page.wait_for_selector("#sys-broker .badge.ok")
    await page.wait_for_selector("#sys-frigate .badge.ok")
    await panel.shot("07-sistema")

    # The switch to English and back.
    await page.click("#lang")
    assert await page.inner_text("nav a[data-page=system]") == "System"
    await page.click("#lang")
    assert await page.inner_text("nav a[data-page=system]") == "Sistema"

    # A tablet in portrait.
    await page.set_viewport_size({"width": 768, "height": 1024})
    await panel.go("live")
    await page.wait_for_selector("#live-table tbody tr")
    await panel.shot("08-diretta-tablet")
    # The browser logs the refused add (409) itself; nothing else went wrong.
    refused = "the server responded with a status of 409 (Conflict)"
    assert [e for e in panel.console_errors if refused not in e] == []
    assert len(panel.console_errors) <= 1


# ----------------------------------------------------------------------------- search and audit
async def test_plate_search_returns_the_transits_and_audits_the_reason(
    panel: Panel, photos_dir: Path
) -> None:
    page = panel.page
    wanted = photo_named(photos_dir, "eu11.jpg")
    other = photo_named(photos_dir, "eu1.jpg")
    a = await panel.replay(wanted, "via_roma_in")
    await panel.replay(other, "via_roma_in")
    b = await panel.replay(wanted, "falgano_in")
    assert a["plate"] == b["plate"] != panel.harness.received[1]["plate"]
    await panel.login()
    await panel.go("search")
    # No results without a reason: the form refuses to send.
    await page.fill("#search-reason", "")
    await page.fill("#search-plate", a["plate"][:4] + "*")
    await page.click("#search-form button[type=submit]")
    assert await page.locator("#search-results table").count() == 0
    assert await page.evaluate("document.getElementById('search-reason').validity.valueMissing")

    await page.fill("#search-reason", REASON)
    await page.fill("#search-case", "RG 42/2026")
    await page.click("#search-form button[type=submit]")
    await page.wait_for_selector("#search-results table")
    rows = page.locator("#search-results tbody tr")
    assert await rows.count() == 2
    ids = [await rows.nth(i).get_attribute("data-transit") for i in range(2)]
    assert ids == [b["id"], a["id"]]  # newest first
    assert await page.locator("#search-results tbody img.crop").count() == 2
    assert "null" not in await page.inner_text("#search-results")
    stations = [await rows.nth(i).locator("td[data-station]").inner_text() for i in range(2)]
    assert stations == [b["station_name"], a["station_name"]]

    (search,) = await _audit(panel, "search")
    assert (search.reason, search.case_number, search.results) == (REASON, "RG 42/2026", 2)
    assert search.query["plate"] == a["plate"][:4] + "*"
    assert search.actor == "admin"
    (crops,) = await _audit(panel, "transit_crops")
    assert (crops.reason, crops.results) == (REASON, 2)
    assert panel.console_errors == []


# ----------------------------------------------------------------------------- live hotlist alert
async def test_a_hotlist_added_in_the_panel_raises_a_live_alert(
    panel: Panel, photos_dir: Path
) -> None:
    page = panel.page
    photo = photo_named(photos_dir, "eu11.jpg")
    seen = await panel.replay(photo, "via_roma_in")  # the plate as this engine reads it
    assert seen["hotlist"] is None
    await panel.login()
    await panel.go("hotlists")
    await page.fill("#hl-id", "rubati")
    await page.fill("#hl-name", "Veicoli rubati")
    await page.select_option("#hl-kind", "stolen")
    await page.click("#hotlist-create button[type=submit]")
    await page.wait_for_selector("#hotlist-add")
    await page.fill("#hl-plate", seen["plate"])
    await page.fill("#hl-entry-reason", "Furto denunciato")
    await page.click("#hotlist-add button[type=submit]")
    await page.wait_for_selector("#hotlists tr[data-list=rubati] >> text=1")

    await panel.go("live")
    await page.fill("#live-reason", "Monitoraggio sala operativa")
    await page.click("#live-form button[type=submit]")
    await page.wait_for_selector(".live-state.pill-on")
    await asyncio.sleep(1.5)  # the feed's poller is running
    hit = await panel.replay(photo, "pomino_in")
    assert hit["hotlist"]["list"] == "rubati"
    alert = page.locator(f"#alert-queue .alert[data-kind=hotlist][data-transit='{hit['id']}']")
    await alert.wait_for(timeout=15000)
    text = await alert.inner_text()
    assert "ALLARME" in text and "Veicoli rubati" in text and hit["station_name"] in text
    row = page.locator(f"#live-table tr[data-transit='{hit['id']}']")
    await row.wait_for()
    assert await row.get_attribute("class") == "hit"
    assert (
        await page.locator("#live-table tbody tr").first.get_attribute("data-transit") == hit["id"]
    )
    await panel.shot("09-allarme-diretta")
    (added,) = await _audit(panel, "hotlist_add")
    assert added.reason == "Furto denunciato"
    (live,) = await _audit(panel, "live")
    assert live.reason == "Monitoraggio sala operativa"
    assert panel.console_errors == []


# ----------------------------------------------------------------------------- route
async def test_the_route_page_shows_the_stations_in_order(panel: Panel, photos_dir: Path) -> None:
    page = panel.page
    photo = photo_named(photos_dir, "eu1.jpg")
    order = ["pomino_out", "via_roma_in", "ponte_sieve_out", "masseto_in"]
    transits = [await panel.replay(photo, station) for station in order]
    plate = transits[0]["plate"]
    assert {t["plate"] for t in transits} == {plate}
    await panel.login()
    await panel.go("route")
    await page.fill("#route-plate", plate)
    await page.fill("#route-reason", REASON)
    await page.click("#route-form button[type=submit]")
    await page.wait_for_selector("#route-results ol.timeline li")
    items = page.locator("#route-results ol.timeline li")
    assert [await items.nth(i).get_attribute("data-station") for i in range(4)] == order
    names = [t["station_name"] for t in transits]
    map_text = await page.text_content("#route-results svg") or ""
    for name in names:
        assert name in map_text
    assert await page.locator("#route-results svg polyline").count() == 1
    (route,) = await _audit(panel, "route")
    assert (route.reason, route.results) == (REASON, 4)
    await panel.shot("03-percorso-4-stazioni")
    assert panel.console_errors == []


# ----------------------------------------------------------------------------- ingress
async def test_home_assistant_ingress_needs_no_token_only_from_the_proxy(
    harness_factory: Any, browser: Any
) -> None:
    harness = await harness_factory(
        [],
        stations_file=REGISTRY,
        extra={
            "api": {"ingress": {"enabled": True, "trusted_proxies": ["127.0.0.1"]}},
        },
    )
    server = TestServer(create_app(harness.engine), host="127.0.0.1")
    await server.start_server(**server_options())
    prefix = "/api/hassio_ingress/abcDEF123_-x"
    ingress = {"X-Ingress-Path": prefix, "X-Remote-User-Name": "mario"}
    try:
        async with aiohttp.ClientSession() as http:
            base = str(server.make_url("")).rstrip("/")
            async with http.get(base + "/", headers=ingress, allow_redirects=False) as r:
                assert (r.status, r.headers["Location"]) == (302, f"{prefix}/panel/")
            async with http.get(base + "/panel/", headers=ingress) as r:
                page = await r.text()
                assert f'<base href="{prefix}/panel/">' in page
                assert 'data-ingress="1"' in page
                assert "default-src 'self'" in r.headers["Content-Security-Policy"]
            async with http.get(base + "/api/v1/me", headers=ingress) as r:
                assert await r.json() == {"name": "ha:mario", "role": "operator", "ingress": True}
            # Without the ingress header, or with a bad token, the proxy's address is not enough.
            async with http.get(base + "/api/v1/me") as r:
                assert r.status == 401
            bad = {**ingress, "Authorization": "Bearer wrong-token-wrong-token"}
            async with http.get(base + "/api/v1/me", headers=bad) as r:
                assert r.status == 401
            async with http.get(base + "/api/v1/audit?reason=xyz", headers=ingress) as r:
                assert r.status == 403
            # A forged ingress path cannot inject markup.
            forged = {"X-Ingress-Path": '/x"><script>alert(1)</script>'}
            async with http.get(base + "/panel/", headers=forged) as r:
                assert "<script>alert" not in await r.text()
        # The browser through a stand-in for the Supervisor's proxy: the panel opens on its pages
        # without a login, and its live stream flows through the proxy.
        proxy = await _ingress_proxy(str(server.make_url("")).rstrip("/"), prefix)
        try:
            context = await browser.new_context(locale="en-US")
            page = await context.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            await page.goto(str(proxy.make_url(prefix + "/")))
            await page.wait_for_selector("nav a[data-page=live]")
            assert page.url.endswith(f"{prefix}/panel/#/live") or page.url.endswith(
                f"{prefix}/panel/"
            )
            assert await page.locator("#login-form").count() == 0
            assert await page.locator("nav a[data-page=audit]").count() == 0  # operator
            assert await page.inner_text("#who") == "ha:mario · operator"
            assert await page.get_attribute("html", "lang") == "en"
            await page.fill("#live-reason", "Control room watch")
            await page.click("#live-form button[type=submit]")
            await page.wait_for_selector(".live-state.pill-on")
            await context.close()
            assert errors == []
        finally:
            await proxy.close()
    finally:
        await server.close()


async def _ingress_proxy(target: str, prefix: str) -> TestServer:
    """What the Supervisor does: strip the ingress prefix, add its headers, stream the answer."""
    session = aiohttp.ClientSession(auto_decompress=False)

    async def forward(request: web.Request) -> web.StreamResponse:
        tail = request.match_info["tail"]
        headers = {
            "X-Ingress-Path": prefix,
            "X-Remote-User-Name": "mario",
            "Accept": request.headers.get("Accept", "*/*"),
        }
        async with session.request(
            request.method,
            f"{target}/{tail}",
            params=request.query,
            headers=headers,
            data=await request.read(),
            allow_redirects=False,
        ) as upstream:
            response = web.StreamResponse(status=upstream.status)
            for name in ("Content-Type", "Location", "Content-Security-Policy", "Cache-Control"):
                if name in upstream.headers:
                    response.headers[name] = upstream.headers[name]
            await response.prepare(request)
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
            return response

    app = web.Application()
    app.router.add_route("*", prefix + "/{tail:.*}", forward)

    async def close_session(_app: web.Application) -> None:
        await session.close()

    app.on_cleanup.append(close_session)
    proxy = TestServer(app, host="127.0.0.1")
    await proxy.start_server()
    return proxy


async def test_the_panel_without_a_token_shows_only_the_login(harness_factory: Any) -> None:
    harness = await harness_factory([], stations_file=REGISTRY)
    server = TestServer(create_app(harness.engine), host="127.0.0.1")
    await server.start_server(**server_options())
    try:
        async with aiohttp.ClientSession() as http:
            base = str(server.make_url("")).rstrip("/")
            async with http.get(base + "/", allow_redirects=False) as r:
                assert (r.status, r.headers["Location"]) == (302, "panel/")
            for asset in ("app.js", "i18n.js", "util.js", "charts.js", "style.css", "icon.svg"):
                async with http.get(f"{base}/panel/{asset}") as r:
                    assert r.status == 200, asset
            for bad in ("../api.py", "nothing.js", "index.html", "%2e%2e%2fapi.py"):
                async with http.get(f"{base}/panel/{bad}") as r:
                    assert r.status in (401, 404), bad
            async with http.get(base + "/api/v1/live?reason=abc") as r:
                assert r.status == 401
    finally:
        await server.close()
