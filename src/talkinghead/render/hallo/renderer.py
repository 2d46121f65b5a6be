"""The hallo backend behind the renderer contract: the Hallo model on a square face crop.

The engine crops the portrait around the face and pastes the frames back (CroppedRenderer);
this renderer sees only the square crop the model animates.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ...config import MODEL_STEPS
from ...types import Portrait
from ..base import Progress, RenderRequest, Work
from .pipeline import CLIP_FRAMES, HalloPipeline


class HalloRenderer:
    """Renders a square face crop speaking a clip with the Hallo model (512 px for the released
    weights). It makes its own motion from the audio: motion tracks and their options do not apply."""

    name = "hallo"
    reads_motion = False
    options = frozenset({"weights", "steps", "cfg_scale", "device", "render_size", "seed", "lip_weight", "expression_weight", "pose_weight"})

    def __init__(self, weights: str | Path, *, device: str, render_size: int | None):
        self.pipeline = HalloPipeline.from_pretrained(weights, device=device)
        self.square_side = render_size or self.pipeline.native_size

    @classmethod
    def load(cls, options: dict[str, Any]) -> HalloRenderer:
        return cls(options["weights"], device=options["device"], render_size=options["render_size"])

    @property
    def device(self) -> str:
        return f"{self.pipeline.device.type} ({str(self.pipeline.dtype).removeprefix('torch.')})"

    def prepare(self, portrait: Portrait) -> Portrait:
        return portrait  # the reference conditions depend on the request (guidance): made per request

    def work(self, request: RenderRequest) -> Work:
        """Denoising steps: clips of CLIP_FRAMES frames × steps."""
        return Work(-(-request.frame_count // CLIP_FRAMES) * _steps(request.options), "step")

    def frames(self, prepared: Portrait, request: RenderRequest, progress: Progress) -> Iterator[np.ndarray]:
        """(S, S, 3) uint8 RGB frames, one per video frame of the request's clip."""
        o = request.options
        yield from self.pipeline.frames(
            prepared.image, prepared.face.landmarks, request.clip, fps=request.fps, face_expand_ratio=o["face_expand_ratio"],
            progress=lambda done, total: progress(done, total, "step"),
            steps=_steps(o), cfg_scale=o["cfg_scale"], seed=o["seed"],
            pose_weight=o["pose_weight"], face_weight=o["expression_weight"], lip_weight=o["lip_weight"],
        )


def _steps(options: dict[str, Any]) -> int:
    return options["steps"] or MODEL_STEPS["hallo"]
