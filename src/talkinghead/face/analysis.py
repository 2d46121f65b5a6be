"""Find the faces in a photo and their 478 Face Mesh landmarks (MediaPipe).

Faces are found with MediaPipe's full-range detector first, then each face is cropped, scaled
to a size Face Mesh works best at, and its landmarks mapped back: this finds small faces in
large photos that Face Mesh alone misses, and keeps landmarks precise for every face size.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import threading
import time
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from ..errors import FaceError
from ..types import Face, Portrait
from .geometry import box_iou
from .landmarks import MESH_POINTS, face_axes

log = logging.getLogger("talkinghead")

MIN_FACE_SIZE = 64  # px across: below this, landmarks and motion are too coarse to animate
MAX_YAW = 35.0  # degrees: beyond this, a frontal warp shows the hidden side badly
MESH_INPUT_SIZE = 384  # px: side of the square crop each face is analysed in
CROP_SCALE = 2.0  # crop side / detector box side: the whole head with margin
TILE = 480  # px: tile side for finding small faces in large photos

# MediaPipe's graphs are shared by every caller and are not safe to run from two threads at once.
_GRAPHS = threading.Lock()


@contextlib.contextmanager
def _native_stderr_silenced():
    """MediaPipe's C++ core prints log lines to file descriptor 2 that mean nothing to users.

    Only while the graphs load and close: swapping a process's stderr while other threads
    run would silence them too."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _models():
    with _GRAPHS:
        return _loaded_models()


@lru_cache(maxsize=1)
def _loaded_models():
    # Before the import: MediaPipe's C++ logging reads this once, and may print from worker
    # threads after `_native_stderr_silenced` has restored stderr.
    os.environ.setdefault("GLOG_minloglevel", "2")
    with _native_stderr_silenced():
        import mediapipe as mp

        detectors = (
            mp.solutions.face_detection.FaceDetection(model_selection=1, min_detection_confidence=0.5),
            mp.solutions.face_detection.FaceDetection(model_selection=0, min_detection_confidence=0.5),
        )
        mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=True, max_num_faces=2, refine_landmarks=True, min_detection_confidence=0.3
        )
        # The graphs start their inference threads on the first image, and the mesh warns on
        # its first face: run them here, on a small face shipped for this, while stderr is
        # silenced, and let the warnings pass.
        warm_up = cv2.resize(_warm_up_face(), (MESH_INPUT_SIZE, MESH_INPUT_SIZE), interpolation=cv2.INTER_CUBIC)
        for solution in (*detectors, mesh):
            solution.process(warm_up)
        time.sleep(0.05)
    atexit.register(_close_quietly, (*detectors, mesh))  # closing a graph logs too
    return detectors, mesh


def private_mesh():
    """A Face Mesh graph of its own (as the shared one: photos' settings), for a caller that
    runs it on its own thread beside others; close it with `close_mesh`."""
    with _GRAPHS:
        _loaded_models()  # MediaPipe imported and its logging set up once
        with _native_stderr_silenced():
            import mediapipe as mp

            mesh = mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=2, refine_landmarks=True, min_detection_confidence=0.3)
            mesh.process(cv2.resize(_warm_up_face(), (MESH_INPUT_SIZE, MESH_INPUT_SIZE), interpolation=cv2.INTER_CUBIC))
            time.sleep(0.05)
    return mesh


def close_mesh(mesh) -> None:
    _close_quietly((mesh,))


def _warm_up_face() -> np.ndarray:
    """(128, 128, 3) uint8 RGB: a crop of the bundled sample portrait (public domain, see assets/README.md)."""
    return cv2.cvtColor(cv2.imread(str(Path(__file__).parent / "assets" / "warmup_face.png")), cv2.COLOR_BGR2RGB)


def _close_quietly(solutions) -> None:
    with _native_stderr_silenced():
        for solution in solutions:
            solution.close()


def _detect_in(image: np.ndarray) -> list[np.ndarray]:
    """Face boxes (x0, y0, x1, y1) in pixels; full-range model first, close-range if it finds none."""
    h, w = image.shape[:2]
    detectors, _ = _models()
    for detector in detectors:
        with _GRAPHS:
            result = detector.process(image)
        boxes = []
        for det in result.detections or ():
            b = det.location_data.relative_bounding_box
            boxes.append(np.array([b.xmin * w, b.ymin * h, (b.xmin + b.width) * w, (b.ymin + b.height) * h]))
        if boxes:
            return boxes
    return []


