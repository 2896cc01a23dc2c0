"""A small client for the engine's HTTP API (aiohttp, using Home Assistant's shared session)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import aiohttp
from yarl import URL

REQUEST_TIMEOUT = 10


class RufinaAlprApiError(Exception):
    """The engine's API answered something this client cannot use."""


class RufinaAlprConnectionError(RufinaAlprApiError):
    """The engine's API cannot be reached."""


class RufinaAlprAuthError(RufinaAlprApiError):
    """The engine refused the token."""


@dataclass(frozen=True, slots=True)
class EngineInfo:
    """What `GET /api/v1/info` tells about one engine."""

    instance: str
    engine_version: str
    contract_version: int
    stations: int


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

    def __init__(self, session: aiohttp.ClientSession, url: str, token: str) -> None:
        self._session = session
        self._url = normalize_url(url)
        self._token = token

    @property
    def url(self) -> str:
        """The API's base URL."""
        return self._url

    async def _get(self, path: str) -> Any:
        headers = {"Authorization": f"Bearer {self._token}"}
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                async with self._session.get(f"{self._url}{path}", headers=headers) as response:
                    if response.status in (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN):
                        raise RufinaAlprAuthError(f"token refused ({response.status})")
                    if response.status != HTTPStatus.OK:
                        raise RufinaAlprApiError(f"unexpected HTTP status {response.status}")
                    return await response.json(content_type=None)
        except (TimeoutError, aiohttp.ClientError) as err:
            raise RufinaAlprConnectionError(str(err) or type(err).__name__) from err
        except ValueError as err:  # not JSON
            raise RufinaAlprApiError("the answer is not JSON") from err

    async def async_get_info(self) -> EngineInfo:
        """The engine's identity; also proves that the token is accepted."""
        data = await self._get("/api/v1/info")
        try:
            return EngineInfo(
                instance=str(data["instance"]),
                engine_version=str(data["engine_version"]),
                contract_version=int(data["contract_version"]),
                stations=int(data.get("stations", 0)),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise RufinaAlprApiError("the info answer lacks required fields") from err
