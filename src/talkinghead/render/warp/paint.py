"""Anti-aliased masks and blending for the layers drawn over the warped photo."""

from __future__ import annotations

import cv2
import numpy as np

_SUBPIXEL_BITS = 4  # polygon vertices at 1/16 pixel


def fill_mask(shape: tuple[int, ...], polygon: np.ndarray, hole: np.ndarray | None = None) -> np.ndarray:
    """(H, W) bool: the pixels inside `polygon` ((N, 2) pixels), less those inside `hole`."""
    mask = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(polygon).astype(np.int32)], 1)
    if hole is not None:
        cv2.fillPoly(mask, [np.round(hole).astype(np.int32)], 0)
    return mask.astype(bool)


def polygon_mask(polygon: np.ndarray, origin: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(h, w) float32 in [0, 1]: anti-aliased fill of `polygon` ((N, 2) pixels) in a patch at `origin`."""
    mask = np.zeros(shape, np.uint8)
    points = np.round((polygon - origin) * (1 << _SUBPIXEL_BITS)).astype(np.int32)
    cv2.fillPoly(mask, [points], 255, cv2.LINE_AA, shift=_SUBPIXEL_BITS)
    return mask.astype(np.float32) * (1.0 / 255.0)


def blend_into(patch: np.ndarray, colour: np.ndarray, mask: np.ndarray) -> None:
    """In place: patch = mask·colour + (1 − mask)·patch, for (h, w, 3) uint8 patch and (h, w) mask."""
    m = mask[..., None]
    patch[:] = np.clip(m * colour + (1.0 - m) * patch + 0.5, 0, 255).astype(np.uint8)
