"""The hallo backend behind the same front end as the warp renderer: crop, paste-back, progress."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np

from ...face.crop import Crop, PasteBack, crop_portrait, face_crop
from ...types import AudioClip, Portrait
from .pipeline import CLIP_FRAMES, HalloPipeline


class HalloRenderer:
    """Renders a portrait speaking a clip with the Hallo model, at any photo size.

    The model animates a square crop around the face (512 px for the released weights); the
    crop is pasted back into the photo with a feathered edge, or, when the portrait is already
    that square (`--size`), scaled to it.
    """

    name = "hallo"

    def __init__(self, weights: str | Path, *, device: str | None = None, render_size: int | None = None):
        self.pipeline = HalloPipeline.from_pretrained(weights, device=device)
        self.size = render_size or self.pipeline.native_size

    @property
    def device(self) -> str:
        return f"{self.pipeline.device.type} ({str(self.pipeline.dtype).removeprefix('torch.')})"

    def steps_total(self, clip: AudioClip, fps: float, steps: int) -> int:
        """Denoising steps the clip takes: clips of CLIP_FRAMES frames × steps."""
        return -(-clip.frame_count(fps) // CLIP_FRAMES) * steps

    def frames(
        self,
        portrait: Portrait,
        clip: AudioClip,
        *,
        fps: float,
        face_expand_ratio: float,
        square_output: bool,
        progress: Callable[[int, int], None] | None = None,
        **generation,
    ) -> Iterator[np.ndarray]:
        """(H, W, 3) uint8 RGB frames, one per video frame of `clip`.

        generation: steps, cfg_scale, seed, pose_weight, face_weight, lip_weight.
        """
        if square_output:  # the portrait is the crop already: render it whole, then rescale
            side = portrait.size[0]
            crop = Crop.whole(side, self.size)
            place = lambda frame: cv2.resize(frame, (side, side), interpolation=cv2.INTER_AREA if self.size > side else cv2.INTER_CUBIC)  # noqa: E731
        else:
            crop = face_crop(portrait.face, portrait.size, size=self.size, face_expand_ratio=face_expand_ratio)
            place = PasteBack(portrait.image, crop)
        cropped = crop_portrait(portrait, crop)
        for frame in self.pipeline.frames(cropped.image, cropped.face.landmarks, clip, fps=fps, face_expand_ratio=face_expand_ratio, progress=progress, **generation):
            yield place(frame)
