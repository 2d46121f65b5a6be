"""The lip level: timed phones → per-frame mouth-shape curves over LIP_CHANNELS.

    phones ─► visemes (table in visemes.py) ─► dominance blending ─► jaw × loudness
           ─► rate limit ─► lip contacts (p/b/m closed, f/v tucked) ─► (T, 6) curves

Coarticulation follows Cohen & Massaro's dominance model in a compact form: every phone pulls
the mouth towards its viseme with a weight that is full during the phone and fades over
ANTICIPATION_S before it and CARRYOVER_S after it; each frame is the weighted mean of the
pulls. Short phones therefore still show (their weight does not depend on their length),
tongue consonants borrow the lip shape of their vowels, and the whole track leads the sound
by LEAD_S, as real lips do. Contacts are then forced exactly, on the phone's own time (no
lead: the lips meet when the closure's silence or murmur begins and part at the burst): a
bilabial keeps the lips shut on every frame whose centre lies inside it, and on the frame
that shows its middle however short it is or however loud the speech around it.

Non-English speech: the phones come from the en-us recogniser (see audio/phones.py), so
mouth shapes are those of the nearest English sounds, while openness and timing follow the
audio; the loudness scaling keeps the motion in proportion to the voice either way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..types import LIP_CHANNELS, PhoneSegment
from .signals import smoothstep
from .visemes import BY_PHONE, GLIDE_FRACTION, GLIDES, Viseme, phone_to_viseme, rest_viseme

JAW = LIP_CHANNELS.index("jaw_open")
LIP_SHAPE = [LIP_CHANNELS.index("lips_wide"), LIP_CHANNELS.index("lips_round")]
# Every channel but `articulate`: those that say what shape the mouth takes.
SHAPE_CHANNELS = [i for i, name in enumerate(LIP_CHANNELS) if name != "articulate"]

LEAD_S = 0.04  # the mouth shows each shape this much before its sound (one frame at 25 fps)
ANTICIPATION_S = 0.12  # a viseme's pull starts this long before its phone...
CARRYOVER_S = 0.06  # ...and outlasts it by this much: lips anticipate more than they linger
REST_WEIGHT = 0.05  # a faint pull to the rest mouth everywhere, so gaps between phones rest
MAX_SPEED = 8.5  # channel units per second (0.34 per frame at 25 fps): no popping
# Jaw opening follows the voice: at loudness l the jaw target is scaled by
# JAW_GAIN_QUIET + JAW_GAIN_SLOPE * l, so a whisper (l ~ 0.2) opens about half as wide as
# normal speech (l ~ 0.8) and a shout (l = 1) a little wider.
JAW_GAIN_QUIET = 0.35
JAW_GAIN_SLOPE = 0.8
# Within a phone the jaw also rides the voice's energy, syllable by syllable: this share of
# its opening comes from the loudness envelope (ENERGY_JAW at full loudness) rather than
# from the viseme alone. Contacts still close the lips exactly.
ENERGY_SHARE = 0.3
ENERGY_JAW = 0.6


@dataclass(frozen=True)
class Key:
    """One viseme target held over a time span (a phone, or part of a diphthong)."""

    viseme: Viseme
    start: float  # seconds
    end: float  # seconds


def lip_curves(phones: list[PhoneSegment], loudness: np.ndarray, fps: float, rest: str) -> np.ndarray:
    """(T, len(LIP_CHANNELS)) float32 in [0, 1]: the mouth shape on each video frame.

    `loudness` is the (T,) envelope of audio.loudness; frame t shows time (t + 0.5)/fps.
    `rest` (visemes.REST_MODES) is the shape of silence.
    """
    frames = len(loudness)
    keys = _keys(phones, rest_viseme(rest))
    centres = (np.arange(frames) + 0.5) / fps
    curves = _blend(keys, centres + LEAD_S, np.asarray(rest_viseme(rest).shape))
    # Only while a phone shapes the mouth: in silence the mouth rests whatever the noise.
    shaping = np.clip(np.abs(curves[:, SHAPE_CHANNELS]).sum(1) / 0.1, 0.0, 1.0)
    curves[:, JAW] *= JAW_GAIN_QUIET + JAW_GAIN_SLOPE * loudness
    curves[:, JAW] += shaping * ENERGY_SHARE * (ENERGY_JAW * loudness**0.8 - curves[:, JAW])
    curves = _limit_speed(curves, MAX_SPEED / fps)
    _force_contacts(curves, keys, centres, fps)
    return np.clip(curves, 0.0, 1.0).astype(np.float32)


def _keys(phones: list[PhoneSegment], rest: Viseme) -> list[Key]:
    """Viseme keys of the phones, silences as `rest`; a diphthong ends on its glide's shape."""
    keys = []
    for seg in phones:
        viseme = phone_to_viseme(seg.phone)
        viseme = rest if viseme.name == rest.name else viseme
        glide = GLIDES.get(seg.phone.upper().rstrip("012"))
        if glide is None:
            keys.append(Key(viseme, seg.start, seg.end))
            continue
        turn = seg.end - GLIDE_FRACTION * (seg.end - seg.start)
        keys += [Key(viseme, seg.start, turn), Key(BY_PHONE[glide], turn, seg.end)]
    return keys


