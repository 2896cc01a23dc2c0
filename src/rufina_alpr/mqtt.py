"""MQTT link (paho-mqtt 2.x) bridged to asyncio.

Persistent session, QoS 1, manual acknowledgements (a message is acknowledged only once the engine
has dealt with it, so a crash makes the broker deliver it again), last will, reconnect with backoff,
and publish futures that resolve when the broker acknowledged a QoS 1 message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

_LOGGER = logging.getLogger(__name__)
FAILURE_LOG_EVERY: Final = 60.0
"""Seconds between the warnings that the broker still cannot be reached."""


@dataclass(frozen=True, slots=True)
class Message:
    """An incoming message; call `MqttLink.ack` with it once handled."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    retain: bool


@dataclass(frozen=True, slots=True)
class Will:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


class MqttLink:
    """One paho client; callbacks hop from paho's network thread to the asyncio loop."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        client_id: str,
        username: str | None = None,
        password: str | None = None,
        keepalive: int = 30,
        will: Will | None = None,
        subscriptions: tuple[tuple[str, int], ...] = (),
        on_message: Callable[[Message], None] | None = None,
        on_connected: Callable[[], None] | None = None,
        clean_session: bool = False,
        manual_ack: bool = True,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self._host, self._port, self._keepalive = host, port, keepalive
        self._subscriptions = subscriptions
        self._on_message = on_message
        self._on_connected = on_connected
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: dict[int, asyncio.Future[None]] = {}
        self.connected = asyncio.Event()
        self.disconnects = 0
        self.failed_attempts = 0
        """Connection attempts that failed since the last connection (the broker unreachable)."""
        self._failure_logged_at: float | None = None
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=clean_session,
            protocol=paho.MQTTv311,
            reconnect_on_failure=True,
        )
        client.manual_ack_set(manual_ack)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.max_inflight_messages_set(100)
        if username:
            client.username_pw_set(username, password)
        if tls is not None:
            client.tls_set_context(tls)
        if will is not None:
            client.will_set(will.topic, will.payload, qos=will.qos, retain=will.retain)
        client.on_connect = self._handle_connect
        client.on_connect_fail = self._handle_connect_fail
        client.on_disconnect = self._handle_disconnect
        client.on_message = self._handle_message
        client.on_publish = self._handle_publish
        client.on_socket_open = _no_delay
        self._client = client

    @property
    def started(self) -> bool:
        """Whether `start` was called (publishing needs its loop)."""
        return self._loop is not None

    async def start(self) -> None:
        """Connect in the background; paho keeps reconnecting while the broker is away."""
        self._loop = asyncio.get_running_loop()
        self._client.connect_async(self._host, self._port, keepalive=self._keepalive)
        self._client.loop_start()

    async def stop(self, *, final: tuple[str, bytes] | None = None) -> None:
        """Publish a last retained message (e.g. status offline), then disconnect cleanly."""
        if final is not None and self.connected.is_set():
            try:
                await asyncio.wait_for(self.publish(final[0], final[1], retain=True), timeout=3)
            except (TimeoutError, ConnectionError):
                _LOGGER.warning("could not publish the final status before disconnecting")
        self._client.disconnect()
        await asyncio.to_thread(self._client.loop_stop)

    def publish(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False
    ) -> asyncio.Future[None]:
        """Queue a message; the future resolves when the broker acknowledged it (QoS 1).

        paho keeps queued QoS 1 messages across reconnects and resends them, so a future stays
        pending through a broker outage and resolves once the message is finally delivered.
        """
        assert self._loop is not None, "start() first"
        future: asyncio.Future[None] = self._loop.create_future()
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc not in (paho.MQTT_ERR_SUCCESS, paho.MQTT_ERR_NO_CONN):
            future.set_exception(ConnectionError(f"publish refused: {paho.error_string(info.rc)}"))
        elif qos == 0:
            future.set_result(None)
        else:
            # The PUBACK callback reaches the loop through call_soon_threadsafe, after this line.
            self._pending[info.mid] = future
        return future

    def ack(self, message: Message) -> None:
        if message.qos > 0:
            self._client.ack(message.mid, message.qos)

    # paho network thread -> event loop
    def _call(self, callback: Callable[..., Any], *args: Any) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(callback, *args)

    def _handle_connect(
        self, client: paho.Client, _userdata: Any, flags: Any, reason: ReasonCode, _props: Any
    ) -> None:
        if reason.is_failure:
            _LOGGER.warning("MQTT broker refused the connection: %s", reason)
            return
        for topic, qos in self._subscriptions:
            client.subscribe(topic, qos=qos)
        self.failed_attempts, self._failure_logged_at = 0, None
        session = "resumed" if getattr(flags, "session_present", False) else "new"
        _LOGGER.info("connected to MQTT broker %s:%d (%s session)", self._host, self._port, session)
        self._call(self._set_connected)

    def _handle_connect_fail(self, _client: paho.Client, _userdata: Any) -> None:
        """The broker could not be reached (paho tries again, 1 s doubling to 30 s): said at
        once, then once a minute with the count, so an engine without its broker is not silent
        and its log does not fill."""
        self.failed_attempts += 1
        now = time.monotonic()
        if self._failure_logged_at is None or now - self._failure_logged_at >= FAILURE_LOG_EVERY:
            self._failure_logged_at = now
            _LOGGER.warning(
                "cannot reach the MQTT broker %s:%d (failed attempts: %d); trying again",
                self._host,
                self._port,
                self.failed_attempts,
            )

    def _set_connected(self) -> None:
        self.connected.set()
        if self._on_connected is not None:
            self._on_connected()

    def _handle_disconnect(
        self, _client: paho.Client, _userdata: Any, _flags: Any, reason: ReasonCode, _props: Any
    ) -> None:
        if reason.is_failure or reason.value != 0:
            _LOGGER.warning("MQTT connection lost (%s); reconnecting", reason)
        self._call(self._set_disconnected)

    def _set_disconnected(self) -> None:
        self.disconnects += 1
        self.connected.clear()

    def _handle_message(self, _client: paho.Client, _userdata: Any, msg: paho.MQTTMessage) -> None:
        message = Message(msg.topic, bytes(msg.payload), msg.mid, msg.qos, bool(msg.retain))
        if self._on_message is not None:
            self._call(self._on_message, message)

    def _handle_publish(
        self, _client: paho.Client, _userdata: Any, mid: int, _reason: Any, _props: Any
    ) -> None:
        self._call(self._resolve, mid)

    def _resolve(self, mid: int) -> None:
        future = self._pending.pop(mid, None)
        if future is not None and not future.done():
            future.set_result(None)


def _no_delay(_client: paho.Client, _userdata: Any, sock: Any) -> None:
    """Send each packet at once. With Nagle's algorithm a publish written right after an ack
    waits for the broker's delayed TCP ACK: 40 ms added to every transit on Linux."""
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
