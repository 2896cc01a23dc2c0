"""The repair issues of one engine: what raises them, the clocks that delay them, which are raised.

The hub owns one `RufinaAlprRepairs` and tells it what happened (the engine went offline, a message
was refused, the health changed, the token was refused...); this module never touches MQTT.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import partial
from typing import Final

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_URL
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_call_later
from homeassistant.util import dt as dt_util

from .api import EngineInfo, normalize_url
from .compliance import PACK_CURRENT, PACK_MISSING, PrivacyHealth, PrivacyPack, SubjectRequests
from .const import (
    CONF_OFFLINE_ISSUE_MINUTES,
    DEFAULT_OFFLINE_ISSUE_MINUTES,
    DOMAIN,
    ISSUE_CONTRACT_MISMATCH,
    ISSUE_ENGINE_OFFLINE,
    ISSUE_FORGED_MESSAGES,
    ISSUE_FRIGATE_OFFLINE,
    ISSUE_PRIVACY_PACK,
    ISSUE_PRIVACY_PACK_MISSING,
    ISSUE_PRIVACY_PACK_OUTDATED,
    ISSUE_READ_QUALITY_LOW,
    ISSUE_STATION_OFFLINE,
    ISSUE_STATION_REASONS,
    ISSUE_SUBJECT_REQUESTS,
    ISSUE_SUBJECT_REQUESTS_DUE,
    ISSUE_SUBJECT_REQUESTS_OVERDUE,
    ISSUE_TOKEN_NOT_DELEGATE,
    ISSUE_TOKEN_REFUSED,
    ISSUE_UNSIGNED_ENGINE,
    LOGGER,
    PANEL_PRIVACY_PATH,
    REASON_FRIGATE_OFFLINE,
    SUPPORTED_CONTRACT_VERSION,
)
from .health import EngineHealth
from .models import EngineStats, EngineStatus, Station
from .read_quality import percent

# An issue to raise: its translation key and placeholders.
type Issue = tuple[str, dict[str, str]]


# How long a clock ran, in the instance's language: the issues read "{minutes}" ("5 minuti").
_MINUTES: Final[Mapping[str, tuple[str, str]]] = {
    "en": ("{n} minute", "{n} minutes"),
    "it": ("{n} minuto", "{n} minuti"),
}


def duration(language: str | None, minutes: int) -> str:
    """A number of minutes as the issues read it, singular or plural ("1 minute", "5 minuti");
    English for a language the integration does not speak."""
    one, many = _MINUTES.get((language or "en").split("-")[0].lower(), _MINUTES["en"])
    return (one if minutes == 1 else many).format(n=minutes)


def local_time(moment: datetime | None) -> str:
    """A moment as the user reads it in an issue: Home Assistant's time zone, to the minute."""
    return "-" if moment is None else dt_util.as_local(moment).strftime("%Y-%m-%d %H:%M %Z")


