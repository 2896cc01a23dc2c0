"""`rufina-alpr demo`: broker + Frigate replay + engine on real photos, with a live view.

Nothing to set up: an embedded broker, a temporary store, the replay serving the photos through
Frigate's HTTP paths and MQTT messages, and the engine reading them. It ends with a summary that
compares the transits with the photos' labels.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from rufina_alpr.config import Settings, settings_from_mapping
from rufina_alpr.engine.app import Engine
from rufina_alpr.mqtt import Message, MqttLink
from rufina_alpr.recognizer import Recognizer, model_settings_for
from rufina_alpr.sim.broker import Broker, BrokerError, embedded_broker
from rufina_alpr.sim.photos import Photo
from rufina_alpr.sim.replay import FrigateReplay
from rufina_alpr.stations import Station, load_registry

_LOGGER = logging.getLogger(__name__)
CONNECT_TIMEOUT = 20.0  # the replay waits 15 s itself


def plates_match(read: str, label: str) -> bool:
    """Labels of the public photo set write O where plates have 0: compare with O ≡ 0."""
    return read.upper().replace("O", "0") == label.upper().replace(" ", "").replace("O", "0")


def demo_stations(registry: Path | None, count: int) -> list[Station]:
    """Plate-reading stations for the demo: the town's own registry when present."""
    if registry is not None:
        lpr = [s for s in load_registry(registry).stations if s.reads_plates]
        if lpr:
            return lpr[:count]
    return [
        Station(id=f"demo_{n}", name=f"Demo station {n}", camera=f"demo_cam_{n}", kind="lpr")
        for n in range(1, count + 1)
    ]


@dataclass(slots=True)
class DemoResult:
    photos: int
    transits: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    matched: int = 0
    labelled: int = 0
    counters: dict[str, int] = field(default_factory=dict)
    latency_ms: dict[str, float | None] = field(default_factory=dict)

    @property
    def seconds_per_vehicle(self) -> float:
        return self.seconds / max(1, len(self.transits))


class TransitCollector:
    """Subscribes to the engine's transit topic like any consumer would."""

    def __init__(
        self,
        host: str,
        port: int,
        topic: str,
        on_transit: Callable[[dict[str, Any]], None],
        *,
        client_id: str | None = None,
        persistent: bool = False,
    ) -> None:
        """``persistent``: a stored session, so transits sent while we were away still arrive."""
        self.transits: dict[str, dict[str, Any]] = {}
        self.duplicates = 0
        self._on_transit = on_transit
        self.link = MqttLink(
            host=host,
            port=port,
            client_id=client_id or f"rufina-demo-{time.monotonic_ns()}",
            subscriptions=((topic, 1),),
            on_message=self._handle,
            clean_session=not persistent,
            manual_ack=False,
        )

    def _handle(self, message: Message) -> None:
        payload = json.loads(message.payload)
        if payload["id"] in self.transits:
            self.duplicates += 1
            return
        self.transits[payload["id"]] = payload
        self._on_transit(payload)


def engine_settings(
    *,
    broker_host: str,
    broker_port: int,
    frigate_url: str,
    data_dir: Path,
    stations: list[Station],
    models_dir: Path | None,
    extra: dict[str, Any] | None = None,
) -> Settings:
    raw: dict[str, Any] = {
        "instance": "demo",
        "data_dir": str(data_dir),
        "mqtt": {"host": broker_host, "port": broker_port},
        "frigate": {"url": frigate_url, "timeout": 10, "retries": 2},
        "models": {"dir": str(models_dir) if models_dir else None, "threads": 1},
        "recognition": {"workers": 2},
        "api": {"port": 0, "token": "demo-token-not-for-production"},
        "stats_interval": 5,
        "stations": [
            {
                "id": s.id,
                "name": s.name,
                "camera": s.camera,
                "kind": s.kind,
                "direction": s.direction,
            }
            for s in stations
        ],
    }
    for key, value in (extra or {}).items():
        raw[key] = {**raw.get(key, {}), **value} if isinstance(value, dict) else value
    return settings_from_mapping(raw)


async def _connected(connecting: Awaitable[object], who: str, broker: Broker) -> None:
    """Waits for a demo client's MQTT connection; a broker that refuses it is a clear error."""
    try:
        await asyncio.wait_for(connecting, CONNECT_TIMEOUT)
    except TimeoutError as err:
        raise BrokerError(
            f"{who} could not connect to the {broker.name} broker on {broker.host}:{broker.port} "
            f"within {CONNECT_TIMEOUT:.0f} s (see the warnings above)"
        ) from err


