"""What every engine payload shares: decoding with the contract version checked, the schema check
that turns voluptuous' refusal into a `PayloadError`, the common field validators and times.

The integration cannot import the engine (see models.py), so these are its own.
"""

from __future__ import annotations

from datetime import datetime
import json
from typing import Any

from homeassistant.util import dt as dt_util

from .compat import vol
from .const import SUPPORTED_CONTRACT_VERSION

NUMBER = vol.All(vol.Any(int, float), vol.Coerce(float))
COUNT = vol.All(int, vol.Range(min=0))
OPTIONAL_TEXT = vol.Any(None, str)

type Payload = str | bytes | bytearray | dict[str, Any]


class PayloadError(ValueError):
    """A payload that breaks the contract (bad JSON, missing or mistyped fields)."""


class UnsupportedVersionError(PayloadError):
    """A payload of a contract version this integration does not read."""

    def __init__(self, version: object) -> None:
        super().__init__(f"unsupported payload version {version!r}")
        self.version = version


def decode(payload: Payload) -> dict[str, Any]:
    """Decode one JSON payload (or take one decoded already) and check its contract version."""
    if isinstance(payload, dict):
        data: Any = payload
    else:
        try:
            data = json.loads(payload)
        except ValueError as err:
            raise PayloadError(f"not JSON: {err}") from err
    if not isinstance(data, dict):
        raise PayloadError("not a JSON object")
    if data.get("v") != SUPPORTED_CONTRACT_VERSION:
        raise UnsupportedVersionError(data.get("v"))
    return data


def checked(schema: vol.Schema, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` as ``schema`` reads it (defaults filled), or a `PayloadError` saying why not."""
    try:
        valid: dict[str, Any] = schema(data)
    except vol.Invalid as err:
        raise PayloadError(str(err)) from err
    return valid


def parse_time(value: str | None) -> datetime | None:
    """An ISO 8601 time of a payload (None stays None)."""
    if value is None:
        return None
    return dt_util.parse_datetime(value)
