"""Actions: read what the integration holds about a station, and call the engine's API
(hotlists, searches, routes, holds, purge, the handling of alerts) with translated errors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_DEVICE_ID
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.util import dt as dt_util

from .api import (
    RufinaAlprApiClient,
    RufinaAlprApiError,
    RufinaAlprAuthError,
    RufinaAlprConnectionError,
    RufinaAlprForbiddenError,
    RufinaAlprNotDelegateError,
    RufinaAlprRequestError,
)
from .compat import async_get_device_by_id, device_config_entry_ids, vol
from .const import ALERT_OUTCOMES, ALERT_REJECT_REASONS, ALERT_STEPS, DOMAIN
from .hub import RufinaAlprConfigEntry, RufinaAlprHub
from .permissions import async_check_acting_for, async_check_operator

SERVICE_GET_LAST_TRANSIT = "get_last_transit"
SERVICE_HOTLIST_ADD = "hotlist_add"
SERVICE_HOTLIST_REMOVE = "hotlist_remove"
SERVICE_HOTLIST_IMPORT = "hotlist_import"
SERVICE_SEARCH_TRANSITS = "search_transits"
SERVICE_VEHICLE_ROUTE = "vehicle_route"
SERVICE_HOLD_TRANSITS = "hold_transits"
SERVICE_PURGE_NOW = "purge_now"
SERVICE_HANDLE_ALERT = "handle_alert"

ATTR_CONFIG_ENTRY_ID = "config_entry_id"
ATTR_LIST_ID = "list_id"
ATTR_PLATE = "plate"
ATTR_REASON = "reason"
ATTR_CASE_NUMBER = "case_number"
ATTR_EXPIRES_AT = "expires_at"
ATTR_NOTES = "notes"
ATTR_PRIORITY = "priority"
ATTR_CSV = "csv"
ATTR_REPLACE = "replace"
ATTR_STATIONS = "stations"
ATTR_STATION_DEVICES = "station_devices"
ATTR_SINCE = "since"
ATTR_UNTIL = "until"
ATTR_VEHICLE = "vehicle"
ATTR_LIMIT = "limit"
ATTR_TRANSIT_IDS = "transit_ids"
ATTR_ALERT_ID = "alert_id"
ATTR_STEP = "step"
ATTR_OUTCOME = "outcome"
ATTR_NOTE = "note"
ATTR_USER_ID = "user_id"

GET_LAST_TRANSIT_SCHEMA = vol.Schema({vol.Required(CONF_DEVICE_ID): cv.string})

_ENGINE: dict[vol.Marker, Any] = {vol.Optional(ATTR_CONFIG_ENTRY_ID): cv.string}
_REASON = vol.All(cv.string, vol.Length(min=3, max=500))
_TEXT = vol.All(cv.string, vol.Length(min=1, max=500))
_LIST_ID = vol.All(cv.string, vol.Length(min=1, max=64))
# The engine refuses longer plate texts (docs/openapi.yaml): refused here, before the call.
_PLATE = vol.All(cv.string, vol.Length(min=2, max=16))
_CASE = vol.All(cv.string, vol.Length(min=1, max=64))

HOTLIST_ADD_SCHEMA = vol.Schema(
    {
        **_ENGINE,
        vol.Required(ATTR_LIST_ID): _LIST_ID,
        vol.Required(ATTR_PLATE): _PLATE,
        vol.Required(ATTR_REASON): _TEXT,
        vol.Optional(ATTR_EXPIRES_AT): cv.datetime,
        vol.Optional(ATTR_NOTES): vol.All(cv.string, vol.Length(max=2000)),
        vol.Optional(ATTR_PRIORITY): vol.All(vol.Coerce(int), vol.Range(min=1, max=9)),
        # A listed plate is refused unless replacing is asked for: its reason is not lost.
        vol.Optional(ATTR_REPLACE, default=False): cv.boolean,
    }
)
HOTLIST_REMOVE_SCHEMA = vol.Schema(
    {
        **_ENGINE,
        vol.Required(ATTR_LIST_ID): _LIST_ID,
        vol.Required(ATTR_PLATE): _PLATE,
        vol.Required(ATTR_REASON): _TEXT,
    }
)
HOTLIST_IMPORT_SCHEMA = vol.Schema(
    {
        **_ENGINE,
        vol.Required(ATTR_LIST_ID): _LIST_ID,
        vol.Required(ATTR_CSV): vol.All(cv.string, vol.Length(min=1, max=4 * 1024 * 1024)),
        vol.Optional(ATTR_REPLACE, default=False): cv.boolean,
        vol.Optional(ATTR_REASON): _TEXT,
    }
)
SEARCH_TRANSITS_SCHEMA = vol.Schema(
    {
        **_ENGINE,
        vol.Required(ATTR_REASON): _REASON,
        vol.Optional(ATTR_CASE_NUMBER): _CASE,
        vol.Optional(ATTR_PLATE): _PLATE,
        vol.Optional(ATTR_STATIONS): vol.All(cv.ensure_list, [cv.string]),
        vol.Optional(ATTR_STATION_DEVICES): vol.All(cv.ensure_list, [cv.string]),
        vol.Optional(ATTR_SINCE): cv.datetime,
        vol.Optional(ATTR_UNTIL): cv.datetime,
        vol.Optional(ATTR_VEHICLE): cv.string,
        vol.Optional(ATTR_LIMIT, default=50): vol.All(vol.Coerce(int), vol.Range(min=1, max=500)),
    }
)
VEHICLE_ROUTE_SCHEMA = vol.Schema(
    {
        **_ENGINE,
        vol.Required(ATTR_PLATE): _PLATE,
        vol.Required(ATTR_REASON): _REASON,
        vol.Optional(ATTR_CASE_NUMBER): _CASE,
        vol.Optional(ATTR_SINCE): cv.datetime,
        vol.Optional(ATTR_UNTIL): cv.datetime,
    }
)
HOLD_TRANSITS_SCHEMA = vol.Schema(
    {
        **_ENGINE,
        vol.Required(ATTR_CASE_NUMBER): _CASE,
        vol.Required(ATTR_REASON): _REASON,
        vol.Optional(ATTR_PLATE): _PLATE,
        vol.Optional(ATTR_TRANSIT_IDS): vol.All(cv.ensure_list, [cv.string]),
        vol.Optional(ATTR_SINCE): cv.datetime,
        vol.Optional(ATTR_UNTIL): cv.datetime,
    }
)
PURGE_NOW_SCHEMA = vol.Schema({**_ENGINE, vol.Optional(ATTR_REASON): _TEXT})
HANDLE_ALERT_SCHEMA = vol.Schema(
    {
        **_ENGINE,
        vol.Required(ATTR_ALERT_ID): vol.All(cv.string, vol.Length(min=1, max=36)),
        vol.Required(ATTR_STEP): vol.In(ALERT_STEPS),
        vol.Optional(ATTR_REASON): vol.In(ALERT_REJECT_REASONS),
        vol.Optional(ATTR_OUTCOME): vol.In(ALERT_OUTCOMES),
        vol.Optional(ATTR_NOTE): vol.All(cv.string, vol.Length(max=500)),
        # The person an automation acts for (a notification button's user): see permissions.
        vol.Optional(ATTR_USER_ID): cv.string,
    }
)


def _station_of(hass: HomeAssistant, device_id: str) -> tuple[RufinaAlprConfigEntry, str]:
    """The loaded entry and station id behind a station device, or a translated error."""
    device = async_get_device_by_id(hass, device_id)
    if device is None:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="device_not_found",
            translation_placeholders={"device_id": device_id},
        )
    for entry_id in device_config_entry_ids(device):
        entry: RufinaAlprConfigEntry | None = hass.config_entries.async_get_entry(entry_id)
        if entry is None or entry.domain != DOMAIN:
            continue
        if entry.state is not ConfigEntryState.LOADED:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="entry_not_loaded",
                translation_placeholders={"name": entry.title},
            )
        hub = entry.runtime_data
        for station_id in hub.stations:
            if hub.devices.station_identifier(station_id) in device.identifiers:
                return entry, station_id
    raise ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key="not_a_station",
        translation_placeholders={"name": device.name_by_user or device.name or device_id},
    )


async def _async_get_last_transit(call: ServiceCall) -> ServiceResponse:
    """The station's latest transit payload as the engine published it (or None)."""
    entry, station_id = _station_of(call.hass, call.data[CONF_DEVICE_ID])
    await async_check_operator(call.hass, call.context, entry)
    transit = entry.runtime_data.last_transits.get(station_id)
    return {
        "station": station_id,
        "transit": transit.payload if transit else None,
    }


