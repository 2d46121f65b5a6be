"""From absolute mouth shapes (LIP_CHANNELS) to the warp rig's own shapes, for one photo.

A track says what the mouth looks like: how open, how wide, how round, lips pressed or not.
The rig can only move the photo's mouth, so the same "m" means closing nothing on a closed
photo, the lips over the teeth on a smiling one, and the jaw as well on a wide-open one. This
module knows the photo's mouth (measured once, from its landmarks) and turns each frame's
absolute shape into moves of it (MOUTH_SHAPES, see shapes.py).

Openness is what the channels share: a target gap between the inner lips is made from the
channels at the rates the rig itself opens a closed mouth with; the jaw opens or closes the
difference from the photo's gap, the lips taking the closing first (they stretch over the
teeth up to LIP_REACH), the jaw the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...face import landmarks as lm
from ...types import ARTICULATE, LIP_CHANNELS
from .shapes import MOUTH_SHAPES

LIP_REACH = 0.09  # face widths of opening that lips close by stretching before the jaw must rise
ROUND_RELEASES = 0.7  # share of a photo's parting that rounded lips give up (a smile cannot pucker)
RELAXED_WIDTH = 0.37  # a relaxed mouth's corner-to-corner width, in face widths (cheek to cheek)
_CHANNEL = {name: i for i, name in enumerate(LIP_CHANNELS)}
_SHAPE = {name: i for i, name in enumerate(MOUTH_SHAPES)}
CENTRE_PAIRS = tuple(zip(lm.LIPS_INNER_UPPER[4:7], lm.LIPS_INNER_LOWER[4:7]))  # middle of the inner lips


@dataclass(frozen=True)
class PhotoMouth:
    """The photo's mouth in the terms of LIP_CHANNELS, and how the rig moves it."""

    gap: float  # face widths between the inner lips at the middle
    wide: float  # 0..1: how spread the photo's mouth is (a broad smile is 1)
    teeth: bool  # the photo shows its teeth (its upper lip is raised already)
    jaw_rate: float  # face widths of gap per unit of the rig's jaw_open
    upper_rate: float  # ... of upper_lip_up
    tuck_rate: float  # ... of lower_lip_tuck (negative: it closes)
    round_rate: float  # ... of lips_round
    wide_rate: float  # face widths of mouth width per unit of lips_wide


def opening_gap(q: np.ndarray) -> float:
    """Face widths between the inner lips at the middle, for (V, 3) face coordinates."""
    return float(np.mean([q[lower, 1] - q[upper, 1] for upper, lower in CENTRE_PAIRS]))


def photo_mouth(q: np.ndarray, lip_shapes: np.ndarray, teeth: bool) -> PhotoMouth:
    """Measure the photo's mouth: `q` (V, 3) its face coordinates, `lip_shapes`
    (len(MOUTH_SHAPES), V, 3) the rig's mouth shapes in face widths."""
    rate = {name: opening_gap(lip_shapes[i]) for name, i in _SHAPE.items()}
    corners = q[list(lm.MOUTH_CORNERS)]
    width = float(np.linalg.norm(corners[1, :2] - corners[0, :2]))
    wide_shape = lip_shapes[_SHAPE["lips_wide"]][list(lm.MOUTH_CORNERS), 0]
    wide_rate = float(wide_shape[1] - wide_shape[0])
    return PhotoMouth(
        gap=max(opening_gap(q), 0.0),
        wide=float(np.clip((width - RELAXED_WIDTH) / wide_rate, 0.0, 1.0)),
        teeth=teeth,
        jaw_rate=rate["jaw_open"],
        upper_rate=rate["upper_lip_up"],
        tuck_rate=rate["lower_lip_tuck"],
        round_rate=rate["lips_round"],
        wide_rate=wide_rate,
    )


def shape_weights(lip: np.ndarray, photo: PhotoMouth, *, hold_photo_gap: bool) -> np.ndarray:
    """(len(MOUTH_SHAPES),) float32: the rig's shape weights that show the absolute mouth
    `lip` ((len(LIP_CHANNELS),) values) on this photo; all 0 when `articulate` is 0.

    hold_photo_gap: the photo's own expression is kept while speaking (`--rest photo`): a
    smile's parted lips stay parted and the jaw opens the vowels beyond them, as a speaker
    who keeps smiling does; only closing shapes (p, b, m) close them. Without it the
    openings are the channels' own (lips that rest closed).
    """
    c = {name: float(lip[i]) for name, i in _CHANNEL.items()}
    a = float(lip[ARTICULATE])
    w = np.zeros(len(MOUTH_SHAPES), np.float32)
    if a == 0:
        return w
    # A photo that shows its teeth has its upper lip up already.
    up = a * c["upper_lip_up"] * (0.0 if photo.teeth else 1.0)
    tuck = a * c["lower_lip_tuck"]
    rounding = a * c["lips_round"]
    target = (c["jaw_open"] * photo.jaw_rate + c["upper_lip_up"] * photo.upper_rate + c["lower_lip_tuck"] * photo.tuck_rate
              + c["lips_round"] * photo.round_rate)
    if hold_photo_gap:
        target += photo.gap * (1 - ROUND_RELEASES * c["lips_round"])
    target = max(target, 0.0) * (1 - c["lips_press"])
    # The gap the frame needs, less what raising, tucking and rounding the lips already do to it.
    change = a * (target - photo.gap) - up * photo.upper_rate - tuck * photo.tuck_rate - rounding * photo.round_rate
    close = min(-change, LIP_REACH, photo.gap) if change < 0 else 0.0
    w[_SHAPE["lips_close"]] = close / photo.gap if close > 0 else 0.0
    w[_SHAPE["jaw_open"]] = (change + close) / photo.jaw_rate
    w[_SHAPE["lips_wide"]] = a * (c["lips_wide"] - photo.wide)
    w[_SHAPE["lips_round"]] = rounding
    w[_SHAPE["lips_press"]] = a * c["lips_press"]
    w[_SHAPE["upper_lip_up"]] = up
    w[_SHAPE["lower_lip_tuck"]] = tuck
    return w
