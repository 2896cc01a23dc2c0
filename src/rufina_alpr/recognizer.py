"""Plate recognition on one image: fast-alpr's detector + OCR, tuned for Frigate snapshots.

What the engine adds over a plain ``ALPR.predict(frame)``: it reads on the vehicle crop Frigate
gives (small plates on wide frames stay large enough for the detector), with a smaller detector
input there (a plate is a large part of its vehicle, whatever the frame), and it reads a plate
the OCR is unsure of on more crops (margins, upscaling), so fusion has more than one vote.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

import cv2
import numpy as np
import onnxruntime as ort
from fast_alpr.base import BaseDetector
from fast_plate_ocr import LicensePlateRecognizer
from fast_plate_ocr.core.types import PlatePrediction
from open_image_models.detection.core.base import DetectionResult

from rufina_alpr.detectors import (
    WholeImageDetector,
    YoloV8OnnxDetector,
    fast_alpr_yolov9_detector,
)
from rufina_alpr.errors import RufinaError
from rufina_alpr.reads import Box, PlateRead

_LOGGER = logging.getLogger(__name__)

FAST_ALPR_DEFAULT_DETECTOR: Final = "yolo-v9-t-384-license-plate-end2end"
FAST_ALPR_DEFAULT_OCR: Final = "cct-xs-v2-global-model"
OFFLINE_DETECTOR: Final = "pyplatex-yolov8n/pyplatex_yolov8n_640.onnx"
# The same weights at a 384 px input: 2.3x cheaper, and on vehicle crops as accurate (a plate is
# ~10-30% of its vehicle's width, so it stays over ~40 px at 384), unlike on whole wide frames.
OFFLINE_CROP_DETECTOR: Final = "pyplatex-yolov8n/pyplatex_yolov8n_384.onnx"
OFFLINE_OCR: Final = "cct-xs-v2-global/cct_xs_v2_global.onnx"
OFFLINE_OCR_CONFIG: Final = "cct-xs-v2-global/cct_xs_v2_global_plate_config.yaml"

# (margin as a fraction of the plate box, upscale small crops): several views of one plate. The
# first is always read; the others only when the OCR is unsure of it (they cost 2.5x the OCR).
CROP_VIEWS: Final = ((0.04, False), (0.0, False), (0.12, True), (-0.03, True))
"""The second is the detector's exact box, the crop fast-alpr reads: read whenever the OCR is
unsure of the first (it alone was right on several far vehicles where the others misread a
character). It is not the first: on it the OCR's region head loses the plate's side bands (an
Italian plate read as French, CW340DN), and a sure first read ends the views."""
EVIDENCE_VIEW: Final = 2
SURE_CHARACTER: Final = 0.95
"""Every character of the first view read at least this sure: the other views are not read."""
MIN_OCR_WIDTH: Final = 160
VEHICLE_MARGIN: Final = 0.05
"""Context around Frigate's vehicle box, per side, as a fraction of the box. Kept small: the
detector sees the region shrunk to its input, and every pixel of margin makes a far vehicle's
plate smaller there (at 15% a 60-80 px plate on a 1000 px box dropped under the detector's
threshold where fast-alpr, on the box alone, read it)."""
WEAK_PLATE: Final = 0.2
"""A box the detector is this sure of is read only when the image has none over the detector's
threshold: a small, blurred plate is often the only box, just under it. Such reads are right
about one time in five on the far sets (9 of 42 vehicles; 7 of 13 the OCR was sure of): when
an image has only weak boxes, its reads' confidences are scaled by the detector's, so the plate
comes out low-confidence and weighs less beside other snapshots' reads."""
MAX_PLATES_PER_IMAGE: Final = 4
SAME_PLATE: Final = 0.3
"""Boxes of two passes overlapping this much (IoU) are one plate."""
TILE_MIN_WIDTH: Final = 800
MIN_TILE_SIDE: Final = 64
"""A whole frame this wide (no vehicle box, or one that is the whole frame) where neither
detector size read a plate is read again as 2x2 tiles with the whole-frame detector
(`second_pass`)."""
MODELS_HINT: Final = (
    "set models.dir (environment RUFINA_ALPR_MODELS, CLI --models) to a folder holding "
    f"{OFFLINE_DETECTOR}, {OFFLINE_OCR} and {OFFLINE_OCR_CONFIG} (see the README), "
    "or leave it unset so that fast-alpr downloads its default models"
)


