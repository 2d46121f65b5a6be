"""Live sessions held by a server: each runs its frames on a thread of its own and hands them
to whoever reads (a WebRTC track, a WebSocket), and is closed when no one has read for a while."""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import InputError
from .session import LiveFrame, LiveSession

log = logging.getLogger("talkinghead")
BACKLOG = 4  # frames a reader may fall behind before the oldest are dropped
CHUNK_S = 0.02  # a file played into a session goes in chunks of this length, in real time


def play_in_real_time(session: LiveSession, samples: np.ndarray, rate: int, *, chunk_s: float = CHUNK_S,
                      phones=None, stop: threading.Event | None = None) -> bool:
    """Push `samples` into `session` in `chunk_s` chunks at the pace they play (a file played as
    a stream), returning when done (True) or stopped (False: `stop` set, or the session closed).
    `phones`: [(phone, start, end)] of the whole signal, each chunk given its own, in its time."""
    step = max(1, round(chunk_s * rate))
    started = time.monotonic()
    for i in range(0, len(samples), step):
        if (stop is not None and stop.is_set()) or session.closed:
            return False
        t0, t1 = i / rate, min(len(samples), i + step) / rate
        mine = None if phones is None else [(p, max(s, t0) - t0, min(e, t1) - t0) for p, s, e in phones if e > t0 and s < t1]
        try:
            session.push_audio(samples[i : i + step], rate, phones=mine)
        except InputError:  # closed meanwhile
            return False
        wait = started + (i + step) / rate - time.monotonic()
        if wait > 0:
            if stop is not None:
                stop.wait(wait)
            else:
                time.sleep(wait)
    return True


class Reader:
    """One consumer's queue of frames, on the server's event loop."""

    def __init__(self, hosted: Hosted):
        self.hosted = hosted
        self.queue: asyncio.Queue[LiveFrame | None] = asyncio.Queue(maxsize=BACKLOG)

    async def get(self) -> LiveFrame | None:
        """The next frame, or None once the session is closed."""
        frame = await self.queue.get()
        self.hosted.last_read = time.monotonic()
        return frame

    def offer(self, frame: LiveFrame | None) -> None:  # on the loop
        if self.queue.full():
            self.queue.get_nowait()  # a slow reader loses its oldest frame, not the newest
        self.queue.put_nowait(frame)

    def close(self) -> None:
        self.hosted.detach(self)


class Hosted:
    """A LiveSession, the thread that draws its frames, and its readers."""

    def __init__(self, session: LiveSession, loop: asyncio.AbstractEventLoop, *, on_close: Callable[[Hosted], None]):
        self.id = secrets.token_urlsafe(12)
        self.session = session
        self.loop = loop
        self.created = self.last_read = time.monotonic()
        self._readers: set[Reader] = set()
        self._lock = threading.Lock()
        self._on_close = on_close
        self._player: threading.Thread | None = None
        self._player_stop = threading.Event()
        self._thread = threading.Thread(target=self._draw, name=f"live-{self.id}", daemon=True)
        self._thread.start()

    def attach(self) -> Reader:
        reader = Reader(self)
        with self._lock:
            self._readers.add(reader)
        self.last_read = time.monotonic()
        return reader

    def detach(self, reader: Reader) -> None:
        with self._lock:
            self._readers.discard(reader)

    @property
    def readers(self) -> int:
        with self._lock:
            return len(self._readers)

    def _draw(self) -> None:
        try:
            for _, frame in self.session.frames():
                self._hand_out(frame)
        except Exception:  # a bug in one session must not take the server down
            log.exception("live session %s stopped", self.id)
        finally:
            self.session.close()
            self._hand_out(None)
            self._on_close(self)

    def _hand_out(self, frame: LiveFrame | None) -> None:
        with self._lock:
            readers = list(self._readers)
        for reader in readers:
            try:
                self.loop.call_soon_threadsafe(reader.offer, frame)
            except RuntimeError:  # the loop is gone: the server is stopping
                return

    def play(self, samples: np.ndarray, rate: int) -> None:
        """Push `samples` into the session in CHUNK_S chunks at the pace they play (a file
        played as a stream); a later play or an interrupt stops the one before."""
        self.stop_playing()
        stop = threading.Event()

        def run() -> None:
            play_in_real_time(self.session, samples, rate, stop=stop)

        self._player_stop = stop
        self._player = threading.Thread(target=run, name=f"live-play-{self.id}", daemon=True)
        self._player.start()

    def stop_playing(self) -> None:
        self._player_stop.set()

    def interrupt(self) -> None:
        self.stop_playing()
        self.session.interrupt()

    def close(self) -> None:
        self.stop_playing()
        self.session.close()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def describe(self) -> dict[str, Any]:
        s = self.session
        return {
            "id": self.id, "fps": s.fps, "audio_rate": s.rate, "width": s.subject.portrait.size[0],
            "height": s.subject.portrait.size[1], "lookahead_ms": s.live.lookahead_ms, "readers": self.readers,
            "dropped_frames": s.dropped, "speaking": s.speaking,
        }


class Sessions:
    """The sessions of one server: at most `limit`, each closed after `timeout` s unread."""

    def __init__(self, limit: int, timeout: float):
        self.limit, self.timeout = limit, timeout
        self._by_id: dict[str, Hosted] = {}
        self._lock = threading.Lock()
        self._starting = 0

    def reserve(self) -> bool:
        """Hold a place for a session being prepared; False when the server is full."""
        with self._lock:
            if len(self._by_id) + self._starting >= self.limit:
                return False
            self._starting += 1
            return True

    def release(self) -> None:
        with self._lock:
            self._starting -= 1

    def add(self, session: LiveSession, loop: asyncio.AbstractEventLoop) -> Hosted:
        hosted = Hosted(session, loop, on_close=self._closed)
        with self._lock:
            self._starting -= 1
            self._by_id[hosted.id] = hosted
        log.info("live session %s opened (%d of %d)", hosted.id, len(self._by_id), self.limit)
        return hosted

    def get(self, session_id: str) -> Hosted | None:
        with self._lock:
            return self._by_id.get(session_id)

    def all(self) -> list[Hosted]:
        with self._lock:
            return list(self._by_id.values())

    def _closed(self, hosted: Hosted) -> None:
        with self._lock:
            if self._by_id.pop(hosted.id, None) is not None:
                log.info("live session %s closed", hosted.id)

    def reap(self) -> None:
        """Close the sessions no one has read from for `timeout` seconds."""
        now = time.monotonic()
        for hosted in self.all():
            if now - hosted.last_read > self.timeout:
                log.info("live session %s unread for %.0f s: closing it", hosted.id, now - hosted.last_read)
                hosted.close()

    def close_all(self, timeout: float = 2.0) -> None:
        hosted = self.all()
        for h in hosted:
            h.close()
        for h in hosted:
            h.join(timeout)
