"""The person's own mouth interior, taken from the frame of the video where it shows best and
drawn into mouths the dub opens.

While the video is tracked, the widest-open frontal mouth is kept (`InteriorBank.offer`): its
pixels around the opening, as full-resolution Y, U and V, and its inner-lip contours. Drawing
(`draw_interior`) maps every pixel of a new opening to that interior in the mouth's own
coordinates (u along the lips from corner to corner, s across them, both in mouth widths):
the upper half hangs from the upper lip and the lower half rides on the lower lip, as the
upper teeth go with the skull and the lower ones with the jaw; an opening wider than the
stored one stretches the dark middle, a narrower one hides part of the teeth behind the lips.
Brightness follows the lips of the frame drawn into.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..face import landmarks as lm
from ..motion.signals import smoothstep
from ..render.warp.paint import polygon_mask
from ..video.frames import I420Frame, even_box
from .mouth import mouth_state

MIN_OPEN = 0.035  # face widths between the inner lips: below this a mouth shows too little inside
MAX_YAW = 20.0  # degrees: a mouth seen further from the side is not kept


@dataclass(frozen=True)
class Interior:
    """A mouth interior as photographed: planes around the opening and its contours."""

    planes: np.ndarray  # (3, h, w) float32: Y, U, V at full resolution
    origin: np.ndarray  # (2,) float64: the left inner corner, patch pixels
    axis_u: np.ndarray  # (2,) unit vector along the lips
    width: float  # pixels, inner corner to inner corner
    upper: np.ndarray  # (11, 2) inner upper lip, patch pixels
    lower: np.ndarray  # (11, 2) inner lower lip
    lip_level: float  # mean Y of the lips around it
    gap: float  # face widths, the opening
    frame: int  # the video frame it comes from


class InteriorBank:
    """Keeps the best mouth interior offered (the widest open, seen from the front)."""

    def __init__(self) -> None:
        self.best: Interior | None = None

    def offer(self, frame: I420Frame, points: np.ndarray, index: int, yaw: float) -> None:
        gap = mouth_state(points).gap
        if gap < MIN_OPEN or abs(yaw) > MAX_YAW or (self.best is not None and gap <= self.best.gap):
            return
        self.best = cut_interior(frame, points, index, gap)


def _axes(upper: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    origin = upper[0].astype(np.float64)
    axis = (upper[-1] - upper[0]).astype(np.float64)
    width = float(np.linalg.norm(axis))
    axis_u = axis / max(width, 1e-9)
    return origin, axis_u, np.array([-axis_u[1], axis_u[0]]), width


def cut_interior(frame: I420Frame, points: np.ndarray, index: int, gap: float) -> Interior:
    upper, lower = points[list(lm.LIPS_INNER_UPPER), :2], points[list(lm.LIPS_INNER_LOWER), :2]
    outer = points[list(lm.LIPS_OUTER), :2]
    box = even_box((*(outer.min(0) - 4), *(outer.max(0) + 4)), frame.size)
    x0, y0, x1, y1 = box
    y = frame.y[y0:y1, x0:x1].astype(np.float32)
    up = lambda p: cv2.resize(p, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR).astype(np.float32)  # noqa: E731
    u, v = up(frame.u[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2]), up(frame.v[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2])
    shift = np.array([x0, y0], np.float64)
    origin, axis_u, _, width = _axes(upper - shift)
    lips = polygon_mask(outer, shift, y.shape) * (1 - polygon_mask(np.concatenate([upper, lower[::-1]]), shift, y.shape))
    return Interior(
        planes=np.stack([y, u, v]), origin=origin, axis_u=axis_u, width=width,
        upper=upper - shift, lower=lower - shift, lip_level=float((y * lips).sum() / max(lips.sum(), 1.0)),
        gap=gap, frame=index,
    )


def _profile(contour: np.ndarray, origin: np.ndarray, axis_u: np.ndarray, axis_s: np.ndarray, u: np.ndarray) -> np.ndarray:
    """s of a contour at each u (all in pixels of its own mouth frame)."""
    cu, cs = (contour - origin) @ axis_u, (contour - origin) @ axis_s
    order = np.argsort(cu)
    return np.interp(u, cu[order], cs[order])


def draw_interior(
    planes: tuple[np.ndarray, np.ndarray, np.ndarray],
    offset: tuple[int, int],
    interior: Interior,
    upper: np.ndarray,
    lower: np.ndarray,
    lip_level: float,
) -> None:
    """Draw `interior` into the opening between `upper` and `lower` ((11, 2) inner lips, frame
    pixels), in place, into the (h, w) Y and (h/2, w/2) U, V planes of a window at `offset`
    (even x0, y0)."""
    x0, y0 = offset
    h, w = planes[0].shape
    polygon = np.concatenate([upper, lower[::-1]])
    lo = np.maximum(np.floor(polygon.min(0)).astype(int) - 2, [x0, y0]) // 2 * 2
    hi = np.minimum(np.ceil(polygon.max(0)).astype(int) + 3, [x0 + w, y0 + h])
    hi = lo + (hi - lo) // 2 * 2
    if (hi - lo).min() < 2:
        return
    mask = polygon_mask(polygon, lo.astype(np.float64), (hi[1] - lo[1], hi[0] - lo[0]))
    if mask.max() < 1e-3:
        return
    origin, axis_u, axis_s, width = _axes(upper)
    if width < 2:
        return
    ys, xs = np.mgrid[lo[1] : hi[1], lo[0] : hi[0]].astype(np.float64)
    u = (xs - origin[0]) * axis_u[0] + (ys - origin[1]) * axis_u[1]
    s = (xs - origin[0]) * axis_s[0] + (ys - origin[1]) * axis_s[1]
    s_up, s_lo = _profile(upper, origin, axis_u, axis_s, u), _profile(lower, origin, axis_u, axis_s, u)
    # Into the stored mouth's frame, in its widths.
    k = interior.width / width
    b_origin, b_u = interior.origin, interior.axis_u
    b_s = np.array([-b_u[1], b_u[0]])
    ub = u * k
    b_up = _profile(interior.upper, b_origin, b_u, b_s, ub)
    b_lo = _profile(interior.lower, b_origin, b_u, b_s, ub)
    # Where the lips nearly meet the opening fades out, so no dark line is drawn between them.
    mask *= smoothstep((s_lo - s_up - 1.0) / 2.5).astype(np.float32)
    b_mid, mid = (b_up + b_lo) / 2, (s_up + s_lo) / 2
    hanging = np.minimum(b_up + (s - s_up) * k, b_mid)  # the upper half, from the upper lip
    riding = np.maximum(b_lo - (s_lo - s) * k, b_mid)  # the lower half, on the lower lip
    # An opening narrower than the stored one hides the middle: the halves meet at `mid` with a
    # jump, so each pixel there takes the share of each half it covers, not the half its centre
    # falls in (that would draw the meeting line as a staircase of whole pixels).
    below = np.clip((s - mid) / (abs(axis_s[0]) + abs(axis_s[1])) + 0.5, 0, 1).astype(np.float32)
    upper_half, lower_half = (_sample(interior, ub, sb) for sb in (hanging, riding))
    drawn = [a + below * (b - a) for a, b in zip(upper_half, lower_half)]
    gain = float(np.clip(lip_level / max(interior.lip_level, 1.0), 0.75, 1.3))
    drawn[0] = 16 + (drawn[0] - 16) * gain
    ry, rx = lo[1] - y0, lo[0] - x0
    _blend(planes[0][ry : ry + mask.shape[0], rx : rx + mask.shape[1]], drawn[0], mask)
    # Chroma at half resolution: each sample takes the mean of what covers its four pixels
    # (values weighted by the mask), not the mean of values the mask leaves out.
    half_size = (mask.shape[1] // 2, mask.shape[0] // 2)
    half = cv2.resize(mask, half_size, interpolation=cv2.INTER_AREA)
    for plane, values in zip(planes[1:], drawn[1:]):
        covered = cv2.resize(mask * values, half_size, interpolation=cv2.INTER_AREA)
        patch = plane[ry // 2 : ry // 2 + half.shape[0], rx // 2 : rx // 2 + half.shape[1]]
        patch[:] = np.clip(covered + (1 - half) * patch + 0.5, 0, 255).astype(np.uint8)


def _sample(interior: Interior, u: np.ndarray, s: np.ndarray) -> list[np.ndarray]:
    """The stored interior's Y, U, V at (u, s) of its own mouth frame (pixels)."""
    b_u = interior.axis_u
    b_s = np.array([-b_u[1], b_u[0]])
    map_x = (interior.origin[0] + u * b_u[0] + s * b_s[0]).astype(np.float32)
    map_y = (interior.origin[1] + u * b_u[1] + s * b_s[1]).astype(np.float32)
    return [cv2.remap(p, map_x, map_y, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE) for p in interior.planes]


def _blend(patch: np.ndarray, values: np.ndarray, mask: np.ndarray) -> None:
    patch[:] = np.clip(mask * values + (1 - mask) * patch + 0.5, 0, 255).astype(np.uint8)
