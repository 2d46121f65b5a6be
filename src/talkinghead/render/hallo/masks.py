"""Region masks of Hallo from MediaPipe's 478 face landmarks (numpy + OpenCV + Pillow, no torch).

Reproduces the release's mask rendering (`hallo/utils/util.py: get_mask` and
`ImageProcessor.preprocess`) bit for bit, so the released weights see the masks they were
trained with (proven on the oracle's recordings, tests/hallo/test_hallo_frontend_conformance.py):

1. face box = bounding box of the face-oval landmarks, scaled by `face_expand_ratio`;
   lip box = bounding box of the outer-lip landmarks, scaled by 2.0 (both in integer pixels,
   with the release's rounding and border shift), drawn at the image's resolution;
2. the face box, resized to the model's side, is the FaceLocator input ("face region");
3. each box image is resized to 64×64, Gaussian-blurred (51 px for the face, 31 px for the
   lips), min-max stretched to 0..255 (uint8, as the release writes PNGs);
4. pose = inverted face, expression = face − lip (saturating), lip = lip;
5. each is resized (Pillow bilinear, as torchvision does) to the four UNet resolutions.

The OpenCV and Pillow calls are the release's own; their uint8 arithmetic is part of the result
(cv2's fixed-point Gaussian on uint8, its float32 min-max stretch, Pillow's two-pass bilinear with
8-bit rounding between the passes), which is why no float re-implementation stands in for them.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from ...face.landmarks import FACE_OVAL, LIPS_OUTER

# The release's `get_mask` calls `get_lip_mask` without a ratio, so the lip box always takes that
# function's default 2.0, whatever `face_expand_ratio` says (reproduced).
LIP_EXPAND_RATIO = 2.0
BLUR_SIDE = 64  # masks are blurred at this size whatever the image size (aspect ratio ignored)
FACE_BLUR_KERNEL = 51
LIP_BLUR_KERNEL = 31
LEVELS = 4  # UNet resolutions: latent side / 1, 2, 4, 8

Box = tuple[int, int, int, int]  # min_x, max_x, min_y, max_y in pixels, max exclusive (the release's order)


@dataclass(frozen=True)
class HalloMasks:
    """Masks for one portrait, for a model working on images of side S."""

    face_region: np.ndarray  # (S, S) float32 in [0, 1]: the expanded face box, FaceLocator input
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

    face_region: np.ndarray  # (H, W) uint8 at the image's resolution, 255 inside the expanded face box, else 0
    face: np.ndarray  # (64, 64) uint8: the face box, blurred and min-max stretched
    lip: np.ndarray  # (64, 64) uint8: the lip box, blurred and min-max stretched


def hallo_masks(landmarks: np.ndarray, image_size: tuple[int, int], size: int, *, face_expand_ratio: float) -> HalloMasks:
    """landmarks (478, 2 or 3) in the image's pixels (x right, y down); image_size (W, H) of the
    image they were found on; size S of the model's square input."""
    return masks_at(base_masks([landmarks], image_size, face_expand_ratio=face_expand_ratio), size)


def base_masks(landmark_sets, image_size: tuple[int, int], *, face_expand_ratio: float) -> BaseMasks:
    """landmark_sets: one or more (478, 2|3) point sets in the pixels of an image of size (W, H).
    With several (the frames of a training video) each box is the union of the frames' boxes,
    as the release's data preparation draws one mask per video."""
    width, height = image_size
    face_box = np.zeros((height, width), np.uint8)
    lip_box = np.zeros((height, width), np.uint8)
    for landmarks in landmark_sets:
        points = np.asarray(landmarks, dtype=np.float64)[:, :2]
        face = expand_region(landmark_box(points, FACE_OVAL), image_size, face_expand_ratio)
        lip = expand_region(landmark_box(points, LIPS_OUTER), image_size, LIP_EXPAND_RATIO)
        np.maximum(face_box, box_mask(face, image_size), out=face_box)
        np.maximum(lip_box, box_mask(lip, image_size), out=lip_box)
    return BaseMasks(face_region=face_box, face=blur_mask(face_box, FACE_BLUR_KERNEL), lip=blur_mask(lip_box, LIP_BLUR_KERNEL))


def masks_at(base: BaseMasks, size: int) -> HalloMasks:
    """The region masks for a UNet working on images of side `size`."""
    sides = level_sides(size)
    return HalloMasks(
        face_region=_to_unit(_resize(base.face_region, size)),
        pose=_levels(background_mask(base.face), sides),
        expression=_levels(expression_mask(base.face, base.lip), sides),
        lip=_levels(base.lip, sides),
    )


