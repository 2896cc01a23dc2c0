"""Config flow: user, MQTT and add-on discovery, reauth, reconfigure, options; errors, aborts."""

from __future__ import annotations

from collections.abc import Generator
import json
from typing import Any
from unittest.mock import AsyncMock, patch

import aiohttp
import pytest

from custom_components.rufina_alpr.const import (
    CONF_OFFLINE_ISSUE_MINUTES,
    CONF_OPERATORS,
    CONF_PLATES_IN_EVENTS,
    CONF_SHOW_ON_MAP,
    CONF_TOPIC_PREFIX,
    DOMAIN,
)
from homeassistant.config_entries import SOURCE_HASSIO, SOURCE_MQTT, SOURCE_USER, ConfigEntryState
from homeassistant.const import CONF_API_TOKEN, CONF_URL
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.service_info.hassio import HassioServiceInfo
from homeassistant.helpers.service_info.mqtt import MqttServiceInfo
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.test_util.aiohttp import AiohttpClientMocker

from .conftest import API_URL, ENTRY_DATA, INFO, INSTANCE, PREFIX, TOKEN, payload

INFO_URL = f"{API_URL}/api/v1/info"
USER_INPUT = {CONF_TOPIC_PREFIX: PREFIX, CONF_URL: f" {API_URL}/ ", CONF_API_TOKEN: TOKEN}

pytestmark = pytest.mark.usefixtures("mqtt_mock")


@pytest.fixture(autouse=True)
def mock_setup_entry() -> Generator[AsyncMock]:
    """Flows are tested alone: creating an entry does not set the integration up."""
    with patch("custom_components.rufina_alpr.async_setup_entry", return_value=True) as setup_entry:
        yield setup_entry


def mqtt_discovery(
    data: dict[str, Any] | bytes, topic: str = f"{PREFIX}/status"
) -> MqttServiceInfo:
    """The retained status as MQTT discovery hands it to the flow."""
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return MqttServiceInfo(
        topic=topic,
        payload=raw.decode(),
        qos=1,
        retain=True,
        subscribed_topic=f"{PREFIX}/status",
        timestamp=0,
    )


def addon_discovery(**changes: Any) -> HassioServiceInfo:
    """What the Rufina ALPR add-on sends through the Supervisor."""
    config: dict[str, Any] = {
        "host": "192.168.1.20",
        "port": 8787,
        "token": TOKEN,
        "topic_prefix": PREFIX,
    }
    config.update(changes)
    return HassioServiceInfo(config=config, name="Rufina ALPR", slug="rufina_alpr", uuid="1234")


# -- user ----------------------------------------------------------------------------------


async def test_user_flow(
    hass: HomeAssistant, aioclient_mock: AiohttpClientMocker, mock_setup_entry: AsyncMock
) -> None:
    """The token is tested, then the entry is created with the engine's instance as id."""
    aioclient_mock.get(INFO_URL, json=INFO)
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == {}

    result = await hass.config_entries.flow.async_configure(result["flow_id"], USER_INPUT)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == INSTANCE
    assert result["data"] == ENTRY_DATA
    assert result["result"].unique_id == INSTANCE
    assert aioclient_mock.call_count == 1
    assert aioclient_mock.mock_calls[0][3]["Authorization"] == f"Bearer {TOKEN}"
    assert mock_setup_entry.call_count == 1


@pytest.mark.parametrize(
    ("mock_kwargs", "error"),
    [
        ({"status": 401, "json": {"error": "unauthorized"}}, "invalid_auth"),
        ({"status": 403}, "invalid_auth"),
        ({"exc": aiohttp.ClientConnectionError("refused")}, "cannot_connect"),
        ({"exc": TimeoutError()}, "cannot_connect"),
        ({"status": 500}, "invalid_response"),
        ({"text": "<html>not the engine</html>"}, "invalid_response"),
        ({"json": {"instance": INSTANCE}}, "invalid_response"),
        ({"json": {**INFO, "contract_version": 2}}, "unsupported_contract"),
    ],
)
async def test_user_flow_errors(
    hass: HomeAssistant,
    aioclient_mock: AiohttpClientMocker,
    mock_kwargs: dict[str, Any],
    error: str,
) -> None:
    """Every way the API check fails shows its error; fixing it then creates the entry."""
    aioclient_mock.get(INFO_URL, **mock_kwargs)
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(result["flow_id"], USER_INPUT)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": error}

    aioclient_mock.clear_requests()
    aioclient_mock.get(INFO_URL, json=INFO)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], USER_INPUT)
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_user_flow_unexpected_error(hass: HomeAssistant) -> None:
    """A bug in the check is logged and shown as unknown, not raised into the UI."""
    with patch(
        "custom_components.rufina_alpr.config_flow.RufinaAlprApiClient.async_get_info",
        side_effect=RuntimeError("boom"),
    ):
        result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
        result = await hass.config_entries.flow.async_configure(result["flow_id"], USER_INPUT)
    assert result["errors"] == {"base": "unknown"}


