"""One frame of a dub: the tracked face's lower face moved to a new mouth shape, in place.

The warp renderer's rig is built on the frame itself, on a crop around the lower face
(`build_rig`: the frame's landmarks, its lip shapes, the rings that take the jaw's motion to
nothing over the neck): the frame is the rig's photo, its mouth the rig's photo mouth. Only
the lip level moves (`deform.shaped_vertices` with expression and pose at 0), so the eyes,
brows and head stay the video's own. The backward map is rasterised at full resolution over
the smallest window that holds every triangle that moves, and the frame's own Y, U and V
planes are resampled through it (chroma through the same map at half resolution): outside
that window nothing is touched, and inside it every pixel that does not move keeps its value
bit for bit, so there is no box and no seam, and the moved skin is as sharp as the rest.
Where the map tears or squeezes (neighbouring pixels sampling the source more than SPARSE
apart: a fold where a closing lip slides over the teeth, the corners), those pixels are the
mean of SUPERSAMPLE² samples, so their edges are anti-aliased rather than pixel-stepped.
The opening is then filled with the person's own mouth interior (`interior.py`), or, when the
video never shows one, the warp renderer's drawn interior.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..face import landmarks as lm
from ..face.analysis import face_from_landmarks
from ..render.warp import deform
from ..render.warp.mouth import draw_mouth, mouth_look, opening_per_column
from ..render.warp.raster import backward_field
from ..render.warp.rig import build_rig
from ..render.warp.shapes import MOUTH_SHAPES
from ..types import EXPRESSION_CHANNELS
from ..video.frames import I420Frame, even_box, pack_i420
from .interior import Interior, draw_interior
from .mouth import MouthState, mouth_state, rig_lips, rig_rates

MOVED = 0.02  # px: a vertex that moves (or samples from) less than this counts as still
SPARSE = 1.5  # source px between neighbouring pixels' samples beyond which one sample per pixel aliases
SUPERSAMPLE = 4  # samples per pixel side there: coverage of an edge in steps of 1/16
STRIP = 16  # px (even): width of the strips sparse pixels are supersampled in
_NO_EXPRESSION = np.zeros(len(EXPRESSION_CHANNELS), np.float32)


@dataclass(frozen=True)
class Redraw:
    """What redrawing a frame needs beyond the frame: the person's relaxed mouth and interior."""

    neutral: MouthState
    interior: Interior | None


