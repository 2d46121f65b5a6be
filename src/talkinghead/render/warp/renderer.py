"""The warp renderer: animates the photo itself by deforming a mesh over it, on any CPU.

Per frame: move the rig's vertices (shapes, head pose), rasterise the moved mesh into a
coarse backward displacement field, upsample it, and resample the photo once (cv2.remap);
then draw the eyeballs and the mouth interior over it. Only the face region is redrawn: the
rest of the photo is copied as it is.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from ...face import landmarks as lm
from ...types import ARTICULATE, EXPRESSION_CHANNELS, LIP_CHANNELS, Portrait
from ..base import Progress, RenderRequest, Work
from . import deform
from .articulation import shape_weights
from .eyes import Eye, draw_eyes, eyes_of
from .mouth import MouthLook, draw_mouth, mouth_look, opening_per_column
from .raster import backward_field
from .rig import WarpRig, build_rig
from .shapes import MOUTH_SHAPES

FIELD_CELLS = 160  # the displacement field's resolution across the region's longer side
_GAZE = [EXPRESSION_CHANNELS.index("gaze_x"), EXPRESSION_CHANNELS.index("gaze_y")]
_TONGUE = [LIP_CHANNELS.index("tongue_up"), LIP_CHANNELS.index("tongue_out")]
_ROUND = LIP_CHANNELS.index("lips_round")


@dataclass(frozen=True)
class DetailWindow:
    """An opening (an eye, the mouth) whose map is computed at full resolution every frame.

    Where lids or lips close, the map jumps from one side of the opening to the other; a coarse
    map interpolated across that jump would sample the eyeball or teeth in between.
    """

    contour: np.ndarray  # (N,) vertex indices around the opening
    triangles: np.ndarray  # (F, 3) the triangles around it, enough to cover its box
    channels: np.ndarray  # (K,) indices into mouth-shape + expression weights that can close it


def _detail_window(rig: WarpRig, contour: tuple[int, ...], channels: tuple[str, ...]) -> DetailWindow:
    points = rig.rest[:, :2]
    centre = points[list(contour)].mean(0)
    reach = 1.2 * np.linalg.norm(points[list(contour)] - centre, axis=1).max()
    near = np.linalg.norm(points - centre, axis=1) < reach
    names = MOUTH_SHAPES + EXPRESSION_CHANNELS
    return DetailWindow(np.array(contour), rig.triangles[near[rig.triangles].all(1)], np.array([names.index(c) for c in channels]))


@dataclass(frozen=True)
class PreparedPortrait:
    """What the warp renderer computes once per portrait."""

    photo: np.ndarray  # (H, W, 3) uint8 RGB
    rig: WarpRig
    rest: np.ndarray  # (V, 3) float64 copy of rig.rest
    eyes: tuple[Eye, ...]
    eye_rows: np.ndarray  # (K,) vertex indices the eyeball layer reads
    look: MouthLook
    mouth_width: float  # pixels, in the photo
    mouth_opening: np.ndarray  # (11,) pixels: the photo's own opening, left as it is
    step: int  # field grid spacing, pixels
    grid: np.ndarray  # (gh, gw, 2) float32: image x, y of the field's grid points, one beyond the region
    face_box: tuple[int, int, int, int]  # x0, y0, x1, y1 in region pixels: resampled with cubic filtering
    details: tuple[DetailWindow, ...]


def prepare(portrait: Portrait) -> PreparedPortrait:
    rig = build_rig(portrait.face, portrait.image)
    x0, y0, x1, y1 = rig.region
    step = max(1, round(max(x1 - x0, y1 - y0) / FIELD_CELLS))
    rows, cols = -(-(y1 - y0) // step) + 2, -(-(x1 - x0) // step) + 2
    # Where cv2.resize takes its samples when it enlarges the grid `step` times. One extra
    # sample on every side: resize then interpolates up to the region's edges, never clamps.
    gy, gx = np.mgrid[-1 : rows - 1, -1 : cols - 1].astype(np.float32)
    grid = np.dstack([x0 + (gx + 0.5) * step - 0.5, y0 + (gy + 0.5) * step - 0.5])
    corners = rig.rest[[lm.LIPS_INNER_UPPER[0], lm.LIPS_INNER_UPPER[-1]], :2]
    eyes = eyes_of(rig.rest)
    fx0, fy0, fx1, fy1 = portrait.face.box
    margin = (fx1 - fx0) // 10
    face_box = (max(fx0 - margin - x0, 0), max(fy0 - margin - y0, 0), min(fx1 + margin - x0, x1 - x0), min(fy1 + margin - y0, y1 - y0))
    return PreparedPortrait(
        photo=np.ascontiguousarray(portrait.image),
        rig=rig,
        rest=rig.rest.astype(np.float64),
        eyes=eyes,
        eye_rows=np.unique(np.concatenate([eye.anchors for eye in eyes])),
        look=mouth_look(portrait.image, portrait.face.landmarks, rig.mouth_open),
        mouth_width=float(np.linalg.norm(corners[1] - corners[0])),
        mouth_opening=opening_per_column(rig.rest[:, :2], rig.interior_bottom, rig.mouth_open, _jaw_edge(rig)),
        step=step,
        grid=grid,
        face_box=face_box,
        details=(
            _detail_window(rig, lm.RIGHT_EYE_UPPER + lm.RIGHT_EYE_LOWER, ("blink_right", "eyes_squint")),
            _detail_window(rig, lm.LEFT_EYE_UPPER + lm.LEFT_EYE_LOWER, ("blink_left", "eyes_squint")),
            # The lips fold the map only as they close on each other; an opening mouth is drawn over.
            _detail_window(rig, lm.LIPS_INNER_UPPER + lm.LIPS_INNER_LOWER, ("lips_close", "lips_press", "lower_lip_tuck")),
        ),
    )


def render_region(
    p: PreparedPortrait, lip: np.ndarray, expression: np.ndarray, pose: np.ndarray, *, hold_photo_gap: bool, out: np.ndarray | None = None
) -> np.ndarray:
    """(rh, rw, 3) uint8: the face region for one frame of motion (one row of each level).

    hold_photo_gap: the photo's parted lips stay parted while speaking (`--rest photo`, see
    articulation.shape_weights). out: where to draw the region (the frame's own pixels, a
    view), or None for a new array; returned either way."""
    rig = p.rig
    x0, y0, x1, y1 = rig.region
    mouth = shape_weights(lip, rig.mouth, hold_photo_gap=hold_photo_gap)
    values = np.concatenate([mouth, expression])
    shaped = deform.shaped_vertices(rig, mouth, expression)
    moved = deform.posed_vertices(rig, shaped, pose)[:, :2]
    rest = p.rest[:, :2]
    source = rest + (values @ rig.source_shifts).reshape(-1, 2)

    # Backward map on a coarse grid over the region, upsampled to every pixel: the map is
    # smooth, and linear upsampling reproduces the still parts exactly.
    rh, rw, step = y1 - y0, x1 - x0, p.step
    origin = np.array([x0 - step, y0 - step], np.float64)  # the padded grid's corner
    coarse = p.grid + backward_field(moved - origin, source - origin, rig.triangles, p.grid.shape[:2], step)
    if step > 1:
        coarse = cv2.resize(coarse, (coarse.shape[1] * step, coarse.shape[0] * step), interpolation=cv2.INTER_LINEAR)
    pixel_map = coarse[step : step + rh, step : step + rw]
    for window in p.details:
        if np.abs(values[window.channels]).max() > 0.01:  # only a closing opening folds the map
            _refine(pixel_map, window, moved, source, (x0, y0))
    out = _resampled(p.photo, pixel_map, p.face_box, out)

    # The eyeballs move with the head alone: only their own vertices are needed.
    rigid = np.zeros_like(moved)
    rigid[p.eye_rows] = deform.posed_vertices(rig, p.rest[p.eye_rows], pose, p.eye_rows)[:, :2]
    gaze = (float(expression[_GAZE[0]]), float(expression[_GAZE[1]]))
    draw_eyes(out, p.photo, p.eyes, moved, rigid, rest, gaze, (x0, y0))
    tongue = tuple(float(np.clip(lip[ARTICULATE] * lip[i], 0, 1)) for i in _TONGUE)
    rounding = float(np.clip(lip[ARTICULATE] * lip[_ROUND], 0, 1))
    draw_mouth(out, p.look, moved, rig.interior_bottom, rig.mouth_open, p.mouth_width, p.mouth_opening, (x0, y0), tongue, rounding, _jaw_edge(rig))
    return out


def _jaw_edge(rig: WarpRig) -> np.ndarray | None:
    """Where the drawn interior ends: at the photo's own lower teeth when it shows them."""
    return rig.interior_jaw if rig.lower_teeth else None


