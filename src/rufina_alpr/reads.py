"""Plate reads: what one OCR pass (ours or Frigate's) saw on one image."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, TypeAlias

ReadSource = Literal["engine", "frigate"]
Box: TypeAlias = tuple[int, int, int, int]
"""A box in an image's pixels: left, top, right, bottom (Frigate's order)."""


@dataclass(frozen=True, slots=True)
class PlateRead:
    """One reading of one plate on one image.

    ``char_confidences`` has exactly one value per character of ``text`` (the OCR's padding slots
    are already cut off). ``region`` is the OCR's country guess in its own words ("Italy", ...).
    """

    text: str
    char_confidences: tuple[float, ...]
    region: str | None = None
    region_confidence: float | None = None
    detection_confidence: float = 1.0
    source: ReadSource = "engine"
    box: Box | None = None
    frame_time: float | None = None
    views: int = 1
    """How many crop views of its image this read stands for: when the OCR is sure of a plate
    the recognizer skips the other views, and this read weighs in fusion what they would have."""
    crop_jpeg: bytes | None = field(default=None, repr=False, compare=False)

    @property
    def confidence(self) -> float:
        """Mean character confidence (0 for an empty read)."""
        if not self.char_confidences:
            return 0.0
        return sum(self.char_confidences) / len(self.char_confidences)
