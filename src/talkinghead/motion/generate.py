"""Motion from speech: the three levels of Hallo's hierarchy, each generated on its own.

    lip         phones ─► visemes ─► coarticulated mouth shapes, scaled by loudness
    expression  blinks (drawn to pauses), gaze, brows on emphasis, emotion
    pose        drift while speaking, nods on emphasis, settling in pauses, breathing
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..audio.features import analyze_audio
from ..config import AnimateConfig
from ..types import LIP_CHANNELS, AudioClip, AudioFeatures, MotionTrack
from .expression import expression_track
from .lip import lip_curves
from .pose import pose_track
from .signals import speaking
from .track_io import fitted_track
from .visemes import rest_viseme


def lip_track(features: AudioFeatures, rest: str = "photo") -> np.ndarray:
    """(T, len(LIP_CHANNELS)) float32: mouth shapes from the phones, only where voice is heard.

    The voice gate keeps the mouth at rest (`rest`, visemes.REST_MODES) on noise the phone
    recogniser mistakes for speech. Lips pressed shut pass it: the closure of a "p" or "b"
    is silent, and on a photo whose rest is an open smile the gate would open them.
    """
    curves = lip_curves(list(features.phones), features.loudness, features.fps, rest)
    voice = speaking(features.voice, features.fps)
    pressed = curves[:, LIP_CHANNELS.index("lips_press")] >= 0.99
    pressed = np.convolve(pressed, np.ones(3), mode="same") > 0  # and the frames either side
    # Only next to heard speech: a closure the recogniser finds in a long silence is noise.
    pressed &= np.convolve(voice > 0.5, np.ones(5), mode="same") > 0
    gate = np.maximum(voice, pressed)[:, None]
    return (gate * curves + (1 - gate) * np.asarray(rest_viseme(rest).shape)).astype(np.float32)


def generate_motion(
    features: AudioFeatures,
    *,
    seed: int = 0,
    gaze: str = "camera",
    emotion: str = "neutral",
    emotion_intensity: float = 1.0,
    rest: str = "photo",
) -> MotionTrack:
    """A MotionTrack for the speech described by `features`; the same seed gives the same track."""
    rng = np.random.default_rng(seed)
    expression_rng, pose_rng = (np.random.default_rng(s) for s in rng.integers(2**32, size=2))
    return MotionTrack(
        fps=features.fps,
        lip=lip_track(features, rest),
        expression=expression_track(features, expression_rng, gaze=gaze, emotion=emotion, intensity=emotion_intensity),
        pose=pose_track(features, pose_rng, emotion=emotion, intensity=emotion_intensity),
        meta={"seed": seed, "phones": features.phone_source, "gaze": gaze, "emotion": emotion, "emotion_intensity": emotion_intensity, "rest": rest},
    )


def motion_for(clip: AudioClip, config: AnimateConfig) -> MotionTrack:
    """The motion track to render (made from the speech, or read from --motion), weighted."""
    m, fps = config.motion, config.output.fps
    track = fitted_track(m.motion_file, clip.frame_count(fps), fps) if m.motion_file else _made_from_speech(clip, config)
    return track.weighted(lip=m.lip_weight, expression=m.expression_weight, pose=m.pose_weight)


def _made_from_speech(clip: AudioClip, config: AnimateConfig) -> MotionTrack:
    """The unweighted motion track the speech in `clip` calls for."""
    m = config.motion
    features = analyze_audio(clip, config.output.fps, transcript=read_transcript(m.transcript))
    return generate_motion(features, seed=m.seed, gaze=m.gaze, emotion=m.emotion, emotion_intensity=m.emotion_intensity, rest=m.rest)


def read_transcript(value: str | None) -> str | None:
    """--transcript takes the words themselves or a text file holding them."""
    if value and len(value) < 4096 and Path(value).is_file():
        return Path(value).read_text(encoding="utf-8", errors="replace")
    return value
