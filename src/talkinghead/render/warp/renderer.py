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
    grid_x: np.ndarray  # (rh, rw) float32: image x of every region pixel
    grid_y: np.ndarray  # (rh, rw) float32


def prepare(portrait: Portrait) -> PreparedPortrait:
    rig = build_rig(portrait.face, portrait.image)
    x0, y0, x1, y1 = rig.region
    step = max(1, round(max(x1 - x0, y1 - y0) / FIELD_CELLS))
    grid_y, grid_x = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    corners = rig.rest[[78, 308], :2]
    return PreparedPortrait(
        photo=np.ascontiguousarray(portrait.image),
        rig=rig,
        eyes=eyes_of(rig.rest),
        look=mouth_look(portrait.image, portrait.face.landmarks),
        mouth_width=float(np.linalg.norm(corners[1] - corners[0])),
        mouth_opening=opening_per_column(rig.rest[:, :2], rig.interior_bottom, rig.mouth_open),
        step=step,
        grid_x=grid_x,
        grid_y=grid_y,
    )


def render_region(p: PreparedPortrait, lip: np.ndarray, expression: np.ndarray, pose: np.ndarray) -> np.ndarray:
    """(rh, rw, 3) uint8: the face region for one frame of motion."""
    rig = p.rig
    x0, y0, x1, y1 = rig.region
    shaped = deform.shaped_vertices(rig, lip, expression)
    moved = deform.posed_vertices(rig, shaped, pose)[:, :2]
    rest = rig.rest[:, :2].astype(np.float64)

    # Backward field on a coarse grid over the region, then upsampled to every pixel.
    rh, rw = y1 - y0, x1 - x0
    grid_shape = (-(-rh // p.step), -(-rw // p.step))
    origin = np.array([x0, y0], np.float64)
    field = backward_field(moved - origin, rest - origin, rig.triangles, grid_shape, p.step)
    if p.step > 1:
        field = cv2.resize(field, (grid_shape[1] * p.step, grid_shape[0] * p.step), interpolation=cv2.INTER_LINEAR)
    out = cv2.remap(
        p.photo, p.grid_x + field[:rh, :rw, 0], p.grid_y + field[:rh, :rw, 1],
        cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101,
    )

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
