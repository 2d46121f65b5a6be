"""The evaluation's own eyes: dlib's face detector, its 68 landmarks and its 128-d face descriptor.

The animation is driven by MediaPipe; its output is judged by a detector it was not built on.
dlib's HOG detector ships inside dlib; the landmark and descriptor models come from the
face-recognition-models package, found on disk (importing that package needs pkg_resources,
which recent setuptools no longer has).

Landmark indices follow the iBUG 300-W 68-point layout, 0-based. "Left" and "right" are the
subject's: the subject's right eye is on the image's left.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from ..errors import ModelError
from ..face.geometry import box_iou

POINT_COUNT = 68
NOSE = tuple(range(27, 36))  # bridge 27-30 (30 = tip), nostrils 31-35 (33 = below the tip)
RIGHT_EYE = (36, 37, 38, 39, 40, 41)  # image left: outer corner, two upper lid, inner corner, two lower lid
LEFT_EYE = (42, 43, 44, 45, 46, 47)  # image right: inner corner, two upper lid, outer corner, two lower lid
EYE_OUTER_CORNERS = (36, 45)
EYE_INNER_CORNERS = (39, 42)
MOUTH = tuple(range(48, 68))  # outer lips 48-59, inner lips 60-67
MOUTH_CORNERS = (48, 54)
INNER_LIP_PAIRS = ((61, 67), (62, 66), (63, 65))  # upper and lower inner lip, image left to right
# Points that move with the head but hardly with speech, blinks or brows: what rigid alignment uses.
RIGID = NOSE + EYE_OUTER_CORNERS + EYE_INNER_CORNERS

DETECT_SIDE = 480  # px: frames are scaled so their longer side is at most this for detection
REDETECT_EVERY = 50  # frames between detections that check the tracked face (2 s at 25 fps)
TRACK_STILL = 0.005  # the box moves only once the face moved more than this share of its width (~1 px)
TRACK_JUMP = 0.35  # a face moving more than this share of its width in one frame is re-detected
SAME_FACE = 0.5  # a detection overlapping the tracked box this much (IoU) leaves it alone: HOG alone jumps by a 1.2x scale step (IoU 0.7)


def _model_dir() -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("the evaluation needs dlib's face models: pip install 'talkinghead[eval]'")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def _dlib():
    try:
        import dlib
    except ImportError:
        raise ModelError("the evaluation needs dlib: pip install 'talkinghead[eval]'") from None
    return dlib


def _model_file(name: str) -> str:
    path = _model_dir() / name
    if not path.is_file():
        raise ModelError(f"{name} missing from {path.parent}: reinstall face-recognition-models")
    return str(path)


# Each model loads on first use, once per process: the 68-point predictor alone takes ~0.7 s,
# the detector ~0.4 s, and a caller that brings its own face box needs no detector.
@lru_cache(maxsize=1)
def _detector():
    return _dlib().get_frontal_face_detector()


@lru_cache(maxsize=1)
def _predictor():
    return _dlib().shape_predictor(_model_file("shape_predictor_68_face_landmarks.dat"))


@lru_cache(maxsize=1)
def _network():
    return _dlib().face_recognition_model_v1(_model_file("dlib_face_recognition_resnet_model_v1.dat"))


def check_models() -> None:
    """ModelError, with the install command, when dlib or its face models are missing."""
    _dlib()
    for name in ("shape_predictor_68_face_landmarks.dat", "dlib_face_recognition_resnet_model_v1.dat"):
        _model_file(name)


def load_landmark_model() -> None:
    """Load the 68-point model now rather than on the first fit."""
    _predictor()


@dataclass(frozen=True)
class Landmarks:
    """The 68 points of one face in one frame."""

    points: np.ndarray  # (68, 2) float32, frame pixels
    shape: object  # dlib.full_object_detection, in the pixels of the image from `origin` on
    origin: tuple[int, int] = (0, 0)  # x, y of the image part `shape` was fitted in

    @property
    def box(self) -> np.ndarray:
        """(4,) float32 x0, y0, x1, y1: the points' bounding box."""
        return np.concatenate([self.points.min(0), self.points.max(0)])


def grey(frame: np.ndarray) -> np.ndarray:
    """(H, W) uint8 from an (H, W, 3) RGB or (H, W) grey uint8 frame."""
    return frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


def detect_boxes(image: np.ndarray) -> list[np.ndarray]:
    """Face boxes (4,) float32 x0, y0, x1, y1 in `image` pixels, largest first (dlib HOG)."""
    detector = _detector()
    image = grey(image)
    scale = min(1.0, DETECT_SIDE / max(image.shape))
    small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else image
    found = detector(small, 0)  # faces from ~80 px
    if len(found) == 0:
        # One upsampling finds faces down to ~40 px; it costs 4x, so only when the first look fails.
        found = detector(small, 1)
    boxes = [np.array([r.left(), r.top(), r.right(), r.bottom()], np.float32) / scale for r in found]
    return sorted(boxes, key=lambda b: -(b[2] - b[0]) * (b[3] - b[1]))


