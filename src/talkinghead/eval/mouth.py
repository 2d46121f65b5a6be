"""The mouth as dlib's 68 points see it: how open, how wide, how thick the lips, per frame.

Every length is divided by the distance between the eye centres, so figures compare across
photos and sizes. A closed mouth measures a gap of about 0.01, a broad smile showing its
teeth about 0.2, an "ah" 0.3 and more.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .landmarks import INNER_LIP_PAIRS, LEFT_EYE, MOUTH_CORNERS, RIGHT_EYE, Landmarks

OUTER_LIP_MIDDLE = (51, 57)  # outer upper and outer lower lip at the middle
INNER_LIP_MIDDLE = (62, 66)


@dataclass(frozen=True)
class MouthShape:
    """One frame's mouth, in eye distances."""

    gap: float  # the widest of the three inner-lip gaps
    width: float  # corner to corner
    height: float  # outer lips, top to bottom at the middle
    upper_lip: float  # thickness of the upper lip at the middle (outer to inner edge)
    lower_lip: float  # ... of the lower lip

    @property
    def aspect(self) -> float:
        """Width ÷ outer height: high for a spread "ee", low for a rounded "oo"."""
        return self.width / max(self.height, 1e-6)


def eye_distance(points: np.ndarray) -> float:
    return float(np.linalg.norm(points[list(RIGHT_EYE)].mean(0) - points[list(LEFT_EYE)].mean(0)))


def mouth_shape(face: Landmarks) -> MouthShape:
    p = face.points.astype(np.float64)
    unit = eye_distance(p)
    length = lambda a, b: float(np.linalg.norm(p[a] - p[b])) / unit  # noqa: E731
    return MouthShape(
        gap=max(length(a, b) for a, b in INNER_LIP_PAIRS),
        width=length(*MOUTH_CORNERS),
        height=length(*OUTER_LIP_MIDDLE),
        upper_lip=length(OUTER_LIP_MIDDLE[0], INNER_LIP_MIDDLE[0]),
        lower_lip=length(INNER_LIP_MIDDLE[1], OUTER_LIP_MIDDLE[1]),
    )
