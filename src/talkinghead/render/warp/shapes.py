"""Blendshapes for the warp renderer: how each lip and expression channel moves the landmarks.

Every shape is built from the photo's own landmarks, in the face's frame (x to the subject's
left = image right, y down the face, z into the picture), in face widths. A channel value c
moves the vertices by c times its shape; shapes add. Lips that a linear model would push through
each other are kept apart afterwards, in `deform`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...face import landmarks as lm
from ...motion.signals import smoothstep
from ...types import EXPRESSION_CHANNELS

JAW_MAX_DEGREES = 18.0  # jaw_open = 1
GAZE_RANGE = (0.22, 0.12)  # iris travel at gaze ±1, in eye widths (horizontal, vertical)
LIPS_MEET = 0.6  # closing lips meet this far down the photo's opening: the upper lip covers the upper teeth
LIP_OUTER_SHARE = 0.45  # a closing lip's outer edge moves this share of its inner edge's way
# The renderer's own mouth shapes: what the absolute LIP_CHANNELS are reached with (see
# articulation.py). jaw_open and lips_wide take either sign; lips_close brings the photo's
# lips together, 1 = they meet.
MOUTH_SHAPES = ("jaw_open", "lips_wide", "lips_round", "lips_close", "lips_press", "upper_lip_up", "lower_lip_tuck")


@dataclass(frozen=True)
class FaceFrame:
    """The face's own axes: converts image pixels to face units and back."""

    origin: np.ndarray  # (3,) float64, image pixels: centroid of the face surface
    axes: np.ndarray  # (3, 3) float64, rows are the face's x, y, z unit vectors in image space
    unit: float  # pixels per face width

    @classmethod
    def from_landmarks(cls, points: np.ndarray) -> FaceFrame:
        p = points.astype(np.float64)
        unit = float(np.linalg.norm(p[lm.CHEEK_EXTREMES[1]] - p[lm.CHEEK_EXTREMES[0]]))
        return cls(origin=p[: lm.MESH_POINTS].mean(0), axes=lm.face_axes(p), unit=unit)

    def to_face(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) image pixels -> face units."""
        return (points - self.origin) @ self.axes.T / self.unit

    def displacement_to_image(self, d: np.ndarray) -> np.ndarray:
        """(..., 3) displacements in face units -> image pixels."""
        return d @ self.axes * self.unit


def _falloff(distance: np.ndarray, radius: float) -> np.ndarray:
    """1 at distance 0, smoothly 0 at `radius` and beyond."""
    return 1.0 - smoothstep(distance / radius)


def _lip_membership(q: np.ndarray, lower_interior: np.ndarray) -> np.ndarray:
    """(V,) how much each vertex belongs to the lower jaw (1) rather than the skull (0).

    Lip vertices are split by the mouth's midline; other vertices blend by height below the
    mouth corners, so the cheeks stretch smoothly while the chin moves whole.
    """
    corners_y = q[list(lm.MOUTH_CORNERS), 1].mean()
    chin_y = q[lm.CHIN, 1]
    w = smoothstep((q[:, 1] - corners_y + 0.02) / (0.5 * (chin_y - corners_y)))
    # Far from the mouth sideways (towards the ears) the jaw line still moves, but less.
    mouth_x = q[list(lm.MOUTH_CORNERS), 0].mean()
    half_width = 0.5 * abs(q[lm.MOUTH_CORNERS[1], 0] - q[lm.MOUTH_CORNERS[0], 0])
    w *= 1.0 - 0.35 * smoothstep((np.abs(q[:, 0] - mouth_x) - half_width) / (3 * half_width))
    upper = list(lm.LIPS_INNER_UPPER[1:-1] + lm.LIPS_OUTER_UPPER[1:-1])
    lower = list(lm.LIPS_INNER_LOWER[1:-1] + lm.LIPS_OUTER_LOWER[1:-1])
    w[upper] = 0.0
    w[lower] = 1.0
    w[list(lm.MOUTH_CORNERS + (lm.LIPS_INNER_UPPER[0], lm.LIPS_INNER_UPPER[-1]))] = 0.5
    w[lower_interior] = 0.0  # the visible interior (upper teeth) belongs to the skull
    return w


def _mouth_geometry(q: np.ndarray) -> tuple[np.ndarray, float]:
    corners = q[list(lm.MOUTH_CORNERS)]
    return corners.mean(0), float(np.linalg.norm(corners[1] - corners[0]))


def _upper_lip_weight(q: np.ndarray, centre: np.ndarray, width: float) -> np.ndarray:
    """Upper lip and the skin just above it, strongest at the middle, none at the corners."""
    dx = np.abs(q[:, 0] - centre[0]) / (0.5 * width)
    above = centre[1] - q[:, 1]
    w = (1 - smoothstep(dx)) * _falloff(np.maximum(above - 0.02, 0), 0.12)
    w[q[:, 1] > _contour_at(q, lm.LIPS_INNER_UPPER, q[:, 0]) + 0.005] = 0.0  # below the upper lip (a smile's lip is below its corners)
    w[list(lm.LIPS_INNER_LOWER[1:-1] + lm.LIPS_OUTER_LOWER[1:-1])] = 0.0
    return w


def _eye_shapes(q: np.ndarray, upper: tuple[int, ...], lower: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Blink, widen and squint displacements for one eye: (V, 3) each."""
    up, lo = q[list(upper)], q[list(lower)]
    gap = lo - up  # (9, 3) from each upper lid point down to the lower lid
    eye_width = float(np.linalg.norm(up[-1] - up[0]))
    centre_y = 0.5 * (up[:, 1].mean() + lo[:, 1].mean())
    # Each vertex follows the lid point nearest to it, less with distance from the lid.
    d_up = np.linalg.norm(q[:, None, :2] - up[None, :, :2], axis=2)
    d_lo = np.linalg.norm(q[:, None, :2] - lo[None, :, :2], axis=2)
    near_up, near_lo = d_up.argmin(1), d_lo.argmin(1)
    above = q[:, 1] < centre_y
    w_up = np.where(above, _falloff(d_up.min(1), 0.5 * eye_width), 0.0)
    w_lo = np.where(~above, _falloff(d_lo.min(1), 0.35 * eye_width), 0.0)
    w_up[list(upper)] = 1.0
    w_lo[list(lower)] = 1.0
    for corner in (upper[0], upper[-1]):
        w_up[corner] = w_lo[corner] = 0.0
    # The lids meet a quarter of the way up from the lower lid.
    blink = w_up[:, None] * 0.78 * gap[near_up] - w_lo[:, None] * 0.22 * gap[near_lo]
    open_height = float(np.abs(gap[:, 1]).max())
    widen = -w_up[:, None] * np.array([0.0, 0.35 * open_height + 0.012, 0.0])
    squint = -w_lo[:, None] * np.array([0.0, 0.35 * open_height, 0.0])
    return blink, widen, squint