def _detect_boxes(image: np.ndarray) -> list[np.ndarray]:
    """Face boxes in the whole photo; if none, in overlapping tiles.

    The detectors see the photo at 128-192 px, so in a large photo a small face vanishes;
    tiles of TILE px find faces down to about a tenth of that.
    """
    boxes = _detect_in(image)
    h, w = image.shape[:2]
    if boxes or max(h, w) <= TILE:
        return boxes
    stride = TILE * 3 // 4
    for y in range(0, max(1, h - TILE // 4), stride):
        for x in range(0, max(1, w - TILE // 4), stride):
            tile = np.ascontiguousarray(image[y : y + TILE, x : x + TILE])
            boxes += [b + np.array([x, y, x, y]) for b in _detect_in(tile)]
    return boxes


def mesh_in_box(image: np.ndarray, box: np.ndarray, *, mesh=None) -> np.ndarray | None:
    """(478, 3) landmarks in image pixels for the face in `box`, or None when Face Mesh sees none.

    `mesh`: a graph of the caller's own (`private_mesh`), run without the shared lock."""
    shared = mesh is None
    if shared:
        _, mesh = _models()
    centre = (box[:2] + box[2:]) / 2
    side = CROP_SCALE * max(box[2] - box[0], box[3] - box[1])
    scale = MESH_INPUT_SIZE / side
    # crop = scale * (image - corner): one affine warp also pads faces at the photo's edge
    corner = centre - side / 2
    to_crop = np.array([[scale, 0, -scale * corner[0]], [0, scale, -scale * corner[1]]], np.float64)
    crop = cv2.warpAffine(image, to_crop, (MESH_INPUT_SIZE, MESH_INPUT_SIZE), flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    with _GRAPHS if shared else contextlib.nullcontext():
        result = mesh.process(crop)
    if not result.multi_face_landmarks:
        return None
    candidates = [
        np.array([(p.x, p.y, p.z) for p in face.landmark], np.float64) * MESH_INPUT_SIZE
        for face in result.multi_face_landmarks
    ]
    # Another face may intrude into the crop: keep the one nearest the crop's centre.
    best = min(candidates, key=lambda pts: np.linalg.norm(pts[:MESH_POINTS, :2].mean(0) - MESH_INPUT_SIZE / 2))
    points = best / scale
    points[:, :2] += corner
    return points.astype(np.float32)


def head_pose(landmarks: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees from the 3D landmarks, signs as in `Face`."""
    x, _, z = face_axes(landmarks)  # z points into the picture for a frontal face
    yaw = np.degrees(np.arctan2(-z[0], z[2]))
    pitch = np.degrees(np.arctan2(-z[1], z[2]))
    roll = np.degrees(np.arctan2(x[1], x[0]))
    return float(yaw), float(pitch), float(roll)


def face_from_landmarks(landmarks: np.ndarray) -> Face:
    surface = landmarks[:MESH_POINTS, :2]
    x0, y0 = np.floor(surface.min(0)).astype(int)
    x1, y1 = np.ceil(surface.max(0)).astype(int)
    yaw, pitch, roll = head_pose(landmarks)
    return Face(landmarks=landmarks, box=(int(x0), int(y0), int(x1), int(y1)), yaw=yaw, pitch=pitch, roll=roll)


def detect_faces(image: np.ndarray) -> list[Face]:
    """Every face in an RGB uint8 photo, ordered left to right."""
    faces: list[Face] = []
    for box in _detect_boxes(image):
        landmarks = mesh_in_box(image, box)
        if landmarks is None:
            continue
        face = face_from_landmarks(landmarks)
        if not any(box_iou(face.box, other.box) > 0.5 for other in faces):  # the same face found twice
            faces.append(face)
    return sorted(faces, key=lambda f: f.box[0] + f.box[2])


def choose_face(faces: list[Face], face_index: int | None) -> int:
    """Index of the face to animate: `face_index` when given, else the largest."""
    if not faces:
        raise FaceError("no face found in the photo: use a photo where one face is clearly visible, facing the camera")
    if face_index is not None:
        if not 0 <= face_index < len(faces):
            raise FaceError(
                f"--face-index {face_index} is out of range: the photo has {len(faces)} face(s), "
                f"numbered 0 to {len(faces) - 1} from left to right"
            )
        return face_index
    largest = max(range(len(faces)), key=lambda i: faces[i].width * faces[i].height)
    if len(faces) > 1:
        log.warning(
            "found %d faces; animating the largest (index %d, faces numbered left to right from 0); "
            "use --face-index to pick another",
            len(faces), largest,
        )
    return largest


def analyze_face(image: np.ndarray, *, face_index: int | None = None) -> Portrait:
    """Find the face to animate in `image` ((H, W, 3) uint8 RGB) and check it is usable."""
    height, width = image.shape[:2]
    if min(height, width) < MIN_FACE_SIZE:
        raise FaceError(
            f"the photo is {width}x{height} pixels; a face needs at least {MIN_FACE_SIZE} px across: "
            f"give a photo of at least {MIN_FACE_SIZE}x{MIN_FACE_SIZE} pixels (256 or more works best)"
        )
    faces = detect_faces(image)
    index = choose_face(faces, face_index)
    face = faces[index]
    size = min(face.width, face.height)
    if size < MIN_FACE_SIZE:
        raise FaceError(
            f"the face is only {size} px across; talkinghead needs at least {MIN_FACE_SIZE} px: "
            "use a larger photo or one taken closer"
        )
    if abs(face.yaw) > MAX_YAW:
        log.warning(
            "the face is turned %.0f degrees away from the camera; results are best below %.0f degrees",
            abs(face.yaw), MAX_YAW,
        )
    return Portrait(image=image, face=face, faces_found=len(faces), face_index=index)
