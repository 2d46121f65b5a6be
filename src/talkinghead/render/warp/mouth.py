"""The inside of a mouth opened wider than the photo's: cavity, tongue, teeth and gums.

Drawn in the mouth's own coordinates (u along the lips from corner to corner, s across them),
in colours taken from the person's lips, the photo's own teeth and its exposure, back to front:
a cavity darkening with depth (never black), the tongue lit from the front and fading into
the throat, the lower teeth on the jaw (tips over the lower lip, roots behind it), the upper
teeth hung from the skull (incisors, canines and premolars along the arch, outer ones shorter
and darker, a scalloped gum line where the lip lifts), and the soft shadow of the lips over
all. Teeth are placed in the photo's mouth widths from the middle: they do not narrow when the
lips round. When the photo's mouth is open, its own interior (upper teeth) is kept by the mesh
and only the gap that opens below it is drawn.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ...face import landmarks as lm
from ...motion.signals import smoothstep
from .paint import blend_into, fill_mask, polygon_mask

TEETH_WHITE = np.array([226.0, 219.0, 204.0], np.float32)  # warm off-white under neutral light
MOUTH_RED = np.array([175.0, 62.0, 60.0], np.float32)  # inside of the cheeks and tongue, lit
GUM_PINK = np.array([206.0, 118.0, 116.0], np.float32)
SKIN_CHROMA = 60.0  # max − min channel of skin in an ordinary colour photo


@dataclass(frozen=True)
class TeethRow:
    """One row of teeth as seen from the front, tooth by tooth from the middle outwards."""

    edges: tuple[float, ...]  # boundaries between teeth, in rest mouth widths from the middle
    lengths: tuple[float, ...]  # how much of each shows, against a central incisor
    tones: tuple[float, ...]  # brightness: the outer teeth turn away and lie deeper in shadow


# Upper: central and lateral incisors, canine, two premolars, foreshortened along the arch.
UPPER_TEETH = TeethRow((0.0, 0.14, 0.235, 0.31, 0.37, 0.42), (1.0, 0.84, 0.92, 0.66, 0.52), (1.0, 0.93, 0.82, 0.66, 0.54))
LOWER_TEETH = TeethRow((0.0, 0.09, 0.175, 0.25, 0.3), (1.0, 0.95, 0.8, 0.55), (1.0, 0.93, 0.8, 0.62))
UPPER_TEETH_DROP = 0.07  # upper incisors reach this far below the rest lip line (mouth widths)
UPPER_TEETH_ROUND = 0.22  # share of a tooth's length its rounded corners lose
LOWER_TEETH_SHOWN = 0.06  # the most of the lower incisors that shows over the lip (mouth widths)
LOWER_TEETH_ROUND = 0.01  # how much lower their corners are rounded (mouth widths)
GUM_HEIGHT = 0.2  # from the incisal edge to the gum line (mouth widths)
EDGE_SOFTNESS = 0.8  # pixels over which the interior fades in at the lips
ROUNDING_HIDES = 0.75  # share of the teeth that lips rounded fully forward hide
CAVITY_FLOOR = 0.5  # the darkest the cavity gets, against its own colour: never a black hole


@dataclass(frozen=True)
class MouthLook:
    cavity: np.ndarray  # (3,) float32 RGB
    tongue: np.ndarray  # (3,) float32 RGB
    teeth: np.ndarray  # (3,) float32 RGB
    gum: np.ndarray  # (3,) float32 RGB


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
    # Teeth under the photo's light: its exposure, and some of the skin's colour cast.
    cast = (skin / max(float(skin.mean()), 1.0)) ** 0.35
    # As colourful as the photo: a drawing or a faded print gets a muted inside.
    colourful = float(np.clip((skin.max() - skin.min()) / SKIN_CHROMA, 0.3, 1.0))
    muted = lambda c: (c.mean() + colourful * (c - c.mean())).astype(np.float32)  # noqa: E731
    return MouthLook(
        cavity=muted(inside * 0.42),
        tongue=muted(inside * 0.85),
        teeth=teeth if teeth is not None else muted(TEETH_WHITE * exposure * cast),
        gum=muted(0.5 * lip + 0.5 * GUM_PINK * exposure),
    )


def _profile(contour: np.ndarray, origin: np.ndarray, axis_u: np.ndarray, axis_s: np.ndarray, u: np.ndarray) -> np.ndarray:
    """s-coordinate of a lip contour at each u, interpolated along the contour."""
    cu = (contour - origin) @ axis_u
    cs = (contour - origin) @ axis_s
    order = np.argsort(cu)
    return np.interp(u, cu[order], cs[order])


def opening_per_column(shaped: np.ndarray, interior_bottom: np.ndarray, photo_open: bool, jaw_edge: np.ndarray | None = None) -> np.ndarray:
    """(11,) pixels between the top of the drawn interior and its bottom (the lower lip, or
    the top of the photo's own lower teeth, `jaw_edge`), corner to corner."""
    top = shaped[interior_bottom] if photo_open else shaped[list(lm.LIPS_INNER_UPPER)]
    bottom = shaped[jaw_edge if jaw_edge is not None else list(lm.LIPS_INNER_LOWER)]
    return np.linalg.norm(bottom - top, axis=1)


@dataclass(frozen=True)
class Arch:
    """Where each pixel falls on a row of teeth seen from the front (per-pixel arrays)."""

    tooth: np.ndarray  # int: 0 = central incisor, 1 = lateral, 2 = canine, 3.. = premolars; -1 past the last
    across: np.ndarray  # -1..1 within its tooth, 0 at its middle
    seam: np.ndarray  # pixels to the nearest boundary between teeth


def _arch(along: np.ndarray, edges: tuple[float, ...], rest_width: float) -> Arch:
    """The teeth of a row whose boundaries lie at `edges` (rest mouth widths from the middle)."""
    d = np.abs(along) / rest_width
    bounds = np.asarray(edges)
    tooth = np.searchsorted(bounds, d, side="right") - 1
    tooth = np.where(d >= bounds[-1], -1, tooth)
    k = np.clip(tooth, 0, len(bounds) - 2)
    left, right = bounds[k], bounds[k + 1]
    across = 2 * (d - left) / (right - left) - 1
    seam = np.minimum(d - left, right - d) * rest_width
    return Arch(tooth, across, seam)


def _tooth_table(values: tuple[float, ...], arch: Arch) -> np.ndarray:
    """A per-tooth quantity looked up per pixel (0 past the last tooth)."""
    return np.where(arch.tooth >= 0, np.asarray(values)[np.clip(arch.tooth, 0, len(values) - 1)], 0.0)


@dataclass(frozen=True)
class Interior:
    """Per-pixel coordinates of the mouth region being drawn, in pixels: `along` the lips
    from their middle, `s` down across them, and where the contours cross each column."""

    along: np.ndarray
    s: np.ndarray
    s_upper: np.ndarray  # the upper lip's inner edge now
    s_bottom: np.ndarray  # the photo interior's bottom edge (the skull's: where upper teeth end)
    s_lower: np.ndarray  # the lower lip's inner edge now
    side: np.ndarray  # 0 in the middle, 1 at the corners
    rest_width: float

    @property
    def opening(self) -> np.ndarray:
        return np.maximum(self.s_lower - self.s_upper, 1e-3)


def _cavity(m: Interior, look: MouthLook) -> np.ndarray:
    """The dark inside: lit near the lips, darker with depth and towards the corners."""
    depth = smoothstep(np.minimum(m.s - m.s_upper, m.s_lower - m.s) / (0.5 * m.opening))
    # The wider the opening, the deeper into the throat one sees.
    throat = smoothstep(m.opening / (0.35 * m.rest_width))
    shade = 1.15 - 0.35 * depth * (0.6 + 0.4 * throat) - 0.3 * m.side**2
    return look.cavity * np.maximum(shade, CAVITY_FLOOR)[..., None]


def _tongue(m: Interior, look: MouthLook, colour: np.ndarray, up: float) -> None:
    """The tongue's body rising from behind the lower teeth, tip raised by `up` (in place)."""
    reach = np.clip(1 - (m.along / (0.36 * m.rest_width)) ** 2, 0, 1)
    height = (0.3 + 0.2 * up) * m.opening * np.sqrt(reach)
    surface = m.s_lower - height
    if up > 0:  # the tip, narrower, reaches up behind the upper teeth
        tip = np.clip(1 - (m.along / (0.15 * m.rest_width)) ** 2, 0, 1)
        surface = np.minimum(surface, m.s_lower - up * tip**0.5 * (m.s_lower - m.s_bottom - 0.01 * m.rest_width))
    inside = smoothstep(m.s - surface + 0.5)
    # Lit from the front: brightest low and near, darkening up and back into the throat.
    below = np.clip((m.s - surface) / np.maximum(m.s_lower - surface, 1.0), 0, 1)
    shade = 0.45 + 0.65 * smoothstep(below / 0.6) - 0.12 * np.exp(-((m.along / (0.04 * m.rest_width + 0.7)) ** 2))
    shade = np.where(up * (m.s < m.s_lower - 0.5 * m.opening) > 0, shade + 0.2 * up, shade)
    colour += (reach > 0)[..., None] * inside[..., None] * (_in_shadow(look, look.tongue, shade) - colour)


def _tongue_tip(m: Interior, look: MouthLook, colour: np.ndarray, edge: np.ndarray, out: float) -> None:
    """The tip between the teeth ("th"): in front of them, the upper incisors resting on it (in place)."""
    r = np.hypot(m.along / (0.15 * m.rest_width), (m.s - edge) / (0.05 * m.rest_width + 1))
    tip = out * (1 - smoothstep((r - 0.85) / 0.2)) * smoothstep(m.s - (edge - 0.012 * m.rest_width))
    lit = 0.8 + 0.25 * smoothstep(1 - r)
    colour += tip[..., None] * (_in_shadow(look, look.tongue * 1.15, lit) - colour)


def _in_shadow(look: MouthLook, lit: np.ndarray, light: np.ndarray) -> np.ndarray:
    """(h, w, 3) a surface of colour `lit` under `light` (0..1 per pixel): shadows inside a
    mouth take the cavity's warm dark, not grey."""
    dark = 1.3 * look.cavity
    return dark + np.clip(light, 0, 1.2)[..., None] * (lit - dark)


def _corridor(m: Interior) -> np.ndarray:
    """Teeth towards the corners lie in the cheeks' shadow."""
    return 1 - 0.5 * m.side**2.5


def _seams(arch: Arch, rest_width: float) -> np.ndarray:
    """Soft darkening along the boundaries between teeth (none where teeth are too small)."""
    sigma = 0.45 + 0.004 * rest_width
    strength = 0.1 * smoothstep((rest_width - 25) / 40)
    return 1 - strength * np.exp(-((arch.seam / sigma) ** 2))


def _lower_teeth(m: Interior, look: MouthLook, colour: np.ndarray) -> None:
    """The lower teeth, following the jaw: their tips above the lower lip, their roots behind
    it (no cavity below them), smaller and darker towards the corners (in place)."""
    arch = _arch(m.along, LOWER_TEETH.edges, m.rest_width)
    length = _tooth_table(LOWER_TEETH.lengths, arch)
    shown = np.minimum(0.2 * m.opening, LOWER_TEETH_SHOWN * m.rest_width) * length
    tips = m.s_lower - shown + LOWER_TEETH_ROUND * m.rest_width * np.abs(arch.across) ** 4 * length
    alpha = smoothstep(m.s - tips + 0.5) * (arch.tooth >= 0)
    tone = _tooth_table(LOWER_TEETH.tones, arch) * _seams(arch, m.rest_width)
    # In the upper lip's and the tongue's shadow: darker than the upper teeth, a little lighter at the tips.
    light = tone * _corridor(m) * (0.8 + 0.1 * np.exp(-np.maximum(m.s - tips, 0) / (0.02 * m.rest_width + 0.5)))
    colour += alpha[..., None] * (_in_shadow(look, look.teeth, light) - colour)


def upper_teeth_edge(m: Interior) -> tuple[np.ndarray, Arch]:
    """The upper incisal edge per pixel (s), fixed to the skull, and the upper arch."""
    arch = _arch(m.along, UPPER_TEETH.edges, m.rest_width)
    length = _tooth_table(UPPER_TEETH.lengths, arch)
    rounding = np.where(arch.tooth == 2, np.abs(arch.across) ** 1.5, np.abs(arch.across) ** 5)  # the canine comes to a point
    edge = m.s_bottom + UPPER_TEETH_DROP * m.rest_width * (length - UPPER_TEETH_ROUND * rounding)
    return edge, arch


def _upper_teeth(m: Interior, look: MouthLook, colour: np.ndarray, edge: np.ndarray, arch: Arch) -> None:
    """The upper teeth hanging from the skull, with the gum above them when the lip lifts (in place)."""
    length = _tooth_table(UPPER_TEETH.lengths, arch)
    alpha = smoothstep(edge - m.s + 0.5) * (arch.tooth >= 0)
    tone = _tooth_table(UPPER_TEETH.tones, arch) * _seams(arch, m.rest_width)
    # A faint translucent edge, brighter enamel above it.
    enamel = 1 - 0.08 * np.exp(-np.maximum(edge - m.s, 0) / (0.012 * m.rest_width + 0.4))
    teeth = _in_shadow(look, look.teeth, tone * enamel * _corridor(m))
    # The gum line: scalloped, dipping between the teeth.
    top = edge - GUM_HEIGHT * m.rest_width * (0.6 + 0.4 * length) + 0.02 * m.rest_width * (1 - arch.across**2)
    gum = smoothstep(top - m.s + 0.5)
    teeth += gum[..., None] * (_in_shadow(look, look.gum, 0.85 + 0.15 * tone) - teeth)
    colour += alpha[..., None] * (teeth - colour)


def _lip_shadow(m: Interior) -> np.ndarray:
    """Soft shadow the lips cast just inside them: deeper under the upper lip."""
    under_upper = np.exp(-np.maximum(m.s - m.s_upper, 0) / (0.035 * m.rest_width + 0.6))
    over_lower = np.exp(-np.maximum(m.s_lower - m.s, 0) / (0.015 * m.rest_width + 0.5))
    return 1 - 0.3 * under_upper - 0.12 * over_lower


def draw_mouth(
    out: np.ndarray,
    look: MouthLook,
    shaped: np.ndarray,
    interior_bottom: np.ndarray,
    photo_open: bool,
    rest_width: float,
    rest_opening: np.ndarray,
    offset: tuple[int, int],
    tongue: tuple[float, float] = (0.0, 0.0),
    rounding: float = 0.0,
    jaw_edge: np.ndarray | None = None,
) -> None:
    """Draw the mouth interior into `out` (the region being rendered, in place).

    shaped: (V, 2) vertex positions this frame, image pixels; interior_bottom: vertex indices
    of the photo interior's bottom edge; rest_width: the photo's mouth width in pixels;
    rest_opening: `opening_per_column` of the photo, where nothing is drawn; tongue: how far
    its tip is raised (tongue_up) and between the teeth (tongue_out), 0..1; rounding: how far
    the lips are pushed forward (lips_round), hiding the teeth behind them; jaw_edge: vertex
    indices of the top of the photo's own lower teeth (they move with the jaw; the drawn
    interior ends there), the inner lower lip when None.
    """
    upper = shaped[list(lm.LIPS_INNER_UPPER)]
    bottom = shaped[interior_bottom]
    lower = shaped[jaw_edge if jaw_edge is not None else list(lm.LIPS_INNER_LOWER)]
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
    wider = opening_per_column(shaped, interior_bottom, photo_open, jaw_edge) - rest_opening
    column_alpha = smoothstep(wider / np.maximum(1.5, 0.5 * rest_opening))
    if column_alpha.max() == 0:
        return

    x0, y0 = offset
    every = np.concatenate([upper, lower, bottom])
    lo = np.maximum(np.floor(every.min(0)).astype(int) - 1, [x0, y0])
    hi = np.minimum(np.ceil(every.max(0)).astype(int) + 2, [x0 + out.shape[1], y0 + out.shape[0]])
    if (hi - lo).min() <= 1:
        return
    mask = polygon_mask(np.concatenate([top, lower[::-1]]), lo.astype(np.float64), (hi[1] - lo[1], hi[0] - lo[0]))
    mask = cv2.GaussianBlur(mask, (0, 0), EDGE_SOFTNESS) * mask  # soft inside the lips' edge, nothing outside it

    ys, xs = np.mgrid[lo[1] : hi[1], lo[0] : hi[0]].astype(np.float32)
    rel_x, rel_y = xs - origin[0], ys - origin[1]
    u = rel_x * axis_u[0] + rel_y * axis_u[1]  # pixels along the lips from the corner
    mask *= np.interp(u, (upper - origin) @ axis_u, column_alpha)
    along = u - width / 2
    m = Interior(
        along=along,
        s=rel_x * axis_s[0] + rel_y * axis_s[1],
        s_upper=_profile(upper, origin, axis_u, axis_s, u),
        s_bottom=_profile(bottom, origin, axis_u, axis_s, u),
        s_lower=_profile(lower, origin, axis_u, axis_s, u),
        side=np.clip(np.abs(along) / (width / 2), 0, 1),
        rest_width=rest_width,
    )
    # Back to front: cavity, tongue, lower teeth, the tongue's tip, upper teeth; then the lips' shadow.
    colour = _cavity(m, look)
    behind = colour.copy()  # what rounded lips pushed forward show instead of the teeth: the dark
    edge, arch = upper_teeth_edge(m)
    _tongue(m, look, colour, tongue[0])
    if jaw_edge is None:  # the photo's own lower teeth, when it shows them, move with the jaw
        _lower_teeth(m, look, colour)
    if not photo_open:
        _upper_teeth(m, look, colour, edge, arch)
    colour += ROUNDING_HIDES * rounding * (behind - colour)
    if tongue[1] > 0:
        _tongue_tip(m, look, colour, edge, tongue[1])
    colour *= _lip_shadow(m)[..., None]
    blend_into(out[lo[1] - y0 : hi[1] - y0, lo[0] - x0 : hi[0] - x0], colour, mask)
