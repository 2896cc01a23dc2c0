"""The replayed Frigate's MQTT half: its tracked objects and the messages it publishes.

For each photo, `frigate/events` messages shaped exactly like Frigate's ``TrackedObject.to_dict``
with 0.17.2's timing (`TrackedObject.messages`), its own LPR results on
``tracked_object_update``, dedicated LPR cameras (only ``tracked_object_update`` and
``reviews``), QoS 0 loss (messages dropped on purpose), ``frigate/available`` with its last
will, camera status and ``frigate/stats``. Each published event is recorded in the shared
`FrigateState`, which the HTTP half serves.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from rufina_alpr.mqtt import MqttLink, Will
from rufina_alpr.sim.approach import APPROACH_GEOMETRY, Approach, ApproachFrame, plan_approach
from rufina_alpr.sim.frigate_state import (
    FRIGATE_VERSION,
    MAX_DISAPPEARED,
    NEW_AFTER,
    SIGHTING_INTERVAL,
    EventClock,
    EventRecord,
    FrigateState,
    event_duration,
    event_id,
)
from rufina_alpr.sim.photos import CameraGeometry, Photo, detect_box

FIRST_SCORE: Final = 0.70
SCORE_STEP: Final = 0.06
TOP_SCORE: Final = 0.88
"""The detector's score per sighting: rising by ``SCORE_STEP`` as the car comes closer, then
level, so later frames stop being better thumbnails."""


def _snapshot(frame_time: float, box: list[int], score: float) -> dict[str, Any]:
    x1, y1, x2, y2 = box
    return {
        "frame_time": frame_time,
        "box": box,
        "area": (x2 - x1) * (y2 - y1),
        "region": box,
        "score": score,
        "attributes": [],
        "current_estimated_speed": 0,
        "velocity_angle": 0,
        "path_data": [],
        "recognized_license_plate": None,
        "recognized_license_plate_score": None,
    }


def on_edge(box: Sequence[int], frame_shape: tuple[int, int]) -> bool:
    """Frigate's ``on_edge``: the box touches the frame's edge (``frame_shape`` is (height,
    width), detect pixels)."""
    height, width = frame_shape
    return box[0] == 0 or box[1] == 0 or box[2] == width - 1 or box[3] == height - 1


def is_better_thumbnail(
    current: dict[str, Any],
    score: float,
    area: int,
    *,
    box: Sequence[int] | None = None,
    frame_shape: tuple[int, int] | None = None,
) -> bool:
    """Frigate's ``is_better_thumbnail`` for a car without attributes: never a box on the
    frame's edge over one that is not (when ``box`` and ``frame_shape`` are given), else a score
    more than 0.05 higher, or an area more than 10% larger."""
    if (
        box is not None
        and frame_shape is not None
        and on_edge(box, frame_shape)
        and not on_edge(current["box"], frame_shape)
    ):
        return False
    return bool(score > current["score"] + 0.05 or area > current["area"] * 1.1)


@dataclass(slots=True)
class TrackedObject:
    """One replayed tracked object, producing Frigate's ``to_dict`` states."""

    id: str
    camera: str
    label: str
    box: list[int]
    start_time: float
    zones: list[str] = field(default_factory=list)
    plate: tuple[str, float] | None = None
    sub_label: tuple[str, float] | None = None
    plate_from: int = 1
    """The first update that carries Frigate's plate (LPR waits for a position change)."""

    def state(
        self,
        *,
        frame_time: float,
        snapshot: dict[str, Any] | None,
        score: float,
        top_score: float,
        position_changes: int,
        end_time: float | None = None,
        false_positive: bool = False,
        with_plate: bool = True,
        box: list[int] | None = None,
    ) -> dict[str, Any]:
        box = self.box if box is None else box
        x1, y1, x2, y2 = box
        area = (x2 - x1) * (y2 - y1)
        # should_save_snapshot: no snapshot while false positive or before a position change.
        saved = not false_positive and position_changes > 0
        return {
            "id": self.id,
            "camera": self.camera,
            "frame_time": frame_time,
            "snapshot": snapshot,
            "label": self.label,
            "sub_label": list(self.sub_label) if self.sub_label and with_plate else None,
            "top_score": top_score,
            "false_positive": false_positive,
            "start_time": self.start_time,
            "end_time": end_time,
            "score": score,
            "box": box,
            "area": area,
            "ratio": round((x2 - x1) / max(1, y2 - y1), 6),
            "region": box,
            "active": True,
            "stationary": False,
            "motionless_count": 0,
            "position_changes": position_changes,
            "current_zones": [] if false_positive else list(self.zones),
            "entered_zones": [] if false_positive else list(self.zones),
            "has_clip": saved,
            "has_snapshot": saved,
            "attributes": {},
            "current_attributes": [],
            "pending_loitering": False,
            "max_severity": None if false_positive else "detection",
            "current_estimated_speed": 0,
            "average_estimated_speed": 0,
            "velocity_angle": 0,
            "path_data": [],
            "recognized_license_plate": list(self.plate) if self.plate and with_plate else None,
        }

    def messages(self, updates: int) -> list[dict[str, Any]]:
        """Frigate's messages for a car that drives through in view for ``updates`` seconds:

        ``new`` a few frames after the first detection, with the first frame as its thumbnail
        but ``has_snapshot`` false (no position change yet); one ``update`` per second, the
        first with the position change (``has_snapshot`` true), each taking its frame as the
        snapshot only when it is a better thumbnail; ``end`` ``MAX_DISAPPEARED`` s after the
        last sighting (its ``frame_time``), with the final snapshot.
        """
        t0 = self.start_time
        x1, y1, x2, y2 = self.box
        area = (x2 - x1) * (y2 - y1)
        states = [
            self.state(
                frame_time=t0,
                snapshot=None,
                score=FIRST_SCORE,
                top_score=0.0,
                position_changes=0,
                false_positive=True,
                with_plate=False,
            )
        ]
        snapshot = _snapshot(t0, self.box, FIRST_SCORE)
        moment, score = t0 + NEW_AFTER, FIRST_SCORE
        states.append(
            self.state(
                frame_time=moment,
                snapshot=snapshot,
                score=score,
                top_score=score,
                position_changes=0,
                with_plate=False,
            )
        )
        for index in range(1, updates + 1):
            moment = t0 + NEW_AFTER + index * SIGHTING_INTERVAL
            score = round(min(FIRST_SCORE + index * SCORE_STEP, TOP_SCORE), 2)
            if is_better_thumbnail(snapshot, score, area):
                snapshot = _snapshot(moment, self.box, score)
            states.append(
                self.state(
                    frame_time=moment,
                    snapshot=snapshot,
                    score=score,
                    top_score=score,
                    position_changes=1,
                    with_plate=index >= self.plate_from,
                )
            )
        states.append(
            self.state(
                frame_time=moment,
                snapshot=snapshot,
                score=score,
                top_score=score,
                position_changes=1 if updates else 0,
                end_time=moment + MAX_DISAPPEARED,
                with_plate=updates >= self.plate_from,
            )
        )
        return _messages(states)

    def approach_messages(
        self, frames: Sequence[ApproachFrame], detect: tuple[int, int]
    ) -> list[dict[str, Any]]:
        """Frigate's messages for a vehicle seen on ``frames`` as it approaches (`approach`),
        by 0.17.2's rules (``CameraState.update``, ``TrackedObject.update``): the first frame
        is the object's thumbnail when it is created, and the object a false positive for
        ``NEW_AFTER`` s; the first frame after that publishes ``new`` (its first path point, no
        position change yet: ``has_snapshot`` false). Each later frame becomes the snapshot only
        when `is_better_thumbnail` (never a box on the frame's edge over one that is not; a
        score 0.05 higher or an area 10% larger) and is published only when something
        significant changed (the first position change) or its path moved (5% of the detect
        frame's diagonal over its longer side from the last path point; the second point
        always): a snapshot taken on an unpublished frame goes out with the next message.
        ``end`` comes ``MAX_DISAPPEARED`` s after the last frame, with the final snapshot."""
        width, height = detect
        threshold = 0.05 * math.hypot(width, height) / max(width, height)
        t0, first = self.start_time, frames[0]
        self.box = list(first.box)
        states = [
            self.state(
                frame_time=t0,
                snapshot=None,
                score=first.score,
                top_score=0.0,
                position_changes=0,
                false_positive=True,
                with_plate=False,
            )
        ]
        snapshot = _snapshot(t0, list(first.box), first.score)
        scores, top_score = [first.score], 0.0
        path: list[tuple[float, float]] = []
        for frame in frames[1:]:
            moment, box = t0 + frame.offset, list(frame.box)
            scores.append(frame.score)
            top_score = max(top_score, statistics.median(scores[-10:]))
            if frame.offset < NEW_AFTER - 1e-6:
                continue  # still a false positive: no thumbnail, no message
            x1, y1, x2, y2 = box
            area = (x2 - x1) * (y2 - y1)
            if is_better_thumbnail(
                snapshot, frame.score, area, box=box, frame_shape=(height, width)
            ):
                snapshot = _snapshot(moment, box, frame.score)
            point = (round((x1 + x2) / 2 / width, 4), round(y2 / height, 4))
            significant = len(states) == 2  # the first position change
            if len(path) < 2 or math.dist(path[-1], point) >= threshold:
                path.append(point)
            elif not significant:
                continue
            states.append(
                self.state(
                    frame_time=moment,
                    snapshot=snapshot,
                    score=frame.score,
                    top_score=top_score,
                    position_changes=0 if len(states) == 1 else 1,
                    with_plate=len(states) - 1 >= self.plate_from,
                    box=box,
                )
            )
        if len(states) == 1:
            raise ValueError("the vehicle is in view too briefly to become an event")
        last = frames[-1]
        updates = len(states) - 2
        states.append(
            self.state(
                frame_time=t0 + last.offset,
                snapshot=snapshot,
                score=last.score,
                top_score=top_score,
                position_changes=1 if updates else 0,
                end_time=t0 + last.offset + MAX_DISAPPEARED,
                with_plate=updates >= self.plate_from,
                box=list(last.box),
            )
        )
        return _messages(states)