def _engine_of(call: ServiceCall) -> RufinaAlprHub:
    """The hub of the engine the call names, or of the only loaded engine."""
    entry_id: str | None = call.data.get(ATTR_CONFIG_ENTRY_ID)
    if entry_id is not None:
        entry: RufinaAlprConfigEntry | None = call.hass.config_entries.async_get_entry(entry_id)
        if entry is None or entry.domain != DOMAIN:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="engine_not_found",
                translation_placeholders={"entry_id": entry_id},
            )
        if entry.state is not ConfigEntryState.LOADED:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="entry_not_loaded",
                translation_placeholders={"name": entry.title},
            )
        return entry.runtime_data
    loaded = call.hass.config_entries.async_loaded_entries(DOMAIN)
    if not loaded:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="no_engine")
    if len(loaded) > 1:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="several_engines")
    hub: RufinaAlprHub = loaded[0].runtime_data
    return hub


def _picked_stations(call: ServiceCall) -> tuple[RufinaAlprHub, list[str]]:
    """The engine and the station ids of the station devices the call picked (none: the engine
    of `_engine_of`); the devices' engine when the call names none."""
    devices = call.data.get(ATTR_STATION_DEVICES, [])
    picked = [_station_of(call.hass, device_id) for device_id in devices]
    if ATTR_CONFIG_ENTRY_ID not in call.data and len({e.entry_id for e, _ in picked}) == 1:
        hub: RufinaAlprHub = picked[0][0].runtime_data
    else:
        hub = _engine_of(call)
    for entry, station_id in picked:
        if entry.entry_id != hub.entry.entry_id:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="station_of_another_engine",
                translation_placeholders={"station": station_id, "name": hub.entry.title},
            )
    return hub, [station_id for _, station_id in picked]


