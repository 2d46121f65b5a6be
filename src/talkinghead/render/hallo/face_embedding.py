"""Face identity embedding as Hallo computes it: InsightFace's SCRFD detector + ArcFace (glintr100).

Runs the released ONNX files with onnxruntime (no insightface package) and reproduces what
`insightface.app.FaceAnalysis(...).get` does for Hallo's `ImageProcessor`: detection at 640×640
(score ≥ 0.5, NMS 0.4), the largest face, its 5 keypoints aligned to the ArcFace template by a
similarity transform, a 112×112 crop, and the unnormalised 512-d embedding. No face gives zeros,
as in the release.
"""

from __future__ import annotations

import mmap
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from ...face.geometry import ARCFACE_SIZE, ARCFACE_TEMPLATE, box_iou, similarity

DETECTION_SIZE = (640, 640)  # `det_size` Hallo passes to FaceAnalysis.prepare
DETECTION_THRESHOLD = 0.5
NMS_THRESHOLD = 0.4
EMBEDDING_SIZE = 512
# SCRFD output layouts by number of outputs: (strides, anchors per position, has keypoints).
SCRFD_LAYOUTS = {
    6: ((8, 16, 32), 2, False),
    9: ((8, 16, 32), 2, True),
    10: ((8, 16, 32, 64, 128), 1, False),
    15: ((8, 16, 32, 64, 128), 1, True),
}


