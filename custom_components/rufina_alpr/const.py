"""Constants of the Rufina ALPR integration."""

from __future__ import annotations

import logging
from typing import Final

DOMAIN: Final = "rufina_alpr"
LOGGER = logging.getLogger(__package__)

# Config entry data keys (the API token uses HA's CONF_API_TOKEN, the URL CONF_URL).
CONF_TOPIC_PREFIX: Final = "topic_prefix"
# The key the engine signs its MQTT messages with, read from its API (kept for a start without it).
CONF_SIGNING_KEY: Final = "signing_key"
DEFAULT_TOPIC_PREFIX: Final = "rufina_alpr"

# Options.
CONF_OFFLINE_ISSUE_MINUTES: Final = "offline_issue_minutes"
DEFAULT_OFFLINE_ISSUE_MINUTES: Final = 30
CONF_OPERATORS: Final = "operators"
"""Option: ids of the Home Assistant users, besides administrators, who may call the actions."""
CONF_PLATES_IN_EVENTS: Final = "plates_in_events"
"""Option: transit bus events carry the plate (Home Assistant's recorder keeps them; they are
purged at the engine's retention, as everything of the integration that holds a plate)."""
CONF_SHOW_ON_MAP: Final = "show_on_map"
"""Option: the stations' located sensors carry latitude and longitude, which puts one marker per
station on Home Assistant's Map panel (off: 34 stations crowd the map of the whole home)."""

# The engine's MQTT contract version this integration reads (engine: rufina_alpr.contract).
SUPPORTED_CONTRACT_VERSION: Final = 1

# Events fired on the Home Assistant bus: the engine's payload, a transit's without its plate
# unless CONF_PLATES_IN_EVENTS (device triggers get it whole, through SIGNAL_TRIGGER).
EVENT_TRANSIT: Final = f"{DOMAIN}_transit"
EVENT_HOTLIST_MATCH: Final = f"{DOMAIN}_hotlist_match"
# What became of an alert raised on hotlist_match (the engine's `<prefix>/alert`): confirmed or
# withdrawn by the vehicle's transit, or a step of its handling by an operator.
EVENT_ALERT_UPDATE: Final = f"{DOMAIN}_alert_update"
# Dispatcher signal of every transit and hotlist match, whole, for the device triggers.
SIGNAL_TRIGGER: Final = f"{DOMAIN}_trigger"

# Device trigger types and the event entity's event types.
TRIGGER_TRANSIT: Final = "transit"
TRIGGER_HOTLIST_MATCH: Final = "hotlist_match"
TRIGGER_LOW_CONFIDENCE: Final = "low_confidence_transit"
# The event entity's event types of an alert's updates (`change` confirmed, withdrawn, or a step
# of its handling: acknowledged, accepted, rejected, closed).
EVENT_TYPE_ALERT_CONFIRMED: Final = "alert_confirmed"
EVENT_TYPE_ALERT_WITHDRAWN: Final = "alert_withdrawn"
EVENT_TYPE_ALERT_HANDLED: Final = "alert_handled"

# The steps an operator takes on an alert (the engine's `POST /api/v1/alerts/{id}/steps`), why
# one is rejected and how one ends.
ALERT_STEPS: Final[tuple[str, ...]] = ("acknowledge", "accept", "reject", "close")
ALERT_REJECT_REASONS: Final[tuple[str, ...]] = (
    "misread",
    "wrong_vehicle",
    "plate_cloned",
    "list_out_of_date",
    "other",
)
ALERT_OUTCOMES: Final[tuple[str, ...]] = (
    "stopped_checked",
    "not_found",
    "fined",
    "seized",
    "other",
)

KIND_LPR: Final = "lpr"
KIND_CONTEXT: Final = "context"

# Frigate's vehicle labels that get their own per-hour sensor on context stations.
VEHICLE_CLASSES: Final[tuple[str, ...]] = ("car", "motorcycle", "bus", "truck", "bicycle")

ISSUE_ENGINE_OFFLINE: Final = "engine_offline"
ISSUE_CONTRACT_MISMATCH: Final = "contract_mismatch"
ISSUE_FRIGATE_OFFLINE: Final = "frigate_offline"
# Messages on the engine's prefix that it did not sign; an engine that signs nothing (too old).
ISSUE_FORGED_MESSAGES: Final = "forged_messages"
ISSUE_UNSIGNED_ENGINE: Final = "unsigned_engine"
ISSUE_TOKEN_REFUSED: Final = "token_refused"
# The engine says the token may not name the Home Assistant user it acts for (`delegate`).
ISSUE_TOKEN_NOT_DELEGATE: Final = "token_not_delegate"
# A station offline for long: one issue per station, its text chosen by the engine's reason.
ISSUE_STATION_OFFLINE: Final = "station_offline"
ISSUE_STATION_REASONS: Final[dict[str, str]] = {
    "detect_offline": "station_detect_offline",
    "no_frames": "station_no_frames",
    "disabled": "station_disabled",
}

# A plate-reading station reading well below its own normal (the engine's `read_quality.low`):
# one issue per station.
ISSUE_READ_QUALITY_LOW: Final = "read_quality_low"

# The privacy reminders (issue 25), one issue each per engine, its text chosen by the state: the
# data-subject requests due within a week or overdue; the privacy pack out of date or never made.
ISSUE_SUBJECT_REQUESTS: Final = "subject_requests"
ISSUE_SUBJECT_REQUESTS_DUE: Final = "subject_requests_due"
ISSUE_SUBJECT_REQUESTS_OVERDUE: Final = "subject_requests_overdue"
ISSUE_PRIVACY_PACK: Final = "privacy_pack"
ISSUE_PRIVACY_PACK_OUTDATED: Final = "privacy_pack_outdated"
ISSUE_PRIVACY_PACK_MISSING: Final = "privacy_pack_missing"
# The panel's page of the privacy pack and the requests, under the engine's URL.
PANEL_PRIVACY_PATH: Final = "/panel/#/privacy"

# Why the engine says a station is offline (`reason` in its `health` payload).
REASON_FRIGATE_OFFLINE: Final = "frigate_offline"
STATION_OFFLINE_REASONS: Final[tuple[str, ...]] = (
    REASON_FRIGATE_OFFLINE,
    "detect_offline",
    "no_frames",
    "disabled",
)

MANUFACTURER: Final = "Rufina ALPR"
