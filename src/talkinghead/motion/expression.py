"""Expression level: blinks, gaze, brows and emotion, slower than the lips and independent of them.

- Blinks: 10-20 a minute at irregular intervals, each 130-250 ms (fast close, slower
  opening); a blink near the start of a pause moves there, as people blink when they stop.
- Brows rise on emphasised syllables.
- Gaze: at the camera with small saccades (`camera`), also glancing away at some pauses as
  people do while thinking (`natural`), or still (`fixed`).
- Emotion: a steady expression under the speech, scaled by its intensity.
"""

from __future__ import annotations

import numpy as np

from ..audio.activity import runs
from ..types import EXPRESSION_CHANNELS, AudioFeatures
from .signals import smooth

BLINKS_PER_MINUTE = 15.0
MIN_BLINK_GAP_S = 1.2
BLINK_CLOSE_S = (0.05, 0.08)  # ranges each blink draws from: closing...
BLINK_HOLD_S = (0.0, 0.04)  # ...closed...
BLINK_OPEN_S = (0.08, 0.13)  # ...and reopening, slower than closing
SNAP_TO_PAUSE_S = 1.0  # a blink this close to a pause's start moves to it
SACCADE_EVERY_S = (1.0, 3.5)  # gaze holds, then jumps
SACCADE_RANGE = (0.12, 0.08)  # gaze_x, gaze_y amplitude of small saccades around the camera
GLANCE_CHANCE = 0.5  # with gaze "natural": share of pauses with a glance away
GLANCE_S = (0.6, 1.5)
BROW_ON_EMPHASIS = 0.55
GAZE_MODES = ("camera", "natural", "fixed")
EMOTIONS = {
    "neutral": {},
    "happy": {"smile": 0.7, "eyes_squint": 0.25, "brow_up": 0.1},
    "sad": {"brow_inner_up": 0.8, "mouth_frown": 0.6, "eyes_squint": 0.1},
    "surprised": {"brow_up": 0.9, "eyes_wide": 0.8},
    "angry": {"brow_down": 0.9, "eyes_squint": 0.35, "mouth_frown": 0.3},
}


def blink_times(rng: np.random.Generator, duration: float, pause_starts: np.ndarray) -> np.ndarray:
    """Start times (s) of blinks: irregular, at least MIN_BLINK_GAP_S apart, drawn to pauses."""
    mean_gap = 60.0 / BLINKS_PER_MINUTE
    times, t = [], rng.uniform(0.3, mean_gap)
    while t < duration:
        times.append(t)
        # A gamma law keeps gaps irregular but never absurdly short.
        t += MIN_BLINK_GAP_S + rng.gamma(2.0, (mean_gap - MIN_BLINK_GAP_S) / 2.0)
    kept: list[float] = []
    for t in times:
        if len(pause_starts):
            nearest = pause_starts[np.argmin(np.abs(pause_starts - t))]
            if abs(nearest - t) < SNAP_TO_PAUSE_S:
                t = nearest + rng.uniform(0.05, 0.2)
        if t < duration and (not kept or t - kept[-1] >= MIN_BLINK_GAP_S):
            kept.append(t)
    return np.array(kept)


def blink_curve(rng: np.random.Generator, starts: np.ndarray, frames: int, fps: float) -> np.ndarray:
    """(T,) float32 in [0, 1]: lids closing and reopening at each start time."""
    t = (np.arange(frames) + 0.5) / fps
    curve = np.zeros(frames, np.float32)
    for s in starts:
        close, hold, reopen = rng.uniform(*BLINK_CLOSE_S), rng.uniform(*BLINK_HOLD_S), rng.uniform(*BLINK_OPEN_S)
        closing = np.clip((t - s) / close, 0, 1)
        opening = np.clip((t - s - close - hold) / reopen, 0, 1)
        curve = np.maximum(curve, np.minimum(closing, 1 - opening))
        # At 25 fps a 60 ms close can fall between frames: make sure one frame is shut.
        curve[min(frames - 1, int((s + close) * fps))] = 1.0
    return curve


def saccades(rng: np.random.Generator, frames: int, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """Gaze that holds near the camera and makes small quick jumps."""
    gx, gy = np.zeros(frames, np.float32), np.zeros(frames, np.float32)
    start = 0
    while start < frames:
        hold = max(1, int(rng.uniform(*SACCADE_EVERY_S) * fps))
        gx[start : start + hold] = rng.uniform(-1, 1) * SACCADE_RANGE[0]
        gy[start : start + hold] = rng.uniform(-1, 1) * SACCADE_RANGE[1]
        start += hold
    return gx, gy


def glances(rng: np.random.Generator, pauses: np.ndarray, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """Looks away, up and to a side, during some pauses."""
    gx, gy = np.zeros(len(pauses), np.float32), np.zeros(len(pauses), np.float32)
    for start, end in runs(pauses):
        if start == 0 or rng.uniform() > GLANCE_CHANCE:
            continue  # not before the first word: the speaker starts by looking at us
        length = min(end - start, int(rng.uniform(*GLANCE_S) * fps))
        gx[start : start + length] = rng.choice([-1, 1]) * rng.uniform(0.4, 0.7)
        gy[start : start + length] = -rng.uniform(0.1, 0.4)
    return gx, gy


def expression_track(
    features: AudioFeatures,
    rng: np.random.Generator,
    *,
    gaze: str,
    emotion: str,
    intensity: float,
) -> np.ndarray:
    """(T, len(EXPRESSION_CHANNELS)) float32."""
    frames, fps = features.frame_count, features.fps
    out = np.zeros((frames, len(EXPRESSION_CHANNELS)), np.float32)
    column = {name: i for i, name in enumerate(EXPRESSION_CHANNELS)}
    pause_starts = np.array([start / fps for start, _ in runs(features.prosody.pauses) if start > 0])
    blinks = blink_curve(rng, blink_times(rng, frames / fps, pause_starts), frames, fps)
    out[:, column["blink_left"]] = out[:, column["blink_right"]] = blinks
    if gaze != "fixed":
        gx, gy = saccades(rng, frames, fps)
        if gaze == "natural":
            away_x, away_y = glances(rng, features.prosody.pauses, fps)
            gx, gy = np.where(away_x != 0, away_x, gx), np.where(away_x != 0, away_y, gy)
        # A saccade takes about two frames, not zero.
        out[:, column["gaze_x"]], out[:, column["gaze_y"]] = smooth(gx, 0.6), smooth(gy, 0.6)
    out[:, column["brow_up"]] = BROW_ON_EMPHASIS * features.prosody.emphasis
    for name, value in EMOTIONS[emotion].items():
        out[:, column[name]] += intensity * value
    return out
