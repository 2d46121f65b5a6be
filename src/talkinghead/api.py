"""The Python API: `animate()` for one video, `Animator` to animate one portrait many times.

Both are a convenient surface over `talkinghead.engine.Engine`, which servers use directly.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
from tqdm import tqdm

from .config import AnimateConfig
from .engine import PORTRAIT_OPTIONS, AnimateResult, AudioInput, CancelToken, Engine, ImageInput, _path_of, flat_options
from .render.base import Progress, RenderRequest
from .types import ANALYSIS_RATE, AudioClip, MotionTrack, Portrait

_engine: Engine | None = None
_engine_lock = threading.Lock()


def default_engine() -> Engine:
    """The process's shared engine: renderers load once, whatever the number of Animators."""
    global _engine
    with _engine_lock:
        if _engine is None:
            _engine = Engine()
        return _engine


class ProgressBar:
    """A tqdm bar on standard error fed by progress(done, total, unit) calls."""

    def __init__(self) -> None:
        self._bar: tqdm | None = None

    def __call__(self, done: int, total: int, unit: str) -> None:
        if self._bar is None:
            self._bar = tqdm(total=total, unit=unit, desc="rendering" if unit == "frame" else "denoising", leave=False)
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


@contextlib.contextmanager
def _progress_callback(progress: bool | Progress) -> Iterator[Progress | None]:
    """True: a bar on standard error (closed afterwards); False: none; a callable: itself."""
    if progress is not True:
        yield progress or None
        return
    bar = ProgressBar()
    try:
        yield bar
    finally:
        bar.close()


class Animator:
    """Analyses a portrait once, then animates it with any number of speech recordings.

        animator = Animator("photo.jpg", lip_weight=1.2)
        animator.animate("hello.wav", "hello.mp4")
        animator.animate("bye.mp3", "bye.mp4", seed=3)

    Options are the CLI's, as keywords (see `talkinghead.config`). `engine`: share loaded
    models with other Animators (default: the process's shared engine).
    """

    def __init__(self, image: ImageInput, *, config: AnimateConfig | None = None, engine: Engine | None = None, **options: Any):
        self.config = (config or AnimateConfig()).replace(**options)
        self.engine = engine or default_engine()
        self.image_path = _path_of(image)
        self.subject = self.engine.prepare(image, self.config)

    @property
    def portrait(self) -> Portrait:
        return self.subject.portrait

    def _config_for_call(self, overrides: dict[str, Any]) -> AnimateConfig:
        fixed = PORTRAIT_OPTIONS & overrides.keys()
        if fixed:
            raise TypeError(f"{', '.join(sorted(fixed))} change the portrait itself: pass them to Animator(), not per call")
        return self.config.replace(**overrides)

    def load_audio(self, audio: AudioInput, **overrides: Any) -> AudioClip:
        return self.engine.load_audio(audio, self._config_for_call(overrides))

    def motion(self, audio: AudioInput, **overrides: Any) -> MotionTrack:
        """The motion track for `audio` (or the one in `motion_file`), each level scaled by its weight."""
        config = self._config_for_call(overrides)
        return self.engine.motion_for(self.engine.load_audio(audio, config), config)[0]

    def frames(self, motion: MotionTrack) -> Iterator[np.ndarray]:
        """(H, W, 3) uint8 RGB frames of the portrait moving as `motion` says (renderers that read motion)."""
        renderer = self.subject.renderer
        if not renderer.reads_motion:
            raise TypeError(f"frames(motion) renders motion tracks, which the {renderer.name} renderer does not read")
        silence = AudioClip(np.zeros(round(motion.frame_count / motion.fps * ANALYSIS_RATE), np.float32))
        request = RenderRequest(clip=silence, fps=motion.fps, frame_count=motion.frame_count, motion=motion, options=flat_options(self.config))
        return renderer.frames(self.subject.prepared, request, lambda done, total, unit: None)

    def animate(
        self,
        audio: AudioInput,
        output: str | os.PathLike,
        *,
        progress: bool | Progress = True,
        cancel: CancelToken | None = None,
        **overrides: Any,
    ) -> AnimateResult:
        """Write the talking-head video of `audio` to `output` (MP4).

        progress: True for a bar on standard error, False for none, or a callback
        (done, total, unit). cancel: a CancelToken another thread may cancel.
        """
        config = self._config_for_call(overrides)
        inputs = (self.image_path,) if self.image_path is not None else ()
        with _progress_callback(progress) as callback:
            return self.engine.render(self.subject, audio, output, config, progress=callback, cancel=cancel, inputs=inputs)


def animate(
    image: ImageInput,
    audio: AudioInput,
    output: str | os.PathLike,
    *,
    progress: bool | Progress = True,
    cancel: CancelToken | None = None,
    **options: Any,
) -> AnimateResult:
    """One portrait photo + one speech recording -> a talking-head MP4 at `output`.

        result = talkinghead.animate("photo.jpg", "speech.wav", "talking.mp4", pose_weight=0.5)
        print(result.output, result.duration, result.score_note)
    """
    config = AnimateConfig.from_options(**options)
    with _progress_callback(progress) as callback:
        return default_engine().animate(image, audio, output, config, progress=callback, cancel=cancel)


def dub(
    video: str | os.PathLike,
    audio: AudioInput,
    output: str | os.PathLike,
    *,
    progress: bool | Progress = True,
    cancel: CancelToken | None = None,
    engine: Engine | None = None,
    **options: Any,
) -> AnimateResult:
    """The person in `video` saying `audio`, written to `output` (MP4): mouth and jaw re-driven,
    the rest of every frame the video's own.

        result = talkinghead.dub("interview.mp4", "french.wav", "dubbed.mp4", loop="hold")
    """
    config = AnimateConfig.from_options(**options)
    with _progress_callback(progress) as callback:
        return (engine or default_engine()).dub(video, audio, output, config, progress=callback, cancel=cancel)
