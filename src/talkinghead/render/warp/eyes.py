"""The eyeball layer: the eye's own pixels, moved with the head only, irises turned by gaze.

The mesh stretches lid skin over a closing eye; inside the (shrinking) eye opening this layer
shows the eyeball unsquashed, so a blink looks like a lid sliding down, not an eye collapsing.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ...face import landmarks as lm
from ...motion.signals import smoothstep
from .paint import blend_into, polygon_mask
from .shapes import GAZE_RANGE

EYES = (
    (lm.RIGHT_EYE_UPPER, lm.RIGHT_EYE_LOWER, lm.RIGHT_IRIS_CENTRE, lm.RIGHT_IRIS),
    (lm.LEFT_EYE_UPPER, lm.LEFT_EYE_LOWER, lm.LEFT_IRIS_CENTRE, lm.LEFT_IRIS),
)


@dataclass(frozen=True)
class Eye:
    upper: tuple[int, ...]
    lower: tuple[int, ...]
    iris: int  # iris centre landmark
    anchors: np.ndarray  # (13,) int: vertices fitted to move the eyeball (contour + iris ring)
    iris_radius: float  # pixels
    width: float  # pixels, corner to corner


def eyes_of(rest: np.ndarray) -> tuple[Eye, ...]:
    eyes = []
    for upper, lower, iris, ring in EYES:
        radius = float(np.linalg.norm(rest[list(ring), :2] - rest[iris, :2], axis=1).mean())
        width = float(np.linalg.norm(rest[upper[-1], :2] - rest[upper[0], :2]))
        anchors = np.array(sorted(set(upper + lower + ring + (iris,))))
        eyes.append(Eye(upper, lower, iris, anchors, radius, width))
    return tuple(eyes)


def draw_eyes(
    out: np.ndarray,
    photo: np.ndarray,
    eyes: tuple[Eye, ...],
    shaped: np.ndarray,
    rigid: np.ndarray,
    rest: np.ndarray,
    gaze: tuple[float, float],
    offset: tuple[int, int],
) -> None:
    """Draw both eyeballs into `out` (the region being rendered, in place).

    shaped: (V, 2) vertices with lids moved (and head motion); rigid: (V, 2) the same
    vertices moved by the head alone; rest: (V, 2) in the photo; all image pixels.
    offset: (x0, y0) of the region in the image.
    """
    x0, y0 = offset
    for eye in eyes:
        upper, lower = shaped[list(eye.upper)], shaped[list(eye.lower)]
        lo = np.floor(np.minimum(upper.min(0), lower.min(0))).astype(int) - 1
        hi = np.ceil(np.maximum(upper.max(0), lower.max(0))).astype(int) + 2
        lo = np.maximum(lo, [x0, y0])
        hi = np.minimum(hi, [x0 + out.shape[1], y0 + out.shape[0]])
        if (hi - lo).min() <= 1:
            continue
        h, w = hi[1] - lo[1], hi[0] - lo[0]
        # cv2 draws even a collapsed polygon as an anti-aliased line: fade out the last pixel.
        opening = float(np.linalg.norm(lower[1:-1] - upper[1:-1], axis=1).max())
        if opening < 0.05:
            continue  # closed
        mask = polygon_mask(np.concatenate([upper, lower[::-1]]), lo.astype(np.float64), (h, w)) * min(1.0, opening)
        # Backward affine from where the eyeball is now to where it is in the photo (exact for
        # the head's rigid motion seen in projection, so a least-squares fit suffices).
        here = np.column_stack([rigid[eye.anchors], np.ones(len(eye.anchors))])
        to_photo = np.linalg.lstsq(here, rest[eye.anchors], rcond=None)[0].T
        ys, xs = np.mgrid[lo[1] : hi[1], lo[0] : hi[0]].astype(np.float32)
        map_x = to_photo[0, 0] * xs + to_photo[0, 1] * ys + to_photo[0, 2]
        map_y = to_photo[1, 0] * xs + to_photo[1, 1] * ys + to_photo[1, 2]
        # Gaze: the iris and its surroundings slide; the pull fades over the white of the eye.
        shift = np.array([gaze[0] * GAZE_RANGE[0], gaze[1] * GAZE_RANGE[1]]) * eye.width
        if np.any(shift):
            centre = rigid[eye.iris] + shift
            d = np.hypot(xs - centre[0], ys - centre[1])
            pull = smoothstep(1 - (d - 1.15 * eye.iris_radius) / (1.3 * eye.iris_radius))
            map_x -= (pull * shift[0]).astype(np.float32)
            map_y -= (pull * shift[1]).astype(np.float32)
        eyeball = cv2.remap(photo, map_x, map_y, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT101)
        blend_into(out[lo[1] - y0 : hi[1] - y0, lo[0] - x0 : hi[0] - x0], eyeball, mask)
