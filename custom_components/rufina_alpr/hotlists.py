"""The hotlists of one engine as Home Assistant shows them: the lists, their sizes, their matches.

The lists and their sizes are read from the API when the engine's retained change notice
(`<prefix>/hotlists`: sizes and revisions, no plates) says they changed, and after the
integration's own actions; a slow poll is the fallback. Matches and notices come from MQTT, where
the hub owns the subscriptions and hands each accepted one to its `RufinaAlprHotlists`. Entities
are made only for the lists the API lists, never from MQTT: a forger cannot create them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.util import dt as dt_util

from .api import (
    RufinaAlprApiClient,
    RufinaAlprApiError,
    RufinaAlprAuthError,
    RufinaAlprForbiddenError,
)
from .const import DOMAIN, LOGGER
from .listeners import KEY_HOTLISTS, RufinaAlprListeners, list_key
from .models import Hotlist, HotlistMatch, HotlistsNotice

# The engine's change notice refreshes the lists at once: the poll only makes up for a notice
# lost (a broker that dropped it).
HOTLIST_REFRESH = timedelta(minutes=30)
# The lists are asked again at most this often when a match names a list the API did not list.
HOTLIST_RETRY = timedelta(seconds=60)
# Matches of lists the API did not list (yet) kept, the latest per list, until it lists them.
MAX_UNLISTED = 64


class RufinaAlprHotlists:
    """The hotlists of one engine (one config entry) and the latest match of each."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        client: RufinaAlprApiClient,
        listeners: RufinaAlprListeners,
        token_refused: Callable[[], None],
    ) -> None:
        self.hass = hass
        self.entry = entry
        self.client = client
        # The hub's: its entities are told of the lists' changes, and a 401 asks for a new token.
        self.listeners = listeners
        self._token_refused = token_refused
        self.hotlists: dict[str, Hotlist] = {}
        self.list_matches: dict[str, HotlistMatch] = {}
        self.readable: bool | None = None
        self._adders: list[Callable[[str], None]] = []
        self._known: set[str] = set()
        self._asked: datetime | None = None
        self._unlisted: dict[str, HotlistMatch] = {}
        # The last change notice's lists: (active, expired, revision) by list id.
        self._noticed: dict[str, tuple[int, int, str]] | None = None

    @callback
    def async_track_refresh(self) -> CALLBACK_TYPE:
        """Refresh the lists every `HOTLIST_REFRESH`; returns the timer's canceller."""
        return async_track_time_interval(
            self.hass, self._async_refresh_timer, HOTLIST_REFRESH, cancel_on_shutdown=True
        )

    async def _async_refresh_timer(self, _now: datetime) -> None:
        await self.async_refresh()

    @callback
    def async_noticed(self, notice: HotlistsNotice) -> None:
        """The engine's change notice (signed): read the lists now, unless it says what the last
        one said (the retained notice again, after a reconnection)."""
        if notice.lists == self._noticed:
            return
        self._noticed = notice.lists
        self.async_refresh_in_background()

    @property
    def revisions(self) -> dict[str, str]:
        """Each list's revision in the last change notice: a list whose entries changed with its
        sizes unchanged (an entry replaced) is read again by its to-do list."""
        return {list_id: revision for list_id, (*_, revision) in (self._noticed or {}).items()}

    @callback
    def async_refresh_in_background(self) -> None:
        """Refresh the lists without waiting for the API's answer."""
        self.entry.async_create_background_task(
            self.hass, self.async_refresh(), f"{DOMAIN} hotlists"
        )

    async def async_refresh(self) -> None:
        """Read the hotlists and their sizes from the API (a viewer token cannot: no entities)."""
        try:
            lists = await self.client.async_list_hotlists()
        except RufinaAlprForbiddenError:
            if self.readable is not False:
                LOGGER.info("The engine's API token may not read hotlists: no hotlist sensors")
            self.readable = False
            return
        except RufinaAlprAuthError:
            self._token_refused()
            return
        except RufinaAlprApiError as err:
            LOGGER.debug("Hotlists not refreshed: %s", err)
            return
        self.readable = True
        self.hotlists = {}
        for item in lists:
            hotlist = Hotlist.from_dict(item)
            if hotlist is not None:
                self.hotlists[hotlist.id] = hotlist
        # A match that named a list before the API listed it (a new list) now has its entities;
        # matches of lists the API does not list are forgotten (see async_matched).
        unlisted, self._unlisted = self._unlisted, {}
        self.list_matches = {k: v for k, v in self.list_matches.items() if k in self.hotlists}
        self.list_matches |= {k: v for k, v in unlisted.items() if k in self.hotlists}
        for list_id in self.hotlists:
            self._announce(list_id)
        self.listeners.notify(KEY_HOTLISTS)

    @callback
    def async_add_adder(self, adder: Callable[[str], None]) -> CALLBACK_TYPE:
        """Let a platform create entities for every hotlist, now and when new ones appear."""
        self._adders.append(adder)
        for list_id in self._known:
            adder(list_id)

        @callback
        def remove() -> None:
            self._adders.remove(adder)

        return remove

    def _announce(self, list_id: str) -> None:
        if list_id in self._known:
            return
        self._known.add(list_id)
        for adder in list(self._adders):
            adder(list_id)

    @callback
    def async_matched(self, match: HotlistMatch) -> None:
        """A signed match arrived: it becomes its list's latest, once the API lists the list.
        Only hotlist alerts: a plate not authorised at a gate is no match of its authorised
        list, and an impossible journey has no list."""
        if match.list is None or match.alert_kind != "hotlist":
            return
        if match.list in self.hotlists:
            self.list_matches[match.list] = match
            self._announce(match.list)
            self.listeners.notify(list_key(match.list))
            return
        if match.list in self._unlisted or len(self._unlisted) < MAX_UNLISTED:
            self._unlisted[match.list] = match
        self._async_request()

    @callback
    def async_withdrawn(self, alert_id: str) -> None:
        """The engine withdrew an alert (the vehicle's transit did not match): it is no longer
        its list's latest match."""
        for list_id, match in list(self.list_matches.items()):
            if match.alert_id == alert_id:
                del self.list_matches[list_id]
                self.listeners.notify(list_key(list_id))
        for list_id, match in list(self._unlisted.items()):
            if match.alert_id == alert_id:
                del self._unlisted[list_id]

    @callback
    def _async_request(self) -> None:
        """A match names a list the API did not list (a new one?): read the lists again, at
        most once a minute. Entities are made for the lists the API lists, never from MQTT."""
        now = dt_util.utcnow()
        if self._asked is not None and now - self._asked < HOTLIST_RETRY:
            return
        self._asked = now
        self.async_refresh_in_background()

    def list_name(self, match: HotlistMatch) -> str | None:
        """The list's name, for alarm messages (operators know lists by name, not by id): the
        one the engine sent with the match, else the one the API lists, else the list's id
        (None: an alert of no list)."""
        if match.list_name:
            return match.list_name
        hotlist = self.hotlists.get(match.list) if match.list is not None else None
        return hotlist.name if hotlist else match.list

    @callback
    def async_forget_before(self, cutoff: datetime) -> None:
        """Forget the lists' matches older than `cutoff` (the engine's retention)."""
        for list_id, match in list(self.list_matches.items()):
            if match.transit.time is None or match.transit.time < cutoff:
                del self.list_matches[list_id]
        for list_id in self.hotlists:  # a match restored after a restart expires too
            self.listeners.notify(list_key(list_id))
