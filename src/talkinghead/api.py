"""The Python API: `animate()` for one video, `Animator` to animate one portrait many times."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from .audio.decode import load_audio
from .config import AnimateConfig, BackendConfig, FaceConfig
from .errors import ModelError
from .face.analysis import analyze_face
from .face.crop import crop_portrait, face_crop
from .image import portrait_photo
from .motion.generate import motion_for
from .render.warp.renderer import WarpRenderer
from .types import AudioClip, Face, MotionTrack, Portrait
from .video.writer import VideoWriter, check_output_path

log = logging.getLogger("talkinghead")

ImageInput = str | os.PathLike | np.ndarray
AudioInput = str | os.PathLike | tuple[np.ndarray, int] | AudioClip
_PORTRAIT_OPTIONS = set(FaceConfig.__dataclass_fields__) | set(BackendConfig.__dataclass_fields__) | {"size"}


def _path_of(source: Any) -> Path | None:
    return Path(source) if isinstance(source, (str, os.PathLike)) else None


class Animator:
    """Analyses a portrait once, then animates it with any number of speech recordings.

        animator = Animator("photo.jpg", lip_weight=1.2)
        animator.animate("hello.wav", "hello.mp4")
        animator.animate("bye.mp3", "bye.mp4", seed=3)

    Options are the CLI's, as keywords (see `talkinghead.config`).
    """

    def __init__(self, image: ImageInput, *, config: AnimateConfig | None = None, **options: Any):
        self.config = (config or AnimateConfig()).replace(**options)
        self.image_path = _path_of(image)
        self.portrait = self._load_portrait(image)
        self.renderer = _renderer(self.config.backend)

    def _load_portrait(self, image: ImageInput) -> Portrait:
        face, out = self.config.face, self.config.output
        photo = portrait_photo(image, max_pixels=face.max_pixels, max_side=face.max_side)
        portrait = analyze_face(photo, face_index=face.face_index)
        if out.size is not None:
            crop = face_crop(portrait.face, portrait.size, size=out.size, face_expand_ratio=face.face_expand_ratio)
            portrait = crop_portrait(portrait, crop)
        return portrait

    def _config_for_call(self, overrides: dict[str, Any]) -> AnimateConfig:
        fixed = _PORTRAIT_OPTIONS & overrides.keys()
        if fixed:
            raise TypeError(f"{', '.join(sorted(fixed))} change the portrait itself: pass them to Animator(), not per call")
        return self.config.replace(**overrides)

    def load_audio(self, audio: AudioInput, **overrides: Any) -> AudioClip:
        config = self._config_for_call(overrides)
        return audio if isinstance(audio, AudioClip) else load_audio(audio, max_duration=config.output.max_duration)

    def motion(self, audio: AudioInput, **overrides: Any) -> MotionTrack:
        """The motion track for `audio` (or the one in `motion_file`), each level scaled by its weight."""
        return motion_for(self.load_audio(audio, **overrides), self._config_for_call(overrides))

    def frames(self, motion: MotionTrack) -> Iterator[np.ndarray]:
        """(H, W, 3) uint8 RGB frames of the portrait moving as `motion` says (warp renderer)."""
        if not isinstance(self.renderer, WarpRenderer):
            raise TypeError("frames(motion) renders motion tracks, which only the warp renderer reads")
        return self.renderer.frames(self.portrait, motion)

    def _rendered(self, clip: AudioClip, config: AnimateConfig, bar: tqdm) -> Iterator[np.ndarray]:
        """The video's frames for `clip`, advancing `bar` (frames, or denoising steps for hallo)."""
        fps, m, b = config.output.fps, config.motion, config.backend
        if isinstance(self.renderer, WarpRenderer):
            bar.reset(total=clip.frame_count(fps))
            for frame in self.renderer.frames(self.portrait, motion_for(clip, config)):
                bar.update()
                yield frame
            return
        bar.reset(total=self.renderer.steps_total(clip, fps, b.steps))
        bar.unit, bar.desc = "step", "denoising"
        yield from self.renderer.frames(
            self.portrait, clip, fps=fps, face_expand_ratio=config.face.face_expand_ratio,
            square_output=config.output.size is not None, progress=lambda done, total: bar.update(done - bar.n),
            steps=b.steps, cfg_scale=b.cfg_scale, seed=m.seed,
            pose_weight=m.pose_weight, face_weight=m.expression_weight, lip_weight=m.lip_weight,
        )

    def animate(self, audio: AudioInput, output: str | os.PathLike, *, progress: bool = True, **overrides: Any) -> Path:
        """Write the talking-head video of `audio` to `output` (MP4); returns its path."""
        config = self._config_for_call(overrides)
        inputs = [p for p in (self.image_path, _path_of(audio)) if p is not None] + config.input_files()
        path = check_output_path(output, inputs=inputs)
        clip = self.load_audio(audio, **overrides)
        out = config.output
        width, height = self.portrait.size
        log.info(
            "%s renderer on %s: %dx%d, %d frames at %g fps (%.1f s of audio)",
            self.renderer.name, self.renderer.device, width, height, clip.frame_count(out.fps), out.fps, clip.duration,
        )
        scorer = _sync_scorer(self.portrait.face) if out.score else None
        with (
            VideoWriter(path, size=(width, height), fps=out.fps, audio=clip, crf=out.crf, frames_dir=out.frames_dir) as video,
            tqdm(unit="frame", desc="rendering", disable=not progress, leave=False) as bar,
            scorer or contextlib.nullcontext(),
        ):
            for frame in self._rendered(clip, config, bar):
                video.write(frame)
                if scorer is not None:
                    scorer.add(frame)
        if scorer is not None:
            log.info(scorer.score(clip, out.fps).summary(out.fps))
        return path


def _sync_scorer(face: Face):
    """The cheap lip-sync scorer of talkinghead.eval, or None (with a hint) without the eval extra.

    It starts from the face box we already know, in the box convention of dlib's detector
    (brows to chin: a little lower at the top, a little higher at the bottom than ours); the
    landmarks it judges the video by are still dlib's own.
    """
    try:
        from .eval.landmarks import check_models
        from .eval.sync import BackgroundScorer, SyncScorer

        check_models()
    except (ImportError, ModelError) as error:
        log.info("no lip-sync score (%s)", error)
        return None
    x0, y0, x1, y1 = face.box
    return BackgroundScorer(SyncScorer(face_box=np.array([x0, y0 + 0.08 * face.height, x1, y1 - 0.04 * face.height])))


def _renderer(config: BackendConfig):
    """The renderer `config` asks for; the hallo backend imports torch only when chosen."""
    if config.backend == "hallo":
        from .render.hallo.renderer import HalloRenderer

        return HalloRenderer(config.weights, device=config.device, render_size=config.render_size)
    return WarpRenderer()


def animate(image: ImageInput, audio: AudioInput, output: str | os.PathLike, *, progress: bool = True, **options: Any) -> Path:
    """One portrait photo + one speech recording -> a talking-head MP4 at `output`.

        talkinghead.animate("photo.jpg", "speech.wav", "talking.mp4", pose_weight=0.5)
    """
    check_output_path(output, inputs=[p for p in (_path_of(image), _path_of(audio)) if p is not None])
    return Animator(image, **options).animate(audio, output, progress=progress)