def _brow_shapes(q: np.ndarray) -> dict[str, np.ndarray]:
    brows = list(lm.RIGHT_BROW + lm.LEFT_BROW)
    brow_y = q[brows, 1].mean()
    eye_y = q[list(lm.RIGHT_EYE_UPPER + lm.LEFT_EYE_UPPER), 1].mean()
    span = eye_y - brow_y  # brow to upper lids
    centre_x = q[lm.NOSE_TIP, 0]
    # Full at the brows, fading to the lids below and to the hairline above.
    below = np.clip((q[:, 1] - brow_y) / span, 0, None)
    above = np.clip((brow_y - q[:, 1]) / (2.5 * span), 0, None)
    w = (1 - smoothstep(below / 0.85)) * (1 - 0.6 * smoothstep(above))
    w[q[:, 1] > eye_y] = 0.0
    inner = _falloff(np.abs(q[:, 0] - centre_x), 0.22)
    towards_centre = -np.sign(q[:, 0] - centre_x)
    lift = np.array([0.0, -1.0, 0.0])
    return {
        "brow_up": w[:, None] * 0.07 * lift,
        "brow_inner_up": (w * inner)[:, None] * 0.06 * lift,
        "brow_down": w[:, None] * (0.035 * -lift + 0.02 * np.stack([towards_centre * inner, 0 * inner, 0 * inner], 1)),
    }


