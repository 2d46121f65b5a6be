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

from ...types import EXPRESSION_CHANNELS, MotionTrack, Portrait
from . import deform
from .eyes import Eye, draw_eyes, eyes_of
from .mouth import MouthLook, draw_mouth, mouth_look, opening_per_column
from .raster import backward_field
from .rig import WarpRig, build_rig

FIELD_CELLS = 160  # the displacement field's resolution across the region's longer side
_GAZE = [EXPRESSION_CHANNELS.index("gaze_x"), EXPRESSION_CHANNELS.index("gaze_y")]


@dataclass(frozen=True)
class PreparedPortrait:
    """What the warp renderer computes once per portrait."""

    photo: np.ndarray  # (H, W, 3) uint8 RGB
    rig: WarpRig
    eyes: tuple[Eye, ...]
    look: MouthLook
    mouth_width: float  # pixels, in the photo
    mouth_opening: np.ndarray  # (11,) pixels: the photo's own opening, left as it is
    step: int  # field grid spacing, pixels
    grid: np.ndarray  # (gh, gw, 2) float32: image x, y of the field's grid points, one beyond the region


def prepare(portrait: Portrait) -> PreparedPortrait:
    rig = build_rig(portrait.face, portrait.image)
    x0, y0, x1, y1 = rig.region
    step = max(1, round(max(x1 - x0, y1 - y0) / FIELD_CELLS))
    rows, cols = -(-(y1 - y0) // step) + 2, -(-(x1 - x0) // step) + 2
    # Where cv2.resize takes its samples when it enlarges the grid `step` times. One extra
    # sample on every side: resize then interpolates up to the region's edges, never clamps.
    gy, gx = np.mgrid[-1 : rows - 1, -1 : cols - 1].astype(np.float32)
    grid = np.dstack([x0 + (gx + 0.5) * step - 0.5, y0 + (gy + 0.5) * step - 0.5])
    corners = rig.rest[[78, 308], :2]
    return PreparedPortrait(
        photo=np.ascontiguousarray(portrait.image),
        rig=rig,
        eyes=eyes_of(rig.rest),
        look=mouth_look(portrait.image, portrait.face.landmarks),
        mouth_width=float(np.linalg.norm(corners[1] - corners[0])),
        mouth_opening=opening_per_column(rig.rest[:, :2], rig.interior_bottom, rig.mouth_open),
        step=step,
        grid=grid,
    )


def render_region(p: PreparedPortrait, lip: np.ndarray, expression: np.ndarray, pose: np.ndarray) -> np.ndarray:
    """(rh, rw, 3) uint8: the face region for one frame of motion."""
    rig = p.rig
    x0, y0, x1, y1 = rig.region
    shaped = deform.shaped_vertices(rig, lip, expression)
    moved = deform.posed_vertices(rig, shaped, pose)[:, :2]
    rest = rig.rest[:, :2].astype(np.float64)

    # Backward map on a coarse grid over the region, upsampled to every pixel: the map is
    # smooth, and linear upsampling reproduces the still parts exactly.
    rh, rw, step = y1 - y0, x1 - x0, p.step
    origin = np.array([x0 - step, y0 - step], np.float64)  # the padded grid's corner
    coarse = p.grid + backward_field(moved - origin, rest - origin, rig.triangles, p.grid.shape[:2], step)
    if step > 1:
        coarse = cv2.resize(coarse, (coarse.shape[1] * step, coarse.shape[0] * step), interpolation=cv2.INTER_LINEAR)
    pixel_map = coarse[step : step + rh, step : step + rw]
    out = cv2.remap(p.photo, pixel_map, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)

    rigid = deform.posed_vertices(rig, rig.rest.astype(np.float64), pose)[:, :2]
    gaze = (float(expression[_GAZE[0]]), float(expression[_GAZE[1]]))
    draw_eyes(out, p.photo, p.eyes, moved, rigid, rest, gaze, (x0, y0))
    draw_mouth(out, p.look, moved, rig.interior_bottom, rig.mouth_open, p.mouth_width, p.mouth_opening, (x0, y0))
    return out


class WarpRenderer:
    """Renders a MotionTrack on a Portrait by warping the photo (NumPy + OpenCV only)."""

    name = "warp"

    def frames(self, portrait: Portrait, motion: MotionTrack) -> Iterator[np.ndarray]:
        """Yields (H, W, 3) uint8 RGB frames, one per motion frame."""
        prepared = prepare(portrait)
        x0, y0, x1, y1 = prepared.rig.region
        for t in range(motion.frame_count):
            frame = prepared.photo.copy()
            frame[y0:y1, x0:x1] = render_region(prepared, motion.lip[t], motion.expression[t], motion.pose[t])
            yield frame