OFFLINE_HINT: Final = (
    "give a models folder: --models DIR on the command line, models.dir in the settings or the "
    f"environment variable RUFINA_ALPR_MODELS, a folder such as the project's ../shared/models "
    f"holding {OFFLINE_DETECTOR} (and {OFFLINE_CROP_DETECTOR}), {OFFLINE_OCR} and "
    f"{OFFLINE_OCR_CONFIG}"
)


def _downloads(settings: ModelSettings, crop_value: str | None) -> list[str]:
    """The models these settings fetch from fast-alpr's download rather than from files."""
    names = []
    for value, default in (
        (settings.detector, FAST_ALPR_DEFAULT_DETECTOR),
        (crop_value or "none", FAST_ALPR_DEFAULT_DETECTOR),
    ):
        if value != "none" and _resolve(settings.models_dir, value, OFFLINE_DETECTOR) is None:
            names.append(default if value == "auto" else value)
    if _resolve(settings.models_dir, settings.ocr, OFFLINE_OCR) is None:
        names.append(FAST_ALPR_DEFAULT_OCR if settings.ocr == "auto" else settings.ocr)
    return list(dict.fromkeys(names))


class ModelError(RufinaError, RuntimeError):
    """A model is missing or cannot be loaded: raised once, at start-up."""


class ImageError(RufinaError, ValueError):
    """An image cannot be used (not an image, truncated, too large)."""


@dataclass(frozen=True, slots=True)
class ModelSettings:
    """Where models come from: ``models_dir`` (offline) or fast-alpr's download."""

    models_dir: Path | None = None
    detector: str = "auto"
    crop_detector: str = "auto"
    """The detector for a vehicle's box: ``auto`` (the 384 px model next to the default one, else
    ``detector``), ``same`` (``detector``), or a file."""
    ocr: str = "auto"
    detector_threshold: float = 0.35
    threads: int = 1
    second_pass: bool = True
    """Read a vehicle's box again with the 640 px detector (same weights) when the 384 px one
    finds no plate or the OCR is unsure of one; a whole frame (no vehicle box) where the 640 px
    detector read no plate, with the 384 px one and then as 2x2 tiles (`TILE_MIN_WIDTH`). On a
    whole frame the 384 px pass is not asked for a second opinion: on `openalpr-us-dev` it
    turned a right read wrong (car21) and found nothing the 640 px one missed that tiles did not."""


@dataclass(frozen=True, slots=True)
class ModelInfo:
    detector: str
    ocr: str
    load_seconds: float
    crop_detector: str | None = None
    """None: vehicle crops use ``detector`` too."""


def session_options(threads: int) -> ort.SessionOptions:
    """onnxruntime options for a shared CPU: fixed threads and no spin-waiting between runs."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return options


def _resolve(models_dir: Path | None, value: str, offline_default: str) -> Path | None:
    """A file path for ``value`` (absolute, or relative to models_dir); None means download."""
    if value == "auto":
        return None if models_dir is None else models_dir / offline_default
    candidate = Path(value)
    if candidate.suffix in {".onnx", ".yaml"}:
        if not candidate.is_absolute() and models_dir is not None:
            candidate = models_dir / candidate
        return candidate
    return None


def _load_detector(
    settings: ModelSettings, options: ort.SessionOptions, value: str
) -> tuple[BaseDetector, str]:
    if value == "none":
        return WholeImageDetector(), "none (images are plate crops)"
    path = _resolve(settings.models_dir, value, OFFLINE_DETECTOR)
    if path is None:
        name = FAST_ALPR_DEFAULT_DETECTOR if value == "auto" else value
        return (
            fast_alpr_yolov9_detector(name, conf_thresh=_floor(settings), sess_options=options),
            f"{name} (fast-alpr download)",
        )
    if not path.is_file():
        raise ModelError(f"plate detector model not found: {path}; {MODELS_HINT}")
    if "yolo-v9" in path.name or "yolov9" in path.name:
        detector = fast_alpr_yolov9_detector(
            path, conf_thresh=_floor(settings), sess_options=options
        )
        return detector, str(path)
    return (
        YoloV8OnnxDetector(path, conf_thresh=_floor(settings), sess_options=options),
        str(path),
    )


def _floor(settings: ModelSettings) -> float:
    """The detectors' own threshold: low enough to return the weak boxes `_plates` may keep."""
    return min(settings.detector_threshold, WEAK_PLATE)


