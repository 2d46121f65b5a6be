"""Media for the evaluation tests, made once per session: renders of the bundled portrait."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from talkinghead.api import Animator
from talkinghead.audio.decode import load_audio
from talkinghead.eval.landmarks import FaceTracker
from talkinghead.types import AudioClip
from talkinghead.video.reader import read_frames
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
    with VideoWriter(path, size=(first.shape[1], first.shape[0]), fps=fps, audio=audio) as video:
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


@pytest.fixture(scope="session")
def speech() -> AudioClip:
    return load_audio(SPEECH)


@pytest.fixture(scope="session")
def animator() -> Animator:
    return Animator(PORTRAIT, size=SIZE)


@pytest.fixture(scope="session")
def rendered(tmp_path_factory, animator: Animator) -> Path:
    """The portrait speaking assets/speech.wav, 256 x 256, 10.7 s at 25 fps."""
    path = tmp_path_factory.mktemp("eval") / "talking.mp4"
    return animator.animate(SPEECH, path, progress=False)


@pytest.fixture(scope="session")
def rendered_points(rendered: Path) -> np.ndarray:
    """(T, 68, 2) dlib landmarks of every frame of `rendered`."""
    tracker = FaceTracker()
    return np.stack([tracker.update(frame).points for frame in read_frames(rendered)])


@pytest.fixture(scope="session")
def still(tmp_path_factory, rendered: Path, speech: AudioClip) -> Path:
    """The first frame of `rendered` held for the whole speech: a photo with a soundtrack."""
    first = next(read_frames(rendered))
    path = tmp_path_factory.mktemp("eval") / "still.mp4"
    return write_video(path, (first for _ in range(speech.frame_count(FPS))), speech)
