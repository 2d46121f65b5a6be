"""Motion from speech: the three levels of Hallo's hierarchy, each generated on its own.

    lip         phones ─► visemes ─► coarticulated mouth shapes, scaled by loudness
    expression  blinks (drawn to pauses), gaze, brows on emphasis, emotion
    pose        drift while speaking, nods on emphasis, settling in pauses, breathing
"""

from __future__ import annotations

import numpy as np

from ..config import MotionConfig
from ..types import LIP_CHANNELS, AudioFeatures, MotionTrack
from .expression import expression_track
from .lip import lip_curves
from .pose import pose_track
from .signals import speaking
from .visemes import rest_viseme


def lip_track(features: AudioFeatures, rest: str) -> np.ndarray:
    """(T, len(LIP_CHANNELS)) float32: mouth shapes from the phones, only where voice is heard.

    The voice gate keeps the mouth at rest (`rest`, visemes.REST_MODES) on noise the phone
    recogniser mistakes for speech. Lips pressed shut pass it: the closure of a "p" or "b"
    is silent, and on a photo whose rest is an open smile the gate would open them.
    """
    curves = lip_curves(list(features.phones), features.loudness, features.fps, rest)
    voice = speaking(features.voice, features.fps)
    pressed = curves[:, LIP_CHANNELS.index("lips_press")] >= 0.99
    pressed = _widened(pressed, 1)  # and the frames either side
    # Only next to heard speech: a closure the recogniser finds in a long silence is noise.
    pressed &= _widened(voice > 0.5, 2)
    gate = np.maximum(voice, pressed)[:, None]
    return (gate * curves + (1 - gate) * np.asarray(rest_viseme(rest).shape)).astype(np.float32)


def _widened(mask: np.ndarray, frames: int) -> np.ndarray:
    """(T,) bool: `mask` and `frames` frames on either side of each True (same length, short clips too)."""
    return np.convolve(mask, np.ones(2 * frames + 1), mode="full")[frames : frames + len(mask)] > 0


def generate_motion(features: AudioFeatures, config: MotionConfig) -> MotionTrack:
    """The unweighted MotionTrack for the speech described by `features`; the same seed gives
    the same track. Weights are applied by `MotionTrack.weighted`."""
    rng = np.random.default_rng(config.seed)
    expression_rng, pose_rng = (np.random.default_rng(s) for s in rng.integers(2**32, size=2))
    emotion, intensity = config.emotion, config.emotion_intensity
    return MotionTrack(
        fps=features.fps,
        lip=lip_track(features, config.rest),
        expression=expression_track(features, expression_rng, gaze=config.gaze, emotion=emotion, intensity=intensity),
        pose=pose_track(features, pose_rng, emotion=emotion, intensity=intensity),
        meta={"seed": config.seed, "phones": features.phone_source, "gaze": config.gaze, "emotion": emotion, "emotion_intensity": intensity, "rest": config.rest},
    )
