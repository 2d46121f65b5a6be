"""Small signal tools the motion levels share."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d


def smooth(x: np.ndarray, sigma_frames: float) -> np.ndarray:
    """Zero-phase Gaussian smoothing (no delay), edges held."""
    if sigma_frames <= 0 or len(x) < 2:
        return x.astype(np.float32)
    return gaussian_filter1d(x.astype(np.float64), sigma_frames, mode="nearest").astype(np.float32)


def smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def wander(rng: np.random.Generator, frames: int, fps: float, period_s: float) -> np.ndarray:
    """(T,) float32 smooth random motion of unit standard deviation, changing over ~period_s."""
    sigma = max(1.0, period_s * fps / 4)
    pad = int(4 * sigma)
    noise = gaussian_filter1d(rng.standard_normal(frames + 2 * pad), sigma)[pad : pad + frames]
    return (noise / (noise.std() + 1e-9)).astype(np.float32) if frames > 1 else np.zeros(frames, np.float32)


def speaking(voice: np.ndarray, fps: float) -> np.ndarray:
    """(T,) float32 in [0, 1]: a soft speech gate from voice-activity probabilities.

    Smoothed over ~40 ms so isolated frames do not flicker, symmetric so it is not late.
    """
    return smoothstep((smooth(voice, 0.04 * fps) - 0.3) / 0.4)