def _messages(states: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The `frigate/events` messages of an object's published states: ``new``, ``update``s,
    ``end``, each with the state before it."""
    kinds = ["new"] + ["update"] * (len(states) - 3) + ["end"]
    return [
        {"before": before, "after": after, "type": kind}
        for kind, before, after in zip(kinds, states[:-1], states[1:], strict=True)
    ]


LprFunction = Callable[[Photo], tuple[str, float] | None]
"""Frigate's own LPR result for a photo (plate, score), or None when it reads nothing."""


class FrigateMqtt(FrigateState):
    """Publishes Frigate's MQTT messages for a list of photos, recording each event."""

    def __init__(
        self,
        photos: list[Photo],
        *,
        cameras: Iterable[str],
        mqtt_host: str,
        mqtt_port: int,
        topic_prefix: str = "frigate",
        qos: int = 0,
        seed: int = 1,
        geometry: CameraGeometry | None = None,
        lpr: LprFunction | None = None,
        version: str = FRIGATE_VERSION,
        approach: Approach | None = None,
    ) -> None:
        super().__init__(
            photos, cameras=cameras, geometry=geometry, version=version, approach=approach
        )
        self.topic_prefix = topic_prefix
        self.qos = qos
        self.lpr = lpr
        self.lost: list[tuple[str, bytes]] = []
        """Messages dropped on purpose (QoS 0 loss): (topic, payload)."""
        self.lose: list[Callable[[str, dict[str, Any]], bool]] = []
        """Predicates (topic, message): a message any of them accepts is not published."""
        self._rng = random.Random(seed)
        self._stats_task: asyncio.Task[None] | None = None
        self.mqtt = MqttLink(
            host=mqtt_host,
            port=mqtt_port,
            client_id=f"frigate-replay-{seed}-{self._rng.randrange(1 << 30)}",
            clean_session=True,
            manual_ack=False,
            # Frigate's last will: frigate/available = offline, QoS 1, retained.
            will=Will(f"{topic_prefix}/available", b"offline"),
        )

    async def start(self) -> None:
        """Connect and announce ``frigate/available`` = ``online`` (retained), as Frigate."""
        await self.mqtt.start()
        await asyncio.wait_for(self.mqtt.connected.wait(), timeout=15)
        await asyncio.wait_for(
            self.mqtt.publish(f"{self.topic_prefix}/available", b"online", retain=True), 15
        )

    async def stop(self) -> None:
        """A clean stop as in 0.17: Frigate just disconnects (``available`` stays ``online``)."""
        if self._stats_task is not None:
            self._stats_task.cancel()
        await self.mqtt.stop()

    async def crash(self) -> None:
        """Frigate dies: the connection drops without DISCONNECT, the broker sends the will."""
        if self._stats_task is not None:
            self._stats_task.cancel()
            self._stats_task = None
        client = self.mqtt._client  # a crash has no public API
        sock = client.socket()
        if sock is not None:
            sock.close()
        await asyncio.to_thread(client.loop_stop)

    async def _publish_topic(
        self, topic: str, message: dict[str, Any] | bytes, *, retain: bool = False
    ) -> None:
        full = f"{self.topic_prefix}/{topic}"
        if isinstance(message, dict) and any(lose(topic, message) for lose in self.lose):
            self.lost.append((full, json.dumps(message).encode()))
            return
        payload = message if isinstance(message, bytes) else json.dumps(message).encode()
        await self.mqtt.publish(full, payload, qos=self.qos, retain=retain)

    async def publish(self, message: dict[str, Any] | bytes) -> None:
        """Publish one raw `frigate/events` message (a dict is sent as compact JSON, as Frigate)."""
        await self._publish_topic("events", message)

    async def camera_status(self, camera: str, role: str, state: str) -> None:
        """``frigate/<camera>/status/<role>``: ``online`` / ``offline`` / ``disabled``."""
        await self._publish_topic(f"{camera}/status/{role}", state.encode())

    async def publish_stats(self) -> None:
        await self._publish_topic("stats", json.dumps(self.stats()).encode())

    def start_stats(self, interval: float) -> None:
        """Publish ``frigate/stats`` every ``interval`` s (Frigate's ``mqtt.stats_interval``)."""

        async def loop() -> None:
            while True:
                await self.publish_stats()
                await asyncio.sleep(interval)

        self._stats_task = asyncio.get_running_loop().create_task(loop())

    def tracked_object(self, photo: Photo, camera: str, start: float) -> TrackedObject:
        identifier = event_id(start, self._rng)
        self.events[identifier] = photo
        plate = self.lpr(photo) if self.lpr is not None else None
        tracked = TrackedObject(
            identifier, camera, photo.label, detect_box(photo, self.geometry), start, plate=plate
        )
        self.records[identifier] = EventRecord(
            identifier, camera, photo.label, photo, start, box=tracked.box, plate=plate
        )
        return tracked

    def _lpr_update(self, record: EventRecord, moment: float) -> dict[str, Any]:
        """``tracked_object_update`` type ``lpr``, 0.16/0.17 shape (no ``plate_box``)."""
        assert record.plate is not None
        name = record.sub_label[0] if record.sub_label else None
        return {
            "type": "lpr",
            "name": name,
            "plate": record.plate[0],
            "score": record.plate[1],
            "id": record.id,
            "camera": record.camera,
            "timestamp": moment,
        }

    async def replay_one(
        self, photo: Photo, camera: str, *, updates: int = 1, step: float = 0.2
    ) -> str:
        """One vehicle: its messages (see `TrackedObject.messages`) go out ``step`` s apart,
        stamped with Frigate's real timing on the event's `EventClock`. With `approach` set,
        the vehicle approaches over its frames (`TrackedObject.approach_messages`) and
        ``updates`` is not used."""
        if self.approach is not None:
            return await self._replay_approaching(photo, camera, step=step)
        begin = time.time()
        walls = tuple(begin + index * step for index in range(updates + 2))
        tracked = self.tracked_object(photo, camera, walls[-1] - event_duration(updates))
        messages = tracked.messages(updates)
        await self._send(self.records[tracked.id], messages, walls)
        return tracked.id

    async def _replay_approaching(self, photo: Photo, camera: str, *, step: float) -> str:
        assert self.approach is not None
        if self.geometry is None:
            self.geometry = APPROACH_GEOMETRY
        frames = plan_approach(photo, self.geometry, self.approach)
        detect = self.geometry.detect
        count = len(
            TrackedObject("", camera, photo.label, [], 0.0).approach_messages(frames, detect)
        )
        begin = time.time()
        walls = tuple(begin + index * step for index in range(count))
        tracked = self.tracked_object(
            photo, camera, walls[-1] - frames[-1].offset - MAX_DISAPPEARED
        )
        messages = tracked.approach_messages(frames, detect)
        record = self.records[tracked.id]
        record.frames = tuple(frames)
        record.box = list(tracked.box)
        await self._send(record, messages, walls)
        return tracked.id

    async def _send(
        self, record: EventRecord, messages: list[dict[str, Any]], walls: tuple[float, ...]
    ) -> None:
        """Publish a tracked object's messages at ``walls``, on the event's own clock."""
        record.clock = EventClock(
            walls,
            tuple(m["after"]["end_time"] or m["after"]["frame_time"] for m in messages),
        )
        for index, message in enumerate(messages):
            if index:
                await asyncio.sleep(max(0.0, walls[index] - time.time()))
            await self.publish_tracked(message)

    async def publish_tracked(self, message: dict[str, Any]) -> None:
        """Publish one of a tracked object's own messages (`TrackedObject.messages`) as Frigate
        does: its database record follows (snapshot time; end time and zones on `end`), and a
        plate known to its LPR goes out on ``tracked_object_update`` first. `publish` sends any
        message and changes no record (a forged one, say)."""
        after = message["after"]
        record = self.records.get(after["id"])
        if record is not None:
            if after["snapshot"] is not None:
                record.snapshot_time = after["snapshot"]["frame_time"]
                if record.frames:  # Frigate's record keeps the snapshot's box and score
                    record.box = list(after["snapshot"]["box"])
                    record.score = after["snapshot"]["score"]
            if message["type"] == "end":
                record.end_time = after["end_time"]
                record.zones = list(after["entered_zones"])
            elif record.plate is not None and after["recognized_license_plate"] is not None:
                # The LPR result goes out on tracked_object_update, then on the next event update.
                await self._publish_topic(
                    "tracked_object_update", self._lpr_update(record, after["frame_time"])
                )
        await self.publish(message)

    async def replay_dedicated(self, photo: Photo, camera: str, *, step: float = 0.2) -> str:
        """A dedicated ``type: lpr`` camera without a Frigate+ model: LPR creates the event
        (label ``license_plate``, ``data.type`` ``api``) with a snapshot; only
        ``tracked_object_update`` (``lpr``) and ``reviews`` are published, no ``frigate/events``."""
        if camera not in self.lpr_cameras:
            self.lpr_cameras.append(camera)
        start = time.time()
        identifier = event_id(start, self._rng)
        plate = self.lpr(photo) if self.lpr is not None else None
        if plate is None and photo.plate:
            plate = (photo.plate, 0.93)
        self.events[identifier] = photo
        record = EventRecord(
            identifier,
            camera,
            "license_plate",
            photo,
            start,
            plate=plate,
            kind="api",
            snapshot_time=start,
        )
        self.records[identifier] = record
        review_id = event_id(start, self._rng)
        review = {
            "id": review_id,
            "camera": camera,
            "start_time": start,
            "end_time": None,
            "severity": "detection",
            "thumb_path": f"/media/frigate/clips/review/thumb-{camera}-{review_id}.webp",
            "data": {
                "detections": [identifier],
                "objects": ["license_plate"],
                "verified_objects": [],
                "sub_labels": [],
                "zones": [],
                "audio": [],
                "thumb_time": start,
                "metadata": None,
            },
        }
        await self._publish_topic("reviews", {"type": "new", "before": review, "after": review})
        if plate is not None:
            for index in range(2):
                await asyncio.sleep(step)
                await self._publish_topic(
                    "tracked_object_update", self._lpr_update(record, start + step * (index + 1))
                )
        await asyncio.sleep(step)
        record.end_time = time.time()
        ended = {**review, "end_time": record.end_time}
        await self._publish_topic("reviews", {"type": "end", "before": review, "after": ended})
        return identifier

    async def run(
        self, *, rate: float = 2.0, updates: int = 1, step: float = 0.2, limit: int | None = None
    ) -> list[str]:
        """Replay every photo as one vehicle, ``rate`` vehicles a second, cameras in turn."""
        photos = self.photos[:limit] if limit else self.photos
        tasks = []
        for index, photo in enumerate(photos):
            camera = self.cameras[index % len(self.cameras)]
            tasks.append(
                asyncio.create_task(self.replay_one(photo, camera, updates=updates, step=step))
            )
            await asyncio.sleep(1 / rate)
        return list(await asyncio.gather(*tasks))
