"""Region masks of Hallo from MediaPipe's 478 face landmarks (numpy + OpenCV + Pillow, no torch).

Reproduces the release's mask rendering (`hallo/utils/util.py` and `ImageProcessor`), so the
released weights see the masks they were trained with:

1. face box = bounding box of the face-oval landmarks, scaled by `face_expand_ratio` (1.2);
   lip box = bounding box of the outer-lip landmarks, scaled by 2.0 (both in integer pixels,
   with the release's rounding and border shift);
2. the face box itself, at image size, is the FaceLocator input ("face region");
3. each box image is resized to 64×64, Gaussian-blurred (51 px for the face, 31 px for the
   lips), min-max normalised to 0..255 (uint8, as the release writes PNGs);
4. pose = 255 − face, expression = face − lip (saturating), lip = lip;
5. each is resized (Pillow bilinear, as torchvision does) to the four UNet resolutions.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

# MediaPipe Face Mesh indices used by the release.
FACE_OVAL = (
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
    152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
)  # fmt: skip
LIPS_OUTER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 146, 91, 181, 84, 17, 314, 405, 321, 375)

FACE_EXPAND_RATIO = 1.2  # `face_expand_ratio` of the release's inference config
LIP_EXPAND_RATIO = 2.0
BLUR_SIDE = 64  # masks are blurred at this size whatever the image size
FACE_BLUR_KERNEL = 51
LIP_BLUR_KERNEL = 31
LEVELS = 4  # UNet resolutions: latent side / 1, 2, 4, 8


@dataclass(frozen=True)
class HalloMasks:
    """Masks for one portrait crop of side S."""

    face_region: np.ndarray  # (S, S) float32 in {0, 1}: the expanded face box, FaceLocator input
    pose: tuple[np.ndarray, ...]  # LEVELS × (s_l, s_l) float32 in [0, 1]: outside the face
    expression: tuple[np.ndarray, ...]  # same: face box minus lip box
    lip: tuple[np.ndarray, ...]  # same: lip box


def level_sides(size: int) -> tuple[int, ...]:
    """Feature-map sides of the UNet levels for an image of side `size` (64, 32, 16, 8 at 512).

    The release uses size // 8, // 16, // 32, // 64, equal to these when size is a multiple of 64;
    for other multiples of 8 these follow the stride-2 convolutions (ceil(s / 2)).
    """
    sides = [size // 8]
    for _ in range(LEVELS - 1):
        sides.append((sides[-1] + 1) // 2)
    return tuple(sides)


@dataclass(frozen=True)
class BaseMasks:
    """The masks of a portrait, or of a whole training video, before they meet a UNet size."""

    face_region: np.ndarray  # (S, S) uint8, 255 inside the expanded face box, else 0
    face: np.ndarray  # (64, 64) uint8: the face box, blurred and min-max normalised
    lip: np.ndarray  # (64, 64) uint8: the lip box, blurred and min-max normalised


def hallo_masks(landmarks: np.ndarray, size: int, face_expand_ratio: float = FACE_EXPAND_RATIO) -> HalloMasks:
    """landmarks (478, 2 or 3) in the crop's pixels (x right, y down); size S of the square crop."""
    return masks_at(base_masks([landmarks], size, face_expand_ratio), size)


def base_masks(landmark_sets, size: int, face_expand_ratio: float = FACE_EXPAND_RATIO) -> BaseMasks:
    """landmark_sets: one or more (478, 2|3) point sets in the pixels of a square crop of side
    `size`. With several (the frames of a training video) each box is the union of the frames'
    boxes, as the release's data preparation draws one mask per video."""
    face_box = np.zeros((size, size), np.uint8)
    lip_box = np.zeros((size, size), np.uint8)
    for landmarks in landmark_sets:
        points = np.asarray(landmarks, dtype=np.float64)[:, :2]
        np.maximum(face_box, _box_mask(points[list(FACE_OVAL)], size, face_expand_ratio), out=face_box)
        np.maximum(lip_box, _box_mask(points[list(LIPS_OUTER)], size, LIP_EXPAND_RATIO), out=lip_box)
    return BaseMasks(face_region=face_box, face=_blur(face_box, FACE_BLUR_KERNEL), lip=_blur(lip_box, LIP_BLUR_KERNEL))


def masks_at(base: BaseMasks, size: int) -> HalloMasks:
    """The region masks for a UNet working on images of side `size`."""
    face, lip = base.face, base.lip
    # The release computes the background as uint8(255 · (1 - face / 255)), which truncates.
    pose = ((1.0 - face / 255.0) * 255).astype(np.uint8)
    expression = cv2.subtract(face, lip)
    region = base.face_region
    if region.shape[0] != size:
        region = cv2.resize(region, (size, size), interpolation=cv2.INTER_NEAREST)
    sides = level_sides(size)
    return HalloMasks(
        face_region=(region > 0).astype(np.float32),
        pose=_levels(pose, sides),
        expression=_levels(expression, sides),
        lip=_levels(lip, sides),
    )


def _box_mask(points: np.ndarray, size: int, ratio: float) -> np.ndarray:
    """(size, size) uint8 image, 255 inside the expanded bounding box of `points`."""
    low = np.round(points.min(axis=0))
    high = np.round(points.max(axis=0))
    x0, x1 = _expand(low[0], high[0], size, ratio)
    y0, y1 = _expand(low[1], high[1], size, ratio)
    mask = np.zeros((size, size), np.uint8)
    # max(0, ...): a box larger than the image would give a negative start, which the release
    # passes to numpy as is (wrapping around); here it is clipped to the image.
    mask[max(0, y0) : y1, max(0, x0) : x1] = 255
    return mask


def _expand(low: float, high: float, limit: int, ratio: float) -> tuple[int, int]:
    """The release's `expand_region` on one axis: floor-halved centre and side, then shifted
    back inside [0, limit], then Python's round()."""
    middle = (high + low) // 2
    side = (high - low) * ratio
    low, high = middle - side // 2, middle + side // 2
    if low < 0:
        high -= low
        low = 0
    if high > limit:
        low -= high - limit
        high = limit
    return round(low), round(high)


def _blur(box: np.ndarray, kernel: int) -> np.ndarray:
    """(S, S) uint8 box → (64, 64) uint8 blurred mask, min-max normalised to 0..255."""
    small = cv2.resize(box, (BLUR_SIDE, BLUR_SIDE))
    blurred = cv2.GaussianBlur(small, (kernel, kernel), 0)
    return cv2.normalize(blurred, None, 0, 255, cv2.NORM_MINMAX)


def _levels(mask: np.ndarray, sides: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    """uint8 (64, 64) → one float32 map in [0, 1] per level (Pillow bilinear, as torchvision)."""
    image = Image.fromarray(mask)
    return tuple(np.asarray(image.resize((s, s), Image.BILINEAR), dtype=np.float32) / 255.0 for s in sides)
