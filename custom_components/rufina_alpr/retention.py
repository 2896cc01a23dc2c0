"""What Home Assistant keeps of plates, and never for longer than the engine keeps them.

The engine deletes a transit `privacy.retention_days` after it passed (its `stats` say how long).
Home Assistant's recorder keeps states and events for its own `purge_keep_days` (10 by default),
so the integration deletes from the recorder, at the engine's retention, whatever of it holds a
plate: the history of its plate-bearing entities, its bus events, the calls of its own actions
and those its events led automations to make (notifications).
Bus events of transits carry no plate unless the options ask for them (`strip_plates`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any, Final

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er

from .const import DOMAIN, EVENT_ALERT_UPDATE, EVENT_HOTLIST_MATCH, EVENT_TRANSIT, LOGGER

if TYPE_CHECKING:
    from homeassistant.components.recorder.core import Recorder

# A transit's fields that hold or reveal its plate, left out of bus events by default.
PLATE_FIELDS: Final = frozenset(
    {"plate", "display", "frigate_plate", "alternatives", "reads", "hotlist"}
)

# Entities whose state or attributes hold plates, by their translation key.
PLATE_ENTITY_KEYS: Final = frozenset({"last_plate", "hotlist_last_match", "transit"})
# Events that may hold plates: the integration's own, and action calls (Home Assistant records
# each as `call_service`, with its data): the integration's actions (searches, hotlist entries)
# and the notifications of its blueprints, which name the domain in their data (tags, ids), or
# whatever an automation triggered by one of its events called.
PLATE_EVENT_TYPES: Final = (EVENT_TRANSIT, EVENT_HOTLIST_MATCH, EVENT_ALERT_UPDATE)
_MARKED_CALLS: Final = f"%{DOMAIN}%"
_BATCH: Final = 500


def strip_plates(payload: dict[str, Any]) -> dict[str, Any]:
    """A transit payload without its plate (for bus events, which the recorder keeps)."""
    return {k: v for k, v in payload.items() if k not in PLATE_FIELDS}


def plate_entity_ids(hass: HomeAssistant, entry_id: str) -> set[str]:
    """The entry's entities whose history holds plates."""
    return {
        entity.entity_id
        for entity in er.async_entries_for_config_entry(er.async_get(hass), entry_id)
        if entity.translation_key in PLATE_ENTITY_KEYS
    }


@callback
def async_purge_recorder(hass: HomeAssistant, entity_ids: Iterable[str], before: datetime) -> bool:
    """Queue the deletion, in the recorder's own thread, of the plates it holds from before
    `before`: the entities' states and the integration's events. False without a recorder."""
    if "recorder" not in hass.config.components:
        return False
    from homeassistant.components.recorder.tasks import PurgeEntitiesTask  # noqa: PLC0415
    from homeassistant.helpers.recorder import get_instance  # noqa: PLC0415

    instance = get_instance(hass)
    wanted = frozenset(entity_ids)
    if wanted:
        instance.queue_task(PurgeEntitiesTask(wanted.__contains__, before))
    instance.queue_task(_purge_events_task()(before))
    LOGGER.debug("Purging plates older than %s from the recorder", before.isoformat())
    return True


@cache
def _purge_events_task() -> Callable[[datetime], Any]:
    """The recorder task class, made once (imported late: the recorder is an optional
    dependency)."""
    from homeassistant.components.recorder.tasks import RecorderTask  # noqa: PLC0415

    @dataclass(slots=True)
    class PurgePlateEventsTask(RecorderTask):
        """Delete the integration's events and its actions' calls from before `before`."""

        before: datetime

        def run(self, instance: Recorder) -> None:
            """One batch per pass; queue another pass until nothing is left."""
            if not _purge_event_batch(instance, self.before):
                instance.queue_task(PurgePlateEventsTask(self.before))

    return PurgePlateEventsTask


def _purge_event_batch(instance: Recorder, before: datetime) -> bool:
    """Delete up to _BATCH events, and their data where no other event shares it; True when
    none was left. The action calls go first: those made by automations that one of the
    integration's events triggered are found through that event (their context's parent)."""
    from sqlalchemy import and_, delete, or_, select  # noqa: PLC0415

    from homeassistant.components.recorder.db_schema import EventData, Events, EventTypes  # noqa: PLC0415
    from homeassistant.helpers.recorder import session_scope  # noqa: PLC0415

    cutoff = before.timestamp()
    with session_scope(session=instance.get_session()) as session:
        plate_types = select(EventTypes.event_type_id).where(
            EventTypes.event_type.in_(PLATE_EVENT_TYPES)
        )
        call_type = select(EventTypes.event_type_id).where(EventTypes.event_type == "call_service")
        triggers = select(Events.context_id_bin).where(
            Events.event_type_id.in_(plate_types), Events.time_fired_ts < cutoff
        )
        marked = select(EventData.data_id).where(EventData.shared_data.like(_MARKED_CALLS))
        is_plate_event = Events.event_type_id.in_(plate_types)
        rows = session.execute(
            select(Events.event_id, Events.data_id)
            .where(
                Events.time_fired_ts < cutoff,
                or_(
                    is_plate_event,
                    and_(
                        Events.event_type_id.in_(call_type),
                        or_(Events.data_id.in_(marked), Events.context_parent_id_bin.in_(triggers)),
                    ),
                ),
            )
            .order_by(is_plate_event)  # the calls before the events that lead to them
            .limit(_BATCH)
        ).all()
        if not rows:
            return True
        event_ids = {event_id for event_id, _ in rows}
        data_ids = {data_id for _, data_id in rows if data_id is not None}
        session.execute(delete(Events).where(Events.event_id.in_(event_ids)))
        if data_ids:
            shared = select(Events.data_id).where(Events.data_id.in_(data_ids))
            session.execute(
                delete(EventData).where(
                    EventData.data_id.in_(data_ids), EventData.data_id.not_in(shared)
                )
            )
            # The recorder caches data ids by content: a deleted one must not be reused.
            instance.event_data_manager.evict_purged(data_ids)
    return len(rows) < _BATCH
