"""The ``panel`` section of the engine's settings: what the operator panel may load besides itself.

The panel works offline and loads nothing from the internet by default. A town whose operators'
browsers reach a map tile server (OpenStreetMap's, or its own) may name one: the route map then
draws the streets under the stations, and the panel's Content Security Policy allows images from
that one host (its ``img-src`` origin), nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

import voluptuous as vol

PLACEHOLDERS: Final = ("{z}", "{x}", "{y}")
DEFAULT_ATTRIBUTION: Final = "© OpenStreetMap contributors"


def tile_template(value: Any) -> str:
    """An http(s) URL template with ``{z}``, ``{x}`` and ``{y}``, a host, and no other braces or
    quotes (it ends up in a CSP header and in image URLs)."""
    if not isinstance(value, str) or len(value) > 500:
        raise vol.Invalid("must be a URL template of at most 500 characters")
    if any(p not in value for p in PLACEHOLDERS):
        raise vol.Invalid("must contain {z}, {x} and {y}")
    rest = value
    for placeholder in PLACEHOLDERS:
        rest = rest.replace(placeholder, "0")
    parts = urlsplit(rest)
    bad = set("{}\"'; \t\r\n\\")
    if parts.scheme not in ("http", "https") or not parts.hostname or bad & set(rest):
        raise vol.Invalid(
            "must be an http:// or https:// URL with a host, e.g. "
            "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
        )
    if parts.username or parts.password or "{" in urlsplit(value).netloc:
        raise vol.Invalid("must not carry a user name, a password or a placeholder in its host")
    return value


PANEL_SCHEMA: Final = {
    vol.Optional("map_tiles", default=None): vol.Any(None, tile_template),
    vol.Optional("map_attribution", default=DEFAULT_ATTRIBUTION): vol.All(
        str, vol.Length(min=1, max=200)
    ),
}


@dataclass(frozen=True, slots=True)
class PanelSettings:
    """``map_tiles``: a tile URL template (None: the offline drawing only); ``map_attribution``:
    the credit the tile server's licence asks for, shown on the map."""

    map_tiles: str | None = None
    map_attribution: str = DEFAULT_ATTRIBUTION

    @property
    def tile_origin(self) -> str | None:
        """The tile server's origin (``https://tile.openstreetmap.org``) for the CSP."""
        if self.map_tiles is None:
            return None
        parts = urlsplit(self.map_tiles)
        return f"{parts.scheme}://{parts.netloc}"


def panel_settings(valid: Mapping[str, Any]) -> PanelSettings:
    return PanelSettings(map_tiles=valid["map_tiles"], map_attribution=valid["map_attribution"])
