"""Frigate as a peer: what it sends (`events`: validated MQTT messages and API events) and what
the engine asks it (`client`: its HTTP API). ``config_gen`` writes its ``config.yml`` from the
station registry (the CLI's; not imported here)."""

from rufina_alpr.frigate.client import (
    DEFAULT_MAX_IMAGE_BYTES,
    FrigateClient,
    FrigateError,
    jwt_expiry,
    ssl_context,
)
from rufina_alpr.frigate.events import (
    EventError,
    EventKey,
    EventType,
    FrigateEvent,
    LprUpdate,
    PlateGuess,
    event_from_api,
    parse_event,
    parse_plate,
    parse_tracked_object_update,
)

__all__ = [
    "DEFAULT_MAX_IMAGE_BYTES",
    "EventError",
    "EventKey",
    "EventType",
    "FrigateClient",
    "FrigateError",
    "FrigateEvent",
    "LprUpdate",
    "PlateGuess",
    "event_from_api",
    "jwt_expiry",
    "parse_event",
    "parse_plate",
    "parse_tracked_object_update",
    "ssl_context",
]