def _blend(keys: list[Key], times: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """(T, C) dominance-weighted mean of the keys' shapes at `times`, with a faint pull to `rest`.

    Each key only touches the frames within its reach, so the cost grows with the clip's
    length, not with its length squared.
    """
    frames, channels = len(times), len(LIP_CHANNELS)
    total = np.tile(REST_WEIGHT * rest, (frames, 1))
    weight = np.full((frames, channels), REST_WEIGHT)
    if not keys or frames == 0:
        return np.tile(rest, (frames, 1)).astype(np.float32)
    step = times[1] - times[0] if frames > 1 else 1.0
    for key in keys:
        first = max(0, int(np.ceil((key.start - ANTICIPATION_S - times[0]) / step)))
        last = min(frames, int(np.floor((key.end + CARRYOVER_S - times[0]) / step)) + 1)
        if first >= last:
            continue
        reach = _reach(times[first:last], key.start, key.end)[:, None]
        pull = reach * _dominance(key.viseme)
        total[first:last] += pull * np.asarray(key.viseme.shape)
        weight[first:last] += pull
    return (total / weight).astype(np.float32)


def _reach(t: np.ndarray, start: float, end: float) -> np.ndarray:
    """0..1: 1 inside [start, end], fading smoothly to 0 over ANTICIPATION_S before and
    CARRYOVER_S after."""
    before = np.clip(1.0 - (start - t) / ANTICIPATION_S, 0.0, 1.0)
    after = np.clip(1.0 - (t - end) / CARRYOVER_S, 0.0, 1.0)
    ramp = np.where(t < start, before, np.where(t > end, after, 1.0))
    return smoothstep(ramp)  # no kink where the pull begins


def _dominance(viseme: Viseme) -> np.ndarray:
    """(C,) the viseme's dominance per channel: its lip-shape channels may differ."""
    dominance = np.full(len(LIP_CHANNELS), viseme.dominance)
    dominance[LIP_SHAPE] = viseme.lip_dominance
    return dominance


def _limit_speed(curves: np.ndarray, max_step: float) -> np.ndarray:
    """Curves whose frame-to-frame change never exceeds `max_step`.

    A forward pass lags and a backward pass leads; their mean is centred on the original
    and still obeys the bound (the mean of two bounded steps is bounded).
    """
    forward, backward = curves.copy(), curves.copy()
    for t in range(1, len(curves)):
        forward[t] = np.clip(forward[t], forward[t - 1] - max_step, forward[t - 1] + max_step)
        u = len(curves) - 1 - t
        backward[u] = np.clip(backward[u], backward[u + 1] - max_step, backward[u + 1] + max_step)
    return (forward + backward) / 2


def _force_contacts(curves: np.ndarray, keys: list[Key], centres: np.ndarray, fps: float) -> None:
    """Sets each contact viseme's frames to its exact target, except the lip-shape channels:
    the frames whose centres lie inside its key, and the frame showing its middle (so that
    a key shorter than a frame, or one falling between two centres, still gets one)."""
    if len(centres) == 0:
        return
    held = [i for i in range(len(LIP_CHANNELS)) if i not in LIP_SHAPE]
    for key in keys:
        if key.viseme.contact is None:
            continue
        inside = (centres >= key.start) & (centres < key.end)
        middle = int((key.start + key.end) / 2 * fps)
        inside[min(max(middle, 0), len(centres) - 1)] = True
        curves[np.ix_(np.flatnonzero(inside), held)] = np.asarray(key.viseme.shape)[held]