class FaceEmbedder:
    """image (H, W, 3) uint8 RGB → (512,) float32 identity embedding of its largest face."""

    def __init__(self, detector: ort.InferenceSession, recognizer: ort.InferenceSession, recognizer_mean_std=(127.5, 127.5)):
        self.detector = detector
        self.recognizer = recognizer
        self.mean, self.std = recognizer_mean_std
        shape = detector.get_inputs()[0].shape
        # A model with a fixed input size is run at that size (insightface does the same).
        self.detection_size = (shape[3], shape[2]) if isinstance(shape[2], int) else DETECTION_SIZE
        self.strides, self.anchors, self.has_keypoints = SCRFD_LAYOUTS[len(detector.get_outputs())]

    @classmethod
    def from_files(cls, detector: str | Path, recognizer: str | Path, providers: list[str] | None = None) -> "FaceEmbedder":
        providers = providers or ["CPUExecutionProvider"]
        return cls(
            ort.InferenceSession(str(detector), providers=providers),
            ort.InferenceSession(str(recognizer), providers=providers),
            arcface_normalisation(recognizer),
        )

    def __call__(self, image: np.ndarray) -> np.ndarray:
        boxes, keypoints = self.detect(image)
        if len(boxes) == 0 or keypoints is None:
            return np.zeros(EMBEDDING_SIZE, np.float32)
        areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        return self.embed(image, keypoints[int(np.argmax(areas))])

    def detect(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """→ boxes (n, 5) [x0, y0, x1, y1, score] in image pixels, keypoints (n, 5, 2)."""
        canvas, scale = _letterbox(image, self.detection_size)
        blob = ((canvas.astype(np.float32) - 127.5) * np.float32(1 / 128.0)).transpose(2, 0, 1)[None]
        outputs = self.detector.run(None, {self.detector.get_inputs()[0].name: blob})
        if outputs[0].ndim == 3:  # batched export: (1, N, k)
            outputs = [o[0] for o in outputs]
        boxes, scores, keypoints = self._decode(outputs, canvas.shape[:2])
        if len(scores) == 0:
            return np.zeros((0, 5), np.float32), keypoints
        order = np.argsort(scores)[::-1]
        detections = np.hstack([boxes / scale, scores[:, None]]).astype(np.float32)[order]
        keep = _nms(detections, NMS_THRESHOLD)
        keypoints = keypoints[order][keep] / scale if keypoints is not None else None
        return detections[keep], keypoints

    def _decode(self, outputs: list[np.ndarray], size: tuple[int, int]):
        """Anchor-free SCRFD decoding: distances from each anchor centre, scaled by the stride."""
        count = len(self.strides)
        all_boxes, all_scores, all_points = [], [], []
        for i, stride in enumerate(self.strides):
            centres = _anchor_centres(size[0] // stride, size[1] // stride, stride, self.anchors)
            scores = outputs[i].reshape(-1)
            keep = np.where(scores >= DETECTION_THRESHOLD)[0]
            distances = outputs[i + count] * stride
            all_boxes.append(np.hstack([centres - distances[:, :2], centres + distances[:, 2:4]])[keep])
            all_scores.append(scores[keep])
            if self.has_keypoints:
                offsets = (outputs[i + 2 * count] * stride).reshape(len(centres), -1, 2)
                all_points.append((centres[:, None, :] + offsets)[keep])
        keypoints = np.concatenate(all_points) if self.has_keypoints else None
        return np.concatenate(all_boxes), np.concatenate(all_scores), keypoints

    def embed(self, image: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
        """ArcFace embedding of the face whose 5 keypoints (5, 2) are given → (512,) float32."""
        side = self.recognizer.get_inputs()[0].shape[2]
        matrix = similarity(keypoints, ARCFACE_TEMPLATE * (side / ARCFACE_SIZE))
        crop = cv2.warpAffine(image, matrix, (side, side), borderValue=0.0)
        blob = ((crop.astype(np.float32) - np.float32(self.mean)) * np.float32(1.0 / self.std)).transpose(2, 0, 1)[None]
        embedding = self.recognizer.run(None, {self.recognizer.get_inputs()[0].name: blob})[0]
        return embedding.reshape(-1).astype(np.float32)


def _letterbox(image: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, float]:
    """Resize keeping the aspect ratio into the top-left of a black (h, w) canvas."""
    width, height = size
    if image.shape[0] / image.shape[1] > height / width:
        new_h, new_w = height, int(height / (image.shape[0] / image.shape[1]))
    else:
        new_w, new_h = width, int(width * (image.shape[0] / image.shape[1]))
    canvas = np.zeros((height, width, 3), np.uint8)
    canvas[:new_h, :new_w] = cv2.resize(image, (new_w, new_h))
    return canvas, new_h / image.shape[0]


def _anchor_centres(rows: int, cols: int, stride: int, anchors: int) -> np.ndarray:
    """(rows·cols·anchors, 2) x, y pixel positions, row-major, each repeated per anchor."""
    centres = np.stack(np.mgrid[:rows, :cols][::-1], axis=-1).astype(np.float32).reshape(-1, 2) * stride
    return np.repeat(centres, anchors, axis=0)


def _nms(detections: np.ndarray, threshold: float) -> list[int]:
    """Greedy non-maximum suppression, with insightface's +1 pixel area convention."""
    order = detections[:, 4].argsort()[::-1]
    keep = []
    while order.size > 0:
        i, rest = order[0], order[1:]
        keep.append(int(i))
        overlap = box_iou(detections[i, :4], detections[rest, :4], inclusive=True)
        order = rest[overlap <= threshold]
    return keep


def arcface_normalisation(path: str | Path) -> tuple[float, float]:
    """(mean, std) insightface applies to a recognition model: (0, 1) for MXNet exports, whose
    first nodes subtract and multiply themselves, else (127.5, 127.5). glintr100 is the latter."""
    names = _first_node_names(Path(path), 8)
    has_sub = any(n.startswith(("Sub", "_minus")) for n in names)
    has_mul = any(n.startswith(("Mul", "_mul")) for n in names)
    return (0.0, 1.0) if has_sub and has_mul else (127.5, 127.5)


def _first_node_names(path: Path, limit: int) -> list[str]:
    """Names of the first graph nodes of an ONNX file, read from its protobuf without the onnx
    package: ModelProto.graph (field 7) → GraphProto.node (field 1) → NodeProto.name (field 3)."""
    with path.open("rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
        graph = next((span for field, span in _fields(data, 0, len(data)) if field == 7), None)
        names = []
        for field, span in _fields(data, *graph) if graph else ():
            if field == 1:
                name = next((data[a:b].decode() for f, (a, b) in _fields(data, *span) if f == 3), "")
                names.append(name)
                if len(names) == limit:
                    break
        return names


def _fields(data, start: int, end: int):
    """(field number, (start, end)) of each length-delimited field of a protobuf message."""
    pos = start
    while pos < end:
        key, pos = _varint(data, pos)
        wire = key & 7
        if wire == 0:
            _, pos = _varint(data, pos)
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        elif wire == 2:
            length, pos = _varint(data, pos)
            yield key >> 3, (pos, pos + length)
            pos += length
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")


def _varint(data, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
