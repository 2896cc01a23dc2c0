"""What the panel page tests (system, alert queue, route map, audit log) share: an engine over a
real store and broker with the town's registry, an admin and an operator, served on 127.0.0.1,
and Chromium pages at the sizes the panel is used at (1440 px desktop, 820 px tablet), each
recording console errors and every URL it asked for."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from rufina_alpr.api.app import create_app, server_options
from rufina_alpr.recognizer import ModelInfo
from rufina_alpr.stations import default_registry_path, load_registry
from rufina_alpr.transits import Transit

from .conftest import require
from .factories import a_transit

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REGISTRY = default_registry_path()
STATIONS = {s.id: s for s in load_registry(REGISTRY).stations}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
ADMIN = "mario-rossi-admin-token-0123456789"
ADMIN_NAME = "Mario Rossi"
OPERATOR = "verdi-operator-token-0123456789ab"
OPERATOR_NAME = "agente.verdi"
REASON = "incidente 2026/20"
WAIT = 20_000  # ms: the CI machine is busy
DESKTOP = (1440, 900)
TABLET = (820, 1180)


class ScriptedReader:
    """No plate is read here: the transits and alerts go straight into the store."""

    info = ModelInfo(detector="scripted", ocr="scripted", load_seconds=0.0)

    def read(self, *_args: Any, **_kwargs: Any) -> list[Any]:
        return []


def transit(event: str, station: str, plate: str, moment: datetime, **extra: Any) -> Transit:
    """An Italian car's transit as the engine stores it (display form "AB 123 CD")."""
    return a_transit(
        STATIONS[station].camera,
        event,
        moment,
        plate,
        station=station,
        confidence=0.93,
        read_count=3,
        display=f"{plate[:2]} {plate[2:5]} {plate[5:]}",
        **extra,
    )


@dataclass
class Tab:
    """One browser page: what it logged as errors and every URL it asked for."""

    page: Any
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    async def shot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@dataclass
class Pages:
    harness: Any
    server: TestServer
    browser: Any
    contexts: list[Any] = field(default_factory=list)

    @property
    def engine(self) -> Any:
        return self.harness.engine

    async def open(
        self, size: tuple[int, int] = DESKTOP, *, lang: str = "it", token: str = ADMIN
    ) -> Tab:
        """A logged-in page of ``size`` speaking ``lang`` (the panel's switch, kept per page)."""
        context = await self.browser.new_context(
            locale="it-IT" if lang == "it" else "en-GB",
            timezone_id="Europe/Rome",
            viewport={"width": size[0], "height": size[1]},
        )
        self.contexts.append(context)
        await context.add_init_script(f"localStorage.setItem('rufina.lang', '{lang}')")
        page = await context.new_page()
        tab = Tab(page)
        page.on("console", lambda m: tab.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda error: tab.errors.append(str(error)))
        page.on("request", lambda request: tab.requests.append(request.url))
        await page.goto(str(self.server.make_url("/panel/")))
        await page.fill("#login-token", token)
        await page.click("#login-form button[type=submit]")
        await page.wait_for_selector("nav a[data-page=system]", timeout=WAIT)
        return tab

    async def api(self, path: str, token: str = ADMIN) -> Any:
        """A GET of the engine's API, as JSON."""
        async with (
            aiohttp.ClientSession() as session,
            session.get(
                str(self.server.make_url(path)), headers={"Authorization": f"Bearer {token}"}
            ) as response,
        ):
            assert response.status == 200, await response.text()
            return await response.json()

    async def go(self, tab: Tab, page_id: str) -> None:
        await tab.page.click(f"nav a[data-page={page_id}]")
        await tab.page.wait_for_selector(f"nav a[data-page={page_id}][aria-current=page]")

    async def store(self, work: Any) -> Any:
        """``work(connection)`` in one transaction on the database thread."""

        def run() -> Any:
            with self.engine.store.engine.begin() as connection:
                return work(connection)

        return await self.engine.db.run(run)


@asynccontextmanager
async def panel_pages(
    harness_factory: Any, *, settings: dict[str, Any] | None = None
) -> AsyncIterator[Pages]:
    """An engine with the registry's 34 stations (``settings`` added to its own) and Chromium."""
    require(CHROMIUM.is_file(), "Debian's chromium (/usr/bin/chromium)")
    require(importlib.util.find_spec("playwright") is not None, "playwright (the dev extra)")
    users = [
        {"name": ADMIN_NAME, "token": ADMIN, "role": "admin"},
        {"name": OPERATOR_NAME, "token": OPERATOR, "role": "operator"},
    ]
    harness = await harness_factory(
        [],
        stations_file=REGISTRY,
        reader=ScriptedReader(),
        extra={"api": {"users": users}, **(settings or {})},
    )
    server = TestServer(create_app(harness.engine), host="127.0.0.1")
    await server.start_server(**server_options())
    playwright_api = importlib.import_module("playwright.async_api")
    async with playwright_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        pages = Pages(harness, server, browser)
        try:
            yield pages
        finally:
            for context in pages.contexts:
                await context.close()
            await browser.close()
            await server.close()
