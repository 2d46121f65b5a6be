"""LatentSync's audio front end: the Whisper-tiny encoder and the per-frame windows of its features.

    audio (16 kHz mono float) ─► log-mel (whole file) ─► 30 s segments ─► encoder: 5 hidden states
    per 20 ms ─► features (T, 5, 384) ─► one window of 10 features per video frame: (50, 384)

Reproduced from the release (see the oracle's README for what each rule changes):
- the log-mel is taken over the whole file, its floor (max − 8) from the whole file too, and
  each 3000-frame segment is padded with zeros *of the normalised log-mel*, not with silence;
- the encoder keeps 5 hidden states (the conv stem plus positional embedding, then each of the
  4 blocks' outputs); `ln_post` is in the checkpoint but unused;
- a segment keeps ⌊mel frames / 2⌋ feature frames (50 per second);
- video frame i reads feature frames centre−4 … centre+5 (centre = ⌊i·50/fps⌋), clamped to the
  ends; the windows go on until the first centre past the end, so there are a few more windows
  than frames of audio (the video is made that long).
The module's parameter names are those of `tiny.pt`'s `encoder.*` keys.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

SAMPLE_RATE = 16000
N_FFT = 400
HOP = 160
N_MELS = 80
SEGMENT_FRAMES = 3000  # 30 s of mel frames: the encoder's fixed input
FEATURE_RATE = 50  # feature frames per second (the encoder's stride-2 stem)
WINDOW_BEFORE, WINDOW_AFTER = 4, 6  # feature frames centre-4 .. centre+5 (audio_feat_length [2, 2])
LAYERS_KEPT = 5  # conv stem + the 4 blocks


@dataclass(frozen=True)
class WhisperDims:
    """The encoder's sizes (the checkpoint's `dims`; OpenAI tiny: 80, 1500, 384, 6, 4)."""

    n_mels: int
    n_audio_ctx: int
    n_audio_state: int
    n_audio_head: int
    n_audio_layer: int


def mel_filters(sample_rate: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS) -> torch.Tensor:
    """(n_mels, n_fft/2 + 1) float32: Slaney-scale triangles with Slaney area normalisation,
    as librosa.filters.mel's defaults give (Whisper's `mel_filters.npz`)."""
    def hz_to_mel(f):
        f = np.asarray(f, dtype=np.float64)
        linear = f / (200.0 / 3)
        log = 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
        return np.where(f >= 1000.0, log, linear)

    def mel_to_hz(m):
        m = np.asarray(m, dtype=np.float64)
        return np.where(m >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0)), (200.0 / 3) * m)

    bins = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sample_rate / 2), n_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - bins[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper)) * (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return torch.from_numpy(weights.astype(np.float32))


def log_mel(audio: torch.Tensor, filters: torch.Tensor) -> torch.Tensor:
    """(n,) float32 samples → (80, ⌊n/160⌋) normalised log-mel of the whole signal."""
    spectrum = torch.stft(audio, N_FFT, HOP, window=torch.hann_window(N_FFT, device=audio.device), return_complex=True)
    power = spectrum[:, :-1].abs() ** 2  # the last frame is dropped, as Whisper does
    mel = torch.log10(torch.clamp(filters.to(audio.device) @ power, min=1e-10))
    return (torch.maximum(mel, mel.max() - 8.0) + 4.0) / 4.0


class _Attention(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(width, width)
        self.key = nn.Linear(width, width, bias=False)
        self.value = nn.Linear(width, width)
        self.out = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, L, C) → (B, L, C): q and k each scaled by d^(-1/4), softmax in float32."""
        batch, length, width = x.shape
        scale = (width // self.heads) ** -0.25
        split = lambda t: t.view(batch, length, self.heads, -1).permute(0, 2, 1, 3)  # noqa: E731
        q, k, v = split(self.query(x)) * scale, split(self.key(x)) * scale, split(self.value(x))
        weights = (q @ k.transpose(-1, -2)).float().softmax(dim=-1).to(q.dtype)
        return self.out((weights @ v).permute(0, 2, 1, 3).reshape(batch, length, width))


class _LayerNorm(nn.LayerNorm):
    """LayerNorm computed in float32 whatever the input's dtype (Whisper's)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.float()).to(x.dtype)


class _Block(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.attn = _Attention(width, heads)
        self.attn_ln = _LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))
        self.mlp_ln = _LayerNorm(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.attn_ln(x))
        return x + self.mlp(self.mlp_ln(x))


def sinusoids(length: int, channels: int) -> torch.Tensor:
    """(length, channels) Whisper's positional table: [sin | cos] halves, not interleaved."""
    increment = math.log(10000) / (channels // 2 - 1)
    inverse = torch.exp(-increment * torch.arange(channels // 2))
    t = torch.arange(length)[:, None] * inverse[None, :]
    return torch.cat([torch.sin(t), torch.cos(t)], dim=1)


class WhisperEncoder(nn.Module):
    """Whisper's audio encoder, returning the hidden states LatentSync keeps."""

    def __init__(self, dims: WhisperDims):
        super().__init__()
        width = dims.n_audio_state
        self.conv1 = nn.Conv1d(dims.n_mels, width, kernel_size=3, padding=1)
        self.conv2 = nn.Conv1d(width, width, kernel_size=3, stride=2, padding=1)
        self.register_buffer("positional_embedding", sinusoids(dims.n_audio_ctx, width))
        self.blocks = nn.ModuleList(_Block(width, dims.n_audio_head) for _ in range(dims.n_audio_layer))
        self.ln_post = _LayerNorm(width)  # in the checkpoint; LatentSync does not use its output

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """(B, 80, 3000) log-mel → (B, 1 + layers, 1500, C) hidden states."""
        x = F.gelu(self.conv1(mel))
        x = F.gelu(self.conv2(x)).permute(0, 2, 1)
        x = (x + self.positional_embedding).to(x.dtype)
        states = [x]
        for block in self.blocks:
            x = block(x)
            states.append(x)
        return torch.stack(states, dim=1)


@torch.no_grad()
def audio_features(encoder: WhisperEncoder, audio: torch.Tensor, filters: torch.Tensor) -> torch.Tensor:
    """(n,) float32 16 kHz samples → (T, 5, C) features, 50 per second, in the encoder's dtype."""
    parameter = encoder.conv1.weight
    mel = log_mel(audio.to(parameter.device, torch.float32), filters)
    pieces = []
    for start in range(0, mel.shape[1], SEGMENT_FRAMES):
        segment = mel[:, start : start + SEGMENT_FRAMES]
        kept = segment.shape[1] // 2
        padded = F.pad(segment, (0, SEGMENT_FRAMES - segment.shape[1]))  # zeros of the normalised log-mel
        states = encoder(padded[None].to(parameter.dtype))[0]
        pieces.append(states.transpose(0, 1)[:kept])
    return torch.cat(pieces)


def window_indices(feature_frames: int, fps: float) -> torch.Tensor:
    """(windows, 10) int64: the feature frames each video frame's window reads.

    One window per video frame until the first whose centre lies past the last feature frame
    (included), so the windows outnumber the frames the audio covers by one or two."""
    rows = []
    i = 0
    while True:
        centre = int(i * FEATURE_RATE / fps)
        rows.append([min(max(j, 0), feature_frames - 1) for j in range(centre - WINDOW_BEFORE, centre + WINDOW_AFTER)])
        if centre > feature_frames:
            break
        i += 1
    return torch.tensor(rows, dtype=torch.int64)


def frame_windows(features: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """(T, 5, C) features, (N, 10) indices → (N, 50, C): token 5k + l is window frame k, layer l."""
    return features[indices].reshape(indices.shape[0], -1, features.shape[-1])
