"""Media for the evaluation tests, made once per session: renders of the bundled portrait."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from eval_media import FPS, PORTRAIT, SIZE, SPEECH, write_video

from talkinghead.api import Animator
from talkinghead.audio.decode import load_audio
from talkinghead.eval.landmarks import FaceTracker
from talkinghead.types import AudioClip
from talkinghead.video.reader import read_frames


@pytest.fixture(scope="session")
def speech() -> AudioClip:
    return load_audio(SPEECH, max_duration=None)


@pytest.fixture(scope="session")
def animator() -> Animator:
    # Lips that close in pauses: what the measures of lip motion against loudness are checked on.
    return Animator(PORTRAIT, size=SIZE, rest="closed")


@pytest.fixture(scope="session")
def rendered(tmp_path_factory, animator: Animator) -> Path:
    """The portrait speaking assets/speech.wav, 256 x 256, 10.7 s at 25 fps."""
    path = tmp_path_factory.mktemp("eval") / "talking.mp4"
    return animator.animate(SPEECH, path, progress=False).output


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
