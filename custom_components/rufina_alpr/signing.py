"""The engine's MQTT signatures, checked before the integration acts on a message.

Whoever may publish on the engine's prefix could otherwise make Home Assistant raise a hotlist
alert, create entities or show a made-up plate. The engine signs every JSON payload with an
HMAC-SHA256 key that the integration reads over the engine's authenticated API; the integration
cannot import the engine (see models.py), so this is the engine's `contract.verify`, kept equal
by the tests that feed real engine payloads to the integration.
"""

from __future__ import annotations

from datetime import datetime, timedelta
import hashlib
import hmac
import json
import re
from typing import Any, Final

from homeassistant.util import dt as dt_util

# How far the engine's clock may run ahead of Home Assistant's: later times are not trusted.
CLOCK_SKEW: Final = timedelta(minutes=5)
# How old a signed transit or alert may be when it arrives: an older one is a replay (the engine
# signs a message when it publishes it, also when its outbox publishes it late).
MAX_EVENT_AGE: Final = timedelta(minutes=15)

# The fields the engine adds to every payload it signs.
SIGNATURE_FIELDS: Final = ("sent", "kid", "sig")

_HEX_KEY: Final = re.compile(r"^[0-9a-f]{32,128}$")


def is_key(value: object) -> bool:
    """A signing key as the engine's API gives it: hex, at least 16 bytes."""
    return isinstance(value, str) and bool(_HEX_KEY.match(value)) and len(value) % 2 == 0


def key_id(key: str) -> str:
    """The public id of a key (the payload's `kid`)."""
    return hashlib.sha256(b"rufina-alpr key id\0" + bytes.fromhex(key)).hexdigest()[:16]


def canonical(payload: dict[str, Any]) -> bytes:
    """What the signature covers: the payload without `sig`, keys sorted, no blanks, ASCII."""
    unsigned = {k: v for k, v in payload.items() if k != "sig"}
    return json.dumps(
        unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")


def signature(payload: dict[str, Any], key: str) -> str:
    """HMAC-SHA256 of `canonical(payload)`, as hex."""
    return hmac.new(bytes.fromhex(key), canonical(payload), hashlib.sha256).hexdigest()


def verify(payload: dict[str, Any], key: str) -> bool:
    """True when the payload carries this key's id and a matching signature."""
    sig = payload.get("sig")
    if not isinstance(sig, str) or payload.get("kid") != key_id(key):
        return False
    try:
        expected = signature(payload, key)
    except ValueError:  # NaN or infinity: never in a payload the engine signed
        return False
    return hmac.compare_digest(sig, expected)


def sign(payload: dict[str, Any], key: str, sent: datetime | None = None) -> dict[str, Any]:
    """A signed copy of the payload, as the engine makes it (for tests and tools)."""
    signed = {k: v for k, v in payload.items() if k not in SIGNATURE_FIELDS}
    signed["sent"] = (sent or dt_util.utcnow()).isoformat(timespec="milliseconds")
    signed["kid"] = key_id(key)
    signed["sig"] = signature(signed, key)
    return signed


def sent_at(payload: dict[str, Any]) -> datetime | None:
    """When the engine signed the payload; None when it does not say."""
    sent = payload.get("sent")
    if not isinstance(sent, str):
        return None
    moment = dt_util.parse_datetime(sent)
    return moment if moment is not None and moment.tzinfo is not None else None


def in_future(moment: datetime | None, now: datetime | None = None) -> bool:
    """True for a time further ahead than the engine's clock may be."""
    return moment is not None and moment > (now or dt_util.utcnow()) + CLOCK_SKEW
