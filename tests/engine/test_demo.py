"""`rufina-alpr demo` as a new user meets it: no mosquitto, an empty folder, a broker that refuses.

The README's first command must work on a machine without mosquitto, on the embedded amqtt broker;
CI also runs it once for real with mosquitto hidden (.ci/run). These tests pin the pieces that
broke there: amqtt refused clients that send no username, and a refused connection ended in a
TimeoutError traceback.
"""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from rich.console import Console

from rufina_alpr.cli import demo
from rufina_alpr.cli.demo import TransitCollector, plates_match, run_demo
from rufina_alpr.mqtt import MqttLink
from rufina_alpr.sim.broker import AmqttBroker, BrokerError, free_port
from rufina_alpr.sim.photos import load_photos


@pytest.fixture
async def amqtt() -> AsyncIterator[AmqttBroker]:
    broker = AmqttBroker()
    await broker.start()
    yield broker
    await broker.stop()


async def _until(predicate: object, what: str, timeout: float = 15.0) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def test_amqtt_admits_clients_without_username_and_keeps_their_sessions(
    amqtt: AmqttBroker,
) -> None:
    """A subscriber that was away gets the QoS 1 messages sent meanwhile, as on Mosquitto."""
    received: list[str] = []

    def viewer() -> TransitCollector:
        return TransitCollector(
            amqtt.host,
            amqtt.port,
            "rufina_alpr/transit",
            lambda payload: received.append(payload["id"]),
            client_id="demo-viewer",
            persistent=True,
        )

    publisher = MqttLink(host=amqtt.host, port=amqtt.port, client_id="demo-engine")
    await publisher.start()
    subscriber = viewer()
    await subscriber.link.start()
    try:
        await asyncio.wait_for(publisher.connected.wait(), 10)
        await asyncio.wait_for(subscriber.link.connected.wait(), 10)
        # The subscription is in place once a message gets through.
        for attempt in range(50):
            await publisher.publish(
                "rufina_alpr/transit", json.dumps({"id": f"probe{attempt}"}).encode()
            )
            if received:
                break
            await asyncio.sleep(0.1)
        assert received, "no message reached the subscriber"
        await subscriber.link.stop()
        await publisher.publish("rufina_alpr/transit", json.dumps({"id": "while-away"}).encode())
        subscriber = viewer()
        await subscriber.link.start()
        await _until(lambda: "while-away" in received, "the message sent while away")
    finally:
        await subscriber.link.stop()
        await publisher.stop()


async def test_demo_runs_on_amqtt(models_dir: Path, photos_dir: Path) -> None:
    """The whole demo on the embedded broker: every replayed vehicle becomes a matching transit."""
    photos = [photo for photo in load_photos(photos_dir) if photo.plate][:3]
    output = io.StringIO()
    result = await run_demo(
        photos,
        source=photos_dir,
        models_dir=models_dir,
        registry=None,
        rate=5.0,
        console=Console(file=output, width=120),
        broker=AmqttBroker(),
    )
    assert "broker: amqtt" in output.getvalue()
    assert len(result.transits) == 3
    assert result.labelled == 3
    assert result.matched == 3
    plates = sorted(transit["plate"] for transit in result.transits)
    assert all(any(plates_match(plate, photo.plate or "") for photo in photos) for plate in plates)


class _NothingListens:
    """A broker address where nothing answers: the broker is down."""

    name = "absent"

    def __init__(self) -> None:
        self.host, self.port = "127.0.0.1", free_port()

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


async def test_demo_with_a_broker_down_is_a_clear_error(
    models_dir: Path, photos_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(demo, "CONNECT_TIMEOUT", 2.0)
    broker = _NothingListens()
    with pytest.raises(
        BrokerError, match=rf"could not connect to the absent broker .*:{broker.port}"
    ):
        await run_demo(
            load_photos(photos_dir)[:1],
            source=photos_dir,
            models_dir=models_dir,
            registry=None,
            rate=5.0,
            console=Console(file=io.StringIO()),
            broker=broker,
        )


async def test_amqtt_missing_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "amqtt.broker", None)  # as if the [broker] extra is absent
    with pytest.raises(BrokerError, match=r"install mosquitto.*rufina-alpr\[broker\]"):
        await AmqttBroker().start()


@pytest.mark.parametrize("content", ["nothing", "not-a-photo"])
def test_demo_on_a_folder_without_photos_says_so(tmp_path: Path, content: str) -> None:
    if content == "not-a-photo":
        (tmp_path / "broken.jpg").write_bytes(b"this is not a JPEG")
        (tmp_path / "labels.csv").write_text("file,x,y,w,h,plate\nbroken.jpg,1,1,2,2,AB123CD\n")
    done = subprocess.run(
        [sys.executable, "-m", "rufina_alpr", "demo", "--photos", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "No photos in" in output
    assert "Traceback" not in output
