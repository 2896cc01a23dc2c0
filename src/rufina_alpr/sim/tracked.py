"""The replayed Frigate's tracked objects: the ``frigate/events`` states Frigate's
``TrackedObject.to_dict`` produces for one vehicle, and the messages 0.17.2 publishes of them
(`TrackedObject.messages`: one photo; `TrackedObject.approach_messages`: a vehicle approaching
over several frames, its snapshots chosen by `is_better_thumbnail`).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from rufina_alpr.sim.approach import ApproachFrame
from rufina_alpr.sim.frigate_state import MAX_DISAPPEARED, NEW_AFTER, SIGHTING_INTERVAL

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
