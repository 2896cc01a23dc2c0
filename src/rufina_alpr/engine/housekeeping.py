"""The engine's periodic work (`Housekeeping`): events that never ended, the traffic rollup, the
retention purge, and the stats and health ticks (with the health's privacy section); and the stats
payload those publish."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Final

from rufina_alpr import contract, privacy, traffic
from rufina_alpr.config import Settings
from rufina_alpr.engine.events import EventTracker
from rufina_alpr.engine.privacy_watch import PrivacyWatch
from rufina_alpr.engine.publisher import Publisher
from rufina_alpr.metrics import Metrics
from rufina_alpr.read_quality import ReadQualityWatch
from rufina_alpr.store.database import Database

_LOGGER = logging.getLogger(__name__)

INTERVAL: Final = 15.0
"""Seconds between rounds (1 when stats are asked for more often, as tests do)."""
ROLLUP_LAG: Final = timedelta(hours=1)
"""Passages reach the store when their Frigate event ends: roll up only what is an hour old."""


class Housekeeping:
    """One loop for the periodic work, so no two rounds of it ever overlap."""

    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        *,
        db: Database,
        tracker: EventTracker,
        publisher: Publisher,
        connected: asyncio.Event,
        queue_length: Callable[[], int],
        privacy: PrivacyWatch,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.db = db
        self.tracker = tracker
        self.publisher = publisher
        self._connected = connected
        self._queue_length = queue_length
        self.privacy = privacy
        self.read_quality = ReadQualityWatch()

    async def run(self) -> None:
        next_stats = next_purge = 0.0
        await self.privacy.refresh()
        while True:
            now = time.monotonic()
            if now >= next_purge:
                await self.retention()
                next_purge = now + self.settings.privacy.purge_interval
            self.tracker.expire(now, self.settings.recognition.event_timeout)
            if now >= next_stats and self._connected.is_set():
                await self.privacy.refresh()
                await self.publisher.publish_stats()
                self.publisher.publish_health(force=True)
                next_stats = now + self.settings.stats_interval
            else:
                self.publisher.publish_health()  # stats going stale changes it without a message
            await asyncio.sleep(INTERVAL if self.settings.stats_interval > INTERVAL else 1)

    async def retention(self) -> None:
        """Roll the traffic up to an hour ago, then purge each kind of data past its retention."""
        now = datetime.now(self.settings.timezone)
        tz = self.settings.timezone
        retention = self.settings.privacy.retention
        store = self.db.store
        try:
            await self.db.run(lambda: traffic.rollup(store, now - ROLLUP_LAG, tz=tz))
            report = await self.db.run(lambda: privacy.purge(store, now, retention, _LOGGER, tz=tz))
            self.publisher.clear_retained(report)
        except Exception:  # the next round tries again; the engine keeps running
            self.metrics.inc("purge_failed")
            _LOGGER.exception("traffic rollup or retention purge failed")

    async def stats_payload(self) -> dict[str, Any]:
        """The ``stats`` topic's payload: today's and the last hour's counts per station, and each
        plate-reading station's read quality (`read_quality`)."""
        now = datetime.now(self.settings.timezone)
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        store = self.db.store
        per_station = await self.db.run(store.transits_per_station, midnight)
        last_hour = await self.db.run(store.station_counts, now - timedelta(hours=1))
        tz = self.settings.timezone
        today = await self.db.run(lambda: traffic.stats_fields(store, now, tz=tz))
        lpr = [station.id for station in self.settings.stations if station.reads_plates]
        quality = await self.db.run(self.read_quality.measure, store, now, lpr)
        stations = {
            station.id: {
                "transits_today": per_station.get(station.id, 0),
                "vehicles_last_hour": sum(last_hour.get(station.id, {}).values()),
                "vehicles_last_hour_by_class": last_hour.get(station.id, {}),
                **today["stations"].get(station.id, traffic.NO_VEHICLES),
                **(
                    {"read_quality": quality[station.id].payload()} if station.id in quality else {}
                ),
            }
            for station in self.settings.stations
        }
        return {
            "v": contract.CONTRACT_VERSION,
            "time": contract.iso_time(now),
            "transits_today": sum(per_station.values()),
            "queue": self._queue_length(),
            "latency_ms": self.metrics.latency_ms(),
            "counters": self.metrics.snapshot(),
            "stations": stations,
            "vehicles_today": today["vehicles_today"],
            "unique_vehicles_yesterday": today["unique_vehicles_yesterday"],
            "retention_days": self.settings.privacy.retention_days,
        }
