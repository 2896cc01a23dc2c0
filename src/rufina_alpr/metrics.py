"""Counters and latency figures the engine reports (stats topic, API, logs)."""

from __future__ import annotations

from collections import Counter, deque
from statistics import quantiles
from typing import Final

COUNTER_NAMES: Final = (
    "events_received",
    "events_malformed",
    "events_unknown_camera",
    "events_ignored_label",
    "events_duplicate",
    "events_expired",
    "images_fetched",
    "images_failed",
    "images_invalid",
    "frigate_bodies_refused",
    "frigate_redirects_refused",
    "reads_done",
    "reads_dropped",
    "reads_skipped_busy",
    "reads_failed",
    "transits_stored",
    "transits_published",
    "transits_republished",
    "passages_unread",
    "passages_counted",
    "hotlist_matches",
    "alerts_provisional",
    "alerts_raised",
    "alerts_confirmed",
    "alerts_withdrawn",
    "alerts_published",
    "alert_changes_published",
    "alerts_in_view_unverified",
    "evidence_frames",
    "evidence_frames_failed",
    "hotlist_errors",
    "store_text_cleaned",
    "messages_dead_lettered",
    "store_failures",
    "transits_unconfirmed",
)


class Metrics:
    """Named counters (all present from the start, so dashboards see zeros) and a latency window."""

    def __init__(self, window: int = 500) -> None:
        self.counters: Counter[str] = Counter(dict.fromkeys(COUNTER_NAMES, 0))
        self._latencies: deque[float] = deque(maxlen=window)

    def inc(self, name: str, amount: int = 1) -> None:
        self.counters[name] += amount

    def observe_latency(self, seconds: float) -> None:
        self._latencies.append(seconds)

    def latency_ms(self) -> dict[str, float | None]:
        values = sorted(self._latencies)
        if not values:
            return {"p50": None, "p95": None}
        if len(values) == 1:
            return {"p50": values[0] * 1000, "p95": values[0] * 1000}
        cuts = quantiles(values, n=100, method="inclusive")
        return {"p50": round(cuts[49] * 1000, 1), "p95": round(cuts[94] * 1000, 1)}

    def snapshot(self) -> dict[str, int]:
        return dict(self.counters)
