"""What a viewer would see, measured on frames: the mouth opening from re-detected landmarks."""

from __future__ import annotations

import numpy as np

from talkinghead.eval.signals import lagged_correlations
from talkinghead.face import landmarks as lm
from talkinghead.face.analysis import detect_faces


def face_points(frame: np.ndarray) -> np.ndarray:
    """(478, 3) landmarks of the face in a frame, re-detected from its pixels."""
    faces = detect_faces(frame)
    assert faces, "no face found in the frame"
    return max(faces, key=lambda f: f.width * f.height).landmarks


def face_width(points: np.ndarray) -> float:
    return float(np.linalg.norm(points[lm.CHEEK_EXTREMES[1], :2] - points[lm.CHEEK_EXTREMES[0], :2]))


def mouth_opening(points: np.ndarray) -> float:
    """Inner-lip gap at the middle of the mouth, in face widths."""
    upper, lower = lm.INNER_LIP_CENTRE
    return float(np.linalg.norm(points[lower, :2] - points[upper, :2])) / face_width(points)


def best_lag(signal: np.ndarray, reference: np.ndarray, max_lag: int) -> tuple[int, float]:
    """(lag, correlation) maximising corr(signal[t], reference[t - lag]): positive = signal late."""
    correlations = lagged_correlations(signal.astype(np.float32), reference.astype(np.float32), max_lag)
    best = int(np.argmax(correlations))
    return best - max_lag, float(correlations[best])
