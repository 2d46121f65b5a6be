"""Talking-head clips with known motion, for the tests of videos in (tracking, dub, driving).

The bundled portrait is rendered by the engine's warp renderer, at 256², with a motion track
made here: its channels are the ground truth the tests check against.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from media import PORTRAIT
from talkinghead.types import EXPRESSION_CHANNELS, LIP_CHANNELS, POSE_CHANNELS, AudioClip, MotionTrack
from talkinghead.video.frames import I420Frame
from talkinghead.video.writer import VideoWriter

FPS = 25
SIDE = 256


def known_motion(frames: int = 50, *, jaw_period_s: float = 0.72, yaw_degrees: float = 8.0, blinks=(12, 36)) -> MotionTrack:
    """Jaw opening and closing at a steady rhythm, two blinks, the head turning to and fro."""
    t = np.arange(frames) / FPS
    motion = MotionTrack.still(frames, FPS)
    lip, expression, pose = motion.lip.copy(), motion.expression.copy(), motion.pose.copy()
    lip[:, LIP_CHANNELS.index("jaw_open")] = 0.3 * (1 - np.cos(2 * np.pi * t / jaw_period_s))
    lip[:, LIP_CHANNELS.index("articulate")] = 1.0  # absolute shapes: closed at 0, open at the peaks
    blink = np.zeros(frames, np.float32)
    for b in blinks:
        for d, v in zip(range(-2, 4), (0.4, 0.85, 1.0, 0.8, 0.45, 0.15)):
            if 0 <= b + d < frames:
                blink[b + d] = v
    expression[:, EXPRESSION_CHANNELS.index("blink_left")] = blink
    expression[:, EXPRESSION_CHANNELS.index("blink_right")] = blink
    pose[:, POSE_CHANNELS.index("yaw")] = yaw_degrees * np.sin(2 * np.pi * t / 1.6)
    return MotionTrack(FPS, lip, expression, pose)


def tone(seconds: float, freq: float = 440.0, rate: int = 16_000) -> AudioClip:
    t = np.arange(int(seconds * rate)) / rate
    samples = (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return AudioClip(samples, rate, original=samples[:, None], original_rate=rate)


_ANIMATORS: dict = {}


def rendered_frames(motion: MotionTrack) -> list[np.ndarray]:
    """(SIDE, SIDE, 3) uint8 RGB frames of the portrait moving as `motion` says."""
    from talkinghead.api import Animator

    if "a" not in _ANIMATORS:
        _ANIMATORS["a"] = Animator(PORTRAIT, size=SIDE)
    return list(_ANIMATORS["a"].frames(motion))


def write_clip(path: Path, frames, *, audio: AudioClip | None = None, crf: int = 0) -> Path:
    """An MP4 of RGB frames or I420Frames (lossless by default: what is read back is what was written)."""
    first = frames[0]
    size = first.size if isinstance(first, I420Frame) else (first.shape[1], first.shape[0])
    with VideoWriter(path, size=size, fps=FPS, audio=audio, crf=crf) as video:
        for frame in frames:
            video.write(frame)
    return path


def decoded(path: Path) -> list[I420Frame]:
    from talkinghead.video.source import open_video

    return list(open_video(path).frames())
