"""`rufina-alpr bench`: alert latency — from the Frigate message whose snapshot first shows the
vehicle to its alert on MQTT, with Frigate 0.17.2's timing.

Every labelled plate of the photos goes on a hotlist; each photo is then a vehicle in view for
`IN_VIEW_SECONDS` (one `update` a second) whose `end` comes `MAX_DISAPPEARED` s after its last
sighting, as Frigate publishes them (the replay's ``realtime``), several vehicles overlapping.
The engine runs twice on the same vehicles: with in-view alerts (the default) and, for
comparison, with ``hotlists.in_view: false`` (alerts on `end` only, as before issue 24).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections.abc import Callable
from typing import Any, Final

from rufina_alpr.cli.bench.accuracy import percentiles
from rufina_alpr.cli.bench.rig import Rig
from rufina_alpr.hotlists import Hotlists
from rufina_alpr.mqtt import Message, MqttLink
from rufina_alpr.sim.photos import Photo
from rufina_alpr.store import Store

IN_VIEW_SECONDS: Final = 3
"""Updates (seconds in view) of each vehicle: a car passing a plate-reading station."""
ALERT_WAIT: Final = 30.0
"""Seconds an alert is waited for after its transit arrived."""


class AlertWatch:
    """A subscriber to the alerts: when each vehicle's alert arrived, its status, and the
    withdrawals."""

    def __init__(self, host: str, port: int) -> None:
        self.raised: dict[str, tuple[float, str]] = {}
        self.withdrawn: set[str] = set()
        self._lock = threading.Lock()
        self.link = MqttLink(
            host=host,
            port=port,
            client_id=f"rufina-bench-alerts-{time.monotonic_ns()}",
            subscriptions=(("rufina_alpr/hotlist_match", 1), ("rufina_alpr/alert", 1)),
            on_message=self._on_message,
            manual_ack=False,
        )

    def _on_message(self, message: Message) -> None:
        arrived = time.monotonic()
        try:
            payload = json.loads(message.payload)
        except ValueError:
            return
        with self._lock:
            if message.topic.endswith("/hotlist_match"):
                event = payload["transit"]["event_id"]
                self.raised.setdefault(event, (arrived, payload.get("status", "confirmed")))
            elif payload.get("change") == "withdrawn":
                self.withdrawn.add(payload["alert_id"])


def hotlist_plates(store_url: str, photos: list[Photo]) -> set[str]:
    """Every labelled plate on one stolen-vehicles list of the engine's store."""
    store = Store(store_url, worker="bench-hotlists")
    try:
        lists = Hotlists(store)
        if not any(info.id == "bench" for info in lists.lists()):
            lists.create_list("bench", "Bench", "stolen", created_by="bench")
        plates = {p.plate for p in photos if p.plate}
        for plate in plates:
            lists.put_entry("bench", plate, "bench", added_by="bench", replace=True)
        return plates
    finally:
        store.close()


async def alert_phase(
    rig: Rig, photos: list[Photo], *, rate: float, advance: Callable[[], None]
) -> dict[str, Any]:
    """Offer each photo once as a vehicle in view (``rate`` a second) to the running engine and
    measure when its alert arrives."""
    assert rig.store_url is not None
    plates = await asyncio.to_thread(hotlist_plates, rig.store_url, photos)
    watch = AlertWatch(rig.broker.host, rig.broker.port)
    await watch.link.start()
    await asyncio.wait_for(watch.link.connected.wait(), 15)
    cameras = itertools.cycle([s.camera for s in rig.stations])
    try:
        started = time.monotonic()
        tasks = []
        for index, photo in enumerate(photos):
            delay = started + index / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(
                asyncio.create_task(
                    rig.replay.replay_one(
                        photo, next(cameras), updates=IN_VIEW_SECONDS, realtime=True
                    )
                )
            )
        ids = list(await asyncio.gather(*tasks))
        deadline = time.monotonic() + 120 + len(ids)
        while time.monotonic() < deadline:
            outcomes = await asyncio.to_thread(rig._outcomes, ids)
            transits = [i for i, status in outcomes.items() if status == "read"]
            pending = [
                i
                for i in transits
                if rig.plates.get(i) in plates
                and i not in watch.raised
                and time.monotonic() - rig.arrived.get(i, time.monotonic()) < ALERT_WAIT
            ]
            arrived = all(i in rig.arrived for i in transits)
            if len(outcomes) >= len(ids) and arrived and not pending:
                break
            await asyncio.sleep(0.25)
        for _ in ids:
            advance()
    finally:
        await watch.link.stop()
    first = rig.replay.first_snapshot
    raised = {i: watch.raised[i] for i in ids if i in watch.raised}
    latencies = [(at - first[i]) * 1000 for i, (at, _s) in raised.items() if i in first]
    ended = rig.replay.ended
    return {
        "vehicles": len(ids),
        "hotlisted_read": sum(1 for i in ids if rig.plates.get(i) in plates),
        "alerts": len(raised),
        "provisional": sum(1 for _at, status in raised.values() if status == "provisional"),
        "withdrawn": len(watch.withdrawn),
        "before_end": sum(1 for i, (at, _s) in raised.items() if i in ended and at < ended[i]),
        "alert_latency_ms": percentiles(latencies),
    }


async def measure_alerts(
    rig: Rig,
    photos: list[Photo],
    store_for: Callable[[str], str],
    *,
    rate: float,
    advance: Callable[[], None],
    min_confidence: float | None = None,
) -> dict[str, Any]:
    """The alert phase on a fresh engine with in-view alerts (``min_confidence``: its
    ``hotlists.in_view_min_confidence``, else the default), then on one that alerts on `end`
    only; the engines are stopped after."""
    results: dict[str, Any] = {"rate_per_s": rate, "in_view_seconds": IN_VIEW_SECONDS}
    sure = {"in_view_min_confidence": min_confidence} if min_confidence is not None else {}
    results["in_view_min_confidence"] = min_confidence
    for name, in_view in (("in_view", True), ("at_end", False)):
        rig.stop_engines()
        # Frigate's event list without the earlier vehicles: a fresh store would reconcile them.
        rig.replay.records.clear()
        rig.engine_extra = {"hotlists": {"in_view": in_view, **sure}}
        await rig.start_engines(1, store_for(f"alerts_{name}"), f"alerts-{name}")
        results[name] = await alert_phase(rig, photos, rate=rate, advance=advance)
    rig.stop_engines()
    rig.engine_extra = {}
    return results
