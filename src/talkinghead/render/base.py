"""The renderer contract: what every backend (warp, hallo, and later ones) offers the engine.

    renderer = renderer_class(name).load(options)    # loads its models once
    prepared = renderer.prepare(portrait)             # once per portrait: rig, reference features...
    work = renderer.work(request)                     # how much a request is: frames or steps
    for frame in renderer.frames(prepared, request, progress):
        ...                                           # (H, W, 3) uint8 RGB, H×W = portrait.size

A renderer class registers under its name (`register_renderer`), and the engine finds it
there: `--backend NAME` needs no change anywhere else. A package of its own can register one
through the `talkinghead.renderers` entry point group ("module:Class").

A renderer that only works on a square face crop (Hallo's 512²) says so with `square_side`;
the engine then wraps it in `CroppedRenderer`, which crops the portrait around the face and
pastes every frame back into the photo, so no renderer handles crops itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import cv2
import numpy as np

from ..registry import Registry
from ..face.crop import Crop, PasteBack, crop_portrait, face_crop
from ..types import AudioClip, MotionTrack, Portrait

Progress = Callable[[int, int, str], None]
"""progress(done, total, unit): `done` of `total` units ("frame", "step") finished so far."""


@dataclass(frozen=True)
class Work:
    """How much one request is for a renderer, in the unit its progress counts."""

    total: int
    unit: str  # "frame" or "step"


@dataclass(frozen=True)
class RenderRequest:
    """One video to render from a prepared portrait: the speech, its motion, the knobs.

    `motion` is set for renderers that read motion tracks (`reads_motion`), else None: those
    renderers make their own motion from `clip`. `options` holds every option value by the
    config's names (`steps`, `lip_weight`, ...); a renderer reads the ones it honours.
    """

    clip: AudioClip
    fps: float
    frame_count: int  # frames to yield: clip.frame_count(fps), or the motion's length
    motion: MotionTrack | None
    options: dict[str, Any]


@runtime_checkable
class Renderer(Protocol):
    # Class attributes: the engine reads them before loading anything.
    name: str  # the --backend name it is registered under
    reads_motion: bool  # renders a MotionTrack (so motion options apply) rather than the audio
    options: frozenset[str]  # config option names it honours beyond the engine's own
    # Instance attributes, once loaded.
    device: str  # where it runs, in words ("the CPU", "cuda (float16)")
    square_side: int | None  # side of the square face crop it works on; None: the whole portrait

    @classmethod
    def load(cls, options: dict[str, Any]) -> Renderer:
        """The renderer with its models loaded; options by the config's names (weights, device...)."""

    def prepare(self, portrait: Portrait) -> Any:
        """What is computed once per portrait (rig, reference features, masks...)."""

    def work(self, request: RenderRequest) -> Work:
        """How much `request` is, in the unit `frames` reports progress in."""

    def frames(self, prepared: Any, request: RenderRequest, progress: Progress) -> Iterator[np.ndarray]:
        """Yields request.frame_count (H, W, 3) uint8 RGB frames of the prepared portrait."""


RENDERERS = Registry("renderer", "talkinghead.renderers", {
    # Built-ins by import path: the hallo renderer (and torch) is imported only when chosen.
    "warp": "talkinghead.render.warp.renderer:WarpRenderer",
    "hallo": "talkinghead.render.hallo.renderer:HalloRenderer",
})


def register_renderer(name: str, renderer: type[Renderer] | str) -> None:
    """Make `--backend name` use `renderer`: a class, or its "module:Class" path (imported when
    first chosen). A name registered again is replaced."""
    RENDERERS.register(name, renderer)


def renderer_names() -> tuple[str, ...]:
    return RENDERERS.names()


def renderer_class(name: str) -> type[Renderer]:
    """The class registered as `name`; InputError naming the known ones when there is none."""
    return RENDERERS.get(name)


@dataclass(frozen=True)
class CroppedPortrait:
    """A portrait prepared for a square-crop renderer: the inner renderer's own preparation, and
    how its frames go back into the photo."""

    inner: Any
    place: Callable[[np.ndarray], np.ndarray]  # (side, side, 3) -> (H, W, 3) uint8 frame


class CroppedRenderer:
    """A square-crop renderer made to render whole portraits: crop around the face, animate the
    crop, paste every frame back with a feathered edge (or scale it, when the portrait is the
    square crop already: `--size`)."""

    def __init__(self, inner: Renderer, *, face_expand_ratio: float, square_output: bool):
        self.inner = inner
        self.face_expand_ratio = face_expand_ratio
        self.square_output = square_output
        self.name, self.reads_motion, self.options = inner.name, inner.reads_motion, inner.options
        self.square_side = None

    @property
    def device(self) -> str:
        return self.inner.device

    def prepare(self, portrait: Portrait) -> CroppedPortrait:
        side = self.inner.square_side
        if self.square_output:  # the portrait is the crop already: render it whole, then rescale
            whole = portrait.size[0]
            crop = Crop.whole(whole, side)
            filter_ = cv2.INTER_AREA if side > whole else cv2.INTER_CUBIC
            place = lambda frame: cv2.resize(frame, (whole, whole), interpolation=filter_)  # noqa: E731
        else:
            crop = face_crop(portrait.face, portrait.size, size=side, face_expand_ratio=self.face_expand_ratio)
            place = PasteBack(portrait.image, crop)
        return CroppedPortrait(self.inner.prepare(crop_portrait(portrait, crop)), place)

    def work(self, request: RenderRequest) -> Work:
        return self.inner.work(request)

    def frames(self, prepared: CroppedPortrait, request: RenderRequest, progress: Progress) -> Iterator[np.ndarray]:
        for frame in self.inner.frames(prepared.inner, request, progress):
            yield prepared.place(frame)

