"""The application's keys (the API's view of the engine, the hotlists, the OpenAPI description
and its query names, the timeouts, the matched route) and the OpenAPI file's location.

Handlers read `ApiContext`, what the API uses of the engine, never the engine itself: its
settings, store and database thread, payload builders, and the engine's live values as callables.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeVar

from aiohttp import web

from rufina_alpr.hotlists import Hotlists

if TYPE_CHECKING:
    from rufina_alpr.alerts import Alert
    from rufina_alpr.config import Settings
    from rufina_alpr.contract import Signer, Topics
    from rufina_alpr.engine.app import Engine as Engine  # noqa: PLC0414 - create_app's type
    from rufina_alpr.frigate import FrigateClient
    from rufina_alpr.metrics import Metrics
    from rufina_alpr.mqtt import MqttLink
    from rufina_alpr.recognizer import PlateReader
    from rufina_alpr.store import Store
    from rufina_alpr.transits import Transit

R = TypeVar("R")


class Runner(Protocol):
    """Runs a store call on the database thread (`Database.run`)."""

    def __call__(self, function: Callable[..., R], /, *args: Any) -> Awaitable[R]: ...


@dataclass(frozen=True, slots=True)
class ApiContext:
    """What the API's handlers use of the engine. ``frigate``, ``queue_length``,
    ``store_health``, ``stats_payload`` and the alerts' calls are callables: the engine's
    values change."""

    settings: Settings
    store: Store
    run: Runner
    metrics: Metrics
    mqtt: MqttLink
    topics: Topics
    signer: Signer
    recognizer: PlateReader
    started_at: datetime
    transit_payload: Callable[[Transit], dict[str, Any]]
    frigate: Callable[[], FrigateClient | None]
    queue_length: Callable[[], int]
    store_health: Callable[[], dict[str, Any]]
    camera_health: Callable[[], list[dict[str, Any]]]
    """Each station's camera state, reason and since when (`HealthMonitor.cameras`)."""
    stats_payload: Callable[[], Awaitable[dict[str, Any]]]
    alert_raised: Callable[[Alert], None]
    """Raise a stored alert on the broker (`Publisher.alert_raised`)."""
    alert_changed: Callable[[Alert, str], None]
    """Tell the broker what became of an alert (`Publisher.alert_changed`)."""
    privacy_health: Callable[[], dict[str, Any] | None]
    """The health's privacy section (`PrivacyWatch.state`)."""
    privacy_changed: Callable[[], Awaitable[None]]
    """Read the privacy section again after a request or a pack changed (`PrivacyWatch.refresh`)."""
    hotlists_changed: Callable[[], None]
    """A hotlist write is done: the change notice looks again (`HotlistWatch.poke`)."""

    @classmethod
    def of(cls, engine: Engine) -> ApiContext:
        """The context of an engine (started or not: its live values are read when used)."""
        return cls(
            settings=engine.settings,
            store=engine.store,
            run=engine.db.run,
            metrics=engine.metrics,
            mqtt=engine.mqtt,
            topics=engine.topics,
            signer=engine.signer,
            recognizer=engine.recognizer,
            started_at=engine.started_at,
            transit_payload=engine.publisher.transit_payload,
            frigate=lambda: engine.frigate,
            queue_length=lambda: engine.scheduler.queue_length,
            store_health=engine.health.store_health,
            camera_health=engine.health.cameras,
            stats_payload=engine.housekeeping.stats_payload,
            alert_raised=engine.publisher.alert_raised,
            alert_changed=engine.publisher.alert_changed,
            privacy_health=lambda: engine.privacy.state,
            privacy_changed=engine.privacy.refresh,
            hotlists_changed=engine.hotlist_watch.poke,
        )


CONTEXT_KEY: Final[web.AppKey[ApiContext]] = web.AppKey("context", ApiContext)

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
