"""The intake (`Dispatcher`): every MQTT message Frigate sends goes to its stage by topic, and
is acknowledged or dead-lettered whatever its handler raises."""

from __future__ import annotations

import logging
from collections.abc import Callable

from rufina_alpr.config import Settings
from rufina_alpr.engine.events import EventTracker
from rufina_alpr.engine.health import HealthMonitor, short_text
from rufina_alpr.intake import IntakeError, check_payload
from rufina_alpr.metrics import Metrics
from rufina_alpr.mqtt import Message

_LOGGER = logging.getLogger(__name__)


class Dispatcher:
    """Knows Frigate's topics: which to subscribe to, and which stage handles each."""

    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        *,
        tracker: EventTracker,
        health: HealthMonitor,
        ack: Callable[[Message], None],
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.tracker = tracker
        self.health = health
        self._ack = ack
        self.prefix = prefix = settings.mqtt.frigate_prefix
        self.events_topic = f"{prefix}/events"
        self.lpr_topic = f"{prefix}/tracked_object_update"
        self.reviews_topic = f"{prefix}/reviews"
        self.available_topic = f"{prefix}/available"
        self.stats_topic = f"{prefix}/stats"

    @property
    def subscriptions(self) -> tuple[tuple[str, int], ...]:
        """Topic filters and QoS: vehicles are shared among the workers of a group, while
        every worker watches Frigate's health itself."""

        def shared(topic: str) -> str:
            group = self.settings.mqtt.shared_group
            return f"$share/{group}/{topic}" if group else topic

        return (
            (shared(self.events_topic), 1),
            (shared(self.lpr_topic), 1),
            (shared(self.reviews_topic), 1),
            (self.available_topic, 1),
            (self.stats_topic, 0),
            (f"{self.prefix}/+/status/+", 1),
        )

    def on_message(self, message: Message) -> None:
        """Every message is acknowledged or dead-lettered, whatever its handler raises: one left
        unacknowledged is delivered again after each restart and, once the broker's in-flight
        window is full of such messages, no other event reaches the engine."""
        try:
            check_payload(message.payload, self.settings.mqtt.max_payload_bytes)
            handed_over = self.dispatch(message)
        except Exception as err:  # whatever it is, the message must not jam the intake
            self._dead_letter(message, err)
            return
        if not handed_over:
            self._ack(message)

    def dispatch(self, message: Message) -> bool:
        """Handle one message; True when its handler acknowledges it later (once stored)."""
        topic = message.topic
        if topic == self.events_topic:
            return self.tracker.on_event(message)
        if topic == self.lpr_topic:
            self.tracker.on_lpr_update(message.payload)
        elif topic == self.reviews_topic:
            self.tracker.on_review(message.payload)
        elif topic == self.available_topic:
            self.health.on_available(message.payload)
        elif topic == self.stats_topic:
            self.health.on_stats(message.payload)
        elif topic.startswith(f"{self.prefix}/") and "/status/" in topic:
            camera, _, role = topic[len(self.prefix) + 1 :].partition("/status/")
            self.health.on_camera_status(camera, role, short_text(message.payload))
        return False

    def _dead_letter(self, message: Message, err: Exception) -> None:
        """Count, log (topic, size and the kind of fault: never the payload, which may hold a
        plate) and acknowledge a message that could not be handled."""
        self.metrics.inc("messages_dead_lettered")
        reason = err.reason if isinstance(err, IntakeError) else type(err).__name__
        _LOGGER.warning(
            "dead-lettered a message on %s (%d bytes): %s",
            message.topic,
            len(message.payload),
            reason,
        )
        _LOGGER.debug("dead-lettered message's fault", exc_info=err)
        self._ack(message)
