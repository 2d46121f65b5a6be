"""Loudness of speech per video frame."""

from __future__ import annotations

import numpy as np

FLOOR_DB = -60.0  # below this a frame counts as digital silence
RANGE_DB = 36.0  # loudness 0..1 spans this many dB below the clip's loud level


def frame_rms_db(samples: np.ndarray, rate: int, fps: float, frame_count: int) -> np.ndarray:
    """(T,) float32 RMS level in dBFS of a window centred on each video frame.

    Frame t is on screen from t/fps to (t+1)/fps; its window is centred at (t + 0.5)/fps and
    spans two frame periods, so the mouth reacts to the sound of the moment it is shown.
    """
    hop = rate / fps
    half = int(round(hop))
    centres = ((np.arange(frame_count) + 0.5) * hop).astype(np.int64)
    # Cumulative sums give every window's energy in O(N) without a Python loop.
    energy = np.concatenate([[0.0], np.cumsum(samples.astype(np.float64) ** 2)])
    lo = np.clip(centres - half, 0, len(samples))
    hi = np.clip(centres + half, 0, len(samples))
    mean_square = (energy[hi] - energy[lo]) / np.maximum(hi - lo, 1)
    return (10.0 * np.log10(mean_square + 1e-12)).astype(np.float32)


def loudness_envelope(samples: np.ndarray, rate: int, fps: float, frame_count: int) -> np.ndarray:
    """(T,) float32 in [0, 1]: 0 at or below the silence floor, 1 at the clip's loud speech.

    The scale is relative to the clip's own loud level (its 95th percentile), so recording gain
    does not matter, while a shout still opens wider than the quiet words around it.
    """
    level = frame_rms_db(samples, rate, fps, frame_count)
    audible = level[level > FLOOR_DB]
    if audible.size == 0:
        return np.zeros(frame_count, np.float32)
    loud = float(np.percentile(audible, 95))
    floor = max(FLOOR_DB, loud - RANGE_DB)
    return np.clip((level - floor) / (loud - floor + 1e-6), 0.0, 1.0).astype(np.float32)