async def run_demo(
    photos: Sequence[Photo],
    *,
    source: Path,
    models_dir: Path | None,
    registry: Path | None,
    rate: float,
    console: Console,
    broker: Broker | None = None,
) -> DemoResult:
    """Replays ``photos`` (read from ``source``) on ``broker``, by default the best embedded one."""
    stations = demo_stations(registry, 3)
    console.print(
        f"[bold]Rufina ALPR demo[/]: {len(photos)} photos from {source}, "
        f"stations {', '.join(s.name for s in stations)}"
    )
    recognizer = Recognizer(model_settings_for(models_dir, threads=1))
    console.print(
        f"models: detector {recognizer.info.detector}, OCR {recognizer.info.ocr} "
        f"(loaded in {recognizer.info.load_seconds:.2f} s)"
    )
    broker = broker or embedded_broker()
    result = DemoResult(photos=len(photos))
    table = Table(title="Transits", expand=True)
    for column in ("time", "station", "plate", "country", "conf.", "reads", "label"):
        table.add_column(column)
    progress = Progress(
        TextColumn("vehicles"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()
    )
    task = progress.add_task("transits", total=len(photos))
    # Everything started is stopped in reverse order, also when a step fails.
    async with contextlib.AsyncExitStack() as running:
        await broker.start()
        running.push_async_callback(broker.stop)
        console.print(f"broker: {broker.name} on {broker.host}:{broker.port}")
        data_dir = running.enter_context(tempfile.TemporaryDirectory(prefix="rufina-demo-"))
        replay = FrigateReplay(
            list(photos),
            cameras=[s.camera for s in stations],
            mqtt_host=broker.host,
            mqtt_port=broker.port,
            qos=1,
        )
        running.push_async_callback(replay.stop)
        await _connected(replay.start(), "the Frigate replay", broker)
        settings = engine_settings(
            broker_host=broker.host,
            broker_port=broker.port,
            frigate_url=replay.url,
            data_dir=Path(data_dir),
            stations=stations,
            models_dir=models_dir,
        )
        engine = Engine(settings, recognizer)
        by_event: dict[str, str] = {}

        def show(payload: dict[str, Any]) -> None:
            photo = replay.events.get(payload["event_id"])
            label = photo.plate if photo else None
            ok = label is not None and plates_match(payload["plate"], label)
            table.add_row(
                payload["time"][11:19],
                payload["station_name"],
                payload["display"],
                payload["country"] or "-",
                f"{payload['confidence']:.2f}" + (" !" if payload["low_confidence"] else ""),
                str(payload["reads"]),
                ("[green]" if ok else "[red]") + (label or "?"),
            )
            if len(table.rows) > 12:
                table.rows.pop(0)
                for column in table.columns:
                    column._cells.pop(0)
            by_event[payload["event_id"]] = payload["plate"]
            progress.advance(task)

        collector = TransitCollector(broker.host, broker.port, engine.topics.transit, show)
        running.push_async_callback(collector.link.stop)
        await collector.link.start()
        running.push_async_callback(engine.stop)
        await engine.start()
        await _connected(engine.mqtt.connected.wait(), "the engine", broker)
        await _connected(collector.link.connected.wait(), "the transit viewer", broker)
        started = time.monotonic()
        with Live(Group(progress, table), console=console, refresh_per_second=4):
            event_ids = await replay.run(rate=rate)
            deadline = time.monotonic() + 60 + len(photos)
            while time.monotonic() < deadline:
                handled = await engine.db.run(engine.store.passage_counts)
                if handled.read + handled.unread >= len(event_ids):
                    break
                await asyncio.sleep(0.2)
            await asyncio.sleep(0.5)
        result.seconds = time.monotonic() - started
        result.transits = list(collector.transits.values())
        result.counters = engine.metrics.snapshot()
        result.latency_ms = engine.metrics.latency_ms()
        for event_id in event_ids:
            label = replay.events[event_id].plate
            if label:
                result.labelled += 1
                result.matched += plates_match(by_event.get(event_id, ""), label)
    return result


def print_summary(result: DemoResult, console: Console) -> None:
    summary = Table(title="Summary", show_header=False)
    summary.add_row("photos replayed", str(result.photos))
    summary.add_row("transits", str(len(result.transits)))
    summary.add_row("plates matching the labels (O = 0)", f"{result.matched} of {result.labelled}")
    summary.add_row("unread vehicles", str(result.counters.get("passages_unread", 0)))
    summary.add_row("time per vehicle (wall clock)", f"{result.seconds_per_vehicle:.3f} s")
    p50, p95 = result.latency_ms.get("p50"), result.latency_ms.get("p95")
    summary.add_row("latency end → transit p50 / p95", f"{p50} ms / {p95} ms")
    console.print(summary)
