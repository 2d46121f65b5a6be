"""Pose level: the head's motion with the rhythm of speech, and its rest in pauses.

- Drift: slow random motion of yaw, pitch, roll and position while speaking.
- Nods: the head dips on emphasised syllables (with a touch of turn and tilt).
- Pauses: the motion settles back towards the photo's own pose, leaving breathing.
- Bounds: at weight 1 the head stays within natural ranges (|yaw| ≤ 15°, |pitch| ≤ 10°,
  |roll| ≤ 6°), approached softly rather than clipped.
"""

from __future__ import annotations

import numpy as np

from ..types import POSE_CHANNELS, AudioFeatures
from .signals import smooth, speaking, wander

# Standard deviation of each channel's drift while speaking (degrees, face widths).
SPEAKING_SPREAD = {"yaw": 3.0, "pitch": 1.6, "roll": 1.2, "shift_x": 0.006, "shift_y": 0.004}
IDLE_SHARE = 0.15  # share of that drift left in long pauses
SETTLE_S = 0.6  # how fast the head settles into a pause or wakes up when speech resumes
NOD_DEGREES = 3.0  # pitch of a nod on a fully emphasised syllable
NOD_TURN = 0.25  # nods carry this share of their size into yaw and roll, in a random direction
BREATH_PERIOD_S = 4.0
BREATH_PITCH, BREATH_RISE = 0.35, 0.003  # degrees, face widths
LIMITS = {"yaw": 15.0, "pitch": 10.0, "roll": 6.0}  # degrees, at weight 1
EMOTION_POSE = {"sad": {"pitch": 4.0}, "surprised": {"pitch": -2.0}, "angry": {"pitch": 2.0}, "happy": {"roll": 1.0}}


def _soft_limit(x: np.ndarray, limit: float) -> np.ndarray:
    """Unchanged when small, approaching ±limit smoothly when large."""
    return (limit * np.tanh(x / limit)).astype(np.float32)


def pose_track(features: AudioFeatures, rng: np.random.Generator, *, emotion: str, intensity: float) -> np.ndarray:
    """(T, len(POSE_CHANNELS)) float32."""
    frames, fps = features.frame_count, features.fps
    column = {name: i for i, name in enumerate(POSE_CHANNELS)}
    activity = IDLE_SHARE + (1 - IDLE_SHARE) * smooth(speaking(features.voice, fps), SETTLE_S * fps)
    out = np.zeros((frames, len(POSE_CHANNELS)), np.float32)
    for name, spread in SPEAKING_SPREAD.items():
        out[:, column[name]] = spread * activity * wander(rng, frames, fps, period_s=2.5)
    # Nods: the emphasis bumps, slightly widened so the head dips and comes back.
    nod = smooth(features.prosody.emphasis, 0.06 * fps)
    out[:, column["pitch"]] += NOD_DEGREES * nod
    out[:, column["yaw"]] += NOD_TURN * NOD_DEGREES * rng.choice([-1, 1]) * nod
    out[:, column["roll"]] += NOD_TURN * NOD_DEGREES * rng.choice([-1, 1]) * nod
    phase = rng.uniform(0, 2 * np.pi)
    breath = np.sin(2 * np.pi * np.arange(frames) / (BREATH_PERIOD_S * fps) + phase).astype(np.float32)
    out[:, column["pitch"]] += BREATH_PITCH * breath
    out[:, column["shift_y"]] -= BREATH_RISE * breath
    for name, value in EMOTION_POSE.get(emotion, {}).items():
        out[:, column[name]] += intensity * value
    for name, limit in LIMITS.items():
        out[:, column[name]] = _soft_limit(out[:, column[name]], limit)
    return out
