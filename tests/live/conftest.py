"""Shared pieces of the live tests: one engine and one analysed portrait for all, speech fed
in real time (live_feed.py), frames collected for a while."""

from __future__ import annotations

import sys
import wave
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from media import PORTRAIT, SPEECH  # noqa: E402


@pytest.fixture(scope="session")
def engine():
    from talkinghead.engine import Engine

    return Engine()


@pytest.fixture(scope="session")
def live_portrait():
    from talkinghead.config import AnimateConfig
    from talkinghead.engine import load_portrait

    return load_portrait(PORTRAIT, AnimateConfig())


@pytest.fixture(scope="session")
def speech() -> tuple[np.ndarray, int]:
    """The first 3 s of the bundled speech: (int16 samples, rate)."""
    with wave.open(str(SPEECH)) as w:
        rate = w.getframerate()
        samples = np.frombuffer(w.readframes(w.getnframes()), np.int16)
        if w.getnchannels() > 1:
            samples = samples.reshape(-1, w.getnchannels())[:, 0]
    return samples[: 3 * rate].copy(), rate


@pytest.fixture
def new_session(engine, live_portrait):
    """new_session(**options) -> a LiveSession of the sample portrait, closed after the test."""
    from talkinghead.live import LiveSession

    made = []

    def make(**options):
        session = LiveSession(live_portrait, engine=engine, **options)
        made.append(session)
        return session

    yield make
    for session in made:
        session.close()