@pytest.mark.parametrize(
    ("changes", "field", "error"),
    [
        ({CONF_TOPIC_PREFIX: "rufina/#"}, CONF_TOPIC_PREFIX, "invalid_topic_prefix"),
        ({CONF_TOPIC_PREFIX: "rufina/"}, CONF_TOPIC_PREFIX, "invalid_topic_prefix"),
        ({CONF_TOPIC_PREFIX: "  "}, CONF_TOPIC_PREFIX, "invalid_topic_prefix"),
        ({CONF_TOPIC_PREFIX: "a\u0000b"}, CONF_TOPIC_PREFIX, "invalid_topic_prefix"),
        ({CONF_URL: "ftp://192.168.1.20"}, CONF_URL, "invalid_url"),
        ({CONF_URL: "http://"}, CONF_URL, "invalid_url"),
        ({CONF_URL: "http://[bad"}, CONF_URL, "invalid_url"),
    ],
)
async def test_user_flow_invalid_input(
    hass: HomeAssistant,
    aioclient_mock: AiohttpClientMocker,
    changes: dict[str, str],
    field: str,
    error: str,
) -> None:
    """Bad prefixes and URLs are refused before the API is called."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**USER_INPUT, **changes}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {field: error}
    assert aioclient_mock.call_count == 0


async def test_user_flow_already_configured(
    hass: HomeAssistant, aioclient_mock: AiohttpClientMocker, config_entry: MockConfigEntry
) -> None:
    """The same engine twice is refused (one entry per engine), with the new data applied."""
    aioclient_mock.get("http://10.0.0.9:8787/api/v1/info", json=INFO)
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**USER_INPUT, CONF_URL: "http://10.0.0.9:8787"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert config_entry.data[CONF_URL] == "http://10.0.0.9:8787"


async def test_user_flow_needs_mqtt(hass: HomeAssistant) -> None:
    """Without the MQTT integration there is nothing to receive transits with."""
    with patch.object(hass.config_entries, "async_entries", return_value=[]):
        result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "mqtt_not_configured"


# -- MQTT discovery ------------------------------------------------------------------------


def _fields(result: Any) -> list[str]:
    """The fields a form asks for, in order."""
    return [str(key) for key in result["data_schema"].schema]


async def test_mqtt_discovery(hass: HomeAssistant, aioclient_mock: AiohttpClientMocker) -> None:
    """The retained status names the engine and its API: the user gives only the token."""
    aioclient_mock.get(INFO_URL, json=INFO)
    status = payload("status_online", api_url=API_URL)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_MQTT}, data=mqtt_discovery(status)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "discovery_confirm"
    assert result["description_placeholders"] == {"name": INSTANCE, "prefix": PREFIX}
    assert _fields(result) == [CONF_API_TOKEN], "no URL asked: the engine announced it"
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert flows[0]["context"]["title_placeholders"] == {"name": INSTANCE}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_API_TOKEN: TOKEN}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == ENTRY_DATA
    assert result["result"].unique_id == INSTANCE


async def test_mqtt_discovery_custom_prefix_without_url(
    hass: HomeAssistant, aioclient_mock: AiohttpClientMocker
) -> None:
    """An engine on another prefix that does not publish its URL: the user types it."""
    aioclient_mock.get(INFO_URL, json=INFO)
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_MQTT},
        data=mqtt_discovery(payload("status_online", api_url=None), topic="comune/alpr/status"),
    )
    assert result["step_id"] == "discovery_confirm"
    assert _fields(result) == [CONF_URL, CONF_API_TOKEN]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_URL: API_URL, CONF_API_TOKEN: "wrong"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_TOPIC_PREFIX] == "comune/alpr"


async def test_mqtt_discovery_unreachable_url(
    hass: HomeAssistant, aioclient_mock: AiohttpClientMocker
) -> None:
    """An announced URL Home Assistant cannot reach (the engine's own view of its address):
    the form then asks for the URL, suggesting the announced one."""
    unreachable = "http://172.30.32.1:8787"
    aioclient_mock.get(f"{unreachable}/api/v1/info", exc=aiohttp.ClientConnectionError("no"))
    aioclient_mock.get(INFO_URL, json=INFO)
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_MQTT},
        data=mqtt_discovery(payload("status_online", api_url=unreachable)),
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_API_TOKEN: TOKEN}
    )
    assert result["errors"] == {"base": "cannot_connect"}
    assert _fields(result) == [CONF_URL, CONF_API_TOKEN]
    suggested = {str(key): key.description for key in result["data_schema"].schema}
    assert suggested[CONF_URL] == {"suggested_value": unreachable}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_URL: API_URL, CONF_API_TOKEN: TOKEN}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == ENTRY_DATA


async def test_manual_setup_waits_for_a_pending_discovery(
    hass: HomeAssistant, aioclient_mock: AiohttpClientMocker
) -> None:
    """While a discovered engine waits for confirmation, a manual set-up stops at once (before
    any field is typed), naming it; once that discovery is done, manual set-up opens again."""
    aioclient_mock.get(INFO_URL, json=INFO)
    discovered = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_MQTT}, data=mqtt_discovery(payload("status_online"))
    )
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "discovery_pending"
    assert result["description_placeholders"] == {"name": INSTANCE}

    hass.config_entries.flow.async_abort(discovered["flow_id"])
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"


async def test_mqtt_discovery_wrong_engine(
    hass: HomeAssistant, aioclient_mock: AiohttpClientMocker
) -> None:
    """An API URL of another engine than the one found on MQTT is refused (and the form then
    asks for the URL)."""
    aioclient_mock.get(INFO_URL, json={**INFO, "instance": "rufina-02"})
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_MQTT}, data=mqtt_discovery(payload("status_online"))
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_API_TOKEN: TOKEN}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "wrong_engine"}
    assert _fields(result) == [CONF_URL, CONF_API_TOKEN]

    aioclient_mock.clear_requests()
    aioclient_mock.get(INFO_URL, status=401)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_URL: API_URL, CONF_API_TOKEN: "wrong"}
    )
    assert result["errors"] == {"base": "invalid_auth"}


@pytest.mark.parametrize(
    "raw",
    [b"", b"offline", json.dumps({"v": 1, "state": "online"}).encode(), b'{"v": 7}'],
)
async def test_mqtt_discovery_invalid(hass: HomeAssistant, raw: bytes) -> None:
    """An empty, foreign or broken status aborts the discovery."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_MQTT}, data=mqtt_discovery(raw)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "invalid_discovery_info"


async def test_mqtt_discovery_known_engine(
    hass: HomeAssistant, config_entry: MockConfigEntry
) -> None:
    """A configured engine's status aborts and leaves its tested URL and prefix alone."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_MQTT},
        data=mqtt_discovery(
            payload("status_online", api_url="http://0.0.0.0:8787"), topic="old/prefix/status"
        ),
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert dict(config_entry.data) == ENTRY_DATA


# -- add-on discovery ----------------------------------------------------------------------


async def test_hassio_discovery(hass: HomeAssistant, aioclient_mock: AiohttpClientMocker) -> None:
    """The add-on sends everything; the user only confirms."""
    aioclient_mock.get(INFO_URL, json=INFO)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_HASSIO}, data=addon_discovery()
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "hassio_confirm"
    assert result["description_placeholders"] == {"addon": "Rufina ALPR", "name": INSTANCE}
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == ENTRY_DATA
    assert result["result"].unique_id == INSTANCE


async def test_hassio_discovery_api_url_and_defaults(
    hass: HomeAssistant, aioclient_mock: AiohttpClientMocker
) -> None:
    """An explicit API URL wins over host and port; the prefix defaults to the engine's."""
    aioclient_mock.get("http://a0d7b954-rufina-alpr:8787/api/v1/info", json=INFO)
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_HASSIO},
        data=addon_discovery(api_url="http://a0d7b954-rufina-alpr:8787", topic_prefix=None),
    )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["data"][CONF_URL] == "http://a0d7b954-rufina-alpr:8787"
    assert result["data"][CONF_TOPIC_PREFIX] == "rufina_alpr"