async def _operator_engine(
    call: ServiceCall, hub: RufinaAlprHub | None = None
) -> tuple[RufinaAlprHub, RufinaAlprApiClient]:
    """`_engine_of` (or `hub`), for a user allowed to act on that engine (`permissions`), with
    a client that names that user (or automation, or script) to the engine's audit log."""
    hub = hub or _engine_of(call)
    person = await async_check_operator(call.hass, call.context, hub.entry)
    return hub, hub.client.acting_for(person)


# The engine's refusals that name only the engine, and the translated error each becomes.
ENGINE_ERRORS: tuple[tuple[type[RufinaAlprApiError], str], ...] = (
    (RufinaAlprNotDelegateError, "engine_not_delegate"),
    (RufinaAlprForbiddenError, "engine_forbidden"),
    (RufinaAlprConnectionError, "engine_unreachable"),
)


async def api_call[R](hub: RufinaAlprHub, request: Callable[[], Awaitable[R]]) -> R:
    """Run an API request; its failures become translated errors."""
    name = hub.entry.title
    try:
        return await request()
    except RufinaAlprApiError as err:
        for kind, key in ENGINE_ERRORS:
            if isinstance(err, kind):
                raise HomeAssistantError(
                    translation_domain=DOMAIN,
                    translation_key=key,
                    translation_placeholders={"name": name},
                ) from err
        if isinstance(err, RufinaAlprAuthError):
            hub.async_token_refused()
            raise HomeAssistantError(
                translation_domain=DOMAIN, translation_key="invalid_auth"
            ) from err
        if isinstance(err, RufinaAlprRequestError):
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="engine_refused",
                translation_placeholders={"name": name, "message": err.message or err.code},
            ) from err
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="engine_error",
            translation_placeholders={"name": name, "error": str(err)},
        ) from err


