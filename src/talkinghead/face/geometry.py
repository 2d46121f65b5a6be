"""Face geometry shared by detection, the hallo backend and the evaluation: box overlap, the
least-squares similarity fit, and ArcFace's alignment template."""

from __future__ import annotations

import numpy as np

ARCFACE_TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]]
)
"""(5, 2) ArcFace's canonical eye centres (image left, right), nose tip and mouth corners in a 112×112 crop."""
ARCFACE_SIZE = 112


def box_iou(box: np.ndarray, others: np.ndarray, *, inclusive: bool = False) -> np.ndarray:
    """Intersection over union of one (4,) box with (N, 4) boxes (or one (4,)), x0, y0, x1, y1.

    inclusive: the boxes hold their last pixel row and column (+1 to each side, insightface's
    convention for its detector's boxes), rather than ending before it.
    """
    box, others = np.asarray(box, np.float64), np.asarray(others, np.float64)
    pad = 1.0 if inclusive else 0.0
    sides = np.clip(np.minimum(box[2:], others[..., 2:]) - np.maximum(box[:2], others[..., :2]) + pad, 0, None)
    inter = sides[..., 0] * sides[..., 1]
    union = (box[2:] - box[:2] + pad).prod() + (others[..., 2:] - others[..., :2] + pad).prod(-1) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def similarity(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(2, 3) float64 matrix of the rotation, uniform scale and shift that maps the (N, 2) `source`
    points onto `target` with the least squared error (every point weighs the same; the same
    fit as Umeyama's, which scikit-image and insightface use)."""
    # As complex numbers a 2D similarity is one multiplication and one addition: z -> a z + b.
    zs = source.astype(np.float64) @ np.array([1, 1j])
    zt = target.astype(np.float64) @ np.array([1, 1j])
    ms, mt = zs.mean(), zt.mean()
    a = np.vdot(zs - ms, zt - mt) / max(np.vdot(zs - ms, zs - ms).real, 1e-12)
    b = mt - a * ms
    return np.array([[a.real, -a.imag, b.real], [a.imag, a.real, b.imag]])
