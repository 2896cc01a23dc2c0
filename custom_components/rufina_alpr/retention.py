"""What Home Assistant keeps of plates, and never for longer than the engine keeps them.

The engine deletes a transit `privacy.retention_days` after it passed (its `stats` say how long).
Home Assistant's recorder keeps states and events for its own `purge_keep_days` (10 by default),
so the integration deletes from the recorder, at the engine's retention, whatever of it holds a
plate: the history of its plate-bearing entities, its bus events and the calls of its own actions.
Bus events of transits carry no plate unless the options ask for them (`strip_plates`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er

from .const import DOMAIN, EVENT_HOTLIST_MATCH, EVENT_TRANSIT, LOGGER

if TYPE_CHECKING:
    from homeassistant.components.recorder.core import Recorder

# A transit's fields that hold or reveal its plate, left out of bus events by default.
PLATE_FIELDS: Final = frozenset(
    {"plate", "display", "frigate_plate", "alternatives", "reads", "hotlist"}
)
# Signature fields sign the whole payload: meaningless once fields are left out.
SIGNATURE_FIELDS: Final = frozenset({"sent", "kid", "sig"})

# Entities whose state or attributes hold plates, by their translation key.
PLATE_ENTITY_KEYS: Final = frozenset({"last_plate", "hotlist_last_match", "transit"})
# Events that may hold plates: the integration's own, and the calls of its actions (their data
# names plates: searches, hotlist entries), recorded by Home Assistant as `call_service`.
PLATE_EVENT_TYPES: Final = (EVENT_TRANSIT, EVENT_HOTLIST_MATCH)
_OWN_CALLS: Final = f'%"domain":"{DOMAIN}"%'
_BATCH: Final = 500


def strip_plates(payload: dict[str, Any]) -> dict[str, Any]:
    """A transit payload without its plate (for bus events, which the recorder keeps)."""
    return {k: v for k, v in payload.items() if k not in PLATE_FIELDS | SIGNATURE_FIELDS}


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


def _purge_events_task() -> Callable[[datetime], Any]:
    """The recorder task class (imported late: the recorder is an optional dependency)."""
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
    none was left."""
    from sqlalchemy import and_, delete, or_, select  # noqa: PLC0415

    from homeassistant.components.recorder.db_schema import EventData, Events, EventTypes  # noqa: PLC0415
    from homeassistant.helpers.recorder import session_scope  # noqa: PLC0415

    with session_scope(session=instance.get_session()) as session:
        plate_types = select(EventTypes.event_type_id).where(
            EventTypes.event_type.in_(PLATE_EVENT_TYPES)
        )
        call_type = select(EventTypes.event_type_id).where(EventTypes.event_type == "call_service")
        own_calls = select(EventData.data_id).where(EventData.shared_data.like(_OWN_CALLS))
        rows = session.execute(
            select(Events.event_id, Events.data_id)
            .where(
                Events.time_fired_ts < before.timestamp(),
                or_(
                    Events.event_type_id.in_(plate_types),
                    and_(Events.event_type_id.in_(call_type), Events.data_id.in_(own_calls)),
                ),
            )
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
