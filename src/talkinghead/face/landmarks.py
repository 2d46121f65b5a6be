"""Named groups of MediaPipe Face Mesh landmark indices (478 points: 468 mesh + 10 iris).

"Left" and "right" are the subject's: the subject's left eye is on the image's right.
Contours are ordered; lid and lip contours run from one corner to the other.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

LANDMARK_COUNT = 478
MESH_POINTS = 468  # the face surface; the last 10 are the irises

FACE_OVAL = (
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
    152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
)  # clockwise in the image, from the top of the forehead

# Lips, from the image-left mouth corner to the image-right one.
LIPS_OUTER_UPPER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
LIPS_OUTER_LOWER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291)
# The 20 points of the outer lip outline: the upper contour, then the lower one between the corners.
LIPS_OUTER = LIPS_OUTER_UPPER + LIPS_OUTER_LOWER[1:-1]
LIPS_INNER_UPPER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LIPS_INNER_LOWER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
MOUTH_CORNERS = (61, 291)
INNER_LIP_CENTRE = (13, 14)  # upper, lower

# Eye openings, from the image-left corner to the image-right one.
RIGHT_EYE_UPPER = (33, 246, 161, 160, 159, 158, 157, 173, 133)
RIGHT_EYE_LOWER = (33, 7, 163, 144, 145, 153, 154, 155, 133)
LEFT_EYE_UPPER = (362, 398, 384, 385, 386, 387, 388, 466, 263)
LEFT_EYE_LOWER = (362, 382, 381, 380, 374, 373, 390, 249, 263)
RIGHT_IRIS_CENTRE, LEFT_IRIS_CENTRE = 468, 473
RIGHT_IRIS = (469, 470, 471, 472)
LEFT_IRIS = (474, 475, 476, 477)
EYE_OUTER_CORNERS = (33, 263)  # right eye's outer corner (image left), left eye's

RIGHT_BROW = (70, 63, 105, 66, 107, 46, 53, 52, 65, 55)  # upper edge, then lower edge, outer to inner
LEFT_BROW = (300, 293, 334, 296, 336, 276, 283, 282, 295, 285)

NOSE_TIP = 1
CHIN = 152
FOREHEAD = 10
CHEEK_EXTREMES = (234, 454)  # image-left and image-right ends of the face at eye height


def strip_triangles(upper: tuple[int, ...], lower: tuple[int, ...]) -> list[tuple[int, int, int]]:
    """Triangles filling the opening between two contours that share their end points."""
    tris = []
    for i in range(len(upper) - 1):
        tris.append((upper[i], lower[i], upper[i + 1]))
        tris.append((upper[i + 1], lower[i], lower[i + 1]))
    return [t for t in tris if len(set(t)) == 3]


EYE_OPENING_TRIANGLES = tuple(
    strip_triangles(RIGHT_EYE_UPPER, RIGHT_EYE_LOWER) + strip_triangles(LEFT_EYE_UPPER, LEFT_EYE_LOWER)
)


def opening(points: np.ndarray, upper: tuple[int, ...], lower: tuple[int, ...]) -> np.ndarray:
    """(2N, 2) outline of the area between two contours: along `upper`, back along `lower`."""
    return np.concatenate([points[list(upper), :2], points[list(lower), :2][::-1]])


def face_axes(points: np.ndarray) -> np.ndarray:
    """(3, 3) float64, rows: the face's x (outer eye corner to outer eye corner, image left to
    right), y (forehead to chin, made orthogonal to x) and z (into the picture) unit vectors."""
    p = points.astype(np.float64)
    x = p[EYE_OUTER_CORNERS[1]] - p[EYE_OUTER_CORNERS[0]]
    y = p[CHIN] - p[FOREHEAD]
    x /= np.linalg.norm(x)
    y -= x * (x @ y)
    y /= np.linalg.norm(y)
    return np.stack([x, y, np.cross(x, y)])


@lru_cache(maxsize=1)
def mesh_triangles() -> np.ndarray:
    """(852, 3) int32: the Face Mesh surface triangles, eyes and mouth left open.

    MediaPipe publishes the tesselation as edges. Triangles are the edge 3-cycles, less the
    two around the nostrils whose three edges each border three cycles (they enclose other
    triangles rather than being surface faces).
    """
    from mediapipe.python.solutions.face_mesh_connections import FACEMESH_TESSELATION

    edges = {tuple(sorted(e)) for e in FACEMESH_TESSELATION}
    neighbours: dict[int, set[int]] = {}
    for a, b in edges:
        neighbours.setdefault(a, set()).add(b)
        neighbours.setdefault(b, set()).add(a)
    cycles = {tuple(sorted((a, b, c))) for a, b in edges for c in neighbours[a] & neighbours[b]}
    uses: dict[tuple[int, int], int] = {}
    for a, b, c in cycles:
        for e in ((a, b), (a, c), (b, c)):
            uses[e] = uses.get(e, 0) + 1
    faces = [t for t in cycles if not all(uses[e] > 2 for e in ((t[0], t[1]), (t[0], t[2]), (t[1], t[2])))]
    return np.array(sorted(faces), np.int32)
