"""The dub's stages between the engine's: the video tracked once, then its frames redrawn in
the order the new speech's length asks for.

    video ─► track (pass 1: landmarks to a file, the best mouth interior, the relaxed mouth) ─┐
    audio ─► lip level of the motion model ──────────────────────────────────────────────────┴─► frames (pass 2) ─► engine's writer
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import MediaError
from ..face.analysis import face_from_landmarks
from ..errors import FaceError
from ..face.tracking import STEADY_OVERLAP, FaceTrack, LiveTrack, track_source
from ..video.ffmpeg import last_line, run_ffmpeg
from ..video.frames import I420Frame
from ..video.source import VideoSource
from .interior import InteriorBank
from .mouth import MouthState, mouth_state, neutral_mouth
from .redraw import Redraw, redraw

log = logging.getLogger("talkinghead")

LOOPS = ("pingpong", "hold")
FADE_FRAMES = 4  # frames over which the new mouth fades in where the face is found, out where it is lost


LEAD_S = 3.0  # with the output shorter than the video, rendering starts once this much is tracked


@dataclass
class TrackedVideo:
    """What pass 1 learnt about the video (or is still learning, beside pass 2)."""

    source: VideoSource
    live: LiveTrack
    context: Redraw

    @property
    def track(self) -> FaceTrack:
        return self.live.track

    def strength(self, i: int) -> float:
        """How fully source frame i's mouth is redrawn: 0 without a face, rising to 1 over
        FADE_FRAMES frames from the nearest frame without one."""
        self.live.wait(i + FADE_FRAMES + 1)
        if not self.live.found_at(i):
            return 0.0
        last = self.live.frames
        near = [abs(t - i) for t in range(max(0, i - FADE_FRAMES), min(last, i + FADE_FRAMES + 1)) if not self.live.found_at(t)]
        return min(1.0, (min(near) if near else FADE_FRAMES + 1) / (FADE_FRAMES + 1))

    def first_face(self) -> np.ndarray:
        """(478, 3) landmarks of the first frame with a face (the lip-sync judge starts from it)."""
        t = 0
        while not self.live.found_at(t):
            t += 1
            self.live.wait(t + 1)
        return self.live.points(t)

    def close(self) -> None:
        self.live.close()


def track_for_dub(source: VideoSource, *, face_index: int | None, needed: int, progress: Callable[[int], None]) -> TrackedVideo:
    """Pass 1: follow the face over the first `needed` frames (the whole video when it is
    shorter); keep the best view of the mouth's inside and the mouth's states.

    When the speech is shorter than the video (by a second at least), the face is followed on
    a thread of its own and this returns once LEAD_S seconds are tracked: the interior and the
    relaxed mouth come from those, and pass 2 renders beside the tracking. Otherwise the whole
    video is tracked first (its length must be known to play it backwards).
    """
    info = source.info
    bank = InteriorBank()
    states: list[MouthState] = []
    lock = threading.Lock()  # the video may be tracked on two threads
    done = [0]
    lead = round(LEAD_S * info.fps)
    live_mode = needed <= info.frame_count - info.fps and needed > lead + STEADY_OVERLAP

    frozen = [False]  # the interior and the relaxed mouth are chosen: later frames add nothing

    def observe(t: int, frame: I420Frame, points: np.ndarray | None) -> None:
        with lock:
            if points is not None and not frozen[0]:
                states.append(mouth_state(points))
                bank.offer(frame, points, t, face_from_landmarks(points).yaw)
            done[0] += 1
            if not frozen[0]:
                progress(done[0])

    if live_mode:
        live = LiveTrack(source, stop=needed, face_index=face_index, observe=observe).start()
        try:
            # LEAD_S of frames with a face (the face may appear late), or the end of the track.
            reach = lead
            while True:
                live.wait(reach)
                with lock:
                    if len(states) >= lead or (states and live.finished):
                        frozen[0] = True
                        break
                if live.finished:
                    break
                reach += lead
        except BaseException:
            live.close()
            raise
    else:
        live = LiveTrack.done(track_source(source, stop=needed, face_index=face_index, observe=observe))
        source = source.counted(live.track.frames)
    with lock:
        context = Redraw(neutral_mouth(states), bank.best) if states else None
    if context is None:
        live.close()
        raise FaceError(f"no face found in any frame of {info.path.name}: give a video where the face is clearly visible, facing the camera")
    if bank.best is None:
        log.info("the mouth is never seen open in %s: a drawn mouth interior is used", info.path.name)
    return TrackedVideo(source, live, context)


def fade_strength(found: np.ndarray) -> np.ndarray:
    """(T,) float32: 0 where no face is found, rising to 1 over FADE_FRAMES frames from there."""
    distance = np.full(len(found), FADE_FRAMES + 1.0)
    last = None
    for t in range(len(found)):
        last = t if not found[t] else last
        distance[t] = min(distance[t], t - last if last is not None else FADE_FRAMES + 1)
    last = None
    for t in range(len(found) - 1, -1, -1):
        last = t if not found[t] else last
        distance[t] = min(distance[t], last - t if last is not None else FADE_FRAMES + 1)
    return np.clip(distance / (FADE_FRAMES + 1), 0, 1).astype(np.float32)


def frame_order(source_frames: int, output_frames: int, loop: str) -> Iterator[int]:
    """Source frame for each output frame: forwards, then for a longer output backwards and
    forwards again (pingpong) or the last frame held (hold); a shorter output is cut."""
    period = 2 * source_frames - 2
    for k in range(output_frames):
        if k < source_frames or source_frames == 1:
            yield min(k, source_frames - 1)
        elif loop == "hold":
            yield source_frames - 1
        else:
            i = k % period
            yield i if i < source_frames else period - i


def dub_frames(video: TrackedVideo, lips: np.ndarray, loop: str, progress: Callable[[int], None]) -> Iterator[I420Frame]:
    """Pass 2: the output frames, `lips` ((T_out, len(LIP_CHANNELS)), one row per output frame)
    saying the new mouth; frames without a face pass through as they are."""
    order = list(frame_order(video.source.info.frame_count, len(lips), loop))
    for k, (i, frame) in enumerate(zip(order, video.source.frames_in(order))):
        strength = video.strength(i)
        if strength > 0:
            frame = frame.copy()
            redraw(frame, video.live.points(i), lips[k], strength, video.context)
        progress(k + 1)
        yield frame


def mixed_audio(speech: Path, video: Path, gain: float) -> Path:
    """A temporary FLAC of the new speech with the video's own sound `gain` under it, as long as the speech."""
    handle, name = tempfile.mkstemp(prefix="talkinghead-mix-", suffix=".flac")
    os.close(handle)
    graph = f"[0:a:0]aresample=48000[a];[1:a:0]aresample=48000,volume={gain:.4f}[b];[a][b]amix=inputs=2:duration=first:normalize=0[out]"
    done = run_ffmpeg(["-y", "-loglevel", "error", "-i", str(speech), "-i", str(video), "-filter_complex", graph, "-map", "[out]", "-c:a", "flac", name])
    if done.returncode != 0:
        Path(name).unlink(missing_ok=True)
        raise MediaError(f"could not mix the video's own sound under the speech: {last_line(done.stderr)}")
    return Path(name)
