"""AnimateDiff motion module (mm_sd_v15_v2 layout): temporal self-attention over the frames.

Hallo puts one after every spatial layer of the denoising UNet and prepends the two motion
frames of the previous clip (ReferenceNet features) to the frame axis, so the new clip
continues the old one; the two extra frames are dropped again afterwards (see `unet_3d`).
Key names follow `...motion_modules.N.temporal_transformer.*` of the checkpoints.
"""

from __future__ import annotations

import math

import torch
from diffusers.models.attention import FeedForward
from diffusers.models.attention_processor import Attention
from torch import nn

MOTION_NORM_GROUPS = 32  # AnimateDiff's GroupNorm always has 32 groups, whatever the UNet uses


class PositionalEncoding(nn.Module):
    """Sinusoidal table `pe` (1, max_len, C): pe[p, 2i] = sin(p·10000^(-2i/C)), pe[p, 2i+1] = cos(...).

    `pe` is a persistent buffer because the released checkpoints contain it.
    """

    def __init__(self, channels: int, max_len: int = 32):
        super().__init__()
        position = torch.arange(max_len).unsqueeze(1)
        frequency = torch.exp(torch.arange(0, channels, 2) * (-math.log(10000.0) / channels))
        pe = torch.zeros(1, max_len, channels)
        pe[0, :, 0::2] = torch.sin(position * frequency)
        pe[0, :, 1::2] = torch.cos(position * frequency)
        self.register_buffer("pe", pe)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, F, C) → the same plus the encoding of positions 0..F-1."""
        return x + self.pe[:, : x.shape[1]].to(x.dtype)


class TemporalAttention(Attention):
    """Self-attention along the frame axis; the positional encoding enters Q, K and V only.

    Input (N, F, C) with N = batch · pixels; the caller adds the residual, so the encoding never
    reaches the residual stream.
    """

    def __init__(self, channels: int, heads: int, max_len: int):
        super().__init__(query_dim=channels, heads=heads, dim_head=channels // heads, bias=False)
        self.pos_encoder = PositionalEncoding(channels, max_len)

    def forward(self, hidden_states: torch.Tensor, **kwargs) -> torch.Tensor:  # type: ignore[override]
        return super().forward(self.pos_encoder(hidden_states))


class TemporalTransformerBlock(nn.Module):
    """Two temporal self-attentions (each pre-LayerNorm, residual), then a GEGLU feed-forward."""

    def __init__(self, channels: int, heads: int, max_len: int, attention_blocks: int = 2):
        super().__init__()
        self.attention_blocks = nn.ModuleList(TemporalAttention(channels, heads, max_len) for _ in range(attention_blocks))
        self.norms = nn.ModuleList(nn.LayerNorm(channels) for _ in range(attention_blocks))
        self.ff = FeedForward(channels, activation_fn="geglu")
        self.ff_norm = nn.LayerNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, F, C) → (N, F, C)."""
        for attention, norm in zip(self.attention_blocks, self.norms):
            x = attention(norm(x)) + x
        return self.ff(self.ff_norm(x)) + x


class TemporalTransformer(nn.Module):
    """GroupNorm → linear in → temporal blocks per pixel → linear out, plus the input residual."""

    def __init__(self, channels: int, heads: int = 8, max_len: int = 32, layers: int = 1):
        super().__init__()
        self.norm = nn.GroupNorm(MOTION_NORM_GROUPS, channels, eps=1e-6)
        self.proj_in = nn.Linear(channels, channels)
        self.transformer_blocks = nn.ModuleList(TemporalTransformerBlock(channels, heads, max_len) for _ in range(layers))
        self.proj_out = nn.Linear(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, F, C, h, w) → (B, F, C, h, w)."""
        batch, frames, channels, height, width = x.shape
        residual = x
        h = self.norm(x.reshape(batch * frames, channels, height, width))
        h = self.proj_in(h.permute(0, 2, 3, 1))  # (B·F, h, w, C)
        # One sequence per pixel: (B·h·w, F, C).
        h = h.reshape(batch, frames, height * width, channels).transpose(1, 2).reshape(-1, frames, channels)
        for block in self.transformer_blocks:
            h = block(h)
        h = self.proj_out(h)
        h = h.reshape(batch, height, width, frames, channels).permute(0, 3, 4, 1, 2)
        return h + residual


class MotionModule(nn.Module):
    """AnimateDiff's "Vanilla" temporal module; `proj_out` starts at zero so it begins as identity."""

    def __init__(self, channels: int, heads: int = 8, max_len: int = 32):
        super().__init__()
        self.temporal_transformer = TemporalTransformer(channels, heads, max_len)
        nn.init.zeros_(self.temporal_transformer.proj_out.weight)
        nn.init.zeros_(self.temporal_transformer.proj_out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, F, C, h, w) → (B, F, C, h, w)."""
        return self.temporal_transformer(x)
