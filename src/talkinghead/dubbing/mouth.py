"""The tracked mouth in the terms of the lip level, and what moves it to a new viseme.

A dub replaces the mouth's motion rather than adding to it: each frame's mouth is measured
(how open, how wide) against the performer's own relaxed closed mouth, and the warp rig built
on that frame is asked for the difference to the shape the new speech needs: closing what was
open, opening what was closed.

This is the one place that knows it; `rig_lips` is the seam: the warp renderer's absolute
visemes (where the rig measures its photo's mouth and reaches any target shape from it) do
the same job, the tracked frame's mouth being the per-frame rig's "photo mouth".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..face import landmarks as lm
from ..render.warp.shapes import MOUTH_SHAPES
from ..types import LIP_CHANNELS

CENTRE_PAIRS = tuple(zip(lm.LIPS_INNER_UPPER[4:7], lm.LIPS_INNER_LOWER[4:7]))  # the middle of the inner lips
_C = {name: i for i, name in enumerate(LIP_CHANNELS)}  # the target's channels
_S = {name: i for i, name in enumerate(MOUTH_SHAPES)}  # the rig's mouth shapes
REACH = 1.6  # the most the rig is asked to move a channel either way, in channel units


@dataclass(frozen=True)
class MouthState:
    """One face's mouth, in face widths (cheek to cheek at eye height)."""

    gap: float  # between the inner lips at the middle
    width: float  # corner to corner


@dataclass(frozen=True)
class Rates:
    """How the rig built on a frame moves its mouth, per unit of each lip channel, face widths."""

    gap: np.ndarray  # (len(MOUTH_SHAPES),) change of the middle gap
    width: np.ndarray  # (len(MOUTH_SHAPES),) change of the corner-to-corner width


def _unit(points: np.ndarray) -> float:
    return float(np.linalg.norm(points[lm.CHEEK_EXTREMES[1], :2] - points[lm.CHEEK_EXTREMES[0], :2])) or 1.0


def _down(points: np.ndarray) -> np.ndarray:
    axes = lm.face_axes(points)
    return axes[1, :2] / max(np.linalg.norm(axes[1, :2]), 1e-9)


def mouth_state(points: np.ndarray) -> MouthState:
    """Measure the mouth of (478, ≥2) landmarks in image pixels."""
    unit, down = _unit(points), _down(points)
    gap = np.mean([(points[b, :2] - points[a, :2]) @ down for a, b in CENTRE_PAIRS]) / unit
    width = np.linalg.norm(points[lm.MOUTH_CORNERS[1], :2] - points[lm.MOUTH_CORNERS[0], :2]) / unit
    return MouthState(float(max(gap, 0.0)), float(width))


def neutral_mouth(states: list[MouthState]) -> MouthState:
    """The performer's relaxed closed mouth: the most closed frames' gap, their median width."""
    gaps = np.array([s.gap for s in states])
    widths = np.array([s.width for s in states])
    closed = gaps <= np.percentile(gaps, 20)
    return MouthState(float(np.percentile(gaps, 5)), float(np.median(widths[closed])))


def rig_rates(points: np.ndarray, lip_shapes: np.ndarray) -> Rates:
    """The rig's rates on this face: (478, ≥2) points, (len(MOUTH_SHAPES), V, 3) lip shapes in pixels."""
    unit, down = _unit(points), _down(points)
    gap = np.array([np.mean([(s[b, :2] - s[a, :2]) @ down for a, b in CENTRE_PAIRS]) for s in lip_shapes]) / unit
    a, b = lm.MOUTH_CORNERS
    across = (points[b, :2] - points[a, :2]) / max(np.linalg.norm(points[b, :2] - points[a, :2]), 1e-9)
    width = np.array([(s[b, :2] - s[a, :2]) @ across for s in lip_shapes]) / unit
    return Rates(gap, width)


def rig_lips(target: np.ndarray, state: MouthState, neutral: MouthState, rates: Rates) -> np.ndarray:
    """(len(MOUTH_SHAPES),) float32: the rig's mouth-shape weights that take this frame's mouth
    (`state`) to the mouth `target` describes, `target` being absolute lip channels as the
    motion model makes them (0 = lips together: the performer's own relaxed closed mouth, `neutral`)."""
    c = {name: float(target[i]) for name, i in _C.items()}
    out = np.zeros(len(MOUTH_SHAPES), np.float32)
    # Opening: the target's gap from the neutral one, less what the frame shows; the jaw makes it.
    shaped = sum(c[n] * rates.gap[_S[n]] for n in ("jaw_open", "upper_lip_up", "lower_lip_tuck"))
    target_gap = (neutral.gap + shaped) * (1.0 - np.clip(c["lips_press"], 0, 1))
    out[_S["jaw_open"]] = (target_gap - state.gap - c["upper_lip_up"] * rates.gap[_S["upper_lip_up"]] - c["lower_lip_tuck"] * rates.gap[_S["lower_lip_tuck"]]) / _nonzero(rates.gap[_S["jaw_open"]])
    # Width: spread or rounding the frame shows is undone before the target's is made.
    spread = state.width - neutral.width
    wide_rate, round_rate = _nonzero(rates.width[_S["lips_wide"]]), _nonzero(rates.width[_S["lips_round"]])
    out[_S["lips_wide"]] = c["lips_wide"] - max(spread, 0.0) / wide_rate
    out[_S["lips_round"]] = c["lips_round"] - max(-spread, 0.0) / -round_rate if round_rate < 0 else c["lips_round"]
    for name in ("lips_press", "upper_lip_up", "lower_lip_tuck"):
        out[_S[name]] = c[name]
    return np.clip(out, -REACH, REACH).astype(np.float32)


def _nonzero(x: float) -> float:
    return float(x) if abs(x) > 1e-6 else 1e-6
