"""The latentsync dub backend: our tracked video, LatentSync's model on the aligned face crops,
our feathered paste-back.

    tracked frames ─► Aligner (release's crop) ─► 16-frame clips ─► LatentSyncPipeline.clip ─► PasteBack ─► frames
    new speech ─► Whisper-tiny windows (one per output frame) ─┘

Frames without a face pass through (and the new face fades in and out beside them, as the warp
dub's mouth does); a clip holds the next 16 output frames that show a face. The output lasts as
long as the speech, the video played to that length by the dub's loop rule (the release plays
it ping-pong and two frames longer); the windows follow the video's own frame rate (the release
first converts the video to 25 fps).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import torch
from scipy.signal import resample_poly

from ...face.crop import Crop, PasteBack
from ...render.base import Work
from ...devices import pick_device, pick_dtype
from ...types import AudioClip
from ..backend import DubSpeech, UnitsDone
from ..pipeline import frame_order
from . import loading
from .align import Aligner
from .pipeline import CLIP_FRAMES, LatentSyncPipeline, clip_count
from .whisper import SAMPLE_RATE, frame_windows, window_indices

if TYPE_CHECKING:
    from ...config import AnimateConfig
    from ...engine import Engine
    from ..pipeline import TrackedVideo

MASK = Path(__file__).with_name("mask.png")  # the release's mouth mask (latentsync/utils/mask.png, Apache-2.0)


def mouth_mask(side: int) -> torch.Tensor:
    """(side, side) float64 in [0, 1]: 1 keeps the crop's pixel, 0 (the lower face) is re-drawn;
    resized from the 256² mask with Lanczos, as the release does (soft edges at 512)."""
    mask = cv2.imread(str(MASK), cv2.IMREAD_GRAYSCALE)
    return torch.from_numpy(cv2.resize(mask, (side, side), interpolation=cv2.INTER_LANCZOS4) / 255.0)


def load_pipeline(weights: str | Path, *, device: str | None = None, resolution: int = 256, dtype: torch.dtype | None = None,
                  norm_num_groups: int = 32) -> LatentSyncPipeline:  # fmt: skip
    """The pipeline from a `checkpoints/` folder: every file checked before any is read, the
    memory estimate checked against the device before the weights move there."""
    root = loading.check_weights_dir(weights)
    chosen = pick_device(device)
    dtype = pick_dtype(chosen, dtype)
    unet = loading.load_unet(root / loading.UNET, norm_num_groups=norm_num_groups)
    whisper = loading.load_whisper(root / loading.WHISPER)
    vae = loading.load_vae(root / loading.VAE)
    element = torch.finfo(dtype).bits // 8
    weight_bytes = sum(p.numel() for m in (unet, whisper, vae) for p in m.parameters()) * element
    estimate = loading.estimate_memory(weight_bytes, resolution, unet.config.block_out_channels[0], dtype, guided=True)
    loading.check_fits(estimate.total, chosen, f"{resolution}² faces")
    return LatentSyncPipeline(unet, vae, whisper, mouth_mask(resolution), device=chosen, dtype=dtype)


class LatentSyncDub:
    """Dubbing with the LatentSync model (1.5 at --resolution 256, 1.6 at 512)."""

    name = "latentsync"
    options = frozenset({"weights", "device", "seed", "steps", "guidance", "cache_interval", "resolution"})

    def __init__(self, pipeline: LatentSyncPipeline):
        self.pipeline = pipeline

    @classmethod
    def load(cls, options: dict[str, Any]) -> LatentSyncDub:
        return cls(load_pipeline(options["weights"], device=options["device"], resolution=options["resolution"]))

    @property
    def device(self) -> str:
        return f"{self.pipeline.device.type} ({str(self.pipeline.dtype).removeprefix('torch.')})"

    def speech(self, engine: Engine, clip: AudioClip, config: AnimateConfig) -> DubSpeech:
        """The Whisper features of the speech and, per output frame, the features its window
        reads (the windows themselves are made clip by clip: 77 kB a frame)."""
        samples = clip.samples if clip.rate == SAMPLE_RATE else resample_poly(clip.samples, SAMPLE_RATE, clip.rate)
        # As 16-bit values, as the release decodes them.
        samples = torch.from_numpy(np.round(np.clip(samples, -1, 32767 / 32768) * 32768).astype(np.float32) / 32768)
        features = self.pipeline.audio_features(samples)
        return DubSpeech((features, window_indices(features.shape[0], config.output.fps)), "model")

    def work(self, frames_out: int, options: dict[str, Any]) -> Work:
        return Work(clip_count(frames_out) * _steps(options), "step")

    def frames(self, video: TrackedVideo, speech: DubSpeech, frames_out: int, options: dict[str, Any], progress: UnitsDone) -> Iterator[np.ndarray]:
        """(H, W, 3) uint8 RGB frames: clip by clip, so memory stays flat in the video's length."""
        order = list(frame_order(video.source.info.frame_count, frames_out, options["loop"]))
        features, indices = speech.data
        aligner = Aligner(self.pipeline.side)
        generator = torch.Generator().manual_seed(options["seed"])
        noise = self.pipeline.initial_noise(generator)
        steps = [0]

        def step_done() -> None:
            steps[0] += 1
            progress(steps[0])

        source = iter(video.source.frames_in(order))
        for start in range(0, frames_out, CLIP_FRAMES):
            span = range(start, min(start + CLIP_FRAMES, frames_out))
            frames = [next(source).rgb() for _ in span]
            faces = [(k, aligner.crop(frames[k - start], video.live.points(order[k]))) for k in span if video.strength(order[k]) > 0]
            if faces:
                crops = torch.from_numpy(np.stack([crop for _, (crop, _) in faces])).permute(0, 3, 1, 2)
                made = self.pipeline.clip(
                    crops, frame_windows(features, indices[[min(k, len(indices) - 1) for k, _ in faces]]), noise, generator, steps=_steps(options), guidance=options["guidance"],
                    cache_interval=options["cache_interval"], step_done=step_done,
                )
                for (k, (_, to_crop)), face in zip(faces, _to_uint8(made)):
                    frames[k - start] = _pasted(frames[k - start], face, to_crop, video.strength(order[k]))
            else:  # no face in this clip: its steps are skipped
                steps[0] += _steps(options)
                progress(steps[0])
            yield from frames


def _steps(options: dict[str, Any]) -> int:
    from ...config import MODEL_STEPS

    return options["steps"] or MODEL_STEPS["latentsync"]


def _to_uint8(faces: torch.Tensor) -> np.ndarray:
    """(F, 3, S, S) float in about [−1, 1] → (F, S, S, 3) uint8, clamped as the release's restore does."""
    return ((faces / 2 + 0.5).clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def _pasted(frame: np.ndarray, face: np.ndarray, to_crop: np.ndarray, strength: float) -> np.ndarray:
    """The frame with the generated face crop blended back (feathered edge), faded by `strength`."""
    pasted = PasteBack(frame, Crop(to_crop=to_crop, size=face.shape[0]))(face)
    if strength >= 1:
        return pasted
    return np.clip(strength * pasted.astype(np.float32) + (1 - strength) * frame + 0.5, 0, 255).astype(np.uint8)
