"""Config, options, reauth and reconfigure flows; discovery over MQTT and from the add-on."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.components import mqtt
from homeassistant.config_entries import (
    SOURCE_HASSIO,
    SOURCE_MQTT,
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
)
from homeassistant.const import CONF_API_TOKEN, CONF_URL
from homeassistant.core import callback
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.selector import (
    BooleanSelector,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
from homeassistant.helpers.service_info.hassio import HassioServiceInfo
from homeassistant.helpers.service_info.mqtt import MqttServiceInfo

from .api import (
    EngineInfo,
    RufinaAlprApiClient,
    RufinaAlprApiError,
    RufinaAlprAuthError,
    RufinaAlprConnectionError,
    is_valid_url,
    normalize_url,
)
from .compat import OptionsFlowBase, vol
from .const import (
    CONF_OFFLINE_ISSUE_MINUTES,
    CONF_OPERATORS,
    CONF_PLATES_IN_EVENTS,
    CONF_SHOW_ON_MAP,
    CONF_TOPIC_PREFIX,
    DEFAULT_OFFLINE_ISSUE_MINUTES,
    DEFAULT_TOPIC_PREFIX,
    DOMAIN,
    LOGGER,
    SUPPORTED_CONTRACT_VERSION,
)
from .models import EngineStatus
from .payload import PayloadError

URL_SELECTOR = TextSelector(TextSelectorConfig(type=TextSelectorType.URL))
TOKEN_SELECTOR = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))


def _valid_prefix(prefix: str) -> bool:
    """A topic prefix without wildcards, usable as `<prefix>/#`."""
    if not prefix or any(char in prefix for char in "#+") or prefix.endswith("/"):
        return False
    try:
        mqtt.valid_subscribe_topic(f"{prefix}/#")
    except vol.Invalid:
        return False
    return True


class RufinaAlprConfigFlow(ConfigFlow, domain=DOMAIN):
    """One config entry per engine, keyed by the engine's instance id."""

    VERSION = 1

    def __init__(self) -> None:
        self._prefix = DEFAULT_TOPIC_PREFIX
        self._url: str | None = None
        self._token: str | None = None
        self._instance: str | None = None
        self._addon_name: str | None = None
        # The URL the engine announced could not be reached: the form asks for it.
        self._ask_url = False

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> RufinaAlprOptionsFlow:
        """Options: when an offline engine becomes a repair issue."""
        return RufinaAlprOptionsFlow()

    async def _async_check(self, url: str, token: str, errors: dict[str, str]) -> EngineInfo | None:
        """Call the engine's API with the token; fill `errors` with what went wrong."""
        if not is_valid_url(url):
            errors[CONF_URL] = "invalid_url"
            return None
        client = RufinaAlprApiClient(async_get_clientsession(self.hass), url, token)
        try:
            info = await client.async_get_info()
        except RufinaAlprAuthError:
            errors["base"] = "invalid_auth"
        except RufinaAlprConnectionError:
            errors["base"] = "cannot_connect"
        except RufinaAlprApiError:
            errors["base"] = "invalid_response"
        except Exception:
            LOGGER.exception("Unexpected error while checking the engine's API")
            errors["base"] = "unknown"
        else:
            if info.contract_version != SUPPORTED_CONTRACT_VERSION:
                errors["base"] = "unsupported_contract"
                return None
            return info
        return None

    def _abort_if_known(self, updates: dict[str, Any]) -> None:
        """Abort a discovery of a configured engine, applying what changed (reload only then).

        The add-on sends its discovery at every start, so an unchanged one must not reload.
        """
        entry = self.hass.config_entries.async_entry_for_domain_unique_id(
            DOMAIN, str(self.unique_id)
        )
        changed = entry is not None and any(entry.data.get(k) != v for k, v in updates.items())
        self._abort_if_unique_id_configured(updates=updates, reload_on_update=changed)

    def _data(self, prefix: str, url: str, token: str) -> dict[str, Any]:
        return {CONF_TOPIC_PREFIX: prefix, CONF_URL: normalize_url(url), CONF_API_TOKEN: token}

    # -- user ------------------------------------------------------------------------------

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Manual set-up: topic prefix, API URL and token, tested before the entry exists; not
        while an engine's discovery waits to be confirmed (before anything is typed: which
        engine a manual set-up is for is known only from its URL and token)."""
        if not self.hass.config_entries.async_entries(mqtt.DOMAIN):
            return self.async_abort(reason="mqtt_not_configured")
        if user_input is None and (pending := self._pending_discoveries()):
            return self.async_abort(
                reason="discovery_pending", description_placeholders={"name": ", ".join(pending)}
            )
        errors: dict[str, str] = {}
        if user_input is not None:
            prefix = user_input[CONF_TOPIC_PREFIX].strip()
            if not _valid_prefix(prefix):
                errors[CONF_TOPIC_PREFIX] = "invalid_topic_prefix"
            elif info := await self._async_check(
                user_input[CONF_URL], user_input[CONF_API_TOKEN], errors
            ):
                data = self._data(prefix, user_input[CONF_URL], user_input[CONF_API_TOKEN])
                await self.async_set_unique_id(info.instance)
                self._abort_if_unique_id_configured(updates=data)
                return self.async_create_entry(title=info.instance, data=data)
        return self.async_show_form(
            step_id="user",
            data_schema=self.add_suggested_values_to_schema(
                vol.Schema(
                    {
                        vol.Required(CONF_TOPIC_PREFIX, default=DEFAULT_TOPIC_PREFIX): str,
                        vol.Required(CONF_URL): URL_SELECTOR,
                        vol.Required(CONF_API_TOKEN): TOKEN_SELECTOR,
                    }
                ),
                user_input,
            ),
            errors=errors,
        )

    def _pending_discoveries(self) -> list[str]:
        """The names of the engines discovered (MQTT or add-on) and not confirmed yet."""
        return [
            str(flow["context"].get("title_placeholders", {}).get("name", flow["flow_id"]))
            for flow in self._async_in_progress()
            if flow["context"].get("source") in (SOURCE_MQTT, SOURCE_HASSIO)
        ]

    # -- MQTT discovery (the engine's retained status) -------------------------------------

    async def async_step_mqtt(self, discovery_info: MqttServiceInfo) -> ConfigFlowResult:
        """An engine announced itself on `rufina_alpr/status`."""
        try:
            status = EngineStatus.from_payload(discovery_info.payload)
        except PayloadError:
            return self.async_abort(reason="invalid_discovery_info")
        self._prefix = discovery_info.topic.removesuffix("/status")
        self._instance = status.instance
        self._url = status.api_url
        await self.async_set_unique_id(status.instance)
        # A configured engine keeps its tested URL and prefix: the status names the engine's own
        # view of its address (often a bind or container address) and a stale retained status
        # on an old prefix must not move the entry. Changes go through the reconfigure flow.
        self._abort_if_unique_id_configured()
        self.context["title_placeholders"] = {"name": status.instance}
        return await self.async_step_discovery_confirm()

    async def async_step_discovery_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the token; for the URL only when the engine announces none, or one that
        cannot be reached from here (its own view of its address: a bind or container one)."""
        assert self._instance is not None
        errors: dict[str, str] = {}
        if user_input is not None:
            url: str = user_input.get(CONF_URL) or self._url or ""
            info = await self._async_check(url, user_input[CONF_API_TOKEN], errors)
            if info is not None and info.instance != self._instance:
                errors["base"] = "wrong_engine"
            elif info is not None:
                return self.async_create_entry(
                    title=info.instance,
                    data=self._data(self._prefix, url, user_input[CONF_API_TOKEN]),
                )
            # The announced URL leads nowhere, or to another engine: the user gives the right one.
            self._ask_url = (
                self._ask_url
                or CONF_URL in errors
                or errors.get("base") in ("cannot_connect", "wrong_engine")
            )
        fields: dict[vol.Marker, Any] = {}
        if self._url is None or self._ask_url:
            fields[vol.Required(CONF_URL)] = URL_SELECTOR
        fields[vol.Required(CONF_API_TOKEN)] = TOKEN_SELECTOR
        return self.async_show_form(
            step_id="discovery_confirm",
            data_schema=self.add_suggested_values_to_schema(
                vol.Schema(fields), {CONF_URL: self._url, **(user_input or {})}
            ),
            description_placeholders={"name": self._instance, "prefix": self._prefix},
            errors=errors,
        )

    # -- add-on discovery ------------------------------------------------------------------

    async def async_step_hassio(self, discovery_info: HassioServiceInfo) -> ConfigFlowResult:
        """The Rufina ALPR add-on sent its host, port, API URL, token and topic prefix."""
        config = discovery_info.config
        url = config.get("api_url") or f"http://{config.get('host')}:{config.get('port')}"
        token = str(config.get("token") or "")
        prefix = str(config.get("topic_prefix") or DEFAULT_TOPIC_PREFIX)
        if not _valid_prefix(prefix):
            return self.async_abort(reason="invalid_topic_prefix")
        errors: dict[str, str] = {}
        info = await self._async_check(url, token, errors)
        if info is None:
            return self.async_abort(reason=errors.get("base") or errors[CONF_URL])
        await self.async_set_unique_id(info.instance)
        self._abort_if_known(self._data(prefix, url, token))
        self._prefix, self._url, self._token = prefix, url, token
        self._instance = info.instance
        self._addon_name = discovery_info.name
        self.context["title_placeholders"] = {"name": discovery_info.name}
        return await self.async_step_hassio_confirm()

    async def async_step_hassio_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Confirm before adding the add-on's engine."""
        assert self._instance and self._url and self._token is not None
        if user_input is not None:
            return self.async_create_entry(
                title=self._instance, data=self._data(self._prefix, self._url, self._token)
            )
        return self.async_show_form(
            step_id="hassio_confirm",
            description_placeholders={"addon": self._addon_name or "", "name": self._instance},
        )

    # -- reauth ----------------------------------------------------------------------------

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        """The engine refused the stored token."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for a new token and test it."""
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            info = await self._async_check(entry.data[CONF_URL], user_input[CONF_API_TOKEN], errors)
            if info is not None:
                await self.async_set_unique_id(info.instance)
                self._abort_if_unique_id_mismatch(reason="wrong_engine")
                return self.async_update_reload_and_abort(
                    entry, data_updates={CONF_API_TOKEN: user_input[CONF_API_TOKEN]}
                )
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=vol.Schema({vol.Required(CONF_API_TOKEN): TOKEN_SELECTOR}),
            description_placeholders={"name": entry.title, "url": entry.data[CONF_URL]},
            errors=errors,
        )

    # -- reconfigure -----------------------------------------------------------------------

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the prefix, URL or token of the same engine."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            prefix = user_input[CONF_TOPIC_PREFIX].strip()
            token = user_input.get(CONF_API_TOKEN) or entry.data[CONF_API_TOKEN]
            if not _valid_prefix(prefix):
                errors[CONF_TOPIC_PREFIX] = "invalid_topic_prefix"
            elif info := await self._async_check(user_input[CONF_URL], token, errors):
                await self.async_set_unique_id(info.instance)
                self._abort_if_unique_id_mismatch(reason="wrong_engine")
                return self.async_update_reload_and_abort(
                    entry, data_updates=self._data(prefix, user_input[CONF_URL], token)
                )
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                vol.Schema(
                    {
                        vol.Required(CONF_TOPIC_PREFIX): str,
                        vol.Required(CONF_URL): URL_SELECTOR,
                        vol.Optional(CONF_API_TOKEN): TOKEN_SELECTOR,
                    }
                ),
                user_input
                or {
                    CONF_TOPIC_PREFIX: entry.data[CONF_TOPIC_PREFIX],
                    CONF_URL: entry.data[CONF_URL],
                },
            ),
            description_placeholders={"name": entry.title},
            errors=errors,
        )