def _contour_at(q: np.ndarray, contour: tuple[int, ...], x: np.ndarray) -> np.ndarray:
    """y of a lip contour (corner to corner) at face x positions, held at its ends."""
    cx, cy = q[list(contour), 0], q[list(contour), 1]
    order = np.argsort(cx)
    return np.interp(x, cx[order], cy[order])


def _lips_closing(q: np.ndarray, lower_interior: list[int]) -> np.ndarray:
    """(V, 3): the lips brought together over whatever the photo's mouth shows.

    The inner lips meet on a line LIPS_MEET of the way down the photo's opening; each lip
    stretches as a whole, its outer edge following a share of its inner edge's move and the
    skin beyond less and less, so the lip's own colour and texture cover the teeth. The
    interior's bottom edge meets them too: the photo's interior closes to nothing.
    """
    x = q[:, 0]
    upper_in, lower_in = _contour_at(q, lm.LIPS_INNER_UPPER, x), _contour_at(q, lm.LIPS_INNER_LOWER, x)
    upper_out, lower_out = _contour_at(q, lm.LIPS_OUTER_UPPER, x), _contour_at(q, lm.LIPS_OUTER_LOWER, x)
    corners = q[list(lm.MOUTH_CORNERS), 0]
    inside = (x > corners.min()) & (x < corners.max())
    gap = np.where(inside, np.maximum(lower_in - upper_in, 0.0), 0.0)
    # Depth into each lip: 0 at its inner edge, 1 at its outer edge, > 1 on the skin beyond.
    above = q[:, 1] <= upper_in + 1e-6
    thickness = np.where(above, upper_in - upper_out, lower_out - lower_in)
    depth = np.where(above, upper_in - q[:, 1], q[:, 1] - lower_in) / np.maximum(thickness, 1e-3)
    share = 1 - (1 - LIP_OUTER_SHARE) * smoothstep(depth)
    skin = np.maximum(depth - 1, 0) * np.maximum(thickness, 1e-3)
    share = np.where(depth > 1, LIP_OUTER_SHARE * _falloff(skin, 0.08), share)
    move = np.where(above, LIPS_MEET * gap, -(1 - LIPS_MEET) * gap) * share
    close = np.zeros_like(q)
    close[:, 1] = move
    # The photo's interior: its bottom edge goes where the inner lower lip goes.
    inner_lower = list(lm.LIPS_INNER_LOWER[1:-1])
    close[lower_interior, 1] = close[inner_lower, 1] + q[inner_lower, 1] - q[lower_interior, 1]
    return close


