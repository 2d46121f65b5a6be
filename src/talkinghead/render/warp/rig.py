"""The warp rig: a deformable mesh over the photo, built once per portrait.

Vertices, in this order:
  - the 478 Face Mesh landmarks;
  - two rows of copies on the line where the photo's upper and lower teeth meet (the inner
    lower lip when it shows no teeth): the first stays with the skull (the bottom edge of the
    upper teeth), the second moves with the jaw (the top of the lower teeth), so a dropping
    jaw opens a gap between the photo's own teeth instead of stretching them;
  - rings around the face oval over hair, ears and neck, following the head less and less,
    and a last ring on the region's border that stays still.
The region is the part of the photo the renderer redraws; outside it nothing moves.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ...face import landmarks as lm
from ...types import Face
from .paint import fill_mask
from .articulation import PhotoMouth, photo_mouth
from .shapes import FaceFrame, build_shapes, build_source_shifts

REGION_SCALE = 3.0  # region side / face size: room for hair, neck and head turns
RING_GROWTH = (0.22, 0.55, 1.0)  # ring distance beyond the oval, in oval radii ...
RING_SHARE = (0.3, 0.6, 0.85)  # ... or this share of the space left to the border, if less
RING_HEAD_WEIGHT = (1.0, 0.6, 0.25)  # how fully each ring follows the head (border: 0)
NECK_DAMPING = 0.45  # rings below the chin follow the head this much less (the neck turns less)
PIVOT = (0.0, 0.25, 0.55)  # head rotation centre in face units: behind and below the face centre
LOWER_INTERIOR_SOURCE = lm.LIPS_INNER_LOWER[1:-1]
TEETH_MEET_RANGE = (0.45, 0.95)  # where the teeth may meet, as a share of the photo's opening from the upper lip
LOWER_TEETH_CONTRAST = 40  # levels of whiteness (min − half the chroma) the lower teeth show above the dark line between the teeth and above the lips


@dataclass(frozen=True)
class WarpRig:
    region: tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive) in image pixels
    rest: np.ndarray  # (V, 3) float32, image pixels: vertex positions in the photo
    triangles: np.ndarray  # (F, 3) int32
    head_weight: np.ndarray  # (V,) float32 in [0, 1]: share of the head's rigid motion
    shapes: np.ndarray  # (C, V * 3) float32: pixels per unit of each MOUTH_SHAPES, then expression channel
    source_shifts: np.ndarray  # (C, V * 2) float32: where vertices sample from, per unit, likewise
    frame: FaceFrame
    pivot: np.ndarray  # (3,) float64 image pixels
    lower_interior: np.ndarray  # (9,) int: vertex indices of the interior's bottom edge (the skull's)
    jaw_interior: np.ndarray  # (9,) int: ... of the photo's lower teeth's top edge (the jaw's)
    mouth_open: bool  # the photo shows its mouth interior (teeth)
    lower_teeth: bool  # ... and its lower teeth, below jaw_interior
    mouth: PhotoMouth  # the photo's mouth, what absolute lip shapes are reached from

    @property
    def interior_bottom(self) -> np.ndarray:
        """(11,) vertex indices: the interior's bottom edge from corner to corner."""
        return interior_bottom(self.lower_interior)

    @property
    def interior_jaw(self) -> np.ndarray:
        """(11,) vertex indices: the top of the photo's lower teeth from corner to corner."""
        return interior_bottom(self.jaw_interior)


def interior_bottom(lower_interior: np.ndarray) -> np.ndarray:
    """(11,) vertex indices: the mouth corners with the interior-bottom vertices between them."""
    return np.concatenate([[lm.LIPS_INNER_LOWER[0]], lower_interior, [lm.LIPS_INNER_LOWER[-1]]])


def face_region(face: Face, image_size: tuple[int, int], scale: float = REGION_SCALE) -> tuple[int, int, int, int]:
    """Square box `scale` face sizes wide around the face, clipped to the image."""
    w, h = image_size
    cx, cy = (face.box[0] + face.box[2]) / 2, (face.box[1] + face.box[3]) / 2
    half = scale * max(face.width, face.height) / 2
    return (max(0, int(cx - half)), max(0, int(cy - half)), min(w, int(np.ceil(cx + half))), min(h, int(np.ceil(cy + half))))