@pytest.mark.parametrize(
    ("changes", "mock_kwargs", "reason"),
    [
        ({}, {"status": 401}, "invalid_auth"),
        ({}, {"exc": aiohttp.ClientConnectionError()}, "cannot_connect"),
        ({"host": None, "port": None, "api_url": "ftp://x"}, None, "invalid_url"),
        ({"topic_prefix": "rufina/#"}, None, "invalid_topic_prefix"),
    ],
)
async def test_hassio_discovery_errors(
    hass: HomeAssistant,
    aioclient_mock: AiohttpClientMocker,
    changes: dict[str, Any],
    mock_kwargs: dict[str, Any] | None,
    reason: str,
) -> None:
    """An add-on whose API cannot be used aborts with the reason."""
    if mock_kwargs is not None:
        aioclient_mock.get(INFO_URL, **mock_kwargs)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_HASSIO}, data=addon_discovery(**changes)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == reason


async def test_hassio_discovery_known_engine(
    hass: HomeAssistant, aioclient_mock: AiohttpClientMocker, config_entry: MockConfigEntry
) -> None:
    """The add-on's engine configured already: its tested data is refreshed, reloading if new."""
    aioclient_mock.get(INFO_URL, json=INFO)
    config_entry.mock_state(hass, ConfigEntryState.LOADED)
    with patch.object(hass.config_entries, "async_schedule_reload") as reload:
        result = await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": SOURCE_HASSIO}, data=addon_discovery()
        )
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "already_configured"
        reload.assert_not_called()

        result = await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": SOURCE_HASSIO}, data=addon_discovery(token="rotated")
        )
    assert result["reason"] == "already_configured"
    assert config_entry.data[CONF_API_TOKEN] == "rotated"
    reload.assert_called_once_with(config_entry.entry_id)


