"""Hallo's audio module: hierarchical audio-visual cross-attention (the paper's core, sec. 3.2).

After the spatial attention of each UNet layer, the frame's tokens cross-attend to its 32 audio
tokens three times with one shared query. Each result is kept only inside its region, mapped by
a zero-initialised 1×1 convolution, and fused with the user's weights:

    x ← x + pose_w · conv_pose(m_pose ⊙ A_pose) + face_w · conv_face(m_face ⊙ A_face)
          + lip_w · conv_lip(m_lip ⊙ A_lip)

m_pose is "outside the face" (background and head), m_face the face without the lips, m_lip the
lips, each at the resolution of the layer. The checkpoint names the regions full / face / lip.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers.models.attention import FeedForward
from diffusers.models.attention_processor import Attention
from torch import nn


@dataclass(frozen=True)
class RegionMasks:
    """Soft region masks at the four UNet resolutions, shared by every frame.

    Level l has side s_l = latent side / 2^l (64, 32, 16, 8 for a 512² image), flattened
    row-major: each entry is a tuple of 4 tensors of shape (s_l²,), values in [0, 1]. Training
    batches mix videos, so there each tensor may also be (B·F, s_l²), one mask per frame.
    """

    pose: tuple[torch.Tensor, ...]  # "full" in the release: everything outside the face box
    expression: tuple[torch.Tensor, ...]  # "face": the face box minus the lip box
    lip: tuple[torch.Tensor, ...]

    def level(self, depth: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.pose[depth], self.expression[depth], self.lip[depth]

    def to(self, device: torch.device | str, dtype: torch.dtype) -> "RegionMasks":
        move = lambda masks: tuple(m.to(device=device, dtype=dtype) for m in masks)  # noqa: E731
        return RegionMasks(move(self.pose), move(self.expression), move(self.lip))


@dataclass(frozen=True)
class MotionWeights:
    """The three user knobs of the hierarchy; 1.0 each is the published default."""

    pose: float = 1.0
    expression: float = 1.0  # "face_weight" in the release
    lip: float = 1.0


class AudioTransformerBlock(nn.Module):
    """Self-attention, then the three masked audio cross-attentions and their fusion, then FF."""

    def __init__(self, dim: int, heads: int, audio_dim: int):
        super().__init__()
        # Zero-initialised: at the start of training the audio path leaves the UNet unchanged.
        self.zero_conv_full = _zero_conv(dim)
        self.zero_conv_face = _zero_conv(dim)
        self.zero_conv_lip = _zero_conv(dim)
        self.attn1 = Attention(query_dim=dim, heads=heads, dim_head=dim // heads)
        self.norm1 = nn.LayerNorm(dim)
        cross = dict(query_dim=dim, cross_attention_dim=audio_dim, heads=heads, dim_head=dim // heads)
        self.attn2_0 = Attention(**cross)  # pose
        self.attn2_1 = Attention(**cross)  # expression
        self.attn2_2 = Attention(**cross)  # lip
        self.norm2 = nn.LayerNorm(dim)
        self.ff = FeedForward(dim, activation_fn="geglu")
        self.norm3 = nn.LayerNorm(dim)

    def forward(
        self,
        x: torch.Tensor,
        audio: torch.Tensor,
        masks: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
        weights: MotionWeights,
        side: int,
    ) -> torch.Tensor:
        """x (N, side², C) frame tokens; audio (N, 32, C_a); masks 3 × (side²,) or 3 × (N, side²)
        → (N, side², C)."""
        x = self.attn1(self.norm1(x)) + x
        query = self.norm2(x)
        regions = (
            (self.attn2_0, self.zero_conv_full, masks[0]),
            (self.attn2_1, self.zero_conv_face, masks[1]),
            (self.attn2_2, self.zero_conv_lip, masks[2]),
        )
        pose, expression, lip = (
            self._region(attn, conv, mask, query, audio, side) for attn, conv, mask in regions
        )
        # Summed in the release's order: pose, expression, lip, then the residual.
        x = weights.pose * pose + weights.expression * expression + weights.lip * lip + x
        return self.ff(self.norm3(x)) + x

    @staticmethod
    def _region(attn: Attention, conv: nn.Conv2d, mask: torch.Tensor, query, audio, side: int) -> torch.Tensor:
        """Cross-attention output × region mask, through the 1×1 conv (its bias is not masked).
        mask (L,) shared by every frame, or (N, L) one per frame."""
        out = attn(query, encoder_hidden_states=audio) * (mask[None, :, None] if mask.dim() == 1 else mask[:, :, None])
        n, length, channels = out.shape
        out = conv(out.transpose(1, 2).reshape(n, channels, side, length // side))
        return out.reshape(n, channels, length).transpose(1, 2)


def _zero_conv(dim: int) -> nn.Conv2d:
    conv = nn.Conv2d(dim, dim, kernel_size=1)
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv


class AudioModule(nn.Module):
    """GroupNorm → 1×1 in → `AudioTransformerBlock` → 1×1 out, plus the input residual.

    The inner width `inner_channels` is 8·(c // 8) where c is, in the release's construction,
    the block's input width for down blocks and the skip width for up blocks; it differs from
    the layer width in a few layers (e.g. 640 → 320 in `down_blocks.1.audio_modules.0`).
    """

    def __init__(self, channels: int, inner_channels: int, audio_dim: int, norm_groups: int, heads: int = 8):
        super().__init__()
        self.norm = nn.GroupNorm(norm_groups, channels, eps=1e-6)
        self.proj_in = nn.Conv2d(channels, inner_channels, kernel_size=1)
        self.transformer_blocks = nn.ModuleList([AudioTransformerBlock(inner_channels, heads, audio_dim)])
        self.proj_out = nn.Conv2d(inner_channels, channels, kernel_size=1)

    def forward(
        self,
        x: torch.Tensor,
        audio: torch.Tensor,
        masks: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
        weights: MotionWeights,
    ) -> torch.Tensor:
        """x (N, C, s, s) with N = B·F frames; audio (N, 32, C_a) → (N, C, s, s)."""
        n, _, height, width = x.shape
        h = self.proj_in(self.norm(x))
        inner = h.shape[1]
        h = h.permute(0, 2, 3, 1).reshape(n, height * width, inner)
        for block in self.transformer_blocks:
            h = block(h, audio, masks, weights, height)
        h = h.reshape(n, height, width, inner).permute(0, 3, 1, 2).contiguous()
        return self.proj_out(h) + x
