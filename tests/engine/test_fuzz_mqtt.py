"""Fuzzing the MQTT intake: random and mutated Frigate messages through the engine's real handler.

The messages are Frigate's real shapes (``shared/frigate/payloads``: events, reviews,
``tracked_object_update``) with fields replaced, dropped or retyped, plus raw bytes, on every
topic the engine subscribes to. They go into `Engine._on_message` of a running engine (real
Mosquitto, the Frigate replay's HTTP server, real models), exactly as paho hands it a message.
Property: nothing raises, every message is acknowledged (at once, or by the task that stores its
outcome) or dead-lettered, and a real vehicle afterwards still becomes its one transit.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
from pathlib import Path
from typing import Any

import hypothesis
import pytest
from hypothesis import strategies as st

from rufina_alpr.mqtt import Message
from rufina_alpr.sim.photos import load_photos

from .conftest import SHARED

PAYLOADS = SHARED / "frigate" / "payloads"
TEMPLATES = {
    path.stem: json.loads(path.read_text())
    for path in sorted(PAYLOADS.glob("*.json"))
    if path.stem != "README"
}
TOPICS = {
    "events": "frigate/events",
    "reviews": "frigate/reviews",
    "tracked_object_update": "frigate/tracked_object_update",
}
CAMERAS = ("cam_pomino", "cam_roma", "cam_piazza", "cam_unknown", "")
FUZZ_MID = 1_000_000
"""Message ids of the fuzzed messages: above any the broker gives in this test."""

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(CAMERAS),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key/index path into a JSON value (the places a mutation can hit)."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    """A real-shaped message with a few fields replaced or dropped, on its own topic."""
    name = draw(st.sampled_from(sorted(TEMPLATES)))
    message = json.loads(json.dumps(TEMPLATES[name]))
    topic = next(topic for prefix, topic in TOPICS.items() if name.startswith(prefix))
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(message)
        if not paths:
            break
        *parents, last = draw(st.sampled_from(paths))
        holder = message
        for key in parents:
            holder = holder[key]
        if draw(st.booleans()) and isinstance(holder, dict):
            del holder[last]
        else:
            holder[last] = draw(json_values)
    if isinstance(message, dict) and isinstance(message.get("after"), dict):
        message["after"]["camera"] = draw(st.sampled_from(CAMERAS))
    return topic, json.dumps(message, allow_nan=True).encode()


def _far_future_end() -> bytes:
    """An `end` of a plate-reading camera at 1e300 s: past what `datetime` can hold."""
    message = json.loads(json.dumps(TEMPLATES["events_end_car"]))
    message["after"].update(camera="cam_pomino", start_time=1e300, id="1e300-abcdef")
    message["after"]["snapshot"]["frame_time"] = 1e300
    return json.dumps(message).encode()


raw_messages = st.tuples(
    st.sampled_from(
        (
            *TOPICS.values(),
            "frigate/stats",
            "frigate/available",
            "frigate/cam_pomino/status/detect",
        )
    ),
    st.binary(max_size=200)
    | json_values.map(lambda v: json.dumps(v, allow_nan=True).encode())
    | st.sampled_from((2, 40, 3000, 100_000)).map(lambda depth: b"[" * depth + b"]" * depth),
)


@pytest.mark.slow
async def test_fuzzed_messages_are_all_acked_and_the_engine_keeps_working(
    harness_factory: Any, photos_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="rufina_alpr")
    good = next(photo for photo in load_photos(photos_dir) if photo.plate)
    harness = await harness_factory([good], extra={"frigate": {"lpr_event_quiet": 0.2}})
    engine = harness.engine
    link = engine.mqtt
    real_ack = link.ack
    acked: set[int] = set()
    sent: list[int] = []
    mids = itertools.count(FUZZ_MID)

    def ack(message: Message) -> None:
        if message.mid >= FUZZ_MID:
            acked.add(message.mid)
        else:
            real_ack(message)

    link.ack = ack  # type: ignore[method-assign]

    @hypothesis.settings(
        max_examples=int(os.environ.get("FUZZ_EXAMPLES", "300")), deadline=None, database=None
    )
    @hypothesis.given(st.one_of(mutated(), raw_messages))
    @hypothesis.example(("frigate/events", _far_future_end()))
    def send(topic_payload: tuple[str, bytes]) -> None:
        topic, payload = topic_payload
        mid = next(mids)
        sent.append(mid)
        engine.dispatcher.on_message(Message(topic, payload, mid, 1, False))  # raises nothing

    send()
    await harness.wait_for(lambda: acked >= set(sent), 90, "every fuzzed message acknowledged")
    real_id = await harness.replay.replay_one(good, "cam_pomino")
    await harness.wait_for(
        lambda: [t["event_id"] for t in harness.received].count(real_id) == 1,
        60,
        "a real vehicle's transit after the fuzzing",
    )
    failures = [r for r in caplog.records if "background task" in r.getMessage()]
    assert failures == []
    assert engine.mqtt.connected.is_set()