def _plates(found: list[DetectionResult], threshold: float) -> list[DetectionResult]:
    """The boxes to read: those over ``threshold`` (at most `MAX_PLATES_PER_IMAGE`), or, when
    there is none, the single most confident weaker one."""
    sure = [d for d in found if d.confidence >= threshold]
    if sure:
        return sure[:MAX_PLATES_PER_IMAGE]
    return [max(found, key=lambda d: d.confidence)] if found else []


def _load_ocr(
    settings: ModelSettings, options: ort.SessionOptions
) -> tuple[LicensePlateRecognizer, str]:
    path = _resolve(settings.models_dir, settings.ocr, OFFLINE_OCR)
    if path is None:
        name = FAST_ALPR_DEFAULT_OCR if settings.ocr == "auto" else settings.ocr
        return (
            LicensePlateRecognizer(hub_ocr_model=name, device="cpu", sess_options=options),  # type: ignore[arg-type]
            f"{name} (fast-alpr download)",
        )
    config = path.with_name(path.stem + "_plate_config.yaml")
    if settings.ocr == "auto" and settings.models_dir is not None:
        config = settings.models_dir / OFFLINE_OCR_CONFIG
    for needed in (path, config):
        if not needed.is_file():
            raise ModelError(f"OCR model file not found: {needed}; {MODELS_HINT}")
    ocr = LicensePlateRecognizer(
        onnx_model_path=path, plate_config_path=config, device="cpu", sess_options=options
    )
    return ocr, str(path)


def _crop_detector_value(settings: ModelSettings) -> str | None:
    """What `_load_detector` loads for vehicle crops; None: the whole-frame detector."""
    value = settings.crop_detector
    if value == "same":
        return None
    if value != "auto":
        return value
    if settings.detector != "auto" or settings.models_dir is None:
        return None  # a chosen detector, or fast-alpr's download (already a 384 px model)
    return (
        OFFLINE_CROP_DETECTOR if (settings.models_dir / OFFLINE_CROP_DETECTOR).is_file() else None
    )


@dataclass(slots=True)
class _FoundPlate:
    """A plate one detector pass found: its crop views, their OCR reads, whether the OCR was
    sure of every first view of that pass, and the box its reads carry (region pixels; a later
    pass's plate that overlaps an earlier one carries that one's box, so their reads join)."""

    detection: DetectionResult
    views: list[np.ndarray]
    predictions: list[PlatePrediction]
    sure: bool
    box: Box


class PlateReader(Protocol):
    """What the engine needs of a recognizer: `Recognizer` runs the models; a pipeline test may
    hand the engine one that reads without them."""

    @property
    def info(self) -> ModelInfo:
        """The models in use, for the logs, the API and the health."""
        ...

    def read(
        self, image: np.ndarray, *, vehicle_box: Box | None = None, frame_time: float | None = None
    ) -> list[PlateRead]:
        """Every plate on a BGR image, as reads."""
        ...


