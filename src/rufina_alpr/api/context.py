"""The application's keys (the engine, the hotlists, the OpenAPI description and its query
names, the timeouts, the matched route) and the OpenAPI file's location.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final, TypeVar

from aiohttp import web

from rufina_alpr.hotlists import Hotlists

if TYPE_CHECKING:
    from rufina_alpr.service import Engine

ENGINE_KEY: Final[web.AppKey[Engine]] = web.AppKey("engine")

# The wheel carries docs/openapi.yaml inside the package; a checkout (editable install) has docs/.
_PACKAGED_OPENAPI: Final = Path(__file__).resolve().parents[1] / "openapi.yaml"

OPENAPI_PATH: Final = (
    _PACKAGED_OPENAPI
    if _PACKAGED_OPENAPI.is_file()
    else Path(__file__).resolve().parents[3] / "docs" / "openapi.yaml"
)

OPENAPI_KEY: Final[web.AppKey[Path]] = web.AppKey("openapi", Path)

HOTLISTS_KEY: Final[web.AppKey[Hotlists]] = web.AppKey("hotlists", Hotlists)

# (method, route pattern) -> the query parameters the description gives that operation.
QUERY_NAMES_KEY: Final[web.AppKey[dict[tuple[str, str], frozenset[str]]]] = web.AppKey(
    "query_names", dict
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

H = TypeVar("H", bound=Handler)


@dataclass(frozen=True, slots=True)
class Timeouts:
    """How slow a client may be, in seconds: every open connection holds a file descriptor.

    ``idle``: aiohttp's keep-alive timer, which runs from the connection (or the last response)
    until a request's headers are complete, so it bounds half-sent headers too; longer than
    aiohttp clients' own 15 s, so they close idle connections first. ``body``: reading a body.
    ``lingering``: reading what is left of a body the API did not wait for, before closing.
    """

    idle: float = 30.0
    body: float = 30.0
    lingering: float = 2.0


TIMEOUTS_KEY: Final[web.AppKey[Timeouts]] = web.AppKey("timeouts", Timeouts)

# The matched route's pattern, for logs: never the path itself (it may hold a plate).
ROUTE_PATTERN_KEY: Final[web.RequestKey[str]] = web.RequestKey("route_pattern", str)
