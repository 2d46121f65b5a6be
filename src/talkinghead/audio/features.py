"""Per-video-frame audio features: loudness and voice activity."""

from __future__ import annotations

from ..types import AudioClip, AudioFeatures
from .loudness import loudness_envelope
from .vad import voice_per_frame


def analyze_audio(clip: AudioClip, fps: float) -> AudioFeatures:
    """Loudness envelope and voice activity at each of the clip's `clip.frame_count(fps)` frames."""
    frames = clip.frame_count(fps)
    return AudioFeatures(
        fps=fps,
        loudness=loudness_envelope(clip.samples, clip.rate, fps, frames),
        voice=voice_per_frame(clip.samples, fps, frames),
    )
