"""Who is told when a part of an engine's state changes: entities listen to the keys they show.

Entities never touch MQTT: the hub (and its hotlists) change the state and notify the key that
changed, so one payload updates exactly the entities that depend on it.
"""

from __future__ import annotations

from homeassistant.core import CALLBACK_TYPE, callback

# Listener keys: entities subscribe to the parts of the state they show.
KEY_AVAILABILITY = "availability"
KEY_STATUS = "status"
KEY_STATS = "stats"
KEY_HOTLISTS = "hotlists"
KEY_HEALTH = "health"


def station_key(kind: str, station_id: str) -> str:
    """Listener key of one station's `last`, `crop`, `transit` or `hotlist` updates."""
    return f"{kind}:{station_id}"


def list_key(list_id: str) -> str:
    """Listener key of one hotlist's latest match."""
    return f"hotlist_list:{list_id}"


class RufinaAlprListeners:
    """The update callbacks of one engine's entities, by listener key."""

    def __init__(self) -> None:
        self._listeners: dict[str, list[CALLBACK_TYPE]] = {}

    @callback
    def async_add(self, key: str, update: CALLBACK_TYPE) -> CALLBACK_TYPE:
        """Call `update` whenever the state under `key` changes; returns the remover."""
        self._listeners.setdefault(key, []).append(update)

        @callback
        def remove() -> None:
            self._listeners[key].remove(update)

        return remove

    @callback
    def notify(self, key: str) -> None:
        """The state under `key` changed: update the entities that show it."""
        for update in list(self._listeners.get(key, ())):
            update()