def _iso(value: datetime | None) -> str | None:
    """A service datetime (naive: Home Assistant's time zone) as ISO 8601 with its offset."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt_util.get_default_time_zone())
    return value.isoformat()


def _response(data: Any) -> ServiceResponse:
    return data if isinstance(data, dict) else {"result": data}


async def _async_hotlist_add(call: ServiceCall) -> ServiceResponse:
    hub, client = await _operator_engine(call)
    entry = {
        "plate": call.data[ATTR_PLATE],
        "reason": call.data[ATTR_REASON],
        "expires_at": _iso(call.data.get(ATTR_EXPIRES_AT)),
        "notes": call.data.get(ATTR_NOTES),
        "priority": call.data.get(ATTR_PRIORITY),
    }
    if call.data[ATTR_REPLACE]:
        entry["replace"] = True
    added = await api_call(
        hub, lambda: client.async_add_hotlist_entry(call.data[ATTR_LIST_ID], entry)
    )
    await hub.async_refresh_hotlists()
    return _response(added) if call.return_response else None


async def _async_hotlist_remove(call: ServiceCall) -> None:
    hub, client = await _operator_engine(call)
    await api_call(
        hub,
        lambda: client.async_remove_hotlist_entry(
            call.data[ATTR_LIST_ID], call.data[ATTR_PLATE], call.data[ATTR_REASON]
        ),
    )
    await hub.async_refresh_hotlists()


async def _async_hotlist_import(call: ServiceCall) -> ServiceResponse:
    hub, client = await _operator_engine(call)
    report = await api_call(
        hub,
        lambda: client.async_import_hotlist(
            call.data[ATTR_LIST_ID],
            call.data[ATTR_CSV],
            replace=call.data[ATTR_REPLACE],
            reason=call.data.get(ATTR_REASON),
        ),
    )
    await hub.async_refresh_hotlists()
    return _response(report) if call.return_response else None


async def _async_search_transits(call: ServiceCall) -> ServiceResponse:
    """The engine's transits; stations picked as devices or named by their ids (or both)."""
    hub, picked = _picked_stations(call)
    hub, client = await _operator_engine(call, hub)
    stations = dict.fromkeys([*picked, *call.data.get(ATTR_STATIONS, [])])
    params: dict[str, Any] = {
        "reason": call.data[ATTR_REASON],
        "case_number": call.data.get(ATTR_CASE_NUMBER),
        "plate": call.data.get(ATTR_PLATE),
        "station": ",".join(stations) or None,
        "since": _iso(call.data.get(ATTR_SINCE)),
        "until": _iso(call.data.get(ATTR_UNTIL)),
        "vehicle": call.data.get(ATTR_VEHICLE),
        "limit": call.data[ATTR_LIMIT],
    }
    return _response(await api_call(hub, lambda: client.async_search_transits(params)))


async def _async_vehicle_route(call: ServiceCall) -> ServiceResponse:
    hub, client = await _operator_engine(call)
    params: dict[str, Any] = {
        "plate": call.data[ATTR_PLATE],
        "reason": call.data[ATTR_REASON],
        "case_number": call.data.get(ATTR_CASE_NUMBER),
        "since": _iso(call.data.get(ATTR_SINCE)),
        "until": _iso(call.data.get(ATTR_UNTIL)),
    }
    return _response(await api_call(hub, lambda: client.async_vehicle_route(params)))


async def _async_hold_transits(call: ServiceCall) -> ServiceResponse:
    if ATTR_PLATE not in call.data and not call.data.get(ATTR_TRANSIT_IDS):
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="hold_needs_target")
    hub, client = await _operator_engine(call)
    body: dict[str, Any] = {
        "case_number": call.data[ATTR_CASE_NUMBER],
        "reason": call.data[ATTR_REASON],
    }
    if call.data.get(ATTR_TRANSIT_IDS):
        body["transit_ids"] = call.data[ATTR_TRANSIT_IDS]
    if ATTR_PLATE in call.data:
        body["plate"] = call.data[ATTR_PLATE]
        for key in (ATTR_SINCE, ATTR_UNTIL):
            if key in call.data:
                body[key] = _iso(call.data[key])
    hold = await api_call(hub, lambda: client.async_hold(body))
    return _response(hold) if call.return_response else None


async def _async_purge_now(call: ServiceCall) -> ServiceResponse:
    hub, client = await _operator_engine(call)
    report = await api_call(hub, lambda: client.async_purge(call.data.get(ATTR_REASON)))
    hub.async_purge_plates()  # and what Home Assistant's recorder holds past the retention
    return _response(report) if call.return_response else None