class Recognizer:
    """Loads the models once; `read` is thread-safe and CPU-bound (run it in a worker)."""

    def __init__(self, settings: ModelSettings) -> None:
        started = time.perf_counter()
        options = session_options(settings.threads)
        crop_value = _crop_detector_value(settings)
        try:
            self.detector, detector_name = _load_detector(settings, options, settings.detector)
            self.crop_detector, crop_name = (
                _load_detector(settings, options, crop_value)
                if crop_value is not None
                else (self.detector, None)
            )
            self.ocr, ocr_name = _load_ocr(settings, options)
        except ModelError:
            raise
        except Exception as err:  # onnxruntime, download and file errors all mean "cannot start"
            downloads = _downloads(settings, crop_value)
            if downloads:  # offline, a bare "urlopen error" said nothing of the way out
                raise ModelError(
                    f"cannot download fast-alpr's default models ({', '.join(downloads)}): {err}; "
                    f"without internet, {OFFLINE_HINT}"
                ) from err
            raise ModelError(f"cannot load the recognition models: {err}") from err
        self.info = ModelInfo(
            detector_name, ocr_name, time.perf_counter() - started, crop_detector=crop_name
        )
        self.settings = settings
        self._rgb = self.ocr.config.image_color_mode == "rgb"

    def read(
        self,
        image: np.ndarray,
        *,
        vehicle_box: Box | None = None,
        frame_time: float | None = None,
    ) -> list[PlateRead]:
        """All plates on ``image`` (BGR): one read of each; when the OCR is unsure of any, one
        read of each plate per crop view (the same number for each, so that no plate of the
        image outweighs another in fusion by the number of its reads). When the OCR is still
        unsure of a plate or nothing was found, more passes read the same pixels
        (`ModelSettings.second_pass`): their reads join those of the plate they overlap."""
        offset_x, offset_y, region = _vehicle_region(image, vehicle_box)
        first, other = (
            (self.crop_detector, self.detector)
            if region is not image
            else (self.detector, self.crop_detector)
        )
        found = self._read_region(first, region)
        if (
            self.settings.second_pass
            and other is not first
            and not (found and all(plate.sure for plate in found))
            and (region is not image or not _any_text(found))
        ):
            _join(found, self._read_region(other, region))
        # Tiles for a whole frame, also one whose "vehicle box" is the whole frame (it says
        # nothing of where the vehicle is).
        whole_frame = region.shape[:2] == image.shape[:2]
        if whole_frame and self.settings.second_pass and not _any_text(found):
            for left, top, tile in _tiles(image):
                _join(found, self._read_region(self.detector, tile), (left, top))
        # Only weak boxes (`WEAK_PLATE`): the reads are right about one time in five (far sets),
        # so their confidences are scaled by the detector's, which makes the plate low-confidence.
        threshold = self.settings.detector_threshold
        weak = max((p.detection.confidence for p in found), default=1.0) < threshold
        reads: list[PlateRead] = []
        for plate in found:
            detection, views = plate.detection, plate.views
            scale = float(detection.confidence) if weak else 1.0
            evidence = _jpeg(views[min(EVIDENCE_VIEW, len(views) - 1)])
            x1, y1, x2, y2 = plate.box
            frame_box = (x1 + offset_x, y1 + offset_y, x2 + offset_x, y2 + offset_y)
            for prediction in plate.predictions:
                text, confidences = _text(prediction)
                if not text:  # detector false positives (lamps, badges) read as nothing
                    continue
                reads.append(
                    PlateRead(
                        text=text,
                        char_confidences=tuple(c * scale for c in confidences),
                        region=prediction.region,
                        region_confidence=prediction.region_prob,
                        detection_confidence=float(detection.confidence),
                        box=frame_box,
                        frame_time=frame_time,
                        views=len(views) if plate.sure else 1,
                        crop_jpeg=evidence,
                    )
                )
        return reads

    def _read_region(self, detector: BaseDetector, region: np.ndarray) -> list[_FoundPlate]:
        """Each plate the detector finds on ``region`` with its crop views, their OCR reads (the
        first view only when the OCR is sure of every plate's first view) and that sureness."""
        plates: list[tuple[DetectionResult, list[np.ndarray]]] = []
        for detection in _plates(detector.predict(region), self.settings.detector_threshold):
            plate_box = _box(detection)
            crops = [_plate_crop(region, plate_box, m, upscale) for m, upscale in CROP_VIEWS]
            if crops[0].size:  # the views left out are empty; the first is never empty
                plates.append((detection, [crop for crop in crops if crop.size]))
        first = self._ocr([views[0] for _, views in plates])
        predictions = [[prediction] for prediction in first]
        sure = all(_sure(prediction) for prediction in first)
        if not sure:
            more = iter(self._ocr([view for _, views in plates for view in views[1:]]))
            for (_, views), found in zip(plates, predictions, strict=True):
                found.extend(next(more) for _ in views[1:])
        return [
            _FoundPlate(detection, views, found, sure, _box(detection))
            for (detection, views), found in zip(plates, predictions, strict=True)
        ]

    def _ocr(self, crops: list[np.ndarray]) -> list[PlatePrediction]:
        if not crops:
            return []
        batch = [cv2.cvtColor(c, cv2.COLOR_BGR2RGB) if self._rgb else c for c in crops]
        return list(self.ocr.run(batch, return_confidence=True))