def _ring_points(points: np.ndarray, region: tuple[int, int, int, int], frame: FaceFrame) -> tuple[np.ndarray, np.ndarray]:
    """Rings around the face oval: ((R, 36, 3) positions, (R, 36) head weights); the last ring on the border."""
    oval = points[list(lm.FACE_OVAL)].astype(np.float64)
    centre = oval[:, :2].mean(0)
    direction = oval[:, :2] - centre
    radius = np.linalg.norm(direction, axis=1)
    unit = direction / radius[:, None]
    # Distance from the centre to the region's border along each ray.
    x0, y0, x1, y1 = region
    with np.errstate(divide="ignore"):
        tx = np.where(unit[:, 0] > 0, (x1 - 1 - centre[0]) / unit[:, 0], (x0 - centre[0]) / unit[:, 0])
        ty = np.where(unit[:, 1] > 0, (y1 - 1 - centre[1]) / unit[:, 1], (y0 - centre[1]) / unit[:, 1])
    border = np.maximum(np.minimum(np.abs(tx), np.abs(ty)), radius)
    distances = [radius + np.minimum(g * radius, s * (border - radius)) for g, s in zip(RING_GROWTH, RING_SHARE)]
    distances.append(border)
    down = np.clip(unit @ frame.axes[1, :2] / np.linalg.norm(frame.axes[1, :2]), 0, 1)
    damping = 1 - NECK_DAMPING * down**2
    rings, weights = [], []
    for d, w in zip(distances, RING_HEAD_WEIGHT + (0.0,)):
        xy = centre + unit * d[:, None]
        rings.append(np.concatenate([xy, oval[:, 2:]], axis=1))  # depth of the oval behind it
        weights.append(w * damping)
    return np.stack(rings), np.stack(weights)


def _ring_triangles(first_ring: int, ring_count: int, per_ring: int) -> np.ndarray:
    """Strips joining the face oval to the first ring and each ring to the next."""
    oval = np.array(lm.FACE_OVAL)
    rings = [oval] + [first_ring + k * per_ring + np.arange(per_ring) for k in range(ring_count)]
    tris = []
    for inner, outer in zip(rings[:-1], rings[1:]):
        nxt = np.roll(np.arange(per_ring), -1)
        tris.append(np.stack([inner, outer, inner[nxt]], 1))
        tris.append(np.stack([inner[nxt], outer, outer[nxt]], 1))
    return np.concatenate(tris)


def _opening_triangles(lower_interior: np.ndarray, jaw_interior: np.ndarray) -> np.ndarray:
    """Mouth: inner upper lip -> interior bottom (skull) -> the lower teeth's top (jaw) ->
    inner lower lip; and the eye openings."""
    bottom = tuple(int(i) for i in interior_bottom(lower_interior))
    jaw = tuple(int(i) for i in interior_bottom(jaw_interior))
    mouth = lm.strip_triangles(lm.LIPS_INNER_UPPER, bottom) + lm.strip_triangles(bottom, jaw) + lm.strip_triangles(jaw, lm.LIPS_INNER_LOWER)
    return np.array(mouth + list(lm.EYE_OPENING_TRIANGLES), np.int32)


def mouth_is_open(photo: np.ndarray, points: np.ndarray, frame: FaceFrame) -> bool:
    """Whether the photo shows its mouth interior (teeth or a dark cavity) between the lips.

    Landmarks alone are not enough: lips slightly apart or a detector's slack read as a small
    gap. The interior must also look unlike the lips: brighter (teeth) or darker (cavity).
    """
    gap = points[list(lm.LIPS_INNER_LOWER[3:-3]), :2] - points[list(lm.LIPS_INNER_UPPER[3:-3]), :2]
    if float(np.abs(gap @ frame.axes[1, :2]).max()) < 0.02 * frame.unit:
        return False
    inner = lm.opening(points, lm.LIPS_INNER_UPPER, lm.LIPS_INNER_LOWER)
    outer = lm.opening(points, lm.LIPS_OUTER_UPPER, lm.LIPS_OUTER_LOWER)
    grey = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
    inside, lips = fill_mask(grey.shape, inner), fill_mask(grey.shape, outer, hole=inner)
    if inside.sum() < 4 or lips.sum() < 4:
        return False
    interior, lip = grey[inside], grey[lips]
    # Teeth: a good share of pixels well above the lips; cavity: a good share well below.
    teeth = np.mean(interior > np.median(lip) + 30)
    cavity = np.mean(interior < np.median(lip) - 45)
    return bool(teeth + cavity > 0.25)


