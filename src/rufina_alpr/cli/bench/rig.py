"""`rufina-alpr bench`: the rig — engine processes, the timed Frigate replay, one phase's result."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rufina_alpr.cli.bench.accuracy import percentiles
from rufina_alpr.cli.demo import TransitCollector
from rufina_alpr.mqtt import Message, MqttLink
from rufina_alpr.sim.approach import Approach
from rufina_alpr.sim.broker import MosquittoBroker
from rufina_alpr.sim.photos import Photo
from rufina_alpr.sim.replay import FrigateReplay
from rufina_alpr.stations import Station

BENCH_TOKEN = "bench-token-not-for-production"
RECOGNITION_WORKERS = 2


# ----------------------------------------------------------------------------------- engine
def _proc_cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime, stime


def _proc_peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return 0.0


class EngineProcess:
    """``rufina-alpr serve`` with a generated settings file, as its own process."""

    def __init__(self, name: str, folder: Path, settings: dict[str, Any]) -> None:
        self.name = name
        folder.mkdir(parents=True, exist_ok=True)
        self.config = folder / "settings.yaml"
        self.config.write_text(yaml.safe_dump(settings))
        self.log = folder / "engine.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.peak_rss_mb = 0.0
        self.cpu_seconds = 0.0

    def start(self) -> None:
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "rufina_alpr", "serve", "-c", str(self.config)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    async def ready(self, wait_s: float = 60.0) -> None:
        deadline = time.monotonic() + wait_s
        assert self.process is not None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"engine {self.name} exited: {self.log.read_text()[-2000:]}")
            if "connected to MQTT broker" in self.log.read_text(errors="replace"):
                await asyncio.sleep(0.5)  # its subscriptions
                return
            await asyncio.sleep(0.1)
        raise RuntimeError(f"engine {self.name} did not connect: {self.log.read_text()[-2000:]}")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def cpu(self) -> float:
        return _proc_cpu_seconds(self.pid)

    def stop(self) -> None:
        if self.process is None:
            return
        self.peak_rss_mb = _proc_peak_rss_mb(self.process.pid)
        self.cpu_seconds = _proc_cpu_seconds(self.process.pid)
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class TimedReplay(FrigateReplay):
    """The Frigate replay, noting when each event's first snapshot and its ``end`` went out."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ended: dict[str, float] = {}
        self.first_snapshot: dict[str, float] = {}
        """When the first message whose snapshot shows the vehicle went out, by event id."""

    async def publish(self, message: dict[str, Any] | bytes) -> None:
        if isinstance(message, dict):
            after = message.get("after") or {}
            if message.get("type") == "end":
                self.ended[after["id"]] = time.monotonic()
            if after.get("has_snapshot"):
                self.first_snapshot.setdefault(after["id"], time.monotonic())
        await super().publish(message)


@dataclass(slots=True)
class PhaseResult:
    """What happened to a batch of offered events."""

    offered_per_s: float
    events: int
    transits: int
    unread: int
    lost: int
    late: int
    duplicates: int
    vehicles_per_s: float | None
    latency_ms: dict[str, float | None]
    max_queue: int
    seconds: float
    cpu_seconds_per_vehicle: float | None = None
    rig_cpu_seconds_per_vehicle: float | None = None
    """The benchmark's own part on the same cores: the Frigate replay, the transit subscriber
    and Mosquitto (raw fast-alpr runs without it)."""
    plates: dict[str, str | None] = field(default_factory=dict)


