"""The replayed Frigate's MQTT half: its tracked objects and the messages it publishes.

For each photo, `frigate/events` messages shaped exactly like Frigate's ``TrackedObject.to_dict``
with 0.17.2's timing (`tracked.TrackedObject.messages`), its own LPR results on
``tracked_object_update``, dedicated LPR cameras (only ``tracked_object_update`` and
``reviews``), QoS 0 loss (messages dropped on purpose), ``frigate/available`` with its last
will, camera status and ``frigate/stats``. Each published event is recorded in the shared
`FrigateState`, which the HTTP half serves.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable, Iterable
from typing import Any

from rufina_alpr.mqtt import MqttLink, Will
from rufina_alpr.sim.approach import APPROACH_GEOMETRY, Approach, plan_approach
from rufina_alpr.sim.frigate_state import (
    FRIGATE_VERSION,
    MAX_DISAPPEARED,
    NEW_AFTER,
    EventClock,
    EventRecord,
    FrigateState,
    event_duration,
    event_id,
)
from rufina_alpr.sim.photos import CameraGeometry, Photo, detect_box
from rufina_alpr.sim.tracked import TrackedObject

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
        self,
        photo: Photo,
        camera: str,
        *,
        updates: int = 1,
        step: float = 0.2,
        realtime: bool = False,
    ) -> str:
        """One vehicle: its messages (see `TrackedObject.messages`) go out ``step`` s apart,
        stamped with Frigate's real timing on the event's `EventClock`; ``realtime``: when
        Frigate would publish them (one update a second, `end` `MAX_DISAPPEARED` s after the
        last sighting). With `approach` set, the vehicle approaches over its frames
        (`TrackedObject.approach_messages`) and ``updates`` is not used."""
        if self.approach is not None:
            return await self._replay_approaching(photo, camera, step=step)
        begin = time.time()
        if realtime:
            # Frigate's clock is the wall's: `new` goes out NEW_AFTER s after the first sight.
            tracked = self.tracked_object(photo, camera, begin - NEW_AFTER)
            messages = tracked.messages(updates)
            first = _frigate_time(messages[0])
            walls = tuple(begin + _frigate_time(m) - first for m in messages)
        else:
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
            tuple(_frigate_time(m) for m in messages),
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


def _frigate_time(message: dict[str, Any]) -> float:
    """When Frigate publishes a `frigate/events` message: its `end` at the end time, the others
    at their frame's time."""
    after = message["after"]
    return float(after["end_time"] or after["frame_time"])
