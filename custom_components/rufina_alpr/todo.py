"""The engine's hotlists as Home Assistant to-do lists: one list entity per hotlist (an
`authorised` list of a gate too), whose items are its plates.

Adding an item puts its plate on the list, completing or deleting an item takes the plate off,
editing an item changes its reason or expiry (or, for a new plate, adds that plate and takes the
old one off). Every change goes through the engine's audited API naming the Home Assistant user
(or automation), who must be allowed to act on the engine, as for the hotlist actions.

Listing a list's entries returns plates and is audited by the engine: the entries are read when
the entity is added, when the list's size or revision changes (the hub's hotlist refresh, on the
engine's change notice) and after a change made here, never on a timer of their own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime
import re
from typing import Any

from homeassistant.components.todo.const import TodoItemStatus, TodoListEntityFeature
from homeassistant.core import Context, HomeAssistant, callback
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util import dt as dt_util

from .api import (
    RufinaAlprApiClient,
    RufinaAlprApiError,
    RufinaAlprAuthError,
    RufinaAlprRequestError,
)
from .compat import PROBATIO
from .const import DOMAIN, LOGGER
from .entity import RufinaAlprEntity
from .hub import RufinaAlprConfigEntry, RufinaAlprHub
from .listeners import KEY_HOTLISTS
from .permissions import async_check_operator
from .services import api_call

if PROBATIO:  # Home Assistant 2026.10+ exports them from the entity module only (for mypy)
    from homeassistant.components.todo.entity import TodoItem, TodoListEntity
else:
    from homeassistant.components.todo import TodoItem, TodoListEntity

PARALLEL_UPDATES = 1

# Why Home Assistant reads a list's plates (the engine's audit log), and why it takes one off.
READ_REASON = "Home Assistant to-do list of the hotlist"
REMOVE_REASON = "Removed from the Home Assistant to-do list"
# A list's entries are read in pages of the API's largest default page, at most this many.
PAGE = 500
MAX_PAGES = 20
# The fields of an entry that a replacement keeps (the engine's NewHotlistEntry).
KEPT = ("priority", "notes", "stations", "from_hour", "to_hour")

_KEY = "hotlist_todo"
HOTLIST_TODO = EntityDescription(key=_KEY, translation_key=_KEY)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: RufinaAlprConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """One to-do list per hotlist the API lists, now and when new ones appear."""
    hub = entry.runtime_data

    @callback
    def add_hotlist(list_id: str) -> None:
        async_add_entities([RufinaAlprHotlistTodo(hub, list_id)])

    entry.async_on_unload(hub.lists.async_add_adder(add_hotlist))


def _written(plate: str, item: dict[str, Any]) -> str:
    """The plate as people write it (the engine's `display`, AB 123 CD), else as stored."""
    display = item.get("display")
    return display if isinstance(display, str) and display else plate


def _plate_key(plate: str) -> str:
    """A plate as the engine stores it: letters and digits only, upper case."""
    return re.sub(r"[^0-9A-Za-z]", "", plate).upper()


def _due(entry: dict[str, Any]) -> datetime | None:
    value = entry.get("expires_at")
    parsed = dt_util.parse_datetime(value) if isinstance(value, str) else None
    return dt_util.as_local(parsed) if parsed is not None else None


def _expiry(due: date | datetime | None) -> str | None:
    """A to-do item's due time as the engine's expiry (ISO 8601 with its offset); only due
    times are offered (SET_DUE_DATETIME_ON_ITEM), never whole days."""
    if not isinstance(due, datetime):
        return None
    if due.tzinfo is None:
        due = due.replace(tzinfo=dt_util.get_default_time_zone())
    return due.isoformat()


class RufinaAlprHotlistTodo(RufinaAlprEntity, TodoListEntity):
    """A hotlist's plates as a to-do list, on the engine device; named after the list."""

    _attr_supported_features = (
        TodoListEntityFeature.CREATE_TODO_ITEM
        | TodoListEntityFeature.DELETE_TODO_ITEM
        | TodoListEntityFeature.UPDATE_TODO_ITEM
        | TodoListEntityFeature.SET_DESCRIPTION_ON_ITEM
        | TodoListEntityFeature.SET_DUE_DATETIME_ON_ITEM
    )

    def __init__(self, hub: RufinaAlprHub, list_id: str) -> None:
        super().__init__(hub, HOTLIST_TODO, f"{hub.instance}_{HOTLIST_TODO.key}_{list_id}")
        self.list_id = list_id
        hotlist = hub.hotlists.get(list_id)
        self._attr_translation_placeholders = {"list": hotlist.name if hotlist else list_id}
        self._entries: dict[str, dict[str, Any]] = {}
        # The list's sizes and revision (the engine's notice) when its entries were read.
        self._read: tuple[int, int, str | None] | None = None
        self._attr_todo_items = []

    def listen_keys(self) -> tuple[str, ...]:
        """Read again when the hotlists' refresh shows this list changed."""
        return (KEY_HOTLISTS,)

    @property
    def available(self) -> bool:
        """Known while the API lists the hotlist (MQTT plays no part)."""
        return self.list_id in self.hub.hotlists

    async def async_added_to_hass(self) -> None:
        """Read the entries once the entity exists."""
        await super().async_added_to_hass()
        self._read_if_changed()

    @callback
    def _handle_update(self) -> None:
        self._read_if_changed()
        self.async_write_ha_state()

    @callback
    def _read_if_changed(self) -> None:
        hotlist = self.hub.hotlists.get(self.list_id)
        revision = self.hub.lists.revisions.get(self.list_id)
        if hotlist is None or (hotlist.entries, hotlist.expired, revision) == self._read:
            return
        self._read = (hotlist.entries, hotlist.expired, revision)
        self.hub.entry.async_create_task(
            self.hass, self._async_read(), f"{DOMAIN} hotlist {self.list_id} entries"
        )

    async def _async_read(self) -> None:
        """The list's active entries from the API (audited: `READ_REASON`)."""
        entries: dict[str, dict[str, Any]] = {}
        offset: int | None = 0
        try:
            for _ in range(MAX_PAGES):
                if offset is None:
                    break
                page = await self.hub.client.async_hotlist_entries(
                    self.list_id, READ_REASON, limit=PAGE, offset=offset
                )
                for item in page.get("entries") or ():
                    if isinstance(item, dict) and isinstance(item.get("plate"), str):
                        entries[item["plate"]] = item
                following = page.get("next_offset")
                offset = following if isinstance(following, int) else None
        except RufinaAlprAuthError as err:
            LOGGER.debug("Entries of hotlist %s not readable: %s", self.list_id, err)
            self._read = None
            return
        except RufinaAlprApiError as err:
            LOGGER.debug("Entries of hotlist %s not read: %s", self.list_id, err)
            self._read = None
            return
        self._entries = entries
        self._attr_todo_items = [
            TodoItem(
                summary=_written(plate, item),
                uid=plate,
                status=TodoItemStatus.NEEDS_ACTION,
                description=str(item.get("reason") or ""),
                due=_due(item),
            )
            for plate, item in sorted(entries.items())
        ]
        self.async_write_ha_state()

    async def _async_change(self, change: Callable[[RufinaAlprApiClient], Awaitable[Any]]) -> None:
        """One change by the user (or automation) of this call, through the audited API, then
        the list and its entries read again."""
        context = self._context or Context()
        person = await async_check_operator(self.hass, context, self.hub.entry)
        client = self.hub.client.acting_for(person)

        async def request() -> Any:
            try:
                return await change(client)
            except RufinaAlprRequestError as err:
                if err.status == 409:
                    raise ServiceValidationError(
                        translation_domain=DOMAIN,
                        translation_key="todo_already_listed",
                        translation_placeholders={"list": self._list_name},
                    ) from err
                raise

        await api_call(self.hub, request)
        # The sizes read again (the sensors'); this list's entries with them, once.
        self._read = None
        await self.hub.async_refresh_hotlists()

    @property
    def _list_name(self) -> str:
        hotlist = self.hub.hotlists.get(self.list_id)
        return hotlist.name if hotlist else self.list_id

    def _new_entry(self, plate: str, item: TodoItem, old: dict[str, Any] | None) -> dict[str, Any]:
        """The engine's NewHotlistEntry for an item (an old entry's other fields kept)."""
        reason = (item.description or "").strip() or (old or {}).get("reason")
        if not reason:
            raise ServiceValidationError(
                translation_domain=DOMAIN, translation_key="todo_reason_required"
            )
        body: dict[str, Any] = {"plate": plate, "reason": reason, "expires_at": _expiry(item.due)}
        kept = {key: (old or {}).get(key) for key in KEPT}
        return body | {key: value for key, value in kept.items() if value is not None}

    async def async_create_todo_item(self, item: TodoItem) -> None:
        """Put the item's plate on the list (its description is the reason)."""
        body = self._new_entry((item.summary or "").strip(), item, None)
        await self._async_change(lambda c: c.async_add_hotlist_entry(self.list_id, body))

    async def async_update_todo_item(self, item: TodoItem) -> None:
        """Completed: the plate leaves the list. Else its reason and expiry change, or, for a
        new plate, the new plate is added and the old one taken off."""
        old = self._entries.get(item.uid or "")
        if old is None:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="todo_not_listed",
                translation_placeholders={"list": self._list_name},
            )
        plate = old["plate"]
        if item.status == TodoItemStatus.COMPLETED:
            await self._async_change(
                lambda c: c.async_remove_hotlist_entry(self.list_id, plate, REMOVE_REASON)
            )
            return
        summary = (item.summary or plate).strip()
        if _plate_key(summary) == _plate_key(plate):
            body = self._new_entry(plate, item, old) | {"replace": True}
            await self._async_change(lambda c: c.async_add_hotlist_entry(self.list_id, body))
            return
        body = self._new_entry(summary, item, old)

        async def move(client: RufinaAlprApiClient) -> None:
            await client.async_add_hotlist_entry(self.list_id, body)
            await client.async_remove_hotlist_entry(self.list_id, plate, REMOVE_REASON)

        await self._async_change(move)

    async def async_delete_todo_items(self, uids: list[str]) -> None:
        """Take the items' plates off the list."""

        async def remove(client: RufinaAlprApiClient) -> None:
            for uid in uids:
                await client.async_remove_hotlist_entry(self.list_id, uid, REMOVE_REASON)

        await self._async_change(remove)