# -- reauth, reconfigure, options ------------------------------------------------------------


async def test_reauth(
    hass: HomeAssistant, aioclient_mock: AiohttpClientMocker, config_entry: MockConfigEntry
) -> None:
    """A refused token: the user enters a new one, tested before it is stored."""
    aioclient_mock.get(INFO_URL, status=401)
    result = await config_entry.start_reauth_flow(hass)
    assert result["step_id"] == "reauth_confirm"
    assert result["description_placeholders"] == {"name": INSTANCE, "url": API_URL}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_API_TOKEN: "still-wrong"}
    )
    assert result["errors"] == {"base": "invalid_auth"}

    aioclient_mock.clear_requests()
    aioclient_mock.get(INFO_URL, json=INFO)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_API_TOKEN: "new-token"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert config_entry.data[CONF_API_TOKEN] == "new-token"


async def test_reauth_wrong_engine(
    hass: HomeAssistant, aioclient_mock: AiohttpClientMocker, config_entry: MockConfigEntry
) -> None:
    """The URL now answers as another engine: nothing is changed."""
    aioclient_mock.get(INFO_URL, json={**INFO, "instance": "rufina-02"})
    result = await config_entry.start_reauth_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_API_TOKEN: "new-token"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_engine"
    assert config_entry.data[CONF_API_TOKEN] == TOKEN


async def test_reconfigure(
    hass: HomeAssistant, aioclient_mock: AiohttpClientMocker, config_entry: MockConfigEntry
) -> None:
    """Prefix and URL change; an empty token keeps the stored one."""
    new_url = "http://10.0.0.9:8787"
    aioclient_mock.get(f"{new_url}/api/v1/info", json=INFO)
    result = await config_entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "reconfigure"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_TOPIC_PREFIX: "bad/#", CONF_URL: new_url}
    )
    assert result["errors"] == {CONF_TOPIC_PREFIX: "invalid_topic_prefix"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_TOPIC_PREFIX: "comune/alpr", CONF_URL: new_url}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert dict(config_entry.data) == {
        CONF_TOPIC_PREFIX: "comune/alpr",
        CONF_URL: new_url,
        CONF_API_TOKEN: TOKEN,
    }
    assert aioclient_mock.mock_calls[0][3]["Authorization"] == f"Bearer {TOKEN}"


async def test_reconfigure_errors(
    hass: HomeAssistant, aioclient_mock: AiohttpClientMocker, config_entry: MockConfigEntry
) -> None:
    """A new token is tested; another engine behind the URL aborts."""
    aioclient_mock.get(INFO_URL, exc=aiohttp.ClientConnectionError())
    result = await config_entry.start_reconfigure_flow(hass)
    user_input = {CONF_TOPIC_PREFIX: PREFIX, CONF_URL: API_URL, CONF_API_TOKEN: "new"}
    result = await hass.config_entries.flow.async_configure(result["flow_id"], user_input)
    assert result["errors"] == {"base": "cannot_connect"}

    aioclient_mock.clear_requests()
    aioclient_mock.get(INFO_URL, json={**INFO, "instance": "rufina-02"})
    result = await hass.config_entries.flow.async_configure(result["flow_id"], user_input)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_engine"
    assert config_entry.data[CONF_API_TOKEN] == TOKEN


async def test_options_flow(hass: HomeAssistant, config_entry: MockConfigEntry) -> None:
    """The offline delay before a repair issue is an option, with a default; plates in the
    transit bus events are off unless asked for."""
    result = await hass.config_entries.options.async_init(config_entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "init"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_OFFLINE_ISSUE_MINUTES: 5.0}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert config_entry.options == {
        CONF_OFFLINE_ISSUE_MINUTES: 5,
        CONF_OPERATORS: [],
        CONF_PLATES_IN_EVENTS: False,  # plates stay out of the recorded bus events by default
        CONF_SHOW_ON_MAP: False,  # and the stations off Home Assistant's map
    }
    result = await hass.config_entries.options.async_init(config_entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_OFFLINE_ISSUE_MINUTES: 5, CONF_PLATES_IN_EVENTS: True}
    )
    assert config_entry.options[CONF_PLATES_IN_EVENTS] is True
