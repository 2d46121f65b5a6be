"""What a viewer would see, measured on frames: mouth and eye openings from re-detected landmarks."""

from __future__ import annotations

import numpy as np

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


def eye_opening(points: np.ndarray) -> float:
    """Mean lid gap of both eyes at their middle, in face widths."""
    gaps = [np.linalg.norm(points[upper[4], :2] - points[lower[4], :2]) for upper, lower in
            ((lm.RIGHT_EYE_UPPER, lm.RIGHT_EYE_LOWER), (lm.LEFT_EYE_UPPER, lm.LEFT_EYE_LOWER))]
    return float(np.mean(gaps)) / face_width(points)


def best_lag(signal: np.ndarray, reference: np.ndarray, max_lag: int) -> tuple[int, float]:
    """(lag, correlation) maximising corr(signal[t], reference[t - lag]): positive = signal late."""
    best = (0, -2.0)
    for lag in range(-max_lag, max_lag + 1):
        a = signal[max(lag, 0) : len(signal) + min(lag, 0)]
        b = reference[max(-lag, 0) : len(reference) + min(-lag, 0)]
        c = float(np.corrcoef(a, b)[0, 1])
        if c > best[1]:
            best = (lag, c)
    return best
