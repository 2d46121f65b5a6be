"""Motion from speech: the three levels of Hallo's hierarchy, generated independently."""

from __future__ import annotations

import numpy as np

from ..types import LIP_CHANNELS, AudioFeatures, MotionTrack
from .expression import expression_track
from .pose import pose_track
from .signals import smooth, speaking

JAW_AT_FULL_LOUDNESS = 0.55


def lip_track(features: AudioFeatures) -> np.ndarray:
    """(T, len(LIP_CHANNELS)) float32: the jaw follows the loudness envelope while voice is heard.

    Smoothing is symmetric, so the mouth is never late; without voice the mouth rests.
    """
    out = np.zeros((features.frame_count, len(LIP_CHANNELS)), np.float32)
    opening = speaking(features.voice, features.fps) * features.loudness**0.8
    out[:, LIP_CHANNELS.index("jaw_open")] = JAW_AT_FULL_LOUDNESS * smooth(opening, 0.6)
    return out


def generate_motion(features: AudioFeatures, *, seed: int = 0) -> MotionTrack:
    """A MotionTrack for the speech described by `features`; the same seed gives the same track."""
    rng = np.random.default_rng(seed)
    return MotionTrack(
        fps=features.fps,
        lip=lip_track(features),
        expression=expression_track(features, np.random.default_rng(rng.integers(2**32))),
        pose=pose_track(features, np.random.default_rng(rng.integers(2**32))),
        meta={"seed": seed, "driver": "loudness"},
    )
