"""Expression level: blinks, gaze and brows, slower than the lips and independent of them."""

from __future__ import annotations

import numpy as np

from ..types import EXPRESSION_CHANNELS, AudioFeatures
from .signals import smooth, speaking

BLINKS_PER_MINUTE = 15.0  # people blink 10-20 times a minute when talking
MIN_BLINK_GAP_S = 1.2
BLINK_CLOSE_S, BLINK_HOLD_S, BLINK_OPEN_S = 0.06, 0.04, 0.1  # fast close, slower opening: 200 ms
SACCADE_EVERY_S = (1.0, 3.5)  # gaze holds, then jumps
SACCADE_RANGE = (0.12, 0.08)  # gaze_x, gaze_y amplitude of small saccades around the camera


def blink_times(rng: np.random.Generator, duration: float) -> np.ndarray:
    """Start times (s) of blinks: irregular, at least MIN_BLINK_GAP_S apart."""
    mean_gap = 60.0 / BLINKS_PER_MINUTE
    times, t = [], rng.uniform(0.3, mean_gap)
    while t < duration:
        times.append(t)
        # A gamma law keeps gaps irregular but never absurdly short.
        t += MIN_BLINK_GAP_S + rng.gamma(2.0, (mean_gap - MIN_BLINK_GAP_S) / 2.0)
    return np.array(times)


def blink_curve(starts: np.ndarray, frames: int, fps: float) -> np.ndarray:
    """(T,) float32 in [0, 1]: lids closing and reopening at each start time."""
    t = (np.arange(frames) + 0.5) / fps
    curve = np.zeros(frames, np.float32)
    for s in starts:
        closing = np.clip((t - s) / BLINK_CLOSE_S, 0, 1)
        opening = np.clip((t - s - BLINK_CLOSE_S - BLINK_HOLD_S) / BLINK_OPEN_S, 0, 1)
        curve = np.maximum(curve, np.minimum(closing, 1 - opening))
    return curve


def saccades(rng: np.random.Generator, frames: int, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """Gaze that holds near the camera and makes small quick jumps."""
    gx, gy = np.zeros(frames, np.float32), np.zeros(frames, np.float32)
    start = 0
    while start < frames:
        hold = int(rng.uniform(*SACCADE_EVERY_S) * fps)
        gx[start : start + hold] = rng.uniform(-1, 1) * SACCADE_RANGE[0]
        gy[start : start + hold] = rng.uniform(-1, 1) * SACCADE_RANGE[1]
        start += max(hold, 1)
    # A saccade takes ~2 frames, not zero.
    return smooth(gx, 0.6), smooth(gy, 0.6)


def expression_track(features: AudioFeatures, rng: np.random.Generator) -> np.ndarray:
    """(T, len(EXPRESSION_CHANNELS)) float32."""
    frames, fps = features.frame_count, features.fps
    out = np.zeros((frames, len(EXPRESSION_CHANNELS)), np.float32)
    blink = blink_curve(blink_times(rng, frames / fps), frames, fps)
    out[:, EXPRESSION_CHANNELS.index("blink_left")] = blink
    out[:, EXPRESSION_CHANNELS.index("blink_right")] = blink
    gx, gy = saccades(rng, frames, fps)
    out[:, EXPRESSION_CHANNELS.index("gaze_x")] = gx
    out[:, EXPRESSION_CHANNELS.index("gaze_y")] = gy
    # Brows lift a little with loud stretches of speech.
    energy = smooth(features.loudness * speaking(features.voice, fps), 0.25 * fps)
    out[:, EXPRESSION_CHANNELS.index("brow_up")] = 0.35 * np.clip(energy - 0.3, 0, None) / 0.7
    return out
