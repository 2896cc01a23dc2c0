"""Plate detectors usable by fast-alpr: YOLOv8 ONNX files, fast-alpr's own YOLOv9, or none.

fast-alpr accepts any `BaseDetector`; YOLOv8 exports (detection or segmentation heads, fp32 or fp16)
need their own decoding because their output is raw anchor rows with NMS left outside the graph.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnxruntime as ort
from fast_alpr.base import BaseDetector
from fast_alpr.default_detector import DefaultDetector
from open_image_models.detection.core.base import BoundingBox, DetectionResult
from open_image_models.detection.factory import create_detector

PLATE_LABEL = "License Plate"
LETTERBOX_GREY = 114


class YoloV8OnnxDetector(BaseDetector):
    """Ultralytics YOLOv8 ONNX plate detector (``output0`` = ``[1, 4 + classes + masks, anchors]``).

    Works for plain detection exports (rows cx, cy, w, h, score) and segmentation exports (extra
    mask coefficients, with a second ``protos`` output that tells how many to ignore).
    """

    def __init__(
        self,
        model_path: str | Path,
        *,
        conf_thresh: float = 0.4,
        iou_thresh: float = 0.5,
        sess_options: ort.SessionOptions | None = None,
    ) -> None:
        self.model_path = Path(model_path)
        self.conf_thresh = conf_thresh
        self.iou_thresh = iou_thresh
        self.session = ort.InferenceSession(
            str(self.model_path), sess_options=sess_options, providers=["CPUExecutionProvider"]
        )
        model_input = self.session.get_inputs()[0]
        self.input_name: str = model_input.name
        self.input_size = int(model_input.shape[2])
        self.input_dtype = np.float16 if "float16" in model_input.type else np.float32
        outputs = self.session.get_outputs()
        self.mask_coefficients = int(outputs[1].shape[1]) if len(outputs) > 1 else 0

    def _letterbox(self, frame: np.ndarray) -> tuple[np.ndarray, float, int, int]:
        height, width = frame.shape[:2]
        scale = self.input_size / max(height, width)
        # At least 1 px: a frame of extreme aspect (a 1x2000 strip decodes) must not resize to 0.
        new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
        interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        resized = cv2.resize(frame, (new_w, new_h), interpolation=interpolation)
        pad_x, pad_y = (self.input_size - new_w) // 2, (self.input_size - new_h) // 2
        canvas = np.full((self.input_size, self.input_size, 3), LETTERBOX_GREY, dtype=np.uint8)
        canvas[pad_y : pad_y + new_h, pad_x : pad_x + new_w] = resized
        return canvas, scale, pad_x, pad_y

    def predict(self, frame: np.ndarray) -> list[DetectionResult]:
        canvas, scale, pad_x, pad_y = self._letterbox(frame)
        blob = cv2.cvtColor(canvas, cv2.COLOR_BGR2RGB).transpose(2, 0, 1)[np.newaxis]
        blob = (blob.astype(np.float32) / 255.0).astype(self.input_dtype)
        rows: np.ndarray = self.session.run(None, {self.input_name: blob})[0][0]
        class_rows = rows.shape[0] - 4 - self.mask_coefficients
        scores = rows[4 : 4 + class_rows].max(axis=0).astype(np.float32)
        keep = scores >= self.conf_thresh
        if not keep.any():
            return []
        cx, cy, w, h = (rows[i][keep].astype(np.float32) for i in range(4))
        scores = scores[keep]
        x1 = (cx - w / 2 - pad_x) / scale
        y1 = (cy - h / 2 - pad_y) / scale
        boxes_xywh = np.stack([x1, y1, w / scale, h / scale], axis=1)
        chosen = cv2.dnn.NMSBoxes(
            boxes_xywh.tolist(), scores.tolist(), self.conf_thresh, self.iou_thresh
        )
        frame_h, frame_w = frame.shape[:2]
        results: list[DetectionResult] = []
        for index in np.array(chosen).flatten():
            bx, by, bw, bh = boxes_xywh[index]
            box = BoundingBox(
                x1=max(0, round(float(bx))),
                y1=max(0, round(float(by))),
                x2=min(frame_w, round(float(bx + bw))),
                y2=min(frame_h, round(float(by + bh))),
            )
            if box.x2 > box.x1 and box.y2 > box.y1:
                results.append(
                    DetectionResult(
                        label=PLATE_LABEL, confidence=float(scores[index]), bounding_box=box
                    )
                )
        results.sort(key=lambda r: r.confidence, reverse=True)
        return results


class WholeImageDetector(BaseDetector):
    """For images that already are a plate crop (Frigate gave the plate box): all of it is plate."""

    def predict(self, frame: np.ndarray) -> list[DetectionResult]:
        height, width = frame.shape[:2]
        box = BoundingBox(x1=0, y1=0, x2=width, y2=height)
        return [DetectionResult(label=PLATE_LABEL, confidence=1.0, bounding_box=box)]


def fast_alpr_yolov9_detector(
    model: str | Path, *, conf_thresh: float, sess_options: ort.SessionOptions | None
) -> BaseDetector:
    """fast-alpr's own YOLOv9 end-to-end detector: a hub model name (downloaded) or a local file."""
    if Path(str(model)).suffix == ".onnx":
        return _Adapter(
            create_detector(
                Path(model),
                backend="yolo_v9",
                class_labels=(PLATE_LABEL,),
                conf_thresh=conf_thresh,
                sess_options=sess_options,
            )
        )
    return DefaultDetector(
        model_name=str(model), conf_thresh=conf_thresh, sess_options=sess_options
    )


class _Adapter(BaseDetector):
    """Wraps an open-image-models detector in fast-alpr's detector interface."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def predict(self, frame: np.ndarray) -> list[DetectionResult]:
        result: list[DetectionResult] = self.inner.predict(frame)
        return result
