"""Per-video-frame audio features: loudness, voice activity, prosody and timed phones."""

from __future__ import annotations

from ..types import AudioClip, AudioFeatures
from .loudness import loudness_envelope
from .phones import align_transcript, recognize_phones
from .prosody import analyze_prosody
from .vad import speech_probability, voice_per_frame


def analyze_audio(clip: AudioClip, fps: float, *, transcript: str | None = None) -> AudioFeatures:
    """Everything the motion levels need, on the clip's `clip.frame_count(fps)` frames.

    With a transcript the phones are force-aligned to its words (stretches where that fails
    are recognised instead, with a warning); without one they are recognised from the audio.
    """
    frames = clip.frame_count(fps)
    # The voice model and the loudness serve several analyses: computed once, handed on.
    windows = speech_probability(clip.samples)
    loudness = loudness_envelope(clip.samples, clip.rate, fps, frames)
    if transcript:
        phones, source = align_transcript(clip, transcript, voice_windows=windows), "aligned"
    else:
        phones, source = recognize_phones(clip, voice_windows=windows), "recognized"
    return AudioFeatures(
        fps=fps,
        loudness=loudness,
        voice=voice_per_frame(clip.samples, fps, frames, windows=windows),
        prosody=analyze_prosody(clip, fps, frames, voice_windows=windows, loudness=loudness),
        phones=tuple(phones),
        phone_source=source,
    )
