"""The audit log in words: each entry one sentence in the reader's language, every operation the
engine writes to the log named as people say it (Italian and English), the recorded query only in
an entry's expandable detail; and one plate form: the search's table, the log's sentences and the
alert queue show "AB 123 CD", whether the API gave the plate with its format or without."""

from __future__ import annotations

import ast
import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import rufina_alpr
import rufina_alpr.api.panel
from rufina_alpr import privacy

from .panel_pages import ADMIN_NAME, DESKTOP, REASON, TABLET, WAIT, Pages, Tab, panel_pages, transit

pytestmark = pytest.mark.slow

SOURCE = Path(rufina_alpr.__file__).parent
STATIC = Path(rufina_alpr.api.panel.__file__).parent / "static"
WRITERS = {"record", "audit", "_audit", "audited_results", "_evidence_response"}
CASE = "2026/20"


def _names(node: ast.expr) -> Iterator[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node.value
    elif isinstance(node, ast.IfExp):
        yield from _names(node.body)
        yield from _names(node.orelse)


def engine_actions() -> set[str]:
    """Every action the engine writes to the audit log (a literal where it is written)."""
    found: set[str] = set()
    for path in SOURCE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name not in WRITERS:
                continue
            given = [k.value for k in node.keywords if k.arg == "action"] or node.args[:3]
            for arg in given:
                names = [n for n in _names(arg) if re.fullmatch(r"[a-z][a-z_]+", n)]
                if names:
                    found.update(names)
                    break
    return found


def test_every_audit_action_of_the_engine_has_a_name_in_both_languages() -> None:
    actions = engine_actions()
    assert {"search", "route", "hotlist_add", "evidence_search", "seen_then"} <= actions
    source = (STATIC / "i18n.js").read_text(encoding="utf-8")
    italian = source[source.index("  it: {") : source.index("  en: {")]
    english = source[source.index("  en: {") :]
    for block in (italian, english):
        named = set(re.findall(r'"audit\.op\.([a-z_]+)"', block))
        assert actions <= named, actions - named


@pytest.fixture
async def pages(harness_factory: Any) -> AsyncIterator[Pages]:
    async with panel_pages(harness_factory) as opened:
        yield opened


async def show_log(pages: Pages, size: tuple[int, int], lang: str) -> Tab:
    tab = await pages.open(size, lang=lang)
    await pages.go(tab, "audit")
    await tab.page.fill("#audit-reason", "Controllo del registro")
    await tab.page.click("#audit-form button[type=submit]")
    await tab.page.wait_for_selector("#audit-table tr[data-action=search]", timeout=WAIT)
    return tab


async def test_the_audit_log_reads_as_sentences_and_plates_have_one_form(pages: Pages) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    stored = transit("a1", "via_roma_in", "AB123CD", now - timedelta(hours=1))
    assert await pages.engine.db.run(pages.engine.store.add_transit, stored, [])
    log = privacy.Audit(pages.engine.store)
    await pages.engine.db.run(
        lambda: log.record(
            "home-assistant",
            "operator",
            "hotlist_add",
            {"list": "rubati", "plate": "EF456GH"},
            acting_user="Comandante Bianchi",
            reason="Denuncia 1234/2026",
            results=1,
        )
    )
    await pages.engine.db.run(
        lambda: log.record("cli", "admin", "a_future_action", {"x": 1}, results=0)
    )

    # A real search through the panel, with a reason and a case: its table and its log entry.
    tab = await pages.open(DESKTOP, lang="it")
    page = tab.page
    await pages.go(tab, "search")
    await page.fill("#search-plate", "AB123CD")
    await page.fill("#search-reason", REASON)
    await page.fill("#search-case", CASE)
    await page.click("#search-form button[type=submit]")
    await page.wait_for_selector(f"#search-results tr[data-transit='{stored.id}']", timeout=WAIT)
    plate_cell = page.locator(f"#search-results tr[data-transit='{stored.id}'] .plate")
    assert await plate_cell.inner_text() == "AB 123 CD"

    tab = await show_log(pages, DESKTOP, "it")
    page = tab.page
    row = page.locator("#audit-table tr[data-action=search]").first
    text = await row.inner_text()
    assert f"{ADMIN_NAME} ha cercato i transiti di AB 123 CD dal " in text
    assert f"per «{REASON}» (pratica {CASE})" in text
    assert "{" not in text and "search" not in text  # no JSON, no internal name until asked
    added = await page.inner_text("#audit-table tr[data-action=hotlist_add]")
    assert "Comandante Bianchi tramite home-assistant ha aggiunto una targa di EF 456 GH" in added
    assert "nella lista rubati per «Denuncia 1234/2026»" in added
    assert "a_future_action" in await page.inner_text(
        "#audit-table tr[data-action=a_future_action]"
    )
    options = await page.locator("#audit-action option").all_inner_texts()
    assert "ha cercato i transiti" in options and "search" not in options
    await row.locator("details summary").click()
    detail = await row.locator("details").inner_text()
    assert '"plate":"AB123CD"' in detail and "search" in detail
    await tab.shot("48-registro-accessi-1440")
    assert tab.errors == []

    # English, on a tablet; the operation filter asks for the action's internal name.
    tablet = await show_log(pages, TABLET, "en")
    text = await tablet.page.locator("#audit-table tr[data-action=search]").first.inner_text()
    assert f"{ADMIN_NAME} searched the transits of AB 123 CD from " in text
    assert f"for “{REASON}” (case {CASE})" in text
    await tablet.page.select_option("#audit-action", "hotlist_add")
    await tablet.page.click("#audit-form button[type=submit]")
    await tablet.page.wait_for_function(
        "() => !document.querySelector('#audit-table tr[data-action=search]')", timeout=WAIT
    )
    assert "Comandante Bianchi via home-assistant added a plate of EF 456 GH" in (
        await tablet.page.inner_text("#audit-table")
    )
    assert await tablet.page.evaluate("document.documentElement.scrollWidth") <= TABLET[0]
    await tablet.shot("49-audit-log-820")
    assert tablet.errors == []
