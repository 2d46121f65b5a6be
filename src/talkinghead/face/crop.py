"""Square crops around the face and seamless paste-back into the photo.

A crop is one invertible affine map: `to_crop` takes image pixels to crop pixels, `to_image`
takes them back. Renderers that need a fixed square input (Hallo's 512², `--size`) animate the
crop; `PasteBack`, prepared once per portrait, blends each animated crop into the full photo
with a feathered edge, so no seam shows and pixels away from the crop stay exactly the photo's.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from ..types import Face, Portrait
from .analysis import face_from_landmarks

CROP_FRAMING = 2.0  # crop side / face region side: head, hair and some shoulders, as Hallo frames
FEATHER = 0.08  # width of the blended border, as a share of the crop side


@dataclass(frozen=True)
class Crop:
    to_crop: np.ndarray  # (2, 3) float64: image pixels -> crop pixels (M_o2c)
    size: int  # crop side, pixels

    @classmethod
    def whole(cls, side: int, size: int) -> Crop:
        """The whole of a square `side`-pixel image, scaled to `size` pixels."""
        s = size / side
        return cls(to_crop=np.array([[s, 0.0, 0.0], [0.0, s, 0.0]]), size=size)

    @property
    def to_image(self) -> np.ndarray:
        """(2, 3) float64: crop pixels -> image pixels (M_c2o)."""
        return cv2.invertAffineTransform(self.to_crop)

    @property
    def scale(self) -> float:
        """Crop pixels per image pixel."""
        return float(np.hypot(*self.to_crop[0, :2]))


def face_crop(face: Face, image_size: tuple[int, int], *, size: int, face_expand_ratio: float) -> Crop:
    """A square crop of `size` pixels around the face, kept inside the photo where it fits."""
    side = CROP_FRAMING * face_expand_ratio * max(face.width, face.height)
    centre = ((face.box[0] + face.box[2]) / 2, (face.box[1] + face.box[3]) / 2)
    return square_crop(centre, side, image_size, size=size)


def square_crop(centre: tuple[float, float], side: float, image_size: tuple[int, int], *, size: int) -> Crop:
    """A square of `side` image pixels around `centre`, scaled to `size`; no larger than the
    photo's longer side, and slid inside the photo (rather than padded) where it fits."""
    width, height = image_size
    side = min(side, max(width, height))
    cx, cy = centre
    x0 = np.clip(cx - side / 2, 0, width - side) if side <= width else cx - side / 2
    y0 = np.clip(cy - side / 2, 0, height - side) if side <= height else cy - side / 2
    s = size / side
    return Crop(to_crop=np.array([[s, 0, -s * x0], [0, s, -s * y0]]), size=size)


def crop_image(image: np.ndarray, crop: Crop) -> np.ndarray:
    """(size, size, 3) uint8: the crop of an RGB photo."""
    shrinking = crop.scale < 1
    return cv2.warpAffine(
        image, crop.to_crop, (crop.size, crop.size),
        flags=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE,
    )


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """(N, 3) points through a 2×3 similarity: x, y mapped, z scaled like x."""
    out = points.astype(np.float64).copy()
    out[:, :2] = points[:, :2] @ matrix[:, :2].T + matrix[:, 2]
    out[:, 2] = points[:, 2] * np.hypot(*matrix[0, :2])
    return out.astype(np.float32)


def crop_portrait(portrait: Portrait, crop: Crop) -> Portrait:
    """The portrait as seen through the crop: image and landmarks in crop pixels."""
    face = face_from_landmarks(transform_points(portrait.face.landmarks, crop.to_crop))
    return replace(portrait, image=crop_image(portrait.image, crop), face=face)


class PasteBack:
    """Blends animated crops back into the photo; the mask is prepared once per portrait."""

    def __init__(self, photo: np.ndarray, crop: Crop):
        self.photo = photo
        height, width = photo.shape[:2]
        corners = cv2.transform(np.array([[[0, 0], [crop.size, 0], [0, crop.size], [crop.size, crop.size]]], np.float64), crop.to_image)[0]
        x0, y0 = np.maximum(np.floor(corners.min(0)).astype(int), 0)
        x1, y1 = np.minimum(np.ceil(corners.max(0)).astype(int), [width, height])
        self.box = (int(x0), int(y0), int(x1), int(y1))
        # From crop pixels straight into the box's pixels.
        self._to_box = crop.to_image - np.array([[0, 0, x0], [0, 0, y0]], np.float64)
        self._box_size = (int(x1 - x0), int(y1 - y0))
        feather = max(1.0, FEATHER * crop.size)
        ramp = np.minimum(np.arange(crop.size) + 0.5, crop.size - 0.5 - np.arange(crop.size)) / feather
        edge = np.clip(ramp, 0, 1)
        mask = np.outer(edge, edge).astype(np.float32)
        mask = mask * mask * (3 - 2 * mask)  # smooth, no visible band
        self._mask = cv2.warpAffine(mask, self._to_box, self._box_size, flags=cv2.INTER_LINEAR)[..., None]

    def __call__(self, animated_crop: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8: the photo with `animated_crop` ((size, size, 3) uint8) blended in."""
        x0, y0, x1, y1 = self.box
        back = cv2.warpAffine(animated_crop, self._to_box, self._box_size, flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
        frame = self.photo.copy()
        region = frame[y0:y1, x0:x1]
        region[:] = np.clip(self._mask * back + (1 - self._mask) * region + 0.5, 0, 255).astype(np.uint8)
        return frame
