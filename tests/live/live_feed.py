"""Feeding a live session in real time and recording what it shows, for the live tests."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np

from talkinghead.live.hosting import play_in_real_time


def feed_in_real_time(session, samples: np.ndarray, rate: int, *, after: float = 0.0, chunk_s: float = 0.02, phones=None) -> threading.Thread:
    """Push `samples` in `chunk_s` chunks at the pace they play, starting `after` seconds from
    now, on a thread. `phones`: [(phone, start, end)] of the whole signal, handed out per chunk."""

    def run():
        time.sleep(after)
        play_in_real_time(session, samples, rate, chunk_s=chunk_s, phones=phones)  # ends when the session closes

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