def _text(prediction: PlatePrediction) -> tuple[str, tuple[float, ...]]:
    """The text the OCR read, without padding, and its confidence in each character."""
    text = prediction.plate.strip("_")
    probs = prediction.char_probs
    return text, tuple(float(p) for p in probs[: len(text)]) if probs is not None else ()


def _sure(prediction: PlatePrediction) -> bool:
    """The OCR read a text and is sure of each of its characters."""
    text, confidences = _text(prediction)
    return bool(text) and bool(confidences) and min(confidences) >= SURE_CHARACTER


_JPEG_SOF: Final = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
FORMATS: Final = ("JPEG", "PNG", "WebP")
"""What Frigate serves (snapshot.jpg, thumbnail.jpg, recordings' snapshot.jpg; the clean copy as
WebP from 0.17, PNG before): the only formats decoded, each with its size read from its header."""


def image_format(data: bytes) -> str | None:
    """``JPEG``, ``PNG`` or ``WebP`` from the file's signature; None for anything else.

    OpenCV would also decode BMP, TIFF, PNM, GIF, Sun raster, HDR, JPEG 2000... Frigate serves
    none of them, and several declare any size in a few bytes (an RLE BMP of 1 KB is a 900 MB
    frame; OpenCV's reduced decoding decodes those in full first), so they are refused unread.
    """
    if data[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    return None


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a JPEG, PNG or WebP header without decoding; None: not found.

    This is the pixel check before decoding: OpenCV's decoders take the size from the same
    header (PNG's IHDR, WebP's VP8/VP8L/VP8X, JPEG's first SOF), and it costs nothing, unlike
    a reduced decode, which WebP does not have.
    """
    try:
        if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
            return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            chunk = data[12:16]
            if chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":
                width = int.from_bytes(data[26:28], "little") & 0x3FFF
                height = int.from_bytes(data[28:30], "little") & 0x3FFF
                return width, height
            if chunk == b"VP8L" and data[20] == 0x2F:
                bits = int.from_bytes(data[21:25], "little")
                return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
            if chunk == b"VP8X":
                width = int.from_bytes(data[24:27], "little") + 1
                height = int.from_bytes(data[27:30], "little") + 1
                return width, height
            return None
        if data[:2] == b"\xff\xd8":
            index = 2
            while index + 9 < len(data):
                if data[index] != 0xFF:
                    return None
                marker = data[index + 1]
                if marker == 0xFF:  # fill byte
                    index += 1
                    continue
                length = int.from_bytes(data[index + 2 : index + 4], "big")
                if marker in _JPEG_SOF:
                    height = int.from_bytes(data[index + 5 : index + 7], "big")
                    width = int.from_bytes(data[index + 7 : index + 9], "big")
                    return width, height
                index += 2 + length
    except IndexError:
        return None
    return None


def decode_image(data: bytes, *, max_pixels: int) -> np.ndarray:
    """Decode JPEG/PNG/WebP bytes to BGR, refusing other formats, truncated files and frames
    over ``max_pixels`` (by their header, before any decoding). Raises only `ImageError`."""
    if not data:
        raise ImageError("empty image")
    kind = image_format(data)
    if kind is None:
        raise ImageError(f"not a decodable image (not {', '.join(FORMATS)})")
    # Checked first: OpenCV decodes a truncated JPEG as nothing at all, or as a partly grey frame.
    if kind == "JPEG" and not data.rstrip(b"\x00").endswith(b"\xff\xd9"):
        raise ImageError("truncated JPEG")
    size = image_size(data)
    if size is None:
        raise ImageError(f"not a decodable image ({kind} without a readable size)")
    width, height = size
    if width * height > max_pixels:
        raise ImageError(f"image too large ({width}x{height}, limit {max_pixels / 1e6:.0f} MP)")
    try:
        image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    except cv2.error as err:  # OpenCV raises on some malformed headers instead of failing
        raise ImageError(f"not a decodable image ({kind}: {err.err})") from err
    if image is None or image.size == 0:
        raise ImageError("not a decodable image")
    if image.shape[0] * image.shape[1] > max_pixels:  # a header that lied
        raise ImageError(f"image too large ({image.shape[1]}x{image.shape[0]})")
    return image


def _vehicle_region(image: np.ndarray, vehicle_box: Box | None) -> tuple[int, int, np.ndarray]:
    height, width = image.shape[:2]
    if vehicle_box is None:
        return 0, 0, image
    x1, y1, x2, y2 = vehicle_box
    margin_x, margin_y = (x2 - x1) * VEHICLE_MARGIN, (y2 - y1) * VEHICLE_MARGIN
    left, top = max(0, int(x1 - margin_x)), max(0, int(y1 - margin_y))
    right, bottom = min(width, int(x2 + margin_x)), min(height, int(y2 + margin_y))
    if right - left < 16 or bottom - top < 16:
        return 0, 0, image
    return left, top, image[top:bottom, left:right]


def _plate_crop(image: np.ndarray, box: Box, margin: float, upscale: bool) -> np.ndarray:
    x1, y1, x2, y2 = box
    pad_x, pad_y = (x2 - x1) * margin, (y2 - y1) * margin * 2
    height, width = image.shape[:2]
    left, top = max(0, round(x1 - pad_x)), max(0, round(y1 - pad_y))
    right, bottom = min(width, round(x2 + pad_x)), min(height, round(y2 + pad_y))
    crop = image[top:bottom, left:right]
    if upscale and 0 < crop.shape[1] < MIN_OCR_WIDTH:
        factor = MIN_OCR_WIDTH / crop.shape[1]
        crop = cv2.resize(crop, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)
    return crop


def _join(
    found: list[_FoundPlate],
    more: list[_FoundPlate],
    offset: tuple[int, int] = (0, 0),
) -> None:
    """Add another pass's plates (found on a part of the region at ``offset``) to ``found``; one
    that overlaps a plate already there takes its box, so that its reads join that plate's (the
    CLI groups reads by box)."""
    for plate in more:
        x1, y1, x2, y2 = plate.box
        box = (x1 + offset[0], y1 + offset[1], x2 + offset[0], y2 + offset[1])
        plate.box = next((p.box for p in found if _iou(p.box, box) > SAME_PLATE), box)
        found.append(plate)


def _any_text(found: list[_FoundPlate]) -> bool:
    return any(_text(prediction)[0] for plate in found for prediction in plate.predictions)


def _tiles(image: np.ndarray) -> list[tuple[int, int, np.ndarray]]:
    """A wide frame as 2x2 tiles overlapping by a quarter (none for a frame under
    `TILE_MIN_WIDTH`): a plate too small for the detector on the whole frame is twice as large
    on its tile."""
    height, width = image.shape[:2]
    tile_h, tile_w = int(height / 1.75), int(width / 1.75)
    if width < TILE_MIN_WIDTH or min(tile_h, tile_w) < MIN_TILE_SIDE:  # a strip: no tiles
        return []
    return [
        (left, top, image[top : top + tile_h, left : left + tile_w])
        for top in (0, height - tile_h)
        for left in (0, width - tile_w)
    ]


def _box(detection: DetectionResult) -> Box:
    box = detection.bounding_box
    return box.x1, box.y1, box.x2, box.y2


def _iou(a: Box, b: Box) -> float:
    width = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - width * height
    return width * height / union if union > 0 else 0.0


def _jpeg(image: np.ndarray) -> bytes:
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return buffer.tobytes() if ok else b""


def model_settings_for(models_dir: str | Path | None, **overrides: object) -> ModelSettings:
    """ModelSettings with ``models_dir`` resolved (used by the CLI and the tests)."""
    directory = Path(models_dir).expanduser() if models_dir else None
    if directory is not None and not directory.is_dir():
        raise ModelError(f"models folder not found: {directory}; {MODELS_HINT}")
    return ModelSettings(models_dir=directory, **overrides)  # type: ignore[arg-type]