def _mouth_shapes(q: np.ndarray, lower_interior: list[int], jaw_interior: list[int]) -> dict[str, np.ndarray]:
    centre, width = _mouth_geometry(q)
    jaw = _lip_membership(q, lower_interior)
    jaw[jaw_interior] = 1.0  # the photo's own lower teeth move with the jaw
    # The jaw turns about a hinge in front of the ears (at eye-corner height, behind the face).
    hinge = np.array([0.0, q[list(lm.CHEEK_EXTREMES), 1].mean(), 0.45])
    angle = np.radians(JAW_MAX_DEGREES)
    c, s = np.cos(angle), np.sin(angle)
    rel = q - hinge
    turned = np.stack([rel[:, 0], c * rel[:, 1] - s * rel[:, 2], s * rel[:, 1] + c * rel[:, 2]], 1)
    jaw_open = jaw[:, None] * (turned - rel)

    # Around the mouth: 1 inside an ellipse around the lips, fading over the cheeks and chin.
    r = np.hypot((q[:, 0] - centre[0]) / (0.55 * width), (q[:, 1] - centre[1]) / (0.45 * width))
    around = _falloff(np.maximum(r - 1.0, 0.0), 0.5)
    side = (q[:, 0] - centre[0]) / (0.5 * width)  # -1 .. 1 from corner to corner
    pull = np.clip(side, -1.0, 1.0)
    lips_wide = around[:, None] * np.stack([0.12 * width * pull, 0 * side, 0 * side], 1)
    roundness = np.stack([-0.2 * width * pull, 0 * side, -0.05 * (1 - smoothstep(np.abs(side)))], 1)
    lips_round = around[:, None] * roundness

    # Open the round mouth a little in the middle, as an "oo" does.
    mid = 1 - smoothstep(np.abs(side))
    upper_inner, lower_inner = list(lm.LIPS_INNER_UPPER[1:-1]), list(lm.LIPS_INNER_LOWER[1:-1])
    lips_round[upper_inner, 1] -= 0.012 * mid[upper_inner]
    lips_round[lower_inner, 1] += 0.018 * mid[lower_inner]

    lips_close = _lips_closing(q, lower_interior)
    if jaw_interior:  # both rows of the interior close to nothing
        lips_close[jaw_interior] = lips_close[lower_interior]
    # Pressing, once the lips meet: both lips thin a little and roll in.
    lips_press = np.zeros_like(q)
    lips_press[list(lm.LIPS_OUTER_UPPER[1:-1]), :] += (0.0, 0.008, 0.004)
    lips_press[list(lm.LIPS_OUTER_LOWER[1:-1]), :] += (0.0, -0.008, 0.004)

    upper_lip_up = _upper_lip_weight(q, centre, width)[:, None] * np.array([0.0, -0.035, -0.01])
    # "f"/"v": the lower lip rises towards the upper teeth and rolls in.
    lower_lip = np.zeros(len(q))
    lower_lip[list(lm.LIPS_INNER_LOWER[1:-1])] = 1.0
    lower_lip[list(lm.LIPS_OUTER_LOWER[1:-1])] = 0.6
    lower_lip *= 1 - 0.6 * smoothstep(np.abs(side))
    lower_lip_tuck = lower_lip[:, None] * np.array([0.0, -0.03, 0.02])

    corner_d = np.min([np.linalg.norm(q[:, :2] - q[i, :2], axis=1) for i in lm.MOUTH_CORNERS], axis=0)
    corners = _falloff(corner_d, 0.45 * width)
    out = np.sign(side)
    smile = corners[:, None] * np.stack([0.05 * out, -0.045 + 0 * out, 0 * out], 1)
    mouth_frown = corners[:, None] * np.stack([0.01 * out, 0.035 + 0 * out, 0 * out], 1)
    return {
        "jaw_open": jaw_open,
        "lips_wide": lips_wide,
        "lips_round": lips_round,
        "lips_close": lips_close,
        "lips_press": lips_press,
        "upper_lip_up": upper_lip_up,
        "lower_lip_tuck": lower_lip_tuck,
        "smile": smile,
        "mouth_frown": mouth_frown,
    }


