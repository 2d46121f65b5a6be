"""Shared pieces of the live tests: one engine and one analysed portrait for all, speech fed
in real time, frames collected for a while."""

from __future__ import annotations

import sys
import threading
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from media import PORTRAIT, SPEECH  # noqa: E402

from talkinghead.errors import InputError  # noqa: E402


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


def feed_in_real_time(session, samples: np.ndarray, rate: int, *, after: float = 0.0, chunk_s: float = 0.02, phones=None) -> threading.Thread:
    """Push `samples` in `chunk_s` chunks at the pace they play, starting `after` seconds from
    now, on a thread. `phones`: [(phone, start, end)] of the whole signal, handed out per chunk."""

    def run():
        time.sleep(after)
        step = round(chunk_s * rate)
        started = time.monotonic()
        for i in range(0, len(samples), step):
            t0, t1 = i / rate, min(len(samples), i + step) / rate
            mine = None
            if phones is not None:
                mine = [(p, max(s, t0) - t0, min(e, t1) - t0) for p, s, e in phones if e > t0 and s < t1]
            try:
                session.push_audio(samples[i : i + step], rate, phones=mine)
            except InputError:  # the session was closed: the test is over
                return
            wait = started + (i + step) / rate - time.monotonic()
            if wait > 0:
                time.sleep(wait)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@dataclass
class Recording:
    timestamps: list[float] = field(default_factory=list)
    received: list[float] = field(default_factory=list)  # time.monotonic() when each frame came
    latencies: list[float] = field(default_factory=list)  # seconds from a chunk's arrival to its frame
    frames: list = field(default_factory=list)

    @property
    def lip(self) -> np.ndarray:
        return np.array([f.lip for f in self.frames])

    @property
    def expression(self) -> np.ndarray:
        return np.array([f.expression for f in self.frames])

    @property
    def pose(self) -> np.ndarray:
        return np.array([f.pose for f in self.frames])

    @property
    def audio(self) -> np.ndarray:
        return np.concatenate([f.audio for f in self.frames])


def record(session, seconds: float, *, keep_images: bool = False, on_frame=None) -> Recording:
    """Read the session's frames for `seconds` of its time."""
    out = Recording()
    for timestamp, frame in session.frames():
        now = time.monotonic()
        out.timestamps.append(timestamp)
        out.received.append(now)
        out.latencies += [now - a for a in frame.arrivals]
        out.frames.append(frame if keep_images else _without_image(frame))
        if on_frame is not None:
            on_frame(timestamp, frame)
        if timestamp >= seconds:
            break
    return out


def _without_image(frame):
    from dataclasses import replace

    return replace(frame, image=frame.image[:1, :1])
