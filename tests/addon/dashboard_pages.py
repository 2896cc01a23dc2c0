"""The dashboards' pages in Chromium, for tests/addon/test_dashboard.py: what their cards show.

Home Assistant's cards live in nested open shadow roots: `visible_text` walks them (an element's
innerText does not), skipping styles and hidden elements; the map's markers and clusters are
found the same way.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

# The text of the view's cards: text nodes of the composed tree under <hui-view>.
VISIBLE_TEXT = """() => {
  const skip = new Set(['STYLE', 'SCRIPT', 'TEMPLATE']);
  const find = (node, tag) => {
    if (node.nodeName === tag) return node;
    const children = [...(node.shadowRoot ? [node.shadowRoot] : []), ...node.children];
    for (const child of children) {
      const found = find(child, tag);
      if (found) return found;
    }
    return null;
  };
  const parts = [];
  const walk = (node) => {
    if (node.nodeType === Node.TEXT_NODE) { parts.push(node.textContent); return; }
    if (skip.has(node.nodeName)) return;
    if (node.nodeType === Node.ELEMENT_NODE) {
      const style = getComputedStyle(node);
      if (style.display === 'none' || style.visibility === 'hidden') return;
      if (node.shadowRoot) walk(node.shadowRoot);
    }
    for (const child of node.childNodes) walk(child);
  };
  const view = find(document.documentElement, 'HUI-VIEW');
  if (view) walk(view);
  return parts.join(' ').replace(/\\s+/g, ' ');
}"""

# The map's markers: entity markers (alone, or drawn inside a cluster by Home Assistant 2026),
# the count of each cluster (2025: "5", every marker in it) and of the markers a 2026 cluster
# does not draw ("+2").
MAP_MARKERS = """() => {
  const all = [];
  const collect = (node) => {
    if (node.nodeType === Node.ELEMENT_NODE) all.push(node);
    if (node.shadowRoot) collect(node.shadowRoot);
    for (const child of node.children || []) collect(child);
  };
  collect(document.documentElement);
  const markers = all.filter((e) => e.nodeName === 'HA-ENTITY-MARKER').length;
  const clusters = all.filter((e) => e.classList && e.classList.contains('marker-cluster'))
    .map((e) => parseInt(e.textContent, 10) || 0);
  const more = all.filter((e) => e.children.length === 0 && /^\\+\\d+$/.test(e.textContent.trim()))
    .map((e) => parseInt(e.textContent.trim().slice(1), 10));
  return {markers, clusters: [...clusters, ...more]};
}"""


def tokens_script(url: str, client_id: str, tokens: dict[str, Any], language: str) -> str:
    """The browser's stored login and the user's language, set before the frontend starts."""
    hass_tokens = {
        "hassUrl": url,
        "clientId": client_id,
        "access_token": tokens["access_token"],
        "refresh_token": tokens["refresh_token"],
        "token_type": "Bearer",
        "expires_in": tokens["expires_in"],
        "expires": int(time.time() * 1000) + tokens["expires_in"] * 1000,
    }
    return (
        f"window.localStorage.setItem('hassTokens', {json.dumps(json.dumps(hass_tokens))});"
        f"window.localStorage.setItem('selectedLanguage', {json.dumps(json.dumps(language))});"
    )


async def open_view(page: Any, address: str, failed: Path, console: list[str]) -> None:
    """Open a dashboard view and wait for its cards (a failure's screenshot goes to `failed`)."""
    await page.goto(address)
    try:
        await page.wait_for_selector("hui-view", state="attached", timeout=60_000)
        await page.wait_for_function(
            "() => (" + VISIBLE_TEXT + ")().trim().length > 0", timeout=60_000
        )
    except Exception:
        await page.screenshot(path=str(failed))
        raise AssertionError("\n".join(console[-40:])) from None


async def visible_text(page: Any) -> str:
    """What the view's cards show."""
    text: str = await page.evaluate(VISIBLE_TEXT)
    return text


async def map_markers(page: Any) -> int:
    """The sites the map shows: markers alone plus those inside each cluster."""
    found = await page.evaluate(MAP_MARKERS)
    return int(found["markers"]) + sum(found["clusters"])


async def card_problems(page: Any) -> dict[str, int]:
    """Cards that could not render and warnings (an entity that does not exist)."""
    return {
        "errors": await page.locator("hui-error-card").count(),
        "warnings": await page.locator("hui-warning").count(),
    }