def _alert_step(call: ServiceCall) -> dict[str, Any]:
    """The step's request body; a translated error when a rejection has no reason or a closing
    no outcome, or when either is given to another step (it would not be recorded)."""
    step: str = call.data[ATTR_STEP]
    if step == "reject" and ATTR_REASON not in call.data:
        raise ServiceValidationError(
            translation_domain=DOMAIN, translation_key="alert_reason_required"
        )
    if step == "close" and ATTR_OUTCOME not in call.data:
        raise ServiceValidationError(
            translation_domain=DOMAIN, translation_key="alert_outcome_required"
        )
    if (step != "reject" and ATTR_REASON in call.data) or (
        step != "close" and ATTR_OUTCOME in call.data
    ):
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="alert_field_not_for_step",
            translation_placeholders={"step": step},
        )
    body: dict[str, Any] = {"step": step}
    for field in (ATTR_REASON, ATTR_OUTCOME):
        if field in call.data:
            body[field] = call.data[field]
    if note := call.data.get(ATTR_NOTE):
        body[ATTR_NOTE] = note
    return body


async def _async_handle_alert(call: ServiceCall) -> ServiceResponse:
    """A step of an alert's handling, under the person who took it (an automation may name the
    user who pressed a notification's button); the alert as the engine holds it after."""
    body = _alert_step(call)
    alert_id: str = call.data[ATTR_ALERT_ID]
    hub = _engine_of(call)
    person = await async_check_acting_for(
        call.hass, call.context, hub.entry, call.data.get(ATTR_USER_ID) or None
    )
    client = hub.client.acting_for(person)

    async def request() -> Any:
        try:
            return await client.async_alert_step(alert_id, body)
        except RufinaAlprRequestError as err:
            placeholders = {"alert_id": alert_id, "step": body["step"]}
            if err.status == 404:
                raise ServiceValidationError(
                    translation_domain=DOMAIN,
                    translation_key="alert_not_found",
                    translation_placeholders=placeholders,
                ) from err
            if err.status == 409:
                raise ServiceValidationError(
                    translation_domain=DOMAIN,
                    translation_key="alert_step_refused",
                    translation_placeholders={**placeholders, "message": err.message or err.code},
                ) from err
            raise

    alert = await api_call(hub, request)
    return _response(alert) if call.return_response else None


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the integration's actions (once, in async_setup)."""
    hass.services.async_register(
        DOMAIN,
        SERVICE_GET_LAST_TRANSIT,
        _async_get_last_transit,
        schema=GET_LAST_TRANSIT_SCHEMA,
        supports_response=SupportsResponse.ONLY,
    )
    for name, handler, schema, supports in (
        (SERVICE_HOTLIST_ADD, _async_hotlist_add, HOTLIST_ADD_SCHEMA, SupportsResponse.OPTIONAL),
        (
            SERVICE_HOTLIST_IMPORT,
            _async_hotlist_import,
            HOTLIST_IMPORT_SCHEMA,
            SupportsResponse.OPTIONAL,
        ),
        (
            SERVICE_SEARCH_TRANSITS,
            _async_search_transits,
            SEARCH_TRANSITS_SCHEMA,
            SupportsResponse.ONLY,
        ),
        (SERVICE_VEHICLE_ROUTE, _async_vehicle_route, VEHICLE_ROUTE_SCHEMA, SupportsResponse.ONLY),
        (
            SERVICE_HOLD_TRANSITS,
            _async_hold_transits,
            HOLD_TRANSITS_SCHEMA,
            SupportsResponse.OPTIONAL,
        ),
        (SERVICE_PURGE_NOW, _async_purge_now, PURGE_NOW_SCHEMA, SupportsResponse.OPTIONAL),
        (
            SERVICE_HANDLE_ALERT,
            _async_handle_alert,
            HANDLE_ALERT_SCHEMA,
            SupportsResponse.OPTIONAL,
        ),
    ):
        hass.services.async_register(
            DOMAIN, name, handler, schema=schema, supports_response=supports
        )
    hass.services.async_register(
        DOMAIN, SERVICE_HOTLIST_REMOVE, _async_hotlist_remove, schema=HOTLIST_REMOVE_SCHEMA
    )
