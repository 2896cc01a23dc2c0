"""A small client for the engine's HTTP API (aiohttp, using Home Assistant's shared session)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from http import HTTPStatus
import json
from typing import Any
from urllib.parse import quote

import aiohttp
from yarl import URL

from .signing import is_key, key_id

REQUEST_TIMEOUT = 10
# The person a request is made for (percent-encoded UTF-8), and the engine's refusal of it to a
# token that may not act for others (docs/openapi.yaml).
ACTING_USER_HEADER = "X-Rufina-Acting-User"
NOT_A_DELEGATE = "not_a_delegate"


class RufinaAlprApiError(Exception):
    """The engine's API answered something this client cannot use."""


class RufinaAlprConnectionError(RufinaAlprApiError):
    """The engine's API cannot be reached."""


class RufinaAlprAuthError(RufinaAlprApiError):
    """The engine refused the token."""


class RufinaAlprForbiddenError(RufinaAlprAuthError):
    """The token is valid but its role is not enough for this request (HTTP 403)."""


class RufinaAlprNotDelegateError(RufinaAlprForbiddenError):
    """The token may not act for another person (`delegate` is off for it in the engine)."""


class RufinaAlprRequestError(RufinaAlprApiError):
    """The engine refused the request itself (HTTP 4xx), with its error code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class EngineInfo:
    """What `GET /api/v1/info` tells about one engine."""

    instance: str
    engine_version: str
    contract_version: int
    stations: int
    delegate: bool | None = None
    """The token may name the person it acts for (the engine writes them in its audit log);
    None from an engine that does not say (older than the acting user)."""


def _request_error(status: int, text: str) -> RufinaAlprRequestError:
    """The engine's `{"error": code, "message": text}` answer as an exception."""
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict):
        return RufinaAlprRequestError(
            status, str(body.get("error", "bad_request")), str(body.get("message", ""))[:300]
        )
    return RufinaAlprRequestError(status, "bad_request", f"HTTP {status}")


def normalize_url(url: str) -> str:
    """Strip blanks and trailing slashes so the same engine always has the same URL."""
    return url.strip().rstrip("/")


def is_valid_url(url: str) -> bool:
    """Only absolute http(s) URLs with a host are accepted."""
    try:
        parsed = URL(normalize_url(url))
    except ValueError:
        return False
    return parsed.scheme in ("http", "https") and bool(parsed.host)


