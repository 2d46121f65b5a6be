"""CSIM: cosine similarity of ArcFace embeddings between the reference face and the video's faces.

The ArcFace network is an ONNX file the user gives (e.g. InsightFace's `w600k_r50.onnx` or
Hallo's `glintr100.onnx`): (N, 3, 112, 112) RGB input scaled as (x - 127.5) / 127.5, one
embedding per face. Faces are aligned as ArcFace was trained: a similarity transform of five
points (eye centres, nose tip, mouth corners; here from dlib's landmarks) onto its standard
112 x 112 template.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import cv2
import numpy as np

from ...errors import ModelError
from ...face.geometry import ARCFACE_SIZE, ARCFACE_TEMPLATE, similarity
from ..landmarks import LEFT_EYE, MOUTH_CORNERS, RIGHT_EYE
from . import model_file

SIZE = ARCFACE_SIZE
# ArcFace's alignment template, pixels of the 112 x 112 crop: image-left eye, image-right eye,
# nose tip, image-left and image-right mouth corners.
NOSE_TIP = 30
HINT = "give the path of an ArcFace network in ONNX format (e.g. InsightFace's w600k_r50.onnx)"


@dataclass(frozen=True)
class CsimResult:
    csim: float  # mean cosine similarity to the reference, -1..1; higher keeps the identity better
    csim_min: float
    frames: int  # frames measured


class ArcFace:
    """An ArcFace ONNX network that embeds faces given their 68 dlib landmarks."""

    def __init__(self, path: str | os.PathLike) -> None:
        import onnxruntime

        path = model_file(path, "ArcFace", HINT)
        try:
            self._session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own unexported exception types
            raise ModelError(f"{path.name} is not an ONNX network ({str(error)[:80]}): {HINT}") from None
        self._input = self._session.get_inputs()[0].name

    def embed(self, rgb: np.ndarray, points: np.ndarray) -> np.ndarray:
        """(D,) float32 unit-length embedding of the face with (68, 2) `points` in an RGB image."""
        crop = aligned_face(rgb, points)
        x = ((crop.astype(np.float32) - 127.5) / 127.5).transpose(2, 0, 1)[None]
        try:
            out = np.asarray(self._session.run(None, {self._input: x})[0], np.float32).reshape(-1)
        except Exception as error:
            raise ModelError(f"the ArcFace network does not take (1, 3, 112, 112) faces ({str(error)[:80]}): {HINT}") from None
        return out / max(float(np.linalg.norm(out)), 1e-12)


def five_points(points: np.ndarray) -> np.ndarray:
    """(5, 2) float32 in ArcFace's order from (68, 2) dlib landmarks."""
    eyes = [points[list(RIGHT_EYE)].mean(0), points[list(LEFT_EYE)].mean(0)]  # image left, image right
    return np.array([*eyes, points[NOSE_TIP], points[MOUTH_CORNERS[0]], points[MOUTH_CORNERS[1]]], np.float32)


def aligned_face(rgb: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(112, 112, 3) uint8 RGB face, aligned onto ArcFace's template (least squares, as InsightFace)."""
    return cv2.warpAffine(rgb, similarity(five_points(points), ARCFACE_TEMPLATE), (SIZE, SIZE), flags=cv2.INTER_LINEAR, borderValue=0)


def csim(embeddings: np.ndarray, reference: np.ndarray) -> CsimResult | None:
    """Cosine similarities of (K, D) unit embeddings to one (D,) unit reference; None when K = 0."""
    if len(embeddings) == 0:
        return None
    similarities = embeddings @ reference
    return CsimResult(float(similarities.mean()), float(similarities.min()), len(similarities))