def _lip_like(pixels: np.ndarray, lip: np.ndarray) -> np.ndarray:
    """(N,) bool: pixels ((N, 3) float RGB) that look like lip rather than teeth or the dark inside."""
    whiteness = lambda c: c.min(-1) - 0.5 * (c.max(-1) - c.min(-1))  # noqa: E731  teeth high, lips low
    luma = pixels @ np.array([0.3, 0.59, 0.11])
    teeth = whiteness(pixels) > whiteness(lip) + 0.5 * max(luma.max() - lip @ np.array([0.3, 0.59, 0.11]), 30.0)
    dark = luma < 0.5 * float(lip @ np.array([0.3, 0.59, 0.11]))
    return ~(teeth | dark)


def lip_margins(photo: np.ndarray, points: np.ndarray, frame: FaceFrame) -> np.ndarray:
    """(2, 9) face widths: how far out from each inner-lip landmark (upper row, lower row,
    corners left out) the lip itself begins.

    A detector's inner-lip contour often lies a pixel or two on the teeth or in the dark
    gap; lips closed over the opening must take their pixels from the lip beyond.
    """
    margins = np.zeros((2, len(lm.LIPS_INNER_UPPER) - 2))
    # Each lip against its own colour: an upper lip is often darker than the lower.
    bands = [photo[fill_mask(photo.shape, lm.opening(points, outer, inner[::-1]))].astype(np.float64)
             for outer, inner in ((lm.LIPS_OUTER_UPPER, lm.LIPS_INNER_UPPER), (lm.LIPS_OUTER_LOWER, lm.LIPS_INNER_LOWER))]
    if min(len(b) for b in bands) < 10:
        return margins
    down = frame.axes[1, :2]
    for row, (inner_ids, outer_ids, outward) in enumerate(((lm.LIPS_INNER_UPPER, lm.LIPS_OUTER_UPPER, -1), (lm.LIPS_INNER_LOWER, lm.LIPS_OUTER_LOWER, 1))):
        for k, (i, o) in enumerate(zip(inner_ids[1:-1], outer_ids[1:-1])):
            reach = 0.7 * abs(float((points[o, :2] - points[i, :2]) @ down))
            steps = np.arange(0.0, reach, 0.5)
            if len(steps) == 0:
                continue
            xy = points[i, :2] + outward * steps[:, None] * down
            pixels = cv2.remap(photo, xy[:, 0].astype(np.float32)[None], xy[:, 1].astype(np.float32)[None], cv2.INTER_LINEAR)[0]
            found = np.flatnonzero(_lip_like(pixels.astype(np.float64), np.median(bands[row], axis=0)))
            margins[row, k] = (steps[found[0]] if len(found) else reach) / frame.unit
    return margins


