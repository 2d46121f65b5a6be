"""Per-video-frame audio features: loudness, voice activity, prosody and timed phones."""

from __future__ import annotations

from ..types import AudioClip, AudioFeatures
from .loudness import loudness_envelope
from .phones import align_transcript, recognize_phones
from .prosody import analyze_prosody
from .vad import voice_per_frame


def analyze_audio(clip: AudioClip, fps: float, *, transcript: str | None = None) -> AudioFeatures:
    """Everything the motion levels need, on the clip's `clip.frame_count(fps)` frames.

    With a transcript the phones are force-aligned to its words (stretches where that fails
    are recognised instead, with a warning); without one they are recognised from the audio.
    """
    frames = clip.frame_count(fps)
    if transcript:
        phones, source = align_transcript(clip, transcript), "aligned"
    else:
        phones, source = recognize_phones(clip), "recognized"
    return AudioFeatures(
        fps=fps,
        loudness=loudness_envelope(clip.samples, clip.rate, fps, frames),
        voice=voice_per_frame(clip.samples, fps, frames),
        prosody=analyze_prosody(clip, fps, frames),
        phones=tuple(phones),
        phone_source=source,
    )