def landmarks_in_box(image: np.ndarray, box: np.ndarray) -> Landmarks:
    """The 68 points of the face in `box` (a detector-style box, image pixels)."""
    dlib = _dlib()
    # dlib copies the image it is given while holding Python's lock: hand it the face's
    # surroundings only (the fit reads pixels near the box), not the whole frame.
    margin = 0.5 * float(max(box[2] - box[0], box[3] - box[1]))
    x0, y0 = (max(0, int(v - margin)) for v in box[:2])
    x1, y1 = int(min(image.shape[1], box[2] + margin)), int(min(image.shape[0], box[3] + margin))
    rect = dlib.rectangle(*(int(round(v)) for v in (box[0] - x0, box[1] - y0, box[2] - x0, box[3] - y0)))
    shape = _predictor()(np.ascontiguousarray(image[y0:y1, x0:x1]), rect)  # RGB works as well as grey: no conversion
    points = np.array([(p.x + x0, p.y + y0) for p in shape.parts()], np.float32)
    return Landmarks(points, shape, (x0, y0))


def face_descriptor(rgb: np.ndarray, face: Landmarks) -> np.ndarray:
    """(128,) float32 dlib face descriptor: faces of one person lie within ~0.6 of each other."""
    dlib = _dlib()
    network = _network()
    x0, y0 = face.origin
    chip = dlib.get_face_chip(np.ascontiguousarray(rgb[y0:, x0:]), face.shape, size=150, padding=0.25)
    return np.array(network.compute_face_descriptor(chip), np.float32)


def face_in_image(rgb: np.ndarray) -> Landmarks | None:
    """The largest face in a still image, or None."""
    boxes = detect_boxes(rgb)
    return landmarks_in_box(rgb, boxes[0]) if boxes else None


class FaceTracker:
    """68 landmarks per video frame: one detection, then the face box follows the face.

    The detector runs on the first frame and then every `redetect_every` frames; in between,
    the box keeps the size the detector gave it and moves with the centre of the eye corners
    and nose (points the fit places steadily), and only once they moved more than TRACK_STILL
    of the face's width. A box that chased every wobble of the fit would make the fit wobble
    in turn: on a still face the two can settle into a cycle (a trembling mouth), and a box
    that took its size from the fit can grow with it (glasses spread the eye corners). A
    periodic detection that disagrees with the box (IoU below SAME_FACE) replaces it. Detection
    costs ~15x a landmark fit, so a frame costs about one fit.
    """

    def __init__(self, *, redetect_every: int | None = REDETECT_EVERY, box: np.ndarray | None = None) -> None:
        """`box`: where the face is known to start (detector-style); None: find it. With a box
        and `redetect_every` None the detector is never loaded."""
        self.redetect_every = redetect_every
        self._box: np.ndarray | None = None if box is None else np.asarray(box, np.float32)  # (4,) detector-style box for the next frame
        self._anchor: np.ndarray | None = None  # (2,) centre of the RIGID points when the box was placed
        self._since_detection = 0

    def update(self, frame: np.ndarray) -> Landmarks | None:
        """The face's landmarks in this (H, W, 3) RGB or (H, W) grey uint8 frame, or None."""
        due = self.redetect_every is not None and self._since_detection >= self.redetect_every
        if self._box is None or due:
            self._detect(frame)
        if self._box is None:
            return None
        self._since_detection += 1
        face = landmarks_in_box(frame, self._box)
        if self._anchor is None:  # the box was just placed by the detector
            self._anchor = _rigid_centre(face.points)
        else:
            self._follow(face)
        return face

    def _detect(self, frame: np.ndarray) -> None:
        self._since_detection = 0
        boxes = detect_boxes(frame)
        if not boxes:
            return  # keep following: HOG misses turned faces that the fit still holds
        if self._box is not None:
            best = max(boxes, key=lambda b: float(box_iou(b, self._box)))
            if box_iou(best, self._box) >= SAME_FACE:
                return  # the box is where the face is: moving it would only shake the fit
            if box_iou(best, self._box) > 0:
                boxes = [best]  # the same person, drifted: stay with them rather than the largest face
        self._box, self._anchor = boxes[0], None

    def _follow(self, face: Landmarks) -> None:
        centre = _rigid_centre(face.points)
        moved = float(np.abs(centre - self._anchor).max()) / max(self._box[2] - self._box[0], 1.0)
        if moved > TRACK_STILL:
            self._box = self._box + np.tile(centre - self._anchor, 2)
            self._anchor = centre
        if moved > TRACK_JUMP and self.redetect_every is not None:
            self._since_detection = self.redetect_every  # check with the detector on the next frame


def _rigid_centre(points: np.ndarray) -> np.ndarray:
    """(2,) mean of the RIGID points (eye corners, nose)."""
    return points[list(RIGID)].mean(0)
