"""Identity: does the video keep showing the person of the reference photo?

dlib's 128-d face descriptor is compared with the reference's, frame after frame. dlib
states that two photos of one person lie within 0.6 of each other (99.38 % on LFW); other
people lie beyond it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SAME_PERSON = 0.6  # dlib's published decision threshold for its descriptor
DRIFT_WINDOW_S = 2.0  # seconds at each end of the video compared to measure drift


@dataclass(frozen=True)
class IdentityResult:
    reference: str  # "image" (the photo given) or "first frame" (the video's own first face)
    distance_mean: float  # descriptor distance to the reference, mean over the frames measured
    distance_max: float
    distance_start: float  # mean over the first 2 s
    distance_end: float  # mean over the last 2 s
    drift: float  # distance_end - distance_start: > 0 when the face wanders away from the reference
    same_person: bool  # distance_mean below dlib's threshold 0.6
    frames: np.ndarray  # (K,) int32, frames measured
    distances: np.ndarray  # (K,) float32, distance at each of them


def measure_identity(
    descriptors: np.ndarray, frames: np.ndarray, reference: np.ndarray, fps: float, *, reference_kind: str
) -> IdentityResult | None:
    """Distances of (K, 128) descriptors at `frames` to one (128,) reference descriptor; None when K = 0."""
    if len(descriptors) == 0:
        return None
    distances = np.linalg.norm(descriptors - reference[None], axis=1).astype(np.float32)
    window = DRIFT_WINDOW_S * fps
    start = distances[frames < frames[0] + window]
    end = distances[frames > frames[-1] - window]
    return IdentityResult(
        reference=reference_kind,
        distance_mean=float(distances.mean()),
        distance_max=float(distances.max()),
        distance_start=float(start.mean()),
        distance_end=float(end.mean()),
        drift=float(end.mean() - start.mean()),
        same_person=bool(distances.mean() < SAME_PERSON),
        frames=frames.astype(np.int32),
        distances=distances,
    )