class RufinaAlprRepairs:
    """The repair issues of one engine (one config entry)."""

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry, instance: str) -> None:
        self.hass = hass
        self.entry = entry
        self.instance = instance
        self._offline_timer: CALLBACK_TYPE | None = None
        self._forged_raised = False
        # Repairs of Frigate's and the stations' health, by issue id: the clocks still running,
        # the issue each would raise and the issues raised.
        self._health_timers: dict[str, CALLBACK_TYPE] = {}
        self._health_pending: dict[str, Issue] = {}
        self._health_issues: set[str] = set()

    @property
    def offline_issue_minutes(self) -> int:
        """How long the engine (Frigate, a station) may be offline before an issue is raised."""
        minutes: int = self.entry.options.get(
            CONF_OFFLINE_ISSUE_MINUTES, DEFAULT_OFFLINE_ISSUE_MINUTES
        )
        return minutes

    def _duration(self) -> str:
        """How long before an offline issue, as the issues read it."""
        return duration(self.hass.config.language, self.offline_issue_minutes)

    def station_issue_id(self, station_id: str) -> str:
        """Repair issue id of a station offline for long."""
        return f"{ISSUE_STATION_OFFLINE}_{self.entry.entry_id}_{station_id}"

    def _issue_id(self, translation_key: str) -> str:
        """The id of the entry's one issue of this kind."""
        return f"{translation_key}_{self.entry.entry_id}"

    def _create(
        self,
        issue_id: str,
        severity: ir.IssueSeverity,
        translation_key: str,
        placeholders: Mapping[str, str] | None = None,
        learn_more_url: str | None = None,
    ) -> None:
        """Raise (or update) an issue; its placeholders name the engine unless they say."""
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            issue_id,
            is_fixable=False,
            is_persistent=False,
            learn_more_url=learn_more_url,
            severity=severity,
            translation_key=translation_key,
            translation_placeholders={"instance": self.instance, **(placeholders or {})},
        )

    def _delete(self, issue_id: str) -> None:
        ir.async_delete_issue(self.hass, DOMAIN, issue_id)

    @callback
    def async_stop(self) -> None:
        """Stop the clocks (the entry is unloading); raised issues stay."""
        self._cancel_offline_timer()
        self._cancel_health_timers()

    # -- the API token ---------------------------------------------------------------------

    @callback
    def async_token_accepted(self, info: EngineInfo) -> None:
        """The engine accepted the token: no refusal; a repair while the engine says that the
        token may not name the Home Assistant user an action is for (the actions would be
        refused rather than audited under the wrong person)."""
        self._delete(self._issue_id(ISSUE_TOKEN_REFUSED))
        issue_id = self._issue_id(ISSUE_TOKEN_NOT_DELEGATE)
        if info.delegate is not False:
            self._delete(issue_id)
            return
        self._create(
            issue_id,
            ir.IssueSeverity.WARNING,
            ISSUE_TOKEN_NOT_DELEGATE,
            {"instance": info.instance},
        )

    @callback
    def async_token_refused(self) -> None:
        """The engine refused the token (401): re-authentication is asked for."""
        issue_id = self._issue_id(ISSUE_TOKEN_REFUSED)
        self._create(issue_id, ir.IssueSeverity.ERROR, ISSUE_TOKEN_REFUSED)

    # -- signatures ------------------------------------------------------------------------

    @callback
    def async_engine_unsigned(self) -> None:
        """The engine has no signing key to give (too old): nothing it publishes is used."""
        issue_id = self._issue_id(ISSUE_UNSIGNED_ENGINE)
        self._create(issue_id, ir.IssueSeverity.ERROR, ISSUE_UNSIGNED_ENGINE)

    @callback
    def async_engine_signs(self) -> None:
        """The engine's signing key was read."""
        self._delete(self._issue_id(ISSUE_UNSIGNED_ENGINE))

    @callback
    def async_message_refused(self, prefix: str, kind: str, topic: str) -> None:
        """A message was not acted on (not signed by the engine, or not lately): the first one
        raises an issue, until the entry is reloaded."""
        if self._forged_raised:
            return
        self._forged_raised = True
        LOGGER.warning(
            "Ignoring messages on %s/# that engine %s did not sign, or not lately (first: %s "
            "on %s); check who may publish there",
            prefix,
            self.instance,
            kind,
            topic,
        )
        issue_id = self._issue_id(ISSUE_FORGED_MESSAGES)
        self._create(issue_id, ir.IssueSeverity.WARNING, ISSUE_FORGED_MESSAGES, {"topic": topic})

    # -- the engine's status ---------------------------------------------------------------

    @callback
    def async_contract_announced(self, status: EngineStatus) -> None:
        """The engine said which contract version it publishes: an issue unless this one."""
        issue_id = self._issue_id(ISSUE_CONTRACT_MISMATCH)
        if status.contract_version == SUPPORTED_CONTRACT_VERSION:
            self._delete(issue_id)
            return
        placeholders = {
            "engine_version": status.engine_version,
            "contract_version": str(status.contract_version),
            "supported_version": str(SUPPORTED_CONTRACT_VERSION),
        }
        self._create(issue_id, ir.IssueSeverity.ERROR, ISSUE_CONTRACT_MISMATCH, placeholders)

    @callback
    def async_engine_online(self) -> None:
        """The engine is back: no 'offline for long' issue, no clock."""
        self._cancel_offline_timer()
        self._delete(self._issue_id(ISSUE_ENGINE_OFFLINE))

    @callback
    def async_engine_offline(self) -> None:
        """The engine went offline: the issue is raised if it stays so for long."""
        self._cancel_offline_timer()
        self._offline_timer = async_call_later(
            self.hass, self.offline_issue_minutes * 60, self._async_offline_timer_fired
        )

    def _cancel_offline_timer(self) -> None:
        if self._offline_timer is not None:
            self._offline_timer()
            self._offline_timer = None

    @callback
    def _async_offline_timer_fired(self, _now: datetime) -> None:
        self._offline_timer = None
        placeholders = {"minutes": self._duration()}
        issue_id = self._issue_id(ISSUE_ENGINE_OFFLINE)
        self._create(issue_id, ir.IssueSeverity.WARNING, ISSUE_ENGINE_OFFLINE, placeholders)

    # -- Frigate's and the stations' health ------------------------------------------------

    @callback
    def async_health_changed(
        self, available: bool, health: EngineHealth | None, stations: Mapping[str, Station]
    ) -> None:
        """Start, keep or stop the clocks of the health repairs; remove those that recovered.

        The engine's health is only as fresh as the engine: while it (or the broker) is away
        (`available` false) no clock runs and raised issues stay, until the engine is back and
        says what changed. `stations` name the stations in the issues.
        """
        if not available:
            self._cancel_health_timers()
            return
        problems = self._health_problems(health, stations)
        self._health_pending = problems
        for issue_id in set(self._health_timers) - set(problems):
            self._health_timers.pop(issue_id)()
        for issue_id in self._health_issues - set(problems):
            self._health_issues.discard(issue_id)
            self._delete(issue_id)
        for issue_id in problems:
            if issue_id in self._health_issues:
                self._raise_health_issue(issue_id)  # the reason may have changed
            elif issue_id not in self._health_timers:
                self._health_timers[issue_id] = async_call_later(
                    self.hass,
                    self.offline_issue_minutes * 60,
                    partial(self._async_health_timer_fired, issue_id),
                )

    def _health_problems(
        self, health: EngineHealth | None, stations: Mapping[str, Station]
    ) -> dict[str, Issue]:
        """The repair issues the health calls for, by issue id.

        While Frigate is offline every station is too (reason `frigate_offline`): the one Frigate
        issue stands for them all, rather than one issue per station.
        """
        problems: dict[str, Issue] = {}
        if health is None:
            return problems
        minutes = self._duration()
        if health.frigate.online is False:
            problems[self._issue_id(ISSUE_FRIGATE_OFFLINE)] = (
                ISSUE_FRIGATE_OFFLINE,
                {"minutes": minutes},
            )
            return problems
        for station_id, station in health.stations.items():
            if station.online is not False or station.reason == REASON_FRIGATE_OFFLINE:
                continue
            known = stations.get(station_id)
            problems[self.station_issue_id(station_id)] = (
                ISSUE_STATION_REASONS.get(station.reason or "", ISSUE_STATION_OFFLINE),
                {
                    "station": known.name if known else station_id,
                    "camera": known.camera if known else station_id,
                    "reason": station.reason or "unknown",
                    "minutes": minutes,
                },
            )
        return problems

    def _cancel_health_timers(self) -> None:
        while self._health_timers:
            self._health_timers.popitem()[1]()

    @callback
    def _async_health_timer_fired(self, issue_id: str, _now: datetime) -> None:
        self._health_timers.pop(issue_id, None)
        self._health_issues.add(issue_id)
        self._raise_health_issue(issue_id)

    def _raise_health_issue(self, issue_id: str) -> None:
        translation_key, placeholders = self._health_pending[issue_id]
        self._create(issue_id, ir.IssueSeverity.WARNING, translation_key, placeholders)

    # -- read quality (issue 26) -----------------------------------------------------------

    def read_quality_issue_id(self, station_id: str) -> str:
        """Repair issue id of a station reading well below its normal."""
        return f"{ISSUE_READ_QUALITY_LOW}_{self.entry.entry_id}_{station_id}"

    @callback
    def async_read_quality_changed(
        self, stats: EngineStats, stations: Mapping[str, Station]
    ) -> None:
        """A repair per plate-reading station the engine flags `low`, removed once it clears or
        leaves the stats. The engine's hysteresis keeps it from flapping: no clock here. An
        engine that reports no read quality raises none."""
        for station_id in set(stations) | set(stats.stations):
            entry = stats.stations.get(station_id)
            quality = entry.read_quality if entry else None
            issue_id = self.read_quality_issue_id(station_id)
            if quality is None or not quality.low:
                self._delete(issue_id)
                continue
            known = stations.get(station_id)
            placeholders = {
                "station": known.name if known else station_id,
                "rate": f"{percent(quality.share) or 0:.0f}%",
                "normal": f"{percent(quality.normal_share) or 0:.0f}%",
                "vehicles": str(quality.vehicles),
            }
            self._create(issue_id, ir.IssueSeverity.WARNING, ISSUE_READ_QUALITY_LOW, placeholders)

    # -- the privacy reminders -------------------------------------------------------------

    @property
    def privacy_page_url(self) -> str:
        """The engine panel's privacy page (the pack and the requests register)."""
        return f"{normalize_url(self.entry.data[CONF_URL])}{PANEL_PRIVACY_PATH}"

    @callback
    def async_privacy_changed(self, privacy: PrivacyHealth | None) -> None:
        """Follow the engine's privacy reminders: requests due within a week or overdue, and a
        privacy pack out of date or never generated. An engine that sends no `privacy` section
        (older than issue 25) leaves the issues as they are."""
        if privacy is None:
            return
        self._requests_reminder(privacy.requests)
        self._pack_reminder(privacy.pack)

    def _requests_reminder(self, requests: SubjectRequests) -> None:
        """An error while a request is overdue, a warning while one is due within a week."""
        issue_id = self._issue_id(ISSUE_SUBJECT_REQUESTS)
        if not requests.pressing:
            self._delete(issue_id)
            return
        overdue = requests.overdue > 0
        self._create(
            issue_id,
            ir.IssueSeverity.ERROR if overdue else ir.IssueSeverity.WARNING,
            ISSUE_SUBJECT_REQUESTS_OVERDUE if overdue else ISSUE_SUBJECT_REQUESTS_DUE,
            {
                "open": str(requests.open),
                "due_soon": str(requests.due_soon),
                "overdue": str(requests.overdue),
                "next_due": local_time(requests.next_due),
            },
            self.privacy_page_url,
        )

    def _pack_reminder(self, pack: PrivacyPack) -> None:
        """A warning while the pack is out of date (which documents, what changed) or missing."""
        issue_id = self._issue_id(ISSUE_PRIVACY_PACK)
        if pack.state == PACK_CURRENT:
            self._delete(issue_id)
            return
        if pack.state == PACK_MISSING:
            translation_key, placeholders = ISSUE_PRIVACY_PACK_MISSING, {}
        else:
            translation_key = ISSUE_PRIVACY_PACK_OUTDATED
            placeholders = {
                "documents": ", ".join(pack.outdated) or "-",
                "sections": ", ".join(pack.changed) or "-",
                "generated_at": local_time(pack.generated_at),
            }
        self._create(
            issue_id,
            ir.IssueSeverity.WARNING,
            translation_key,
            placeholders,
            self.privacy_page_url,
        )
