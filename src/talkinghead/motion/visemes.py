"""Phones → visemes: the mouth shapes that speech sounds need, over LIP_CHANNELS.

Fourteen classes. Sounds made inside the mouth (t, k, n...) look alike from outside and share
a class; what a viewer checks is the lips: closed on p/b/m, lower lip under the teeth on f/v,
rounded on oo/w/sh, spread on ee, and how far the jaw drops; through an open mouth also the
tongue, raised on l/t/n and between the teeth on th. Shapes are absolute targets at normal
speaking effort (see LIP_CHANNELS): "m" is lips together and "ah" a jaw well down, whatever
the photo's mouth does; `lip.lip_curves` blends neighbours (coarticulation) and scales the
jaw with loudness.

Silence is the rest shape, which REST_MODES choose: "photo" is the photo's own mouth (its
smile, its parted lips), "closed" a relaxed mouth with the lips together.

Each class also has a dominance: how firmly it holds its shape against its neighbours.
Bilabials, f/v and the rounded sounds hold firmly; tongue consonants (t, k, h) barely move
the lips, so their lip channels take the shape of the coming vowel ("s" is already rounded
in "soon" and spread in "seen").
"""

from __future__ import annotations

from dataclasses import dataclass

from ..types import LIP_CHANNELS


@dataclass(frozen=True)
class Viseme:
    """A mouth-shape class."""

    name: str
    phones: tuple[str, ...]  # ARPAbet phones without stress
    shape: tuple[float, ...]  # target per LIP_CHANNELS, 0..1
    dominance: float  # 0..1: weight of the jaw and contact channels against neighbours
    lip_dominance: float  # 0..1: the same for lips_wide and lips_round
    contact: str | None = None  # channel that must reach its target on at least one frame


def _shape(**values: float) -> tuple[float, ...]:
    """A target over LIP_CHANNELS from the channels named; the others are 0, but a spoken
    shape is articulated fully unless it says otherwise."""
    unknown = set(values) - set(LIP_CHANNELS)
    if unknown:
        raise ValueError(f"not lip channels: {sorted(unknown)}")
    values = {"articulate": 1.0, **values}
    return tuple(values.get(channel, 0.0) for channel in LIP_CHANNELS)


VISEMES = (
    # name, phones, target shape, dominance (jaw etc.), dominance of lips_wide/lips_round
    # The photo's own mouth: silence, breath, noise (see `rest_viseme` for the closed rest).
    Viseme("rest", ("SIL",), _shape(articulate=0.0), 0.6, 0.6),
    # p b m: lips pressed shut, jaw up. The one shape viewers never forgive missing.
    Viseme("bilabial", ("P", "B", "M"), _shape(lips_press=1.0), 1.0, 0.5, contact="lips_press"),
    # f v: lower lip tucked under the upper teeth, a little upper lip raise.
    Viseme("labiodental", ("F", "V"), _shape(jaw_open=0.08, upper_lip_up=0.25, lower_lip_tuck=1.0),
           0.9, 0.5, contact="lower_lip_tuck"),
    # th dh: tongue tip between the teeth, jaw slightly open.
    Viseme("dental", ("TH", "DH"),
           _shape(jaw_open=0.2, lips_wide=0.15, upper_lip_up=0.15, tongue_out=1.0), 0.6, 0.3),
    # t d n l: tongue on the ridge behind the teeth, jaw a little open, lips free.
    Viseme("alveolar", ("T", "D", "N", "L"),
           _shape(jaw_open=0.22, lips_wide=0.15, upper_lip_up=0.1, tongue_up=1.0), 0.45, 0.2),
    # s z: teeth nearly together and shown, lips slightly spread, tongue tip up behind them.
    Viseme("sibilant", ("S", "Z"),
           _shape(jaw_open=0.08, lips_wide=0.3, upper_lip_up=0.3, tongue_up=0.5), 0.7, 0.3),
    # sh zh ch jh: lips pushed forward and rounded, teeth close.
    Viseme("postalveolar", ("SH", "ZH", "CH", "JH"),
           _shape(jaw_open=0.12, lips_round=0.65, upper_lip_up=0.35), 0.8, 0.8),
    # k g ng h: made at the back of the mouth; the lips follow the neighbouring vowels.
    Viseme("velar", ("K", "G", "NG", "HH"), _shape(jaw_open=0.28, lips_wide=0.1), 0.3, 0.1),
    # r er: lips a little rounded and forward.
    Viseme("rhotic", ("R", "ER"), _shape(jaw_open=0.22, lips_round=0.45, upper_lip_up=0.1),
           0.6, 0.6),
    # ee i y: lips spread wide, jaw nearly closed, upper teeth visible.
    Viseme("wide", ("IY", "IH", "Y"), _shape(jaw_open=0.22, lips_wide=0.8, upper_lip_up=0.25),
           0.7, 0.8),
    # e (bed), the neutral uh / schwa, ay (start of "day"): half open, a little spread.
    Viseme("mid", ("EH", "AH", "EY"), _shape(jaw_open=0.45, lips_wide=0.35, upper_lip_up=0.15),
           0.6, 0.5),
    # ah, a (cat), and the open starts of "eye" and "how": jaw well down.
    Viseme("open", ("AA", "AE", "AY", "AW"),
           _shape(jaw_open=0.75, lips_wide=0.25, upper_lip_up=0.15), 0.7, 0.5),
    # aw (law), oh, oy: jaw half open, lips rounded.
    Viseme("round_open", ("AO", "OW", "OY"), _shape(jaw_open=0.5, lips_round=0.65), 0.7, 0.8),
    # oo (food, good), w: lips tightly rounded and pushed forward, jaw nearly closed.
    Viseme("round", ("UW", "UH", "W"), _shape(jaw_open=0.15, lips_round=0.95), 0.8, 0.9),
)

# Diphthongs move from their class's shape to a second one: the glide takes the last part.
GLIDES = {"AY": "IY", "AW": "UW", "OY": "IY", "EY": "IY", "OW": "UW"}
GLIDE_FRACTION = 0.4  # share of a diphthong's duration spent on the glide target

REST_MODES = ("photo", "closed")  # what the mouth returns to in silence
CLOSED_REST = Viseme("rest", ("SIL",), _shape(), 0.6, 0.6)  # relaxed, lips together

BY_NAME = {viseme.name: viseme for viseme in VISEMES}
BY_PHONE = {phone: viseme for viseme in VISEMES for phone in viseme.phones}
ARPABET = frozenset(BY_PHONE) - {"SIL"}  # the 39 phones of CMUdict


def phone_to_viseme(phone: str) -> Viseme:
    """The viseme of an ARPAbet phone ("AA1" stress digits allowed, any case).

    Fillers (pocketsphinx's "+NSN+", "+SPN+", "<sil>") rest like silence. Anything else
    raises KeyError: an unknown label is a bug upstream, not something to animate.
    """
    name = phone.upper().rstrip("012")
    if name.startswith(("+", "<", "[")):
        return BY_NAME["rest"]
    return BY_PHONE[name]


def rest_viseme(mode: str) -> Viseme:
    """The shape of silence: the photo's own mouth ("photo") or lips together ("closed")."""
    if mode not in REST_MODES:
        raise ValueError(f"rest is one of {', '.join(REST_MODES)}, not {mode!r}")
    return CLOSED_REST if mode == "closed" else BY_NAME["rest"]
