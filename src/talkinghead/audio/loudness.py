"""Loudness of speech per video frame."""

from __future__ import annotations

import numpy as np

FLOOR_DB = -60.0  # below this a frame counts as digital silence
RANGE_DB = 36.0  # loudness 0..1 spans this many dB below the clip's loud level
BLOCK_FRAMES = 1500  # frames measured at a time (a minute at 25 fps)


def frame_rms_db(samples: np.ndarray, rate: int, fps: float, frame_count: int) -> np.ndarray:
    """(T,) float32 RMS level in dBFS of a window centred on each video frame.

    Frame t is on screen from t/fps to (t+1)/fps; its window is centred at (t + 0.5)/fps and
    spans two frame periods, so the mouth reacts to the sound of the moment it is shown.
    """
    hop = rate / fps
    half = int(round(hop))
    centres = ((np.arange(frame_count) + 0.5) * hop).astype(np.int64)
    lo = np.clip(centres - half, 0, len(samples))
    hi = np.clip(centres + half, 0, len(samples))
    mean_square = np.empty(frame_count, np.float64)
    # Cumulative sums give every window's energy in O(N) without a Python loop; a block of
    # frames at a time, so memory does not grow with the clip's length.
    for first in range(0, frame_count, BLOCK_FRAMES):
        a, b = lo[first : first + BLOCK_FRAMES], hi[first : first + BLOCK_FRAMES]
        start = int(a[0])
        energy = np.concatenate([[0.0], np.cumsum(samples[start : int(b[-1])].astype(np.float64) ** 2)])
        mean_square[first : first + BLOCK_FRAMES] = (energy[b - start] - energy[a - start]) / np.maximum(b - a, 1)
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