class RufinaAlprApiClient:
    """Talks to one engine; the session is injected (Home Assistant's shared one)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        token: str,
        acting_user: str | None = None,
    ) -> None:
        self._session = session
        self._url = normalize_url(url)
        self._token = token
        self._acting_user = acting_user

    def acting_for(self, person: str) -> RufinaAlprApiClient:
        """A client whose requests name the person they are made for: the engine's audit log
        records them beside the token's user (the token must be a `delegate`)."""
        return RufinaAlprApiClient(self._session, self._url, self._token, person)

    @property
    def url(self) -> str:
        """The API's base URL."""
        return self._url

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: dict[str, Any] | None = None,
        text_body: str | None = None,
    ) -> Any:
        """One API call; JSON back (None for 204). Errors become the client's exceptions."""
        headers = {"Authorization": f"Bearer {self._token}"}
        if self._acting_user is not None:
            headers[ACTING_USER_HEADER] = quote(self._acting_user, safe="")
        data: bytes | None = None
        if text_body is not None:
            headers["Content-Type"] = "text/csv"
            data = text_body.encode()
        query = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                async with self._session.request(
                    method,
                    f"{self._url}{path}",
                    headers=headers,
                    params=query,
                    json=json_body,
                    data=data,
                ) as response:
                    if response.status == HTTPStatus.UNAUTHORIZED:
                        raise RufinaAlprAuthError("token refused (401)")
                    if response.status == HTTPStatus.FORBIDDEN:
                        if _request_error(403, await response.text()).code == NOT_A_DELEGATE:
                            raise RufinaAlprNotDelegateError("the token is not a delegate (403)")
                        raise RufinaAlprForbiddenError("the token's role is not enough (403)")
                    if response.status == HTTPStatus.NO_CONTENT:
                        return None
                    if HTTPStatus.BAD_REQUEST <= response.status < 500:
                        raise _request_error(response.status, await response.text())
                    if response.status not in (HTTPStatus.OK, HTTPStatus.CREATED):
                        raise RufinaAlprApiError(f"unexpected HTTP status {response.status}")
                    return await response.json(content_type=None)
        except (TimeoutError, aiohttp.ClientError) as err:
            raise RufinaAlprConnectionError(str(err) or type(err).__name__) from err
        except ValueError as err:  # not JSON
            raise RufinaAlprApiError("the answer is not JSON") from err

    async def async_list_hotlists(self) -> list[dict[str, Any]]:
        """Every hotlist with its entry counts (no plates)."""
        data = await self._request("GET", "/api/v1/hotlists")
        if not isinstance(data, dict) or not isinstance(data.get("hotlists"), list):
            raise RufinaAlprApiError("the hotlists answer lacks 'hotlists'")
        return [item for item in data["hotlists"] if isinstance(item, dict) and "id" in item]

    async def async_hotlist_entries(
        self, list_id: str, reason: str, *, limit: int, offset: int
    ) -> dict[str, Any]:
        """A page of a list's active entries (plates: audited with `reason`)."""
        data = await self._request(
            "GET",
            f"/api/v1/hotlists/{quote(list_id, safe='')}/entries",
            params={"reason": reason, "limit": limit, "offset": offset},
        )
        if not isinstance(data, dict) or not isinstance(data.get("entries"), list):
            raise RufinaAlprApiError("the entries answer lacks 'entries'")
        return data

    async def async_add_hotlist_entry(self, list_id: str, entry: dict[str, Any]) -> Any:
        """Put a plate on a list (`entry`: plate, reason and the optional fields)."""
        return await self._request(
            "POST", f"/api/v1/hotlists/{quote(list_id, safe='')}/entries", json_body=entry
        )

    async def async_remove_hotlist_entry(self, list_id: str, plate: str, reason: str) -> None:
        """Take a plate off a list."""
        await self._request(
            "DELETE",
            f"/api/v1/hotlists/{quote(list_id, safe='')}/entries/{quote(plate, safe='')}",
            params={"reason": reason},
        )

    async def async_import_hotlist(
        self, list_id: str, csv_text: str, *, replace: bool, reason: str | None
    ) -> Any:
        """Import CSV entries into a list; the engine's report back."""
        return await self._request(
            "POST",
            f"/api/v1/hotlists/{quote(list_id, safe='')}/import",
            params={"replace": "true" if replace else "false", "reason": reason},
            text_body=csv_text,
        )

    async def async_search_transits(self, params: dict[str, Any]) -> Any:
        """Transit search (needs `reason`)."""
        return await self._request("GET", "/api/v1/transits", params=params)

    async def async_vehicle_route(self, params: dict[str, Any]) -> Any:
        """A plate's journeys (needs `plate` and `reason`)."""
        return await self._request("GET", "/api/v1/route", params=params)

    async def async_hold(self, body: dict[str, Any]) -> Any:
        """Hold transits past retention for an investigation."""
        return await self._request("POST", "/api/v1/holds", json_body=body)

    async def async_purge(self, reason: str | None) -> Any:
        """Run the retention purge now (admin token)."""
        return await self._request("POST", "/api/v1/purge", params={"reason": reason})

    async def async_alert_step(self, alert_id: str, body: dict[str, Any]) -> Any:
        """One step of an alert's handling (`body`: step, and reason, outcome, note); the
        alert back as the engine holds it after the step."""
        return await self._request(
            "POST", f"/api/v1/alerts/{quote(alert_id, safe='')}/steps", json_body=body
        )

    async def async_get_signing_key(self) -> str:
        """The key the engine signs its MQTT messages with (`GET /api/v1/contract`)."""
        data = await self._request("GET", "/api/v1/contract")
        key = data.get("signing_key") if isinstance(data, dict) else None
        if not isinstance(key, str) or not is_key(key) or data.get("key_id") != key_id(key):
            raise RufinaAlprApiError("the contract answer lacks a valid signing key")
        return key

    async def async_get_info(self) -> EngineInfo:
        """The engine's identity; also proves that the token is accepted."""
        data = await self._request("GET", "/api/v1/info")
        try:
            return EngineInfo(
                instance=str(data["instance"]),
                engine_version=str(data["engine_version"]),
                contract_version=int(data["contract_version"]),
                stations=int(data.get("stations", 0)),
                delegate=data["delegate"] if isinstance(data.get("delegate"), bool) else None,
            )
        except (KeyError, TypeError, ValueError) as err:
            raise RufinaAlprApiError("the info answer lacks required fields") from err
