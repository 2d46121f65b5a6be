"""Media helpers of the evaluation tests: paths, another person's photo, videos and shifted speech."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from talkinghead.types import AudioClip
from talkinghead.video.writer import VideoWriter

ROOT = Path(__file__).resolve().parents[2]
PORTRAIT = ROOT / "assets" / "portrait.png"
SPEECH = ROOT / "assets" / "speech.wav"
FPS = 25
SIZE = 256


def other_person() -> Path:
    """A photo of someone else: Grace Hopper (public domain), shipped in matplotlib's sample data."""
    from matplotlib import cbook

    return Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))


def write_video(path: Path, frames, audio: AudioClip | None, fps: float = FPS) -> Path:
    frames = iter(frames)
    first = next(frames)
    with VideoWriter(path, size=(first.shape[1], first.shape[0]), fps=fps, audio=audio, crf=18) as video:
        video.write(first)
        for frame in frames:
            video.write(frame)
    return path


def shifted(clip: AudioClip, frames: float, fps: float = FPS) -> AudioClip:
    """The speech delayed by `frames` video frames (advanced when negative), same length."""
    n = int(round(frames * clip.rate / fps))
    samples = np.zeros_like(clip.samples)
    if n >= 0:
        samples[n:] = clip.samples[: len(samples) - n]
    else:
        samples[:n] = clip.samples[-n:]
    return AudioClip(samples, clip.rate)
