"""Move the rig's vertices for one frame of motion: shapes, then the head's rigid motion."""

from __future__ import annotations

import numpy as np

from ...face import landmarks as lm
from .rig import WarpRig

_LIP_CONSTRAINED = list(lm.LIPS_INNER_UPPER[1:-1] + lm.LIPS_INNER_LOWER[1:-1])


def head_rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """(3, 3) rotation in the face's frame for angles in degrees, signs as in POSE_CHANNELS."""
    a, b, c = np.radians([yaw, pitch, roll])
    turn = np.array([[np.cos(a), 0, -np.sin(a)], [0, 1, 0], [np.sin(a), 0, np.cos(a)]])  # nose to +x
    nod = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])  # nose down
    tilt = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])  # clockwise
    return tilt @ nod @ turn


def shaped_vertices(rig: WarpRig, mouth: np.ndarray, expression: np.ndarray) -> np.ndarray:
    """(V, 3) float64 image pixels: the rest mesh with mouth-shape (MOUTH_SHAPES) and
    expression weights applied."""
    points = rig.rest.astype(np.float64) + (np.concatenate([mouth, expression]) @ rig.shapes).reshape(-1, 3)
    # Lips may not cross: fix it in the face's frame, where "above" is well defined.
    idx = _LIP_CONSTRAINED + list(rig.lower_interior) + list(rig.jaw_interior)
    q = rig.frame.to_face(points[idx])
    _keep_lips_apart(q)
    points[idx] = rig.frame.displacement_to_image(q) + rig.frame.origin
    return points


def _keep_lips_apart(q: np.ndarray) -> None:
    """In place, on face coordinates of (9 inner upper, 9 inner lower, 9 interior-bottom, 9
    lower-teeth top) vertices: the lower lip never rises above the upper lip, the interior's
    rows stay between them, the lower teeth below the upper."""
    n = len(lm.LIPS_INNER_UPPER) - 2
    upper, lower, bottom, jaw = q[:n], q[n : 2 * n], q[2 * n : 3 * n], q[3 * n :]
    lower[:, 1] = np.maximum(lower[:, 1], upper[:, 1])
    bottom[:, 1] = np.clip(bottom[:, 1], upper[:, 1], lower[:, 1])
    jaw[:, 1] = np.clip(jaw[:, 1], bottom[:, 1], lower[:, 1])


def posed_vertices(rig: WarpRig, points: np.ndarray, pose: np.ndarray, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
    """(V, 3) float64: `points` (the rig's vertices `rows`) moved rigidly with the head, each
    vertex by its head weight."""
    yaw, pitch, roll, shift_x, shift_y = (float(v) for v in pose)
    axes = rig.frame.axes
    rotation = axes.T @ head_rotation(yaw, pitch, roll) @ axes  # the same rotation in image space
    shift = np.array([shift_x, shift_y, 0.0]) * rig.frame.unit
    moved = (points - rig.pivot) @ rotation.T + rig.pivot + shift
    return points + rig.head_weight[rows, None] * (moved - points)
