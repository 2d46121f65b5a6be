"""The dub's stages between the engine's: the video tracked once, then its frames redrawn in
the order the new speech's length asks for.

    video ─► track (pass 1: landmarks to a file, the best mouth interior, the relaxed mouth) ─┐
    audio ─► lip level of the motion model ──────────────────────────────────────────────────┴─► frames (pass 2) ─► engine's writer
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import MediaError
from ..face.analysis import face_from_landmarks
from ..face.tracking import FaceTrack, track_video
from ..video.ffmpeg import last_line, run_ffmpeg
from ..video.frames import I420Frame
from ..video.source import VideoSource
from .interior import InteriorBank
from .mouth import MouthState, mouth_state, neutral_mouth
from .redraw import Redraw, redraw

log = logging.getLogger("talkinghead")

LOOPS = ("pingpong", "hold")
FADE_FRAMES = 4  # frames over which the new mouth fades in where the face is found, out where it is lost


@dataclass
class TrackedVideo:
    """What pass 1 learnt about the video."""

    source: VideoSource  # its frame count now exact
    track: FaceTrack
    context: Redraw
    strength: np.ndarray  # (T,) float32 in [0, 1]: how fully each source frame's mouth is redrawn

    def close(self) -> None:
        self.track.close()


def track_for_dub(source: VideoSource, *, face_index: int | None, needed: int, progress: Callable[[int], None]) -> TrackedVideo:
    """Pass 1: follow the face over the first `needed` frames (the whole video when it is
    shorter); keep the best view of the mouth's inside and the mouth's states."""
    bank = InteriorBank()
    states: list[MouthState] = []

    def observe(t: int, frame: I420Frame, points: np.ndarray | None) -> None:
        if points is not None:
            states.append(mouth_state(points))
            bank.offer(frame, points, t, face_from_landmarks(points).yaw)
        progress(t + 1)

    info = source.info
    track = track_video(source.frames(0, needed), fps=info.fps, size=info.size, expected=info.frame_count, face_index=face_index, observe=observe, name=info.path.name)
    lost = int((~track.found).sum())
    if lost:
        log.warning("%d of %d frames show no face we can follow: they are kept as they are", lost, track.frames)
    if bank.best is None:
        log.info("the mouth is never seen open in %s: a drawn mouth interior is used", info.path.name)
    return TrackedVideo(source.counted(track.frames), track, Redraw(neutral_mouth(states), bank.best), fade_strength(track.found))


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
        strength = float(video.strength[i]) if i < len(video.strength) else 0.0
        if strength > 0:
            frame = frame.copy()
            redraw(frame, np.asarray(video.track.landmarks[i]), lips[k], strength, video.context)
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
