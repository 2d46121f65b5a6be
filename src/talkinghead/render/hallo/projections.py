"""Condition projections of Hallo: the face embedding and the audio window become token sets.

Both feed cross-attentions of the denoising UNet: the face tokens its spatial blocks, the audio
tokens the three region cross-attentions of its audio modules.
"""

from __future__ import annotations

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn


class ImageProjection(ModelMixin, ConfigMixin):
    """Face identity embedding → `tokens` cross-attention tokens (`imageproj.*` in `net.pth`)."""

    @register_to_config
    def __init__(self, cross_attention_dim: int = 768, clip_embeddings_dim: int = 512, clip_extra_context_tokens: int = 4):
        super().__init__()
        self.proj = nn.Linear(clip_embeddings_dim, clip_extra_context_tokens * cross_attention_dim)
        self.norm = nn.LayerNorm(cross_attention_dim)

    def forward(self, face_embedding: torch.Tensor) -> torch.Tensor:
        """(B, 512) ArcFace embedding → (B, 4, cross_attention_dim) LayerNorm-ed tokens."""
        tokens = self.proj(face_embedding)
        tokens = tokens.reshape(-1, self.config.clip_extra_context_tokens, self.config.cross_attention_dim)
        return self.norm(tokens)


class AudioProjection(ModelMixin, ConfigMixin):
    """A window of wav2vec2 features around each video frame → 32 audio tokens (`audioproj.*`)."""

    @register_to_config
    def __init__(
        self,
        seq_len: int = 5,  # frames in the window (t-2 .. t+2)
        blocks: int = 12,  # wav2vec2 hidden layers kept
        channels: int = 768,  # wav2vec2 width
        intermediate_dim: int = 512,
        output_dim: int = 768,  # audio_attention_dim of the denoising UNet
        context_tokens: int = 32,
    ):
        super().__init__()
        self.proj1 = nn.Linear(seq_len * blocks * channels, intermediate_dim)
        self.proj2 = nn.Linear(intermediate_dim, intermediate_dim)
        self.proj3 = nn.Linear(intermediate_dim, context_tokens * output_dim)
        self.norm = nn.LayerNorm(output_dim)

    def forward(self, audio_windows: torch.Tensor) -> torch.Tensor:
        """(B, F, 5, 12, 768) windows → (B, F, 32, output_dim) tokens, one set per video frame."""
        batch, frames = audio_windows.shape[:2]
        x = audio_windows.reshape(batch * frames, -1)
        x = torch.relu(self.proj1(x))
        x = torch.relu(self.proj2(x))
        tokens = self.proj3(x).reshape(batch * frames, self.config.context_tokens, self.config.output_dim)
        return self.norm(tokens).reshape(batch, frames, self.config.context_tokens, self.config.output_dim)
