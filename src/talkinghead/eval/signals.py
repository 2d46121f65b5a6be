"""Small series tools the measures share. Series are per video frame; NaN marks a frame without a face."""

from __future__ import annotations

import numpy as np


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Correlation of two equally long series over the frames where both are finite; 0 when either is flat."""
    keep = np.isfinite(a) & np.isfinite(b)
    if keep.sum() < 3:
        return 0.0
    x = a[keep] - a[keep].mean()
    y = b[keep] - b[keep].mean()
    scale = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / scale) if scale > 1e-12 else 0.0


def lagged_correlations(video: np.ndarray, audio: np.ndarray, max_lag: int) -> np.ndarray:
    """(2 * max_lag + 1,) correlations for lags -max_lag..max_lag.

    Lag k pairs video frame t with audio frame t - k: a positive lag means the video is late.
    """
    out = np.zeros(2 * max_lag + 1, np.float32)
    n = len(video)
    for i, k in enumerate(range(-max_lag, max_lag + 1)):
        if abs(k) >= n:  # a clip shorter than the lag has no frames to pair
            continue
        if k >= 0:
            out[i] = pearson(video[k:], audio[: n - k])
        else:
            out[i] = pearson(video[:k], audio[-k:])
    return out


def windowed_correlation(a: np.ndarray, b: np.ndarray, window: int, *, min_spread: float = 1e-9) -> float:
    """Mean zero-lag correlation over windows of `window` frames, half overlapping.

    Each window removes its own mean, so a short window measures how the two series move
    together quickly and a long one how they drift together. Windows where `a` varies less
    than `min_spread` (its measurement noise) or `b` is flat carry no information and are
    skipped; NaN when no window is left.
    """
    if window < 3 or len(a) < window:
        return float("nan")
    values = []
    for start in range(0, len(a) - window + 1, max(1, window // 2)):
        x, y = a[start : start + window], b[start : start + window]
        if np.nanstd(x) > min_spread and np.nanstd(y) > 1e-9:
            values.append(pearson(x, y))
    return float(np.mean(values)) if values else float("nan")


def fill_gaps(x: np.ndarray) -> np.ndarray:
    """NaNs replaced by linear interpolation between their finite neighbours (edges held)."""
    x = np.asarray(x, np.float64)
    ok = np.isfinite(x)
    if ok.all() or not ok.any():
        return x
    index = np.arange(len(x))
    return np.interp(index, index[ok], x[ok])