def landmark_box(points: np.ndarray, indices: tuple[int, ...]) -> tuple[float, float, float, float]:
    """(min_x, max_x, min_y, max_y) of the points `indices`, each rounded half to even (np.round)."""
    low = np.round(points[list(indices)].min(axis=0))
    high = np.round(points[list(indices)].max(axis=0))
    return low[0], high[0], low[1], high[1]


def expand_region(box: tuple[float, float, float, float], image_size: tuple[int, int], ratio: float) -> Box:
    """The release's `expand_region`: per axis, the centre and the half side are floor-halved in
    Python floats (so the side comes out even and may shrink: [101, 200] at ratio 1 → [101, 199]);
    a box crossing the border is *shifted* back inside rather than clipped (min side first, then
    max side, one pass), then round()ed. A box larger than the image keeps a negative start."""
    min_x, max_x = _expand_axis(box[0], box[1], image_size[0], ratio)
    min_y, max_y = _expand_axis(box[2], box[3], image_size[1], ratio)
    return min_x, max_x, min_y, max_y


def _expand_axis(low: float, high: float, limit: int, ratio: float) -> tuple[int, int]:
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


def box_mask(box: Box, image_size: tuple[int, int]) -> np.ndarray:
    """(H, W) uint8 image, 255 inside `box`, 0 elsewhere."""
    min_x, max_x, min_y, max_y = box
    mask = np.zeros((image_size[1], image_size[0]), np.uint8)
    # Deliberate deviation: a box larger than the image has a negative start, which the release
    # passes to numpy as is, so the slice wraps around to a strip at the far edge; here the box is
    # clipped to the image.
    mask[max(0, min_y) : max_y, max(0, min_x) : max_x] = 255
    return mask


def blur_mask(box: np.ndarray, kernel: int) -> np.ndarray:
    """(H, W) uint8 box image → (64, 64) uint8 blurred mask (the release's `blur_mask`)."""
    return stretch(gaussian_blur(shrink(box), kernel))


def shrink(box: np.ndarray) -> np.ndarray:
    """(H, W) → (64, 64) uint8: cv2's default INTER_LINEAR (no antialiasing, aspect ignored)."""
    return cv2.resize(box, (BLUR_SIDE, BLUR_SIDE))


def gaussian_blur(mask: np.ndarray, kernel: int) -> np.ndarray:
    """uint8 Gaussian blur, sigma from the kernel size (8 for 51, 5 for 31), reflect-101 border.
    On uint8, cv2 convolves with an 8-bit fixed-point kernel: a float blur differs by 1–2 LSB."""
    return cv2.GaussianBlur(mask, (kernel, kernel), 0)


def stretch(mask: np.ndarray) -> np.ndarray:
    """Min-max stretch to 0..255 (cv2 NORM_MINMAX on uint8, computed in float32). A constant
    mask (max = min) becomes all 0, so a face box covering the whole image gives an empty face
    mask (reproduced)."""
    return cv2.normalize(mask, None, 0, 255, cv2.NORM_MINMAX)


def background_mask(face: np.ndarray) -> np.ndarray:
    """The release's `get_background_mask`: uint8((1 − v/255)·255) in float64, truncating, so
    50 of the 256 values v become 254 − v rather than 255 − v (reproduced)."""
    return ((1.0 - face / 255.0) * 255).astype(np.uint8)


def expression_mask(face: np.ndarray, lip: np.ndarray) -> np.ndarray:
    """The release's `get_sep_face_mask`: cv2.subtract(face, lip), saturating at 0 where the lip
    exceeds the face, so pose + expression + lip may sum to more than 255 (reproduced)."""
    return cv2.subtract(face, lip)


def _resize(mask: np.ndarray, size: int) -> np.ndarray:
    """uint8 (H, W) → (size, size): torchvision's Resize on a PIL image, i.e. Pillow's
    antialiased bilinear, and the image itself when it already has that size."""
    return np.asarray(Image.fromarray(mask).resize((size, size), Image.BILINEAR))


def _levels(mask: np.ndarray, sides: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    """uint8 (64, 64) → one float32 map in [0, 1] per level."""
    return tuple(_to_unit(_resize(mask, s)) for s in sides)


def _to_unit(mask: np.ndarray) -> np.ndarray:
    """uint8 → float32 in [0, 1], as torchvision's ToTensor divides."""
    return mask.astype(np.float32) / 255.0
