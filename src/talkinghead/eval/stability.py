"""Temporal stability: landmark jitter on the face, flicker in the background."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..face.geometry import similarity
from .landmarks import EYE_OUTER_CORNERS, RIGID
from .landmarks import grey as to_grey

FLICKER_WIDTH = 160  # px: frames are compared at this width (flicker is a large-area effect)
# The head region left out of the background, in face-box sizes: sideways for ears and hair,
# upwards for hair; everything below the face (neck, shoulders) moves with the head too.
HEAD_SIDE, HEAD_TOP = 0.6, 0.8
MIN_BACKGROUND = 0.05  # share of the frame below which there is no background to judge


@dataclass(frozen=True)
class StabilityResult:
    landmark_jitter: float  # mean |second difference| of rigidly aligned face points, % of the eye-corner distance
    background_flicker: float  # mean |change| of background pixels between frames, grey levels 0-255; NaN: no background
    background_share: float  # mean share of the frame judged as background


def align_rigidly(points: np.ndarray) -> np.ndarray:
    """(T, 68, 2) landmarks moved, turned and scaled onto their mean shape (least squares on RIGID points).

    What is left is the face's own deformation plus the detector's noise, in units of the
    mean shape's eye-corner distance. Frames without a face stay NaN.
    """
    ok = np.isfinite(points).all(axis=(1, 2))
    out = np.full(points.shape, np.nan, np.float64)
    if not ok.any():
        return out
    target = points[ok].mean(0).astype(np.float64)
    target = target / np.linalg.norm(target[EYE_OUTER_CORNERS[1]] - target[EYE_OUTER_CORNERS[0]])
    rigid = list(RIGID)
    for t in np.flatnonzero(ok):
        matrix = similarity(points[t, rigid], target[rigid])
        out[t] = points[t] @ matrix[:, :2].T + matrix[:, 2]
    return out


def landmark_jitter(points: np.ndarray) -> float:
    """Mean magnitude of the second time difference of the aligned RIGID points, in % of the
    eye-corner distance; NaN with fewer than 3 consecutive frames with a face.

    These points move with the head but hardly with speech or blinks: after alignment they
    should stand still, so their frame-to-frame acceleration is jitter.
    """
    aligned = align_rigidly(points)[:, list(RIGID)]
    second = aligned[2:] - 2 * aligned[1:-1] + aligned[:-2]
    magnitude = np.linalg.norm(second, axis=2)
    return float(np.nanmean(magnitude) * 100) if np.isfinite(magnitude).any() else float("nan")


class BackgroundFlicker:
    """Per-frame change of the background, fed one frame at a time with the face's box."""

    def __init__(self) -> None:
        self._previous: tuple[np.ndarray, np.ndarray] | None = None  # (grey, background mask)
        self.changes: list[float] = []  # per frame; NaN for the first frame and frames without a face
        self.shares: list[float] = []

    def add(self, frame: np.ndarray, face_box: np.ndarray | None) -> None:
        if face_box is None:
            self._previous = None
            self.changes.append(np.nan)
            return
        h, w = frame.shape[:2]
        scale = FLICKER_WIDTH / w
        small = cv2.resize(frame, (FLICKER_WIDTH, max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        grey = to_grey(small).astype(np.float32)
        mask = _background_mask(grey.shape, face_box * scale)
        self.shares.append(float(mask.mean()))
        change = np.nan
        if self._previous is not None:
            both = mask & self._previous[1]
            if both.mean() >= MIN_BACKGROUND:
                change = float(np.abs(grey - self._previous[0])[both].mean())
        self.changes.append(change)
        self._previous = (grey, mask)

    def result(self) -> tuple[float, float]:
        """(mean change in grey levels or NaN, mean background share)."""
        changes = np.array(self.changes, np.float64)
        flicker = float(np.nanmean(changes)) if np.isfinite(changes).any() else float("nan")
        return flicker, float(np.mean(self.shares)) if self.shares else 0.0


def _background_mask(shape: tuple[int, int], box: np.ndarray) -> np.ndarray:
    """True outside the head: the face box widened for hair and ears, down to the frame's bottom."""
    h, w = shape
    x0, y0, x1, y1 = box
    bw, bh = x1 - x0, y1 - y0
    mask = np.ones((h, w), bool)
    left, right = int(max(0, x0 - HEAD_SIDE * bw)), int(min(w, x1 + HEAD_SIDE * bw))
    top = int(max(0, y0 - HEAD_TOP * bh))
    mask[top:, left:right] = False
    return mask
