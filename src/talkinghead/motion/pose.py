"""Pose level: the head's slow drift while speaking, stillness and breathing in silence."""

from __future__ import annotations

import numpy as np

from ..types import POSE_CHANNELS, AudioFeatures
from .signals import smooth, speaking, wander

# Standard deviation of each channel while speaking at weight 1 (degrees, face widths).
SPEAKING_SPREAD = {"yaw": 3.0, "pitch": 2.0, "roll": 1.2, "shift_x": 0.006, "shift_y": 0.004}
IDLE_SHARE = 0.3  # share of that motion left in long pauses
BREATH_PERIOD_S = 4.0
BREATH_PITCH, BREATH_RISE = 0.35, 0.003  # degrees, face widths


def pose_track(features: AudioFeatures, rng: np.random.Generator) -> np.ndarray:
    """(T, len(POSE_CHANNELS)) float32."""
    frames, fps = features.frame_count, features.fps
    # Motion grows with speech and settles over a second or so of silence.
    activity = IDLE_SHARE + (1 - IDLE_SHARE) * smooth(speaking(features.voice, fps), 0.5 * fps)
    out = np.zeros((frames, len(POSE_CHANNELS)), np.float32)
    for name, spread in SPEAKING_SPREAD.items():
        out[:, POSE_CHANNELS.index(name)] = spread * activity * wander(rng, frames, fps, period_s=2.5)
    phase = rng.uniform(0, 2 * np.pi)
    breath = np.sin(2 * np.pi * np.arange(frames) / (BREATH_PERIOD_S * fps) + phase).astype(np.float32)
    out[:, POSE_CHANNELS.index("pitch")] += BREATH_PITCH * breath
    out[:, POSE_CHANNELS.index("shift_y")] -= BREATH_RISE * breath
    return out
