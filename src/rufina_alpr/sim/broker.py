"""An MQTT broker on loopback for the demo, the tests and benchmarks.

Mosquitto when it is installed (the real thing, also what Home Assistant's add-on runs), otherwise
the pure-Python amqtt (MQTT 3.1.1 only), whose clients are admitted by
:class:`rufina_alpr.sim.amqtt_auth.LoopbackClients` so that persistent sessions survive a
disconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Protocol


class BrokerError(RuntimeError):
    """No embedded broker can run, or its clients could not connect to it."""


class Broker(Protocol):
    host: str
    port: int
    name: str

    async def start(self) -> None: ...
    async def stop(self) -> None: ...


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(host: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout} s")


class MosquittoBroker:
    """A private mosquitto on a loopback port, persistent so that restarts keep the sessions."""

    name = "mosquitto"

    def __init__(self, port: int | None = None, workdir: Path | None = None) -> None:
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self._own_dir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="rufina-mosquitto-"))
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The broker's process id while it runs."""
        return self._process.pid if self._process is not None else None

    @staticmethod
    def available() -> bool:
        return shutil.which("mosquitto") is not None or Path("/usr/sbin/mosquitto").exists()

    def _config(self) -> Path:
        config = self.workdir / "mosquitto.conf"
        config.write_text(
            "\n".join(
                [
                    f"listener {self.port} 127.0.0.1",
                    "allow_anonymous true",
                    "persistence true",
                    f"persistence_location {self.workdir}/",
                    "autosave_interval 1",
                    "max_queued_messages 100000",
                    # Without it Nagle's algorithm holds a message behind the peer's delayed ACK
                    # (40 ms on Linux): what docs/scaling.md recommends for any deployment.
                    "set_tcp_nodelay true",
                    "user root",
                    f"log_dest file {self.workdir}/mosquitto.log",
                ]
            )
            + "\n"
        )
        return config

    def start_sync(self) -> None:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self._process = subprocess.Popen(
            [binary, "-c", str(self._config())],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.host, self.port)

    def stop_sync(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    async def start(self) -> None:
        await asyncio.to_thread(self.start_sync)

    async def stop(self) -> None:
        await asyncio.to_thread(self.stop_sync)

    def cleanup(self) -> None:
        self.stop_sync()
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)


class AmqttBroker:
    """amqtt in this process: the fallback when mosquitto is not installed."""

    name = "amqtt"

    def __init__(self, port: int | None = None) -> None:
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self._broker: Any = None

    async def start(self) -> None:
        try:
            from amqtt.broker import Broker as _Amqtt  # noqa: PLC0415 - optional dependency
        except ImportError as err:
            raise BrokerError(
                "no MQTT broker here: install mosquitto, or the embedded one with "
                "pip install 'rufina-alpr[broker]'"
            ) from err

        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            # Only the plugins named here load: no $SYS topics, no topic checks.
            "plugins": {"rufina_alpr.sim.amqtt_auth.LoopbackClients": {}},
        }
        self._broker = _Amqtt(config)
        await self._broker.start()

    async def stop(self) -> None:
        if self._broker is not None:
            await self._broker.shutdown()


def embedded_broker() -> MosquittoBroker | AmqttBroker:
    """The best broker this machine can run."""
    return MosquittoBroker() if MosquittoBroker.available() else AmqttBroker()
