"""The face crop LatentSync is trained on, re-implemented: three points of the face mapped onto
its template by a similarity, a 75×100-unit face scaled to the crop, then squeezed to a square.

    aligner = Aligner(side=256)                        # one per video: the alignment is smoothed
    crop, to_crop = aligner.crop(rgb, landmarks)       # (256, 256, 3) uint8 and image -> crop (2, 3)

From the release (`AlignRestore`, `ImageProcessor.affine_transform`):
- the points are the centres of the two eyebrows and of the nose; the template puts them at
  (17, 20), (58, 20), (37.5, 40) in units of side/256 · 2.8, in a 75 × 100-unit face
  (210 × 280 pixels at 256);
- the similarity is the least-squares (Procrustes) one of the three points, rounded to whole
  pixels; then the nose's normalised misfit is added to the translation, smoothed over the
  frames (0.2 · previous + 0.8 · this one), as the release does;
- the face is warped bilinearly (grey 127 beyond the image), then resized to side × side with
  Lanczos, so its aspect ratio is not kept.
The release finds the points with InsightFace's 106 landmarks; here they come from our
tracker's Face Mesh points (brows, and the nose's tip, base and wings).
"""

from __future__ import annotations

import cv2
import numpy as np

from ...face.landmarks import LEFT_BROW, RIGHT_BROW

NOSE = (1, 2, 98, 327)  # tip, base below it, the two wings: the centre of InsightFace's 4 nose points
TEMPLATE = np.array([[17.0, 20.0], [58.0, 20.0], [37.5, 40.0]])  # image-left brow, image-right brow, nose
FACE_UNITS = (75, 100)  # width, height of the template face
FILL = 127


def face_points(landmarks: np.ndarray) -> np.ndarray:
    """(3, 2) float64: the image-left brow (the person's right), the image-right brow, the nose,
    rounded to whole pixels as the release rounds its landmarks."""
    points = landmarks[:, :2].astype(np.float64)
    return np.round([points[list(RIGHT_BROW)].mean(0), points[list(LEFT_BROW)].mean(0), points[list(NOSE)].mean(0)])


def similarity(points: np.ndarray, template: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(2, 3) least-squares similarity taking `points` onto `template`, and the nose's misfit in
    normalised units (the release's smoothing term)."""
    c1, c2 = points.mean(0), template.mean(0)
    p1, p2 = points - c1, template - c2
    s1, s2 = p1.std(ddof=1), p2.std(ddof=1)  # torch.std: the unbiased estimate over all values
    n1, n2 = p1 / s1, p2 / s2
    u, _, vt = np.linalg.svd(n1.T @ n2)
    r = vt.T @ u.T
    if np.linalg.det(r) < 0:
        vt[-1] *= -1
        r = vt.T @ u.T
    scale = s2 / s1
    matrix = np.hstack([scale * r, (c2 - scale * r @ c1)[:, None]])
    return matrix, n2[2] - n1[2]


class Aligner:
    """The release's alignment, frame after frame of one video."""

    def __init__(self, side: int):
        ratio = side / 256 * 2.8
        self.side = side
        self.template = TEMPLATE * ratio
        self.face_size = (int(FACE_UNITS[0] * ratio), int(FACE_UNITS[1] * ratio))
        self.bias: np.ndarray | None = None

    def crop(self, rgb: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(side, side, 3) uint8 aligned face of an (H, W, 3) RGB frame, and the (2, 3) map from
        image pixels to crop pixels (for the paste-back)."""
        matrix, bias = similarity(face_points(landmarks), self.template)
        self.bias = bias if self.bias is None else 0.2 * self.bias + 0.8 * bias
        matrix[:, 2] += self.bias
        face = cv2.warpAffine(rgb, matrix, self.face_size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=(FILL,) * 3)
        crop = cv2.resize(face, (self.side, self.side), interpolation=cv2.INTER_LANCZOS4)
        # The resize as a map of pixel centres: x' = s·x + (s − 1)/2.
        s = np.array([self.side / self.face_size[0], self.side / self.face_size[1]])
        return crop, np.hstack([s[:, None] * matrix[:, :2], (s * matrix[:, 2] + (s - 1) / 2)[:, None]])
