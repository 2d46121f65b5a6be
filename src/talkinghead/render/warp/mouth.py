"""The inside of a mouth opened wider than the photo's: cavity, teeth and tongue.

Drawn in the mouth's own coordinates (u along the lips from corner to corner, s across them),
in colours taken from the person's lips and the photo's exposure. When the photo's mouth is
open, its own interior (upper teeth) is kept by the mesh and only the gap that opens below it
is drawn; when it is closed, the whole opening is drawn, upper teeth included.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...face import landmarks as lm
from ...motion.signals import smoothstep
from .paint import blend_into, fill_mask, polygon_mask

TEETH_WHITE = np.array([226.0, 219.0, 204.0], np.float32)  # warm off-white under neutral light
MOUTH_RED = np.array([175.0, 62.0, 60.0], np.float32)  # inside of the cheeks and tongue, lit
UPPER_TEETH_DROP = 0.05  # upper incisors reach this far below the rest lip line (mouth widths)
TOOTH_EDGES_UPPER = (0.0, 0.12, 0.22, 0.31)  # distance of tooth boundaries from the middle, mouth widths
TOOTH_EDGES_LOWER = (0.0, 0.08, 0.16, 0.24)


@dataclass(frozen=True)
class MouthLook:
    cavity: np.ndarray  # (3,) float32 RGB
    tongue: np.ndarray  # (3,) float32 RGB
    teeth: np.ndarray  # (3,) float32 RGB


def _mean_colour(photo: np.ndarray, polygon: np.ndarray, hole: np.ndarray | None = None) -> np.ndarray | None:
    pixels = photo[fill_mask(photo.shape, polygon, hole)]
    return np.median(pixels, axis=0).astype(np.float32) if len(pixels) else None


def _photo_teeth(photo: np.ndarray, inner: np.ndarray) -> np.ndarray | None:
    """The colour of the teeth the photo shows: its brightest, least coloured interior pixels."""
    pixels = photo[fill_mask(photo.shape, inner)].astype(np.float32)
    if len(pixels) < 10:
        return None
    whiteness = pixels.min(1) - 0.5 * (pixels.max(1) - pixels.min(1))
    return np.median(pixels[whiteness >= np.percentile(whiteness, 75)], axis=0).astype(np.float32)


def mouth_look(photo: np.ndarray, points: np.ndarray, photo_open: bool) -> MouthLook:
    """Colours for the synthetic interior, from the photo around the mouth ((478, ≥2) points).

    When the photo shows its teeth, drawn teeth take their colour, so old and new match.
    """
    xy = points[:, :2]
    outer = lm.opening(xy, lm.LIPS_OUTER_UPPER, lm.LIPS_OUTER_LOWER)
    inner = lm.opening(xy, lm.LIPS_INNER_UPPER, lm.LIPS_INNER_LOWER)
    lip = _mean_colour(photo, outer, hole=inner)
    cheeks = [_mean_colour(photo, xy[list(ring)]) for ring in ((50, 101, 36, 205), (280, 330, 266, 425))]
    skin = np.mean([c for c in cheeks if c is not None] or [lip], axis=0) if lip is not None else None
    if lip is None or skin is None:  # degenerate landmarks: fall back to plain colours
        lip, skin = np.array([150, 80, 80], np.float32), np.array([190, 150, 130], np.float32)
    # Teeth are lit like the skin around them: dimmer in dark photos.
    exposure = np.clip(skin.mean() / 165.0, 0.45, 1.05)
    # The inside is redder than lips without lipstick, and as lit as the face.
    inside = 0.5 * lip + 0.5 * MOUTH_RED * exposure
    teeth = _photo_teeth(photo, inner) if photo_open else None
    return MouthLook(
        cavity=(inside * 0.3).astype(np.float32),
        tongue=(inside * 0.8).astype(np.float32),
        teeth=teeth if teeth is not None else (TEETH_WHITE * exposure).astype(np.float32),
    )


def _profile(contour: np.ndarray, origin: np.ndarray, axis_u: np.ndarray, axis_s: np.ndarray, u: np.ndarray) -> np.ndarray:
    """s-coordinate of a lip contour at each u, interpolated along the contour."""
    cu = (contour - origin) @ axis_u
    cs = (contour - origin) @ axis_s
    order = np.argsort(cu)
    return np.interp(u, cu[order], cs[order])


def _tooth_gaps(along: np.ndarray, edges: tuple[float, ...], mouth_width: float) -> np.ndarray:
    """Multiplier < 1 on the thin dark lines between teeth; none where teeth are too small to show them."""
    spacing = (edges[1] - edges[0]) * mouth_width
    strength = 0.08 * smoothstep((spacing - 5.0) / 5.0)
    dim = np.ones_like(along)
    if strength == 0:
        return dim
    sigma = 0.35 + 0.006 * mouth_width
    for e in edges:
        for side in ((1,) if e == 0 else (-1, 1)):
            dim *= 1 - strength * np.exp(-(((along - side * e * mouth_width) / sigma) ** 2))
    return dim


def opening_per_column(shaped: np.ndarray, interior_bottom: np.ndarray, photo_open: bool) -> np.ndarray:
    """(11,) pixels between the top of the drawn interior and the lower lip, corner to corner."""
    top = shaped[interior_bottom] if photo_open else shaped[list(lm.LIPS_INNER_UPPER)]
    return np.linalg.norm(shaped[list(lm.LIPS_INNER_LOWER)] - top, axis=1)


def draw_mouth(
    out: np.ndarray,
    look: MouthLook,
    shaped: np.ndarray,
    interior_bottom: np.ndarray,
    photo_open: bool,
    rest_width: float,
    rest_opening: np.ndarray,
    offset: tuple[int, int],
) -> None:
    """Draw the mouth interior into `out` (the region being rendered, in place).

    shaped: (V, 2) vertex positions this frame, image pixels; interior_bottom: vertex indices
    of the photo interior's bottom edge; rest_width: the photo's mouth width in pixels;
    rest_opening: `opening_per_column` of the photo, where nothing is drawn.
    """
    upper = shaped[list(lm.LIPS_INNER_UPPER)]
    bottom = shaped[interior_bottom]
    lower = shaped[list(lm.LIPS_INNER_LOWER)]
    top = bottom if photo_open else upper
    origin = upper[0]
    axis_u = upper[-1] - upper[0]
    width = float(np.linalg.norm(axis_u))
    if width < 2:
        return
    axis_u = axis_u / width
    axis_s = np.array([-axis_u[1], axis_u[0]])
    # Only what opens beyond the photo's own lips is drawn, fading in over a pixel or two,
    # so the still photo shows exactly as it is.
    wider = opening_per_column(shaped, interior_bottom, photo_open) - rest_opening
    column_alpha = smoothstep(wider / np.maximum(1.5, 0.5 * rest_opening))
    if column_alpha.max() == 0:
        return
    gap = float(((lower[1:-1] - top[1:-1]) @ axis_s).max())

    x0, y0 = offset
    every = np.concatenate([upper, lower, bottom])
    lo = np.maximum(np.floor(every.min(0)).astype(int) - 1, [x0, y0])
    hi = np.minimum(np.ceil(every.max(0)).astype(int) + 2, [x0 + out.shape[1], y0 + out.shape[0]])
    if (hi - lo).min() <= 1:
        return
    mask = polygon_mask(np.concatenate([top, lower[::-1]]), lo.astype(np.float64), (hi[1] - lo[1], hi[0] - lo[0]))

    ys, xs = np.mgrid[lo[1] : hi[1], lo[0] : hi[0]].astype(np.float32)
    rel_x, rel_y = xs - origin[0], ys - origin[1]
    u = rel_x * axis_u[0] + rel_y * axis_u[1]  # pixels along the lips from the corner
    s = rel_x * axis_s[0] + rel_y * axis_s[1]  # pixels down across them
    mask *= np.interp(u, (upper - origin) @ axis_u, column_alpha)
    s_upper = _profile(upper, origin, axis_u, axis_s, u)
    s_bottom = _profile(bottom, origin, axis_u, axis_s, u)
    s_lower = _profile(lower, origin, axis_u, axis_s, u)
    along = u - width / 2  # from the middle
    side = np.abs(along) / (width / 2)  # 0 in the middle, 1 at the corners

    # Cavity: dark, darkest deep inside and towards the corners.
    opening = np.maximum(s_lower - s_upper, 1e-3)
    depth = np.minimum(s - s_upper, s_lower - s) / (0.5 * opening)
    shade = 0.75 + 0.35 * (1 - smoothstep(depth)) - 0.3 * smoothstep(side)
    colour = look.cavity * shade[..., None]

    # Tongue: a rounded hump at the bottom once the mouth is well open.
    openness = smoothstep((gap / rest_width - 0.1) / 0.25)
    if openness > 0:
        hump = np.hypot(along / (0.34 * width), (s - s_lower) / (0.6 * opening))
        # Lit from the front: brightest at its tip, fading into the dark behind.
        tongue = openness * (1 - smoothstep((hump - 0.6) / 0.45)) * (0.55 + 0.45 * smoothstep(1 - hump))
        colour += tongue[..., None] * (look.tongue - colour)

    # Lower teeth: their tips show above the lower lip as soon as the lips part.
    tips = s_lower - np.minimum(0.22 * opening, 0.05 * rest_width)
    lower_teeth = smoothstep(s - tips + 0.5) * (1 - smoothstep((side - 0.45) / 0.2))
    # In the upper lip's and the jaw's shadow: darker than the upper teeth, darkest low down.
    lower_shade = (0.78 - 0.25 * side - 0.15 * smoothstep((s - tips) / (0.05 * rest_width + 1))) * _tooth_gaps(along, TOOTH_EDGES_LOWER, rest_width)
    colour += lower_teeth[..., None] * (look.teeth * lower_shade[..., None] - colour)

    if not photo_open:
        # Upper teeth hang from the skull: their edge stays near the photo's lip line.
        edge = s_bottom + UPPER_TEETH_DROP * rest_width
        upper_teeth = smoothstep(edge - s + 0.5) * (1 - smoothstep((side - 0.62) / 0.22))
        lip_shadow = 1 - 0.2 * np.exp(-np.maximum(s - s_upper, 0) / (0.03 * rest_width + 0.5))
        upper_shade = (0.95 - 0.25 * side) * lip_shadow * _tooth_gaps(along, TOOTH_EDGES_UPPER, rest_width)
        colour += upper_teeth[..., None] * (look.teeth * upper_shade[..., None] - colour)

    blend_into(out[lo[1] - y0 : hi[1] - y0, lo[0] - x0 : hi[0] - x0], colour, mask)