def teeth_meet(photo: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(9,) share of the photo's opening, from the inner upper lip down, at which its upper
    and lower teeth meet, per inner-lip pair (corners left out): the least white row between
    them (the dark line between the rows of teeth), smoothed along the mouth."""
    rgb = photo.astype(np.float32)
    # Teeth are bright and colourless; the dark line between them and the lips are not.
    whiteness = rgb.min(2) - 0.5 * (rgb.max(2) - rgb.min(2))
    upper = points[list(lm.LIPS_INNER_UPPER[1:-1]), :2]
    lower = points[list(lm.LIPS_INNER_LOWER[1:-1]), :2]
    shares = np.linspace(*TEETH_MEET_RANGE, 12)
    line = upper[:, None] + shares[None, :, None] * (lower - upper)[:, None]  # (9, 12, 2)
    values = cv2.remap(whiteness, line[..., 0].astype(np.float32), line[..., 1].astype(np.float32), cv2.INTER_LINEAR)
    values = cv2.blur(values, (1, 3))  # each the mean of three neighbours along the lips: one dark pixel is not a line
    darkest = np.argmin(values, axis=1)
    # Lower teeth show as a bright band below the dark line; without one (a dark gap, or
    # only upper teeth), all of the interior stays with the skull, as the inner lower lip.
    below = np.array([values[k, j:].max() for k, j in enumerate(darkest)])
    lip = rgb[fill_mask(photo.shape, lm.opening(points, lm.LIPS_OUTER_LOWER, lm.LIPS_INNER_LOWER[::-1]))]
    lip_whiteness = float(np.median(lip.min(1) - 0.5 * (lip.max(1) - lip.min(1)))) if len(lip) else 0.0
    rise = below - values[np.arange(len(darkest)), darkest]
    if np.median(rise) < LOWER_TEETH_CONTRAST or np.median(below) < lip_whiteness + LOWER_TEETH_CONTRAST:
        return np.ones(len(darkest))
    return np.convolve(np.pad(shares[darkest], 1, mode="edge"), np.ones(3) / 3, mode="valid")


def build_rig(face: Face, photo: np.ndarray, *, expression: bool = True) -> WarpRig:
    """Everything the warp renderer needs about one face, computed once; `expression` False
    leaves the expression shapes at zero (for moving the lips only)."""
    points = face.landmarks.astype(np.float64)
    frame = FaceFrame.from_landmarks(points)
    region = face_region(face, (photo.shape[1], photo.shape[0]))
    rings, ring_weights = _ring_points(points, region, frame)

    mouth_open = mouth_is_open(photo, points, frame)
    count = len(LOWER_INTERIOR_SOURCE)
    lower_interior = lm.LANDMARK_COUNT + np.arange(count)
    jaw_interior = lower_interior + count
    first_ring = lm.LANDMARK_COUNT + 2 * count
    upper, lower = points[list(lm.LIPS_INNER_UPPER[1:-1])], points[list(LOWER_INTERIOR_SOURCE)]
    meet = teeth_meet(photo, points)[:, None] if mouth_open else np.ones((count, 1))
    teeth_line = upper + meet * (lower - upper)
    rest = np.concatenate([points, teeth_line, teeth_line, rings.reshape(-1, 3)])
    head_weight = np.concatenate([np.ones(first_ring), ring_weights.reshape(-1)])
    triangles = np.concatenate([
        lm.mesh_triangles(),
        _opening_triangles(lower_interior, jaw_interior),
        _ring_triangles(first_ring, len(rings), len(lm.FACE_OVAL)),
    ]).astype(np.int32)

    q = frame.to_face(rest)
    lip, expression = build_shapes(q, list(lower_interior), expression=expression, jaw_interior=list(jaw_interior))
    lip_shift, expression_shift = build_source_shifts(q, lip_margins(photo, points, frame))
    # Shapes move the face only; the rings over hair and neck follow the head alone.
    lip[:, first_ring:] = 0
    expression[:, first_ring:] = 0
    pivot = frame.origin + frame.displacement_to_image(np.array(PIVOT))
    return WarpRig(
        region=region,
        rest=rest.astype(np.float32),
        triangles=triangles,
        head_weight=head_weight.astype(np.float32),
        shapes=frame.displacement_to_image(np.concatenate([lip, expression])).reshape(len(lip) + len(expression), -1).astype(np.float32),
        source_shifts=frame.displacement_to_image(np.concatenate([lip_shift, expression_shift]))[..., :2].reshape(len(lip) + len(expression), -1).astype(np.float32),
        frame=frame,
        pivot=pivot,
        lower_interior=lower_interior,
        jaw_interior=jaw_interior,
        mouth_open=mouth_open,
        lower_teeth=bool((meet < 1).any()),
        mouth=photo_mouth(q, lip, mouth_open),
    )