def rig_crop(points: np.ndarray, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """The even box the rig is built on: the lower face with room for the jaw and the chin's skin."""
    xy = points[: lm.MESH_POINTS, :2]
    (x0, y0), (x1, y1) = xy.min(0), xy.max(0)
    w, h = x1 - x0, y1 - y0
    return even_box((x0 - 0.45 * w, y0 + 0.25 * h, x1 + 0.45 * w, y1 + 0.9 * h), size)


def redraw(frame: I420Frame, points: np.ndarray, target: np.ndarray, strength: float, context: Redraw) -> None:
    """Move the mouth of `frame` (in place) from what its landmarks `points` ((478, 3) frame
    pixels) show to the lip channels `target` ((len(LIP_CHANNELS),), as the motion model makes
    them), `strength` of the way (0: untouched)."""
    if strength <= 0:
        return
    cx0, cy0, cx1, cy1 = rig_crop(points, frame.size)
    if cx1 - cx0 < 16 or cy1 - cy0 < 16:
        return
    shift = np.array([cx0, cy0, 0.0], np.float32)
    local = points - shift
    rgb = frame.crop_rgb((cx0, cy0, cx1, cy1))
    rig = build_rig(face_from_landmarks(local), rgb, expression=False)
    lip_shapes = rig.shapes[: len(MOUTH_SHAPES)].reshape(len(MOUTH_SHAPES), -1, 3)
    lip = strength * rig_lips(target, mouth_state(local), context.neutral, rig_rates(local, lip_shapes))
    shaped = deform.shaped_vertices(rig, lip.astype(np.float32), _NO_EXPRESSION)
    rest = rig.rest[:, :2].astype(np.float64)
    moved = shaped[:, :2]
    source = rest + (lip @ rig.source_shifts[: len(MOUTH_SHAPES)]).reshape(-1, 2)
    changed = (np.abs(moved - rest).max(1) > MOVED) | (np.abs(source - rest).max(1) > MOVED)
    if not changed.any():
        return
    triangles = rig.triangles[changed[rig.triangles].any(1)]
    used = np.unique(triangles)
    corners = np.concatenate([rest[used], moved[used]])
    wx0, wy0, wx1, wy1 = even_box((*(corners.min(0) - 2), *(corners.max(0) + 3)), (cx1 - cx0, cy1 - cy0))
    if wx1 - wx0 < 2 or wy1 - wy0 < 2:
        return
    # The planes of the rig's crop, and the window written back into them.
    crop_y = frame.y[cy0:cy1, cx0:cx1]
    crop_u, crop_v = (p[cy0 // 2 : cy1 // 2, cx0 // 2 : cx1 // 2] for p in (frame.u, frame.v))
    out_y, out_u, out_v = _warp((crop_y, crop_u, crop_v), moved, source, triangles, (wx0, wy0, wx1, wy1))

    upper, lower = moved[list(lm.LIPS_INNER_UPPER)], moved[list(lm.LIPS_INNER_LOWER)]
    opening = float(np.linalg.norm(lower[1:-1] - upper[1:-1], axis=1).max())
    if opening > 0.6:
        if context.interior is not None:
            draw_interior((out_y, out_u, out_v), (wx0, wy0), context.interior, upper, lower, _lip_level(crop_y, local))
        else:
            _drawn_interior((out_y, out_u, out_v), (wx0, wy0), rgb, local, rig, moved)
    crop_y[wy0:wy1, wx0:wx1] = out_y
    crop_u[wy0 // 2 : wy1 // 2, wx0 // 2 : wx1 // 2] = out_u
    crop_v[wy0 // 2 : wy1 // 2, wx0 // 2 : wx1 // 2] = out_v


def _warp(crop, moved: np.ndarray, source: np.ndarray, triangles: np.ndarray, window: tuple[int, int, int, int]):
    """The crop's Y, U, V planes resampled through the mesh's backward map over `window` (an
    even box in crop pixels; `moved`, `source`: (V, 2) crop pixels). One cubic sample per
    pixel, chroma through the map's mean over its 2×2 luma pixels; where neighbouring pixels
    sample the source more than SPARSE apart (the mesh folds, as a closing lip slides over the
    teeth, or squeezes an opening shut) the pixels are the mean of SUPERSAMPLE² samples."""
    wx0, wy0, wx1, wy1 = window
    origin = np.array([wx0, wy0], np.float64)
    field = backward_field(moved - origin, source - origin, triangles, (wy1 - wy0, wx1 - wx0), 1)
    gy, gx = np.mgrid[wy0:wy1, wx0:wx1].astype(np.float32)
    map_x, map_y = gx + field[..., 0], gy + field[..., 1]
    crop_y, crop_u, crop_v = crop
    out_y = cv2.remap(crop_y, map_x, map_y, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    half_x, half_y = (_half(m) for m in (map_x, map_y))
    out_u, out_v = (cv2.remap(p, half_x, half_y, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE) for p in (crop_u, crop_v))
    # Pixels that do not move (no field) keep their value whatever their neighbours do.
    sparse = _sparse(map_x, map_y) & (field != 0).any(2)
    if sparse.any():
        _supersample(crop, (out_y, out_u, out_v), sparse, moved - origin, source - origin, triangles, origin)
    return out_y, out_u, out_v


def _sparse(map_x: np.ndarray, map_y: np.ndarray) -> np.ndarray:
    """(h, w) bool: pixels whose map lies more than SPARSE source pixels from a neighbour's."""
    apart = np.zeros(map_x.shape, bool)
    for axis in (0, 1):
        step = np.hypot(np.diff(map_x, axis=axis), np.diff(map_y, axis=axis)) > SPARSE
        pad = [(0, 0), (0, 0)]
        pad[axis] = (1, 0)
        apart |= np.pad(step, pad)
        pad[axis] = (0, 1)
        apart |= np.pad(step, pad)
    return apart


def _supersample(crop, out, sparse: np.ndarray, moved: np.ndarray, source: np.ndarray, triangles: np.ndarray, origin: np.ndarray) -> None:
    """Replace the `sparse` pixels of `out` (window planes) by the mean of SUPERSAMPLE² samples
    of the map each, and the chroma samples over them by the mean of their (2·SUPERSAMPLE)²:
    an edge where the map tears gets the share of each side that the pixel covers.
    `moved`, `source`: window pixels; `origin`: the window's corner in the crop.

    Sparse pixels lie along lines (the lips, the corners): they are sampled strip by strip,
    each strip STRIP pixels wide over the rows it needs, rather than over their bounding box."""
    w = sparse.shape[1]
    corners = moved[triangles]
    low, high = corners.min(1), corners.max(1)
    for x0 in range(0, w, STRIP):
        x1 = min(x0 + STRIP, w)
        rows = np.nonzero(sparse[:, x0:x1].any(1))[0]
        if len(rows) == 0:
            continue
        y0, y1 = rows[0] // 2 * 2, (rows[-1] + 2) // 2 * 2
        near = (high[:, 0] >= x0 - 1) & (low[:, 0] <= x1) & (high[:, 1] >= y0 - 1) & (low[:, 1] <= y1)
        box = (x0, y0, x1, y1)
        _supersample_box(crop, out, sparse[y0:y1, x0:x1], moved, source, triangles[near], origin, box)


def _supersample_box(crop, out, sparse, moved, source, triangles, origin, box) -> None:
    """`_supersample` over one even box of the window."""
    k = SUPERSAMPLE
    x0, y0, x1, y1 = box
    corner = np.array([x0, y0], np.float64)
    # Sample (i, j) of the box lies at ((j + 0.5) / k − 0.5, (i + 0.5) / k − 0.5) from its corner.
    field = backward_field(moved - corner, source - corner, triangles, (k * (y1 - y0), k * (x1 - x0)), 1 / k)
    gy, gx = (((np.mgrid[0 : k * (y1 - y0), 0 : k * (x1 - x0)] + 0.5) / k - 0.5) + (corner + origin)[::-1, None, None]).astype(np.float32)
    map_x, map_y = gx + field[..., 0], gy + field[..., 1]
    crop_y, crop_u, crop_v = crop
    out_y, out_u, out_v = out
    # With this many samples per pixel, bilinear sampling is as good as cubic, and cheaper;
    # INTER_AREA by a whole factor is the mean of each block.
    luma = cv2.resize(cv2.remap(crop_y, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE), (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
    out_y[y0:y1, x0:x1][sparse] = luma[sparse]
    blocks = sparse.reshape((y1 - y0) // 2, 2, (x1 - x0) // 2, 2).any(axis=(1, 3))
    half_x, half_y = ((m + 0.5) * 0.5 - 0.5 for m in (map_x, map_y))  # luma pixels to chroma pixels
    for plane, target in ((crop_u, out_u), (crop_v, out_v)):
        chroma = cv2.resize(cv2.remap(plane, half_x, half_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE), blocks.shape[::-1], interpolation=cv2.INTER_AREA)
        target[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2][blocks] = chroma[blocks]


def _half(m: np.ndarray) -> np.ndarray:
    """A full-resolution map (source luma pixels) at the chroma samples, in chroma pixels."""
    h, w = m.shape
    block = cv2.resize(m, (w // 2, h // 2), interpolation=cv2.INTER_AREA)  # the mean of each 2×2 block
    return (block - 0.5) * 0.5


def _lip_level(y: np.ndarray, points: np.ndarray) -> float:
    """Mean luma of the lips: halfway between the inner and outer lip contours."""
    mids = np.concatenate([
        (points[list(lm.LIPS_OUTER_UPPER[2:-2]), :2] + points[list(lm.LIPS_INNER_UPPER[2:-2]), :2]) / 2,
        (points[list(lm.LIPS_OUTER_LOWER[2:-2]), :2] + points[list(lm.LIPS_INNER_LOWER[2:-2]), :2]) / 2,
    ])
    xs = np.clip(np.round(mids[:, 0]).astype(int), 0, y.shape[1] - 1)
    ys = np.clip(np.round(mids[:, 1]).astype(int), 0, y.shape[0] - 1)
    return float(y[ys, xs].mean())


def _drawn_interior(planes, offset, rgb: np.ndarray, local: np.ndarray, rig, moved: np.ndarray) -> None:
    """The warp renderer's drawn cavity and teeth, for videos that never show the mouth open."""
    x0, y0 = offset
    out_y, out_u, out_v = planes
    h, w = out_y.shape
    window = cv2.cvtColor(pack_i420(out_y, out_u, out_v), cv2.COLOR_YUV2RGB_I420)
    before = window.copy()
    corners = rig.rest[[lm.LIPS_INNER_UPPER[0], lm.LIPS_INNER_UPPER[-1]], :2]
    draw_mouth(
        window, mouth_look(rgb, local, rig.mouth_open), moved, rig.interior_bottom, rig.mouth_open,
        float(np.linalg.norm(corners[1] - corners[0])), opening_per_column(rig.rest[:, :2], rig.interior_bottom, rig.mouth_open), (x0, y0),
    )
    drawn = (window != before).any(2)
    if not drawn.any():
        return
    yuv = cv2.cvtColor(window, cv2.COLOR_RGB2YUV_I420)
    new_y = yuv[:h]
    new_u = yuv.reshape(-1)[h * w : h * w * 5 // 4].reshape(h // 2, w // 2)
    new_v = yuv.reshape(-1)[h * w * 5 // 4 :].reshape(h // 2, w // 2)
    out_y[drawn] = new_y[drawn]
    block = drawn.reshape(h // 2, 2, w // 2, 2).any(axis=(1, 3))
    out_u[block] = new_u[block]
    out_v[block] = new_v[block]
