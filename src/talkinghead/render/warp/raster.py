"""Rasterise a deformed triangle mesh into a backward displacement field, vectorised.

For every grid point inside a target triangle, the field holds where that point came from
in the photo (source − target). Inside one triangle that offset is an affine function of the
position, so each triangle contributes one 2×3 matrix. All triangles are scan-converted at
once with NumPy: (triangle, row) spans first, then the grid points of every span; no Python
loop runs per triangle or per pixel.
"""

from __future__ import annotations

import numpy as np


def _offset_affines(target: np.ndarray, source: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per triangle, the 2×3 matrix taking [x, y, 1] in the target to the source − target offset.

    target, source: (F, 3, 2). Returns the matrices (F', 2, 3) of the triangles that have an
    area, and the mask choosing them (degenerate ones cover no grid point).
    """
    e1, e2 = target[:, 1] - target[:, 0], target[:, 2] - target[:, 0]
    det = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    ok = np.abs(det) > 1e-6
    e1, e2, det, t0 = e1[ok], e2[ok], det[ok, None], target[ok, 0]
    f = (source - target)[ok]  # (F', 3, 2): offset at each vertex
    d1, d2 = f[:, 1] - f[:, 0], f[:, 2] - f[:, 0]
    gx = (d1 * e2[:, 1:] - d2 * e1[:, 1:]) / det  # d offset / dx, both offset components
    gy = (d2 * e1[:, :1] - d1 * e2[:, :1]) / det
    c = f[:, 0] - gx * t0[:, :1] - gy * t0[:, 1:]
    return np.stack([gx, gy, c], axis=2), ok


def _edge_lines(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per edge a -> b, (x at y = 0, dx/dy): x along the edge as a line in y (flat edges: x of a)."""
    dy = b[:, 1] - a[:, 1]
    slope = np.where(dy > 0, (b[:, 0] - a[:, 0]) / np.where(dy > 0, dy, 1), 0.0)
    return a[:, 0] - slope * a[:, 1], slope


def _row_spans(tri: np.ndarray, rows: int, cols: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Scan-convert triangles (F, 3, 2) into spans: (triangle, row, first column, last column)."""
    # Vertices by y: the first lowest on top, the last highest at the bottom, the third between
    # (three distinct corners even where y ties; ties give the same spans either way).
    ys = tri[:, :, 1]
    i_top, i_bottom = np.argmin(ys, axis=1), 2 - np.argmax(ys[:, ::-1], axis=1)
    rows_f = np.arange(len(tri))
    top, mid, bottom = tri[rows_f, i_top], tri[rows_f, 3 - i_top - i_bottom], tri[rows_f, i_bottom]
    first = np.minimum(np.maximum(np.ceil(top[:, 1]), 0), rows).astype(np.int64)
    last = np.minimum(np.maximum(np.floor(bottom[:, 1]), -1), rows - 1).astype(np.int64)
    heights = np.maximum(last - first + 1, 0)
    # Each triangle's three edges as lines x(y), gathered once per span.
    lines = np.stack([*_edge_lines(top, bottom), *_edge_lines(top, mid), *_edge_lines(mid, bottom), mid[:, 1]], axis=1)
    t = np.repeat(np.arange(len(tri)), heights)
    y = np.arange(heights.sum()) - np.repeat(np.cumsum(heights) - heights, heights) + first[t]
    edge = lines[t]
    yf = y.astype(np.float64)
    long_edge = edge[:, 0] + edge[:, 1] * yf
    short_edge = np.where(yf < edge[:, 6], edge[:, 2] + edge[:, 3] * yf, edge[:, 4] + edge[:, 5] * yf)
    # np.minimum/np.maximum rather than np.clip: the same numbers, less overhead per call.
    left = np.minimum(np.maximum(np.ceil(np.minimum(long_edge, short_edge) - 1e-9), 0), cols).astype(np.int64)
    right = np.minimum(np.maximum(np.floor(np.maximum(long_edge, short_edge) + 1e-9), -1), cols - 1).astype(np.int64)
    return t, y, left, right


def backward_field(
    target: np.ndarray, source: np.ndarray, triangles: np.ndarray, shape: tuple[int, int], step: int,
    *, outside: float = 0.0,
) -> np.ndarray:
    """(gh, gw, 2) float32 source − target offsets sampled on a grid, `outside` off the mesh.

    target, source: (V, 2) vertex positions in pixels. triangles: (F, 3) vertex indices.
    shape: (gh, gw) grid size; grid point (i, j) sits at pixel ((j + 0.5)·step − 0.5,
    (i + 0.5)·step − 0.5), the sample positions cv2.resize uses when it upsamples by `step`
    (a fraction 1/k gives k samples per pixel side, centred on the pixel).
    """
    gh, gw = shape
    field = np.full((gh, gw, 2), outside, np.float32)
    grid_target = (target[triangles] + 0.5) / step - 0.5  # (F, 3, 2) in grid units
    affines, ok = _offset_affines(grid_target, (source[triangles] + 0.5) / step - 0.5)
    t, y, left, right = _row_spans(grid_target[ok], gh, gw)
    widths = np.maximum(right - left + 1, 0)
    if widths.sum() == 0:
        return field
    span = np.repeat(np.arange(len(t)), widths)
    x = np.arange(widths.sum()) - np.repeat(np.cumsum(widths) - widths, widths) + left[span]
    # Along a span the offset changes by a fixed slope per column. One channel at a time:
    # NumPy gathers and scatters 1-D arrays several times faster than (N, 2) rows.
    a = affines[t] * step  # (S, 2, 3), grid units back to pixels
    where = y[span] * gw + x
    columns = x.astype(np.float32)
    for c in range(2):
        base = (a[:, c, 1] * y + a[:, c, 2]).astype(np.float32)
        slope = a[:, c, 0].astype(np.float32)
        channel = np.full(gh * gw, outside, np.float32)
        channel[where] = base[span] + slope[span] * columns
        field[..., c] = channel.reshape(gh, gw)
    return field
