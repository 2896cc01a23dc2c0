"""Plate reads: what one OCR pass (ours or Frigate's) saw on one image."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final, Literal, TypeAlias

from rufina_alpr.plate_formats import normalize_plate

ReadSource = Literal["engine", "frigate"]
Box: TypeAlias = tuple[int, int, int, int]
"""A box in an image's pixels: left, top, right, bottom (Frigate's order)."""
PLATE_TEXT: Final = re.compile(r"[A-Z0-9]{1,12}")
"""What can be a plate once normalised (the contract's pattern)."""
FRIGATE_SCORE: Final = 0.8
"""The character confidence of a plate Frigate gave without a score."""


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

    @classmethod
    def from_frigate(cls, text: str, score: float | None) -> PlateRead | None:
        """Frigate's plate as one more read for fusion, or None when the text cannot be a plate:
        Frigate's API takes any text, and none of it but a plate goes on to the store and MQTT."""
        plate = normalize_plate(text)
        if not PLATE_TEXT.fullmatch(plate):
            return None
        confidence = score or FRIGATE_SCORE
        return cls(text=plate, char_confidences=(confidence,) * len(plate), source="frigate")

    @property
    def confidence(self) -> float:
        """Mean character confidence (0 for an empty read)."""
        if not self.char_confidences:
            return 0.0
        return sum(self.char_confidences) / len(self.char_confidences)