def _resampled(photo: np.ndarray, pixel_map: np.ndarray, face_box: tuple[int, int, int, int], out: np.ndarray | None) -> np.ndarray:
    """(rh, rw, 3) uint8 `out`: the photo sampled at `pixel_map`, cubic on the face box, linear around it.

    Bilinear resampling halves fine detail at half-pixel shifts, so the face gets cubic
    filtering; the rest (hair, neck) is sampled linearly. The whole region once, then the
    face box over it: two calls cost less than five strips around the box.
    """
    out = np.empty((*pixel_map.shape[:2], 3), np.uint8) if out is None else out
    cv2.remap(photo, pixel_map, None, cv2.INTER_LINEAR, dst=out, borderMode=cv2.BORDER_REFLECT101)
    bx0, by0, bx1, by1 = face_box
    if bx1 > bx0 and by1 > by0:
        cv2.remap(photo, pixel_map[by0:by1, bx0:bx1], None, cv2.INTER_CUBIC, dst=out[by0:by1, bx0:bx1], borderMode=cv2.BORDER_REFLECT101)
    return out


def _refine(pixel_map: np.ndarray, window: DetailWindow, moved: np.ndarray, source: np.ndarray, offset: tuple[int, int]) -> None:
    """Recompute `pixel_map` (region pixels, in place) at full resolution around one opening."""
    x0, y0 = offset
    around = moved[window.contour]
    lo = np.maximum(np.floor(around.min(0)).astype(int) - 3, [x0, y0])
    hi = np.minimum(np.ceil(around.max(0)).astype(int) + 4, [x0 + pixel_map.shape[1], y0 + pixel_map.shape[0]])
    if (hi - lo).min() <= 0:
        return
    h, w = hi[1] - lo[1], hi[0] - lo[0]
    fine = backward_field(moved - lo, source - lo, window.triangles, (h, w), 1, outside=np.nan)
    covered = ~np.isnan(fine[..., 0])
    ys, xs = np.nonzero(covered)
    patch = pixel_map[lo[1] - y0 : hi[1] - y0, lo[0] - x0 : hi[0] - x0]
    patch[ys, xs, 0] = xs + lo[0] + fine[ys, xs, 0]
    patch[ys, xs, 1] = ys + lo[1] + fine[ys, xs, 1]


class WarpRenderer:
    """Renders a MotionTrack on a Portrait by warping the photo (NumPy + OpenCV only)."""

    name = "warp"
    device = "the CPU"
    reads_motion = True
    options: frozenset[str] = frozenset()
    square_side = None

    @classmethod
    def load(cls, options: dict) -> WarpRenderer:
        return cls()  # nothing to load: NumPy and OpenCV only

    def prepare(self, portrait: Portrait) -> PreparedPortrait:
        return prepare(portrait)

    def work(self, request: RenderRequest) -> Work:
        return Work(request.frame_count, "frame")

    def frames(self, prepared: PreparedPortrait, request: RenderRequest, progress: Progress) -> Iterator[np.ndarray]:
        """Yields (H, W, 3) uint8 RGB frames, one per frame of request.motion."""
        motion = request.motion
        hold = request.options["rest"] == "photo"
        x0, y0, x1, y1 = prepared.rig.region
        for t in range(request.frame_count):
            frame = prepared.photo.copy()
            render_region(prepared, motion.lip[t], motion.expression[t], motion.pose[t], hold_photo_gap=hold, out=frame[y0:y1, x0:x1])
            progress(t + 1, request.frame_count, "frame")
            yield frame
