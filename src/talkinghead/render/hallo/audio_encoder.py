"""Hallo's audio front end: wav2vec2 hidden states per video frame (transformers' Wav2Vec2Model).

As published (`hallo/datasets/audio_processor.py`, `hallo/models/wav2vec.py`):
1. the feature extractor normalises the whole clip (zero mean, unit variance);
2. the sample count sets the frame count T = ceil(seconds · fps), rounded up to whole clips by
   appending (sample_rate // fps) zero samples per missing frame;
3. the CNN features (50 Hz) are linearly interpolated to T frames *before* the transformer,
   so every video frame gets one transformer position;
4. the outputs of all hidden layers are kept: (T, layers, width), (T, 12, 768) for
   wav2vec2-base-960h.
The 5-frame windows the audio projection reads are cut by `frame_windows`.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from transformers import Wav2Vec2FeatureExtractor, Wav2Vec2Model

WINDOW = 5  # frames t-2 .. t+2


class Wav2Vec2FrameEncoder:
    """wav2vec2 features resampled to the video frame rate."""

    def __init__(self, model: Wav2Vec2Model, feature_extractor: Wav2Vec2FeatureExtractor):
        self.model = model.eval()
        self.feature_extractor = feature_extractor

    @classmethod
    def from_pretrained(cls, folder: str | Path, device: torch.device | str = "cpu") -> "Wav2Vec2FrameEncoder":
        model = Wav2Vec2Model.from_pretrained(folder, local_files_only=True).to(device=device, dtype=torch.float32)
        return cls(model, Wav2Vec2FeatureExtractor.from_pretrained(folder, local_files_only=True))

    @property
    def sample_rate(self) -> int:
        return self.feature_extractor.sampling_rate

    def frame_count(self, samples: int, fps: float) -> int:
        """Frames the release gives this many samples: ceil(seconds · fps)."""
        return math.ceil(samples / self.sample_rate * fps)

    @torch.no_grad()
    def __call__(self, samples: np.ndarray, fps: float, clip_frames: int) -> torch.Tensor:
        """samples (N,) float32 mono at `sample_rate` → (T, layers, width) float32 on the model's
        device, T = frame_count(N, fps) rounded up to a multiple of `clip_frames`."""
        values = np.squeeze(self.feature_extractor(samples, sampling_rate=self.sample_rate).input_values)
        frames = max(self.frame_count(len(samples), fps), 1)
        missing = -frames % clip_frames
        values = np.pad(np.atleast_1d(values).astype(np.float32), (0, missing * int(self.sample_rate // fps)))
        frames += missing
        device = self.model.device
        cnn = self.model.feature_extractor(torch.from_numpy(values)[None].to(device))  # (1, 512, T_cnn)
        cnn = F.interpolate(cnn, size=frames, mode="linear", align_corners=True)
        hidden, _ = self.model.feature_projection(cnn.transpose(1, 2))
        return self._layer_outputs(hidden)[0].transpose(0, 1)

    def _layer_outputs(self, hidden: torch.Tensor) -> torch.Tensor:
        """Run the transformer encoder, keeping every layer's output → (1, layers, T, width)."""
        outputs = []
        record = lambda _module, _args, out: outputs.append(out[0] if isinstance(out, tuple) else out)  # noqa: E731
        hooks = [layer.register_forward_hook(record) for layer in self.model.encoder.layers]
        try:
            self.model.encoder(hidden)
        finally:
            for hook in hooks:
                hook.remove()
        return torch.stack(outputs, dim=1)


def frame_windows(features: torch.Tensor, start: int, stop: int) -> torch.Tensor:
    """(T, L, C) features → (stop - start, WINDOW, L, C): frames clamp(i + j, 0, T-1), j = -2..2."""
    half = WINDOW // 2
    index = torch.arange(start, stop, device=features.device)[:, None] + torch.arange(-half, half + 1, device=features.device)
    return features[index.clamp(0, features.shape[0] - 1)]
