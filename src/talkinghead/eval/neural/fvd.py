"""FVD (Unterthiner et al., 2018): Frechet distance between I3D features of 16-frame clips.

The I3D network is a TorchScript file the user gives, called the way StyleGAN-V's
`i3d_torchscript.pt` is: `net(clips, rescale=False, resize=False, return_features=True)` on
(N, 3, 16, 224, 224) float clips in [-1, 1], returning (N, 400) features. Frames are resized
to 224 x 224 here; clips are consecutive and do not overlap. Per video FVD rests on few clips
and is biased upwards: pool a test set (`talkinghead eval DIR`) to compare methods.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from ...errors import ModelError
from ...video.reader import read_frames
from ..reference_metrics import FeatureStats, frechet_distance
from . import model_file

CLIP_FRAMES = 16
SIZE = 224
HINT = "give the path of an I3D network saved as TorchScript (e.g. StyleGAN-V's i3d_torchscript.pt)"


@dataclass(frozen=True)
class FvdResult:
    fvd: float
    clips: int  # 16-frame clips of each video compared
    generated_stats: FeatureStats  # for pooling over many videos; not written to JSON
    truth_stats: FeatureStats


def load_i3d(path: str | os.PathLike):
    import torch

    path = model_file(path, "I3D", HINT)
    try:
        return torch.jit.load(str(path), map_location="cpu").eval()
    except (RuntimeError, ValueError) as error:
        raise ModelError(f"{path.name} is not a TorchScript file ({str(error)[:80]}): {HINT}") from None


def clip_features(net, video: Path, *, progress: bool = False) -> np.ndarray:
    """(K, D) float64 I3D features of a video's consecutive 16-frame clips (a shorter tail is left out)."""
    import torch

    clip: list[np.ndarray] = []
    features = []
    with torch.inference_mode():
        for frame in tqdm(read_frames(video), unit="frame", desc="I3D", disable=not progress, leave=False):
            clip.append(cv2.resize(frame, (SIZE, SIZE), interpolation=cv2.INTER_AREA))
            if len(clip) == CLIP_FRAMES:
                x = torch.from_numpy(np.stack(clip)).permute(3, 0, 1, 2)[None].float() / 127.5 - 1.0
                try:
                    out = net(x, rescale=False, resize=False, return_features=True)
                except RuntimeError as error:
                    raise ModelError(f"the I3D network does not take clips of (1, 3, 16, 224, 224): {str(error)[:80]}: {HINT}") from None
                features.append(out.reshape(1, -1).double().numpy())
                clip = []
    return np.concatenate(features) if features else np.zeros((0, 0))


def fvd(video: Path, truth: Path, model: str | os.PathLike, *, progress: bool = False) -> FvdResult:
    net = load_i3d(model)
    generated, real = clip_features(net, video, progress=progress), clip_features(net, truth, progress=progress)
    clips = min(len(generated), len(real))
    if clips == 0:
        raise ModelError(f"FVD needs videos of at least {CLIP_FRAMES} frames")
    stats = []
    for features in (generated, real):
        s = FeatureStats(features.shape[1])
        s.add(features[:clips])
        stats.append(s)
    return FvdResult(frechet_distance(*stats), clips, *stats)