class RufinaAlprOptionsFlow(OptionsFlowBase):
    """Options of one engine; changed options reload the entry (OptionsFlowWithReload)."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """How many minutes offline before Home Assistant raises a repair issue, and which
        users besides administrators may call the actions that return plates (`permissions`),
        whether transit events on the bus carry the plate (`retention`) and whether the stations
        appear on Home Assistant's map (`sensor`)."""
        users = [
            user
            for user in await self.hass.auth.async_get_users()
            if user.is_active and not user.system_generated and not user.is_admin
        ]
        if user_input is not None:
            known = {user.id for user in users}
            return self.async_create_entry(
                data={
                    CONF_OFFLINE_ISSUE_MINUTES: int(user_input[CONF_OFFLINE_ISSUE_MINUTES]),
                    CONF_OPERATORS: [
                        user_id
                        for user_id in user_input.get(CONF_OPERATORS, [])
                        if user_id in known
                    ],
                    CONF_PLATES_IN_EVENTS: bool(user_input.get(CONF_PLATES_IN_EVENTS, False)),
                    CONF_SHOW_ON_MAP: bool(user_input.get(CONF_SHOW_ON_MAP, False)),
                }
            )
        options = self.config_entry.options
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(
                vol.Schema(
                    {
                        vol.Required(CONF_OFFLINE_ISSUE_MINUTES): NumberSelector(
                            NumberSelectorConfig(
                                min=1,
                                max=1440,
                                step=1,
                                mode=NumberSelectorMode.BOX,
                                unit_of_measurement="min",
                            )
                        ),
                        vol.Optional(CONF_OPERATORS): SelectSelector(
                            SelectSelectorConfig(
                                options=[
                                    SelectOptionDict(value=user.id, label=user.name or user.id)
                                    for user in users
                                ],
                                multiple=True,
                                mode=SelectSelectorMode.LIST,
                            )
                        ),
                        vol.Optional(CONF_PLATES_IN_EVENTS): BooleanSelector(),
                        vol.Optional(CONF_SHOW_ON_MAP): BooleanSelector(),
                    }
                ),
                {
                    CONF_OFFLINE_ISSUE_MINUTES: options.get(
                        CONF_OFFLINE_ISSUE_MINUTES, DEFAULT_OFFLINE_ISSUE_MINUTES
                    ),
                    CONF_OPERATORS: options.get(CONF_OPERATORS, []),
                    CONF_PLATES_IN_EVENTS: options.get(CONF_PLATES_IN_EVENTS, False),
                    CONF_SHOW_ON_MAP: options.get(CONF_SHOW_ON_MAP, False),
                },
            ),
        )