def build_shapes(
    q: np.ndarray, lower_interior: list[int], *, expression: bool = True, jaw_interior: list[int] = ()
) -> tuple[np.ndarray, np.ndarray]:
    """Lip and expression blendshapes for vertices at face coordinates `q` ((V, 3)).

    `lower_interior` are the vertices that hold the bottom edge of the photo's visible mouth
    interior (its upper teeth, staying with the skull); `jaw_interior` those on the top edge
    of its lower teeth, moving with the jaw (none: nothing below the interior but the lip).
    Returns (len(MOUTH_SHAPES), V, 3) and (len(EXPRESSION_CHANNELS), V, 3) in face widths;
    gaze channels are zero here (the eye layer moves the irises). `expression` False: the
    expression shapes are left at zero (a dub moves the lips only).
    """
    mouth = _mouth_shapes(q, list(lower_interior), list(jaw_interior))
    if not expression:
        lip = np.stack([mouth[name] for name in MOUTH_SHAPES])
        return lip.astype(np.float32), np.zeros((len(EXPRESSION_CHANNELS), *q.shape), np.float32)
    right_blink, right_wide, right_squint = _eye_shapes(q, lm.RIGHT_EYE_UPPER, lm.RIGHT_EYE_LOWER)
    left_blink, left_wide, left_squint = _eye_shapes(q, lm.LEFT_EYE_UPPER, lm.LEFT_EYE_LOWER)
    shapes = {
        **mouth,
        **_brow_shapes(q),
        "blink_left": left_blink,
        "blink_right": right_blink,
        "eyes_wide": left_wide + right_wide,
        "eyes_squint": left_squint + right_squint,
        "gaze_x": np.zeros_like(q),
        "gaze_y": np.zeros_like(q),
    }
    # A smile also raises the lower lids a little.
    shapes["smile"] = shapes["smile"] + 0.4 * shapes["eyes_squint"]
    lip = np.stack([shapes[name] for name in MOUTH_SHAPES])
    expression = np.stack([shapes[name] for name in EXPRESSION_CHANNELS])
    return lip.astype(np.float32), expression.astype(np.float32)


def _margins_apart(q: np.ndarray, top: tuple[int, ...], bottom: tuple[int, ...], share_top: float, share_bottom: float) -> np.ndarray:
    """(V, 3): the two margins of an opening moved away from each other by shares of its gap."""
    shift = np.zeros_like(q)
    gap = q[list(bottom[1:-1])] - q[list(top[1:-1])]
    shift[list(top[1:-1])] -= share_top * gap
    shift[list(bottom[1:-1])] += share_bottom * gap
    return shift


def build_source_shifts(q: np.ndarray, lip_margins: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where closing lids and lips take their pixels from, per unit of channel (face widths).

    Landmark margins sit slightly inside the openings they bound, so a lid or lip stretched
    over the opening would carry a sliver of eyeball or teeth with it. As a blink or the lips
    close an opening, its margins sample a little further out, from lid skin and lips: for
    the lips, from where the photo's own lip begins (`lip_margins`, (2, 9) face widths beyond
    the inner upper and lower landmarks, from rig.lip_margins), and at least a share of the gap.
    Shapes as in `build_shapes`.
    """
    shifts = {name: np.zeros_like(q) for name in MOUTH_SHAPES + EXPRESSION_CHANNELS}
    shifts["blink_right"] = _margins_apart(q, lm.RIGHT_EYE_UPPER, lm.RIGHT_EYE_LOWER, 0.3, 0.1)
    shifts["blink_left"] = _margins_apart(q, lm.LEFT_EYE_UPPER, lm.LEFT_EYE_LOWER, 0.3, 0.1)
    close = _margins_apart(q, lm.LIPS_INNER_UPPER, lm.LIPS_INNER_LOWER, 0.15, 0.15)
    upper, lower = list(lm.LIPS_INNER_UPPER[1:-1]), list(lm.LIPS_INNER_LOWER[1:-1])
    close[upper, 1] = np.minimum(close[upper, 1], -lip_margins[0])
    close[lower, 1] = np.maximum(close[lower, 1], lip_margins[1])
    shifts["lips_close"] = close
    lip = np.stack([shifts[name] for name in MOUTH_SHAPES])
    expression = np.stack([shifts[name] for name in EXPRESSION_CHANNELS])
    return lip.astype(np.float32), expression.astype(np.float32)
