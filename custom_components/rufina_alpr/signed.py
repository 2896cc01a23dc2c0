"""The gate every signed MQTT payload passes: only what the engine signed, recently, is acted on.

Anyone who may publish on the engine's prefix can send anything, so the hub hands each message to
its `PayloadGate` before reading it. The gate checks the engine's signature (`signing.py`) with the
key the authenticated API gave, holds messages while that key is read, and counts and reports
what it refuses (the repairs) and what breaks the contract; it never subscribes to anything.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from homeassistant.components.mqtt.models import ReceiveMessage
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.util import dt as dt_util

from .api import (
    RufinaAlprApiClient,
    RufinaAlprApiError,
    RufinaAlprAuthError,
    RufinaAlprForbiddenError,
    RufinaAlprRequestError,
)
from .const import CONF_SIGNING_KEY, CONF_TOPIC_PREFIX, DOMAIN, LOGGER, SUPPORTED_CONTRACT_VERSION
from .payload import PayloadError, UnsupportedVersionError, decode
from .repairs import RufinaAlprRepairs
from .signing import MAX_EVENT_AGE, SIGNATURE_FIELDS, in_future, key_id, sent_at, verify

# The signing key is asked again at most this often (a message signed with another key id, an
# engine whose API was away).
KEY_RETRY = timedelta(seconds=60)
# Messages kept, the latest per topic, while the key is not known yet: judged once it is.
MAX_HELD = 64
# Kinds whose messages are events (not retained state): an old one is a replay.
EVENT_KINDS = frozenset({"transit", "hotlist_match", "alert"})

type Handler = Callable[[ReceiveMessage], None]


class PayloadGate:
    """The signature check, the held messages and the message counters of one engine."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        client: RufinaAlprApiClient,
        repairs: RufinaAlprRepairs,
        token_refused: Callable[[], None],
    ) -> None:
        self.hass = hass
        self.entry = entry
        self.client = client
        self.repairs = repairs
        # The hub's: a 401 while reading the key asks for a new token like any other 401.
        self._token_refused = token_refused
        assert entry.unique_id is not None
        self.instance: str = entry.unique_id
        self.prefix: str = entry.data[CONF_TOPIC_PREFIX]
        self.received: dict[str, int] = {}
        self.rejected: dict[str, int] = {}
        # Messages not acted on because the engine did not sign them (or too late, or too early).
        self.refused: dict[str, int] = {}
        self.signing_key: str | None = entry.data.get(CONF_SIGNING_KEY)
        self._held: dict[str, tuple[Handler, ReceiveMessage]] = {}
        self._key_task: asyncio.Task[None] | None = None
        self._key_asked: datetime | None = None
        self._warned_versions: set[str] = set()

    @property
    def held_count(self) -> int:
        """Messages waiting for the signing key."""
        return len(self._held)

    async def async_read_key(self) -> None:
        """Read the key at set-up (the API answered): messages arriving later need not wait."""
        self._key_asked = dt_util.utcnow()
        await self._async_fetch_key()

    @callback
    def async_stop(self) -> None:
        """Stop reading the key and drop the held messages (the entry is unloading)."""
        if self._key_task is not None:
            self._key_task.cancel()
        self._held.clear()

    def read[T](
        self,
        kind: str,
        msg: ReceiveMessage,
        handler: Handler,
        parse: Callable[[dict[str, Any]], T],
    ) -> T | None:
        """The message's payload parsed by `parse` when the engine signed it, recently, and it
        keeps the contract; None otherwise (see `_accept`; a broken payload is `reject`ed)."""
        if (data := self._accept(kind, msg, handler)) is None:
            return None
        try:
            return parse(data)
        except PayloadError as err:
            self.reject(kind, msg.topic, err)
            return None

    def _accept(self, kind: str, msg: ReceiveMessage, handler: Handler) -> dict[str, Any] | None:
        """The message's payload when the engine signed it, recently; None otherwise.

        Anyone who may publish on the prefix can send anything: only what the engine signed with
        the key its authenticated API gave is acted on. A message signed with another key id may
        come from an engine whose key changed: it waits while the key is read again, and is
        given to `handler` once it is.
        """
        try:
            data = decode(msg.payload)
        except PayloadError as err:
            self.reject(kind, msg.topic, err)
            return None
        key = self.signing_key
        if key is None:
            self._hold(msg, handler)
            self._async_request_key()
            return None
        if not verify(data, key):
            kid = data.get("kid")
            if isinstance(kid, str) and kid != key_id(key) and self._may_request_key():
                self._hold(msg, handler)  # first: the reading may end before this returns
                self._async_request_key()
                return None
            self._refuse(kind, msg.topic, "not signed by the engine")
            return None
        sent = sent_at(data)
        now = dt_util.utcnow()
        if sent is None or in_future(sent, now):
            self._refuse(kind, msg.topic, "no signing time, or one in the future")
            return None
        if kind in EVENT_KINDS and sent < now - MAX_EVENT_AGE:
            self._refuse(kind, msg.topic, "signed too long ago (a replay?)")
            return None
        # The signature is the transport's: events, actions and attributes carry the payload.
        return {k: v for k, v in data.items() if k not in SIGNATURE_FIELDS}

    def count(self, kind: str) -> None:
        """Count a message acted on (diagnostics: `messages_received`)."""
        self.received[kind] = self.received.get(kind, 0) + 1

    def reject(self, kind: str, topic: str, err: PayloadError) -> None:
        """Log a payload that breaks the contract; a version mismatch is logged once."""
        self.rejected[kind] = self.rejected.get(kind, 0) + 1
        if isinstance(err, UnsupportedVersionError):
            if kind not in self._warned_versions:
                self._warned_versions.add(kind)
                LOGGER.warning(
                    "Ignoring %s payloads of contract version %s on %s; this integration reads "
                    "version %s: update the engine or the integration",
                    kind,
                    err.version,
                    topic,
                    SUPPORTED_CONTRACT_VERSION,
                )
            return
        LOGGER.warning("Ignoring a malformed %s payload on %s: %s", kind, topic, err)

    def _hold(self, msg: ReceiveMessage, handler: Handler) -> None:
        """Keep the latest message per topic until the key is known (bounded)."""
        if msg.topic in self._held or len(self._held) < MAX_HELD:
            self._held[msg.topic] = (handler, msg)

    def _refuse(self, kind: str, topic: str, why: str) -> None:
        """Count and log a message not acted on; the first one raises a repair issue."""
        self.refused[kind] = self.refused.get(kind, 0) + 1
        LOGGER.debug("Ignoring a %s message on %s: %s", kind, topic, why)
        self.repairs.async_message_refused(self.prefix, kind, topic)

    def _reading_key(self) -> bool:
        return self._key_task is not None and not self._key_task.done()

    def _may_request_key(self) -> bool:
        """True while the key is being read or may be read again (not lately)."""
        asked = self._key_asked
        return self._reading_key() or asked is None or dt_util.utcnow() - asked >= KEY_RETRY

    @callback
    def _async_request_key(self) -> None:
        """Read the key again (the held messages are judged then), unless that was done lately."""
        if self._reading_key() or not self._may_request_key():
            return
        self._key_asked = dt_util.utcnow()
        self._key_task = self.entry.async_create_background_task(
            self.hass, self._async_fetch_key(replay=True), f"{DOMAIN} signing key"
        )

    async def _async_fetch_key(self, *, replay: bool = False) -> None:
        """Read the signing key from the API; keep it in the entry for a start without the API."""
        try:
            key = await self.client.async_get_signing_key()
        except RufinaAlprRequestError as err:
            if err.status != 404:
                LOGGER.warning("The engine's signing key cannot be read: %s", err)
                return
            LOGGER.error(
                "Engine %s does not sign its messages (no /api/v1/contract): nothing it "
                "publishes is used until it is updated",
                self.instance,
            )
            self.repairs.async_engine_unsigned()
            return
        except RufinaAlprForbiddenError as err:
            LOGGER.warning("The engine's signing key cannot be read now: %s", err)
            return
        except RufinaAlprAuthError:
            self._token_refused()
            return
        except RufinaAlprApiError as err:
            LOGGER.warning("The engine's signing key cannot be read now: %s", err)
            return
        self.repairs.async_engine_signs()
        if key != self.signing_key:
            if self.signing_key is not None:
                LOGGER.info("Engine %s signs with a new key", self.instance)
            self.signing_key = key
            self.hass.config_entries.async_update_entry(
                self.entry, data={**self.entry.data, CONF_SIGNING_KEY: key}
            )
        if replay:
            self._key_task = None  # judged with this key now: no second reading for them
            held, self._held = self._held, {}
            for handler, msg in held.values():
                handler(msg)
