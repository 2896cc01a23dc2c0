"""The operator panel's pages: static HTML, CSS and ES modules packaged with the engine.

No build step and nothing fetched from the internet: ``static/`` is served as it is under
``/panel/``. Every URL in it is relative, so the panel works at ``http://host:8787/panel/`` and
behind Home Assistant's ingress (``/api/hassio_ingress/<token>/panel/``): the page gets a
``<base href>`` from the ``X-Ingress-Path`` header, and ``/`` redirects to the panel (the ingress
entry point). The files are public (they hold no data); the JSON API they call is not.
Nothing comes from elsewhere but the map tiles of the server the admin may name (the CSP says so).
"""

from __future__ import annotations

import html
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Final, TypeVar

from aiohttp import web

from rufina_alpr.api.auth import ingress_path
from rufina_alpr.api.context import CONTEXT_KEY

STATIC: Final = Path(__file__).resolve().parent / "static"
CONTENT_TYPES: Final = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
}
_ASSET: Final = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}\.(js|css|svg)$")
BASE_MARK: Final = "<!--base-->"
# The page's own scripts and styles only; images also from data: and blob: URLs (crops) and,
# when the admin names a map tile server (``panel.map_tiles``), from that one origin.
CSP: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data: blob:{tiles}; connect-src 'self'; frame-ancestors 'self'; "
    "base-uri 'self'; form-action 'self'; object-src 'none'"
)
OTHER_HEADERS: Final = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def security_headers(request: web.Request) -> dict[str, str]:
    """The panel's headers, its CSP naming the configured tile server's origin if any."""
    origin = request.app[CONTEXT_KEY].settings.panel.tile_origin
    csp = CSP.format(tiles=f" {origin}" if origin else "")
    return {"Content-Security-Policy": csp, **OTHER_HEADERS}


H = TypeVar("H", bound=Callable[[web.Request], Awaitable[web.StreamResponse]])


def public(handler: H) -> H:
    """Mark a handler as needing no token (checked by the API's middleware)."""
    handler.public = True  # type: ignore[attr-defined]
    return handler


def _prefix(request: web.Request) -> str:
    return ingress_path(request)


def _to_panel(request: web.Request) -> web.HTTPFound:
    # Relative without ingress (right behind any proxy path), else under the ingress path.
    prefix = _prefix(request)
    return web.HTTPFound(f"{prefix}/panel/" if prefix else "panel/")


@public
async def root(request: web.Request) -> web.Response:
    """The ingress entry point (and a convenience standalone): go to the panel."""
    raise _to_panel(request)


@public
async def panel_redirect(request: web.Request) -> web.Response:
    raise _to_panel(request)


@public
async def index(request: web.Request) -> web.Response:
    page = (STATIC / "index.html").read_text(encoding="utf-8")
    prefix = _prefix(request)
    base = f'<base href="{html.escape(prefix)}/panel/">' if prefix else ""
    page = page.replace(BASE_MARK, base, 1)
    if prefix:
        page = page.replace('data-ingress="0"', 'data-ingress="1"', 1)
    return web.Response(
        text=page, content_type="text/html", charset="utf-8", headers=security_headers(request)
    )


@public
async def asset(request: web.Request) -> web.Response:
    name = request.match_info["asset"]
    path = STATIC / name
    if not _ASSET.match(name) or not path.is_file():
        raise web.HTTPNotFound(reason="no such file")
    return web.Response(
        body=path.read_bytes(),
        content_type=CONTENT_TYPES[path.suffix],
        charset="utf-8",
        headers=security_headers(request),
    )


def routes() -> list[web.RouteDef]:
    return [
        web.get("/", root, allow_head=False),
        web.get("/panel", panel_redirect, allow_head=False),
        web.get("/panel/", index, allow_head=False),
        web.get("/panel/{asset}", asset, allow_head=False),
    ]
