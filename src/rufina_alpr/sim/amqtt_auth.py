"""amqtt authentication for the embedded loopback broker: every client is trusted, none anonymous.

amqtt forgets an anonymous client's session when it disconnects (so QoS 1 messages sent while it
was away are lost), and with anonymous access off it refuses clients that send no username, as
the engine, Frigate and Home Assistant do on a private broker. The embedded broker listens on
loopback only, for the demo, the tests and benchmarks: it admits every client as a known one and
keeps persistent sessions, as Mosquitto with ``allow_anonymous true`` does.
"""

from __future__ import annotations

from amqtt.plugins.base import BaseAuthPlugin
from amqtt.session import Session


class LoopbackClients(BaseAuthPlugin):
    """Admits every client, with or without a username, and never marks it anonymous."""

    async def authenticate(self, *, session: Session) -> bool:
        return True