class Rig:
    """Mosquitto + the replay + a transit subscriber + engine process(es) on one store."""

    def __init__(
        self,
        *,
        broker: MosquittoBroker,
        stations: list[Station],
        models_dir: Path | None,
        photos: list[Photo],
        folder: Path,
        late_ms: float,
        model_threads: int = 1,
        approach: Approach | None = None,
        image_source: str = "clean",
    ) -> None:
        """``approach``: the photos come as vehicles approaching the camera (`sim.approach`);
        ``image_source``: the engine's ``frigate.image_source``."""
        self.model_threads = model_threads
        self.image_source = image_source
        self.broker = broker
        self.stations = stations
        self.models_dir = models_dir
        self.photos = photos
        self.folder = folder
        self.late_ms = late_ms
        self.replay = TimedReplay(
            photos,
            cameras=[s.camera for s in stations],
            mqtt_host=broker.host,
            mqtt_port=broker.port,
            qos=1,
            approach=approach,
        )
        self.arrived: dict[str, float] = {}
        self.plates: dict[str, str] = {}
        self.counters: dict[str, dict[str, int]] = {}
        self.collector = TransitCollector(
            broker.host, broker.port, "rufina_alpr/transit", self._on_transit
        )
        self.stats_link = MqttLink(
            host=broker.host,
            port=broker.port,
            client_id=f"rufina-bench-stats-{time.monotonic_ns()}",
            subscriptions=(("rufina_alpr/stats", 0),),
            on_message=self._on_stats,
            clean_session=True,
            manual_ack=False,
        )
        self.engines: list[EngineProcess] = []
        self.store_url: str | None = None
        self.engine_extra: dict[str, dict[str, Any]] = {}
        """Settings sections merged into the engines' (the alert phase's ``hotlists``)."""
        self._cycle = itertools.cycle(photos)
        self._camera = itertools.cycle([s.camera for s in stations])

    def _on_transit(self, payload: dict[str, Any]) -> None:
        self.arrived[payload["event_id"]] = time.monotonic()
        self.plates[payload["event_id"]] = payload["plate"]

    def _on_stats(self, message: Message) -> None:
        try:
            payload = json.loads(message.payload)
            self.counters[message.topic] = payload.get("counters", {})
        except ValueError:
            pass

    async def start(self) -> None:
        await asyncio.to_thread(self.replay.preload_clean_copies)
        await self.replay.start()
        await self.collector.link.start()
        await self.stats_link.start()
        await asyncio.wait_for(self.collector.link.connected.wait(), 15)

    async def stop(self) -> None:
        self.stop_engines()
        await self.collector.link.stop()
        await self.stats_link.stop()
        await self.replay.stop()

    def settings(self, name: str, store_url: str, shared_group: str | None) -> dict[str, Any]:
        return {
            "instance": "bench",
            "log_level": "info",
            "data_dir": str(self.folder / name),
            "mqtt": {
                "host": self.broker.host,
                "port": self.broker.port,
                "client_id": f"rufina-bench-{name}",
                **({"shared_group": shared_group} if shared_group else {}),
            },
            "frigate": {
                "url": self.replay.url,
                "timeout": 10,
                "retries": 2,
                "image_source": self.image_source,
            },
            "models": {
                "dir": str(self.models_dir) if self.models_dir else None,
                "threads": self.model_threads,
            },
            "recognition": {"workers": RECOGNITION_WORKERS},
            "store": {"url": store_url},
            "api": {"port": 0, "token": BENCH_TOKEN},
            "stats_interval": 1,
            "stations": [
                {
                    "id": s.id,
                    "name": s.name,
                    "camera": s.camera,
                    "kind": s.kind,
                    **({"direction": s.direction} if s.direction else {}),
                }
                for s in self.stations
            ],
            **self.engine_extra,
        }

    async def start_engines(self, count: int, store_url: str, tag: str) -> None:
        self.store_url = store_url
        group = "rufina_bench" if count > 1 else None
        self.engines = [
            EngineProcess(
                f"{tag}-{n}",
                self.folder / f"{tag}-{n}",
                self.settings(f"{tag}-{n}", store_url, group),
            )
            for n in range(1, count + 1)
        ]
        for engine in self.engines:
            engine.start()
        for engine in self.engines:
            await engine.ready()

    def stop_engines(self) -> None:
        for engine in self.engines:
            engine.stop()

    def _outcomes(self, ids: list[str]) -> dict[str, str]:
        """event id -> passage status, from the store (every outcome has a passage row)."""
        import sqlalchemy as sa  # noqa: PLC0415

        from rufina_alpr.store import passages  # noqa: PLC0415

        assert self.store_url is not None
        engine = sa.create_engine(self.store_url)
        found: dict[str, str] = {}
        try:
            with engine.connect() as connection:
                for start in range(0, len(ids), 500):
                    chunk = ids[start : start + 500]
                    rows = connection.execute(
                        sa.select(passages.c.event_id, passages.c.status).where(
                            passages.c.event_id.in_(chunk)
                        )
                    )
                    found.update({row[0]: row[1] for row in rows})
        finally:
            engine.dispose()
        return found

    def count_passages(self) -> tuple[int, int]:
        """(passage rows, distinct event ids) in the store."""
        import sqlalchemy as sa  # noqa: PLC0415

        from rufina_alpr.store import passages  # noqa: PLC0415

        assert self.store_url is not None
        engine = sa.create_engine(self.store_url)
        try:
            with engine.connect() as connection:
                rows = connection.execute(sa.select(sa.func.count()).select_from(passages))
                distinct = connection.execute(
                    sa.select(sa.func.count(sa.distinct(passages.c.event_id)))
                )
                return int(rows.scalar_one()), int(distinct.scalar_one())
        finally:
            engine.dispose()

    async def offer(
        self,
        count: int,
        rate: float,
        advance: Callable[[], None] | None = None,
        photos: list[Photo] | None = None,
        drain_timeout: float | None = None,
    ) -> PhaseResult:
        """Offer ``count`` vehicles at ``rate`` a second (photos in turn), wait for outcomes."""
        cpu_before = sum(e.cpu() for e in self.engines)
        rig_before = self._rig_cpu()
        duplicates_before = self.collector.duplicates
        source = iter(photos) if photos is not None else self._cycle
        started = time.monotonic()
        tasks: list[asyncio.Task[str]] = []
        max_queue = 0
        for index in range(count):
            due = started + index / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            photo = next(source)
            tasks.append(asyncio.create_task(self.replay.replay_one(photo, next(self._camera))))
            max_queue = max(max_queue, self._queue(tasks))
        ids = list(await asyncio.gather(*tasks))
        timeout = drain_timeout or 60 + count * 1.0
        deadline = time.monotonic() + timeout
        statuses: dict[str, str] = {}
        while time.monotonic() < deadline:
            statuses = await asyncio.to_thread(self._outcomes, ids)
            read = [i for i, s in statuses.items() if s == "read"]
            done = len(statuses)
            max_queue = max(max_queue, len(ids) - done)
            if advance is not None:
                for _ in range(done - getattr(self, "_advanced", 0)):
                    advance()
                self._advanced = done
            if done >= len(ids) and all(i in self.arrived for i in read):
                break
            await asyncio.sleep(0.25)
        self._advanced = 0
        seconds = time.monotonic() - started
        cpu = sum(e.cpu() for e in self.engines) - cpu_before
        rig = self._rig_cpu() - rig_before
        latencies = [
            (self.arrived[i] - self.replay.ended[i]) * 1000
            for i in ids
            if i in self.arrived and i in self.replay.ended
        ]
        arrivals = sorted(self.arrived[i] for i in ids if i in self.arrived)
        rate_done = (
            (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])
            if len(arrivals) > 2 and arrivals[-1] > arrivals[0]
            else None
        )
        transits = sum(1 for i in ids if i in self.arrived)
        unread = sum(1 for i in ids if statuses.get(i) == "unread")
        return PhaseResult(
            offered_per_s=rate,
            events=count,
            transits=transits,
            unread=unread,
            lost=len(ids) - len(statuses),
            late=sum(1 for value in latencies if value > self.late_ms),
            duplicates=self.collector.duplicates - duplicates_before,
            vehicles_per_s=round(rate_done, 2) if rate_done else None,
            latency_ms=percentiles(latencies),
            max_queue=max_queue,
            seconds=round(seconds, 2),
            cpu_seconds_per_vehicle=round(cpu / count, 4) if self.engines else None,
            rig_cpu_seconds_per_vehicle=round(rig / count, 4),
            plates={i: self.plates.get(i) for i in ids},
        )

    def _rig_cpu(self) -> float:
        own = time.process_time()
        return own + (_proc_cpu_seconds(self.broker.pid) if self.broker.pid else 0.0)

    def _queue(self, tasks: list[asyncio.Task[str]]) -> int:
        ended = [i for i in self.replay.ended if i not in self.arrived]
        return len(ended)
