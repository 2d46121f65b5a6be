"""Hallo's audio front end: wav2vec2 hidden states per video frame (transformers' Wav2Vec2Model).

As published (`hallo/datasets/audio_processor.py: preprocess`, `hallo/models/wav2vec.py`), one
method per stage, each proven equal to the release on the oracle's recordings
(tests/hallo/test_hallo_frontend_conformance.py):
1. `normalise`: the feature extractor normalises the whole clip (zero mean, unit variance);
2. `frame_count` / `pad`: the sample count sets the frame count T = ceil(seconds · fps), rounded
   up to whole clips by appending (sample_rate // fps) zero samples per missing frame;
3. `cnn`, then `interpolate`: the CNN features (~50 Hz) are linearly interpolated to T frames
   *before* the transformer, so every video frame gets one transformer position;
4. `transformer`: the outputs of all hidden layers are kept: (T, layers, width), (T, 12, 768)
   for wav2vec2-base-960h.
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
        self.model = model.eval()  # as `from_pretrained` leaves it: no SpecAugment, dropout or LayerDrop
        self.feature_extractor = feature_extractor

    @classmethod
    def from_pretrained(cls, folder: str | Path, device: torch.device | str = "cpu") -> "Wav2Vec2FrameEncoder":
        model = Wav2Vec2Model.from_pretrained(folder, local_files_only=True).to(device=device, dtype=torch.float32)
        return cls(model, Wav2Vec2FeatureExtractor.from_pretrained(folder, local_files_only=True))

    @property
    def sample_rate(self) -> int:
        return self.feature_extractor.sampling_rate

    @torch.no_grad()
    def __call__(self, samples: np.ndarray, fps: float, clip_frames: int) -> torch.Tensor:
        """samples (N,) float32 mono at `sample_rate` → (T, layers, width) float32 on the model's
        device, T = frame_count(N, fps) rounded up to a multiple of `clip_frames`."""
        values = self.normalise(samples)
        values, frames = self.pad(values, self.frame_count(len(values), fps), fps, clip_frames)
        return self.transformer(self.interpolate(self.cnn(values), frames))

    def normalise(self, samples: np.ndarray) -> np.ndarray:
        """(N,) → (N,) float32, (x − mean) / sqrt(var + 1e-7) over the whole clip, in float32."""
        return np.atleast_1d(np.squeeze(self.feature_extractor(samples, sampling_rate=self.sample_rate).input_values)).astype(np.float32)

    def frame_count(self, samples: int, fps: float) -> int:
        """Frames the release gives this many samples: `math.ceil(n / sample_rate * fps)`,
        evaluated left to right in float64. The rounding makes it one frame more than the exact
        ceil(n · fps / sample_rate) for some lengths (at 25 fps 925 multiples of 640 samples up to
        10 minutes, e.g. 35200 samples = 2.2 s → 56, not 55); reproduced, as it sets T."""
        return max(math.ceil(samples / self.sample_rate * fps), 1)

    def pad(self, values: np.ndarray, frames: int, fps: float, clip_frames: int) -> tuple[np.ndarray, int]:
        """Zeros appended to the *normalised* samples, (sample_rate // fps) per frame missing to a
        whole number of clips → (padded values, T). So the padded length is N + 640·k at 25 fps,
        not 640·T, and the CNN does not yield 2·T frames."""
        missing = -frames % clip_frames
        return np.pad(values, (0, missing * int(self.sample_rate // fps))), frames + missing

    def cnn(self, values: np.ndarray) -> torch.Tensor:
        """(N,) → (1, C, L) convolutional features of the whole padded clip. Layer 0's GroupNorm
        normalises each channel over the whole clip, so every frame depends on all of it."""
        return self.model.feature_extractor(torch.from_numpy(values)[None].to(self.model.device))

    def interpolate(self, cnn: torch.Tensor, frames: int) -> torch.Tensor:
        """(1, C, L) → (1, T, C): linear with align_corners=True (step (L−1)/(T−1), not 2), as the
        release's `linear_interpolation`, before the feature projection."""
        return F.interpolate(cnn, size=frames, mode="linear", align_corners=True).transpose(1, 2)

    def transformer(self, features: torch.Tensor) -> torch.Tensor:
        """(1, T, C) CNN features → (T, layers, width): feature projection, then the encoder at
        T positions without attention mask; the outputs of layers 1..L are kept (the release's
        `hidden_states[1:]`, not the encoder's input LayerNorm output `hidden_states[0]`)."""
        hidden, _ = self.model.feature_projection(features)
        outputs = []
        record = lambda _module, _args, out: outputs.append(out[0] if isinstance(out, tuple) else out)  # noqa: E731
        hooks = [layer.register_forward_hook(record) for layer in self.model.encoder.layers]
        try:
            self.model.encoder(hidden)
        finally:
            for hook in hooks:
                hook.remove()
        return torch.stack(outputs, dim=1)[0].transpose(0, 1)


def frame_windows(features: torch.Tensor, start: int, stop: int) -> torch.Tensor:
    """(T, L, C) features → (stop - start, WINDOW, L, C): frames clamp(i + j, 0, T-1), j = -2..2,
    as the release's `process_audio_emb`. The clamp is at the end of the *padded* sequence, so the
    last real frames see padding features, and a clip's first windows reach into the clip before."""
    half = WINDOW // 2
    index = torch.arange(start, stop, device=features.device)[:, None] + torch.arange(-half, half + 1, device=features.device)
    return features[index.clamp(0, features.shape[0] - 1)]
