"""The dub's backends: what re-draws the mouth of the tracked video, chosen by `dub --backend`.

    backend = dub_backend_class(name).load(options)     # its models loaded once
    speech = backend.speech(engine, clip, config)        # what the new speech drives, before pass 2
    work = backend.work(frames_out, options)             # progress total and unit
    for frame in backend.frames(video, speech, frames_out, options, progress): ...

`warp` (the default) redraws mouth and jaw from the lip level of our motion model;
`latentsync` runs the LatentSync model on aligned face crops. Both see the same tracked video
(talkinghead.dubbing.pipeline) and the same length rules, and frames without a face pass through.
Registered like the renderers (talkinghead.registry); packages add theirs through the
`talkinghead.dub_backends` entry-point group.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ..registry import Registry
from ..render.base import Work
from ..types import AudioClip
from ..video.frames import I420Frame

if TYPE_CHECKING:
    from ..config import AnimateConfig
    from ..engine import Engine
    from .pipeline import TrackedVideo

UnitsDone = Callable[[int], None]
"""progress(done): `done` of the backend's Work units finished so far."""


@dataclass(frozen=True)
class DubSpeech:
    """What a backend made of the new speech before the frames: its own data, and where the
    mouth's motion comes from in words (AnimateResult.motion)."""

    data: Any
    source: str


class DubBackend(Protocol):
    name: str  # the dub --backend name it is registered under
    options: frozenset[str]  # config option names it honours beyond DUB_COMMON_OPTIONS
    device: str  # where it runs, in words (instance attribute, once loaded)

    @classmethod
    def load(cls, options: dict[str, Any]) -> DubBackend:
        """The backend with its models loaded; options by the config's names."""

    def speech(self, engine: Engine, clip: AudioClip, config: AnimateConfig) -> DubSpeech: ...

    def work(self, frames_out: int, options: dict[str, Any]) -> Work: ...

    def frames(self, video: TrackedVideo, speech: DubSpeech, frames_out: int, options: dict[str, Any], progress: UnitsDone) -> Iterator[I420Frame | np.ndarray]:
        """frames_out frames (I420Frame or (H, W, 3) uint8 RGB) of the video saying the speech."""


DUB_BACKENDS = Registry("dub backend", "talkinghead.dub_backends", {
    "warp": "talkinghead.dubbing.backend:WarpDub",
    "latentsync": "talkinghead.dubbing.latentsync.backend:LatentSyncDub",
})


def dub_backend_names() -> tuple[str, ...]:
    return DUB_BACKENDS.names()


def dub_backend_class(name: str) -> type[DubBackend]:
    return DUB_BACKENDS.get(name)


class WarpDub:
    """Mouth and jaw redrawn by mesh warp from the lip level of the motion model (any CPU)."""

    name = "warp"
    options = frozenset({"lip_weight", "transcript"})
    device = "the CPU"

    @classmethod
    def load(cls, options: dict[str, Any]) -> WarpDub:
        return cls()

    def speech(self, engine: Engine, clip: AudioClip, config: AnimateConfig) -> DubSpeech:
        from ..engine import dub_motion_config

        motion, phones = engine.motion_for(clip, dub_motion_config(config))
        return DubSpeech(motion.lip, phones)

    def work(self, frames_out: int, options: dict[str, Any]) -> Work:
        return Work(frames_out, "frame")

    def frames(self, video: TrackedVideo, speech: DubSpeech, frames_out: int, options: dict[str, Any], progress: UnitsDone) -> Iterator[I420Frame]:
        from .pipeline import dub_frames

        return dub_frames(video, speech.data, options["loop"], progress)
