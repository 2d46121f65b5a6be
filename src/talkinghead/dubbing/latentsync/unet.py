"""LatentSync's denoising network: SD-1.5's UNet inflated to 16-frame clips, conditioned on audio.

Tensors keep the release's layout, (B, C, F, h, w). A layer of a cross-attention block runs

    resnet (GroupNorm pooled over all F frames) → spatial transformer per frame (self-attention,
    then cross-attention to that frame's 50 Whisper tokens, GEGLU) → motion module (temporal
    self-attention across the F frames, per pixel)

and `DownBlock3D` / `UpBlock3D` run resnet → motion module. The mid block has no motion module.
Reproduced from the release (the oracle's README measures each):
- the resnets' and `conv_norm_out`'s GroupNorm statistics are pooled over all frames of the
  clip (the release never inflates them per frame), which couples the frames;
- the audio tokens enter `attn2` with no projection of their own (`to_k`/`to_v` are C × 384,
  no bias), so the zero "unconditional" audio reads `to_out.0.bias` only;
- `attention_head_dim` is the number of heads (8), as in SD-1.5's configs.
Parameter names and their order equal the release's `latentsync_unet.pt` keys.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.attention import FeedForward
from diffusers.models.attention_processor import Attention
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from ...render.hallo.motion_module import MotionModule

IN_CHANNELS = 13  # noisy latents 4, mouth mask 1, masked-image latents 4, reference latents 4


def per_frame(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Apply a 2D layer to every frame: (B, C, F, h, w) → (B, C', F, h', w')."""
    batch, _, frames, height, width = x.shape
    y = layer(x.transpose(1, 2).reshape(batch * frames, -1, height, width))
    return y.reshape(batch, frames, *y.shape[1:]).transpose(1, 2)


class ResnetBlock3D(nn.Module):
    """SD's resnet with its 3×3 convolutions per frame and GroupNorm over the whole clip."""

    def __init__(self, in_channels: int, out_channels: int, temb_channels: int, groups: int, eps: float):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, in_channels, eps=eps)
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)
        self.time_emb_proj = nn.Linear(temb_channels, out_channels)
        self.norm2 = nn.GroupNorm(groups, out_channels, eps=eps)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1)
        self.conv_shortcut = nn.Conv2d(in_channels, out_channels, kernel_size=1) if in_channels != out_channels else None

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        """x (B, C, F, h, w) — GroupNorm on the 5-D tensor pools each group over F·h·w; temb (B, T)."""
        h = per_frame(self.conv1, F.silu(self.norm1(x)))
        h = h + self.time_emb_proj(F.silu(temb))[:, :, None, None, None]
        h = per_frame(self.conv2, F.silu(self.norm2(h)))
        return h + (per_frame(self.conv_shortcut, x) if self.conv_shortcut is not None else x)


class AudioTransformerBlock(nn.Module):
    """Self-attention over a frame's pixels, cross-attention to its audio tokens, GEGLU."""

    def __init__(self, dim: int, heads: int, audio_dim: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn1 = Attention(query_dim=dim, heads=heads, dim_head=dim // heads)
        self.norm2 = nn.LayerNorm(dim)
        self.attn2 = Attention(query_dim=dim, cross_attention_dim=audio_dim, heads=heads, dim_head=dim // heads)
        self.ff = FeedForward(dim, activation_fn="geglu")
        self.norm3 = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        """x (B·F, h·w, C); audio (B·F, 50, C_a)."""
        x = self.attn1(self.norm1(x)) + x
        x = self.attn2(self.norm2(x), encoder_hidden_states=audio) + x
        return self.ff(self.norm3(x)) + x


class SpatialTransformer3D(nn.Module):
    """Per-frame transformer (diffusers `Transformer2DModel` layout, 1×1 conv projections)."""

    def __init__(self, channels: int, heads: int, audio_dim: int, groups: int):
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels, eps=1e-6)
        self.proj_in = nn.Conv2d(channels, channels, kernel_size=1)
        self.transformer_blocks = nn.ModuleList([AudioTransformerBlock(channels, heads, audio_dim)])
        self.proj_out = nn.Conv2d(channels, channels, kernel_size=1)

    def forward(self, x: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        """x (B, C, F, h, w); audio (B·F, 50, C_a) → (B, C, F, h, w)."""
        batch, channels, frames, height, width = x.shape
        flat = x.transpose(1, 2).reshape(batch * frames, channels, height, width)
        h = self.proj_in(self.norm(flat)).permute(0, 2, 3, 1).reshape(batch * frames, height * width, channels)
        for block in self.transformer_blocks:
            h = block(h, audio)
        h = h.reshape(batch * frames, height, width, channels).permute(0, 3, 1, 2)
        out = self.proj_out(h) + flat
        return out.reshape(batch, frames, channels, height, width).transpose(1, 2)


def _motion(module: MotionModule, x: torch.Tensor) -> torch.Tensor:
    """The motion module on (B, C, F, h, w) (it takes frames second)."""
    return module(x.transpose(1, 2)).transpose(1, 2)


@dataclass
class _Conditions:
    temb: torch.Tensor  # (B, 4·C0) time embedding
    audio: torch.Tensor  # (B·F, 50, C_a) audio tokens, batch-major


class _Block(nn.Module):
    """The layers of a down or up block: resnet [→ spatial transformer] → motion module."""

    def __init__(self, resnet_in: list[int], out: int, *, audio: bool, kw: dict):
        super().__init__()
        if audio:
            self.attentions = nn.ModuleList(
                SpatialTransformer3D(out, kw["heads"], kw["audio_dim"], kw["groups"]) for _ in resnet_in
            )
        self.resnets = nn.ModuleList(ResnetBlock3D(c, out, kw["temb"], kw["groups"], kw["eps"]) for c in resnet_in)
        self.motion_modules = nn.ModuleList(MotionModule(out, heads=kw["motion_heads"], max_len=kw["motion_len"]) for _ in resnet_in)

    def layer(self, i: int, x: torch.Tensor, c: _Conditions) -> torch.Tensor:
        x = self.resnets[i](x, c.temb)
        if hasattr(self, "attentions"):
            x = self.attentions[i](x, c.audio)
        return _motion(self.motion_modules[i], x)


class DownBlock(_Block):
    def __init__(self, in_channels: int, out: int, *, layers: int, audio: bool, downsample: bool, kw: dict):
        super().__init__([in_channels] + [out] * (layers - 1), out, audio=audio, kw=kw)
        if downsample:
            self.downsamplers = nn.ModuleList([_Conv(out, stride=2)])

    def forward(self, x: torch.Tensor, c: _Conditions) -> tuple[torch.Tensor, list[torch.Tensor]]:
        skips = []
        for i in range(len(self.resnets)):
            x = self.layer(i, x, c)
            skips.append(x)
        if hasattr(self, "downsamplers"):
            x = per_frame(self.downsamplers[0], x)
            skips.append(x)
        return x, skips


class UpBlock(_Block):
    def __init__(self, skip_channels: list[int], prev: int, out: int, *, audio: bool, upsample: bool, kw: dict):
        resnet_in = [r + s for r, s in zip([prev] + [out] * (len(skip_channels) - 1), skip_channels)]
        super().__init__(resnet_in, out, audio=audio, kw=kw)
        if upsample:
            self.upsamplers = nn.ModuleList([_Conv(out, stride=1)])

    def forward(self, x: torch.Tensor, skips: list[torch.Tensor], c: _Conditions, layers: int | None = None) -> torch.Tensor:
        """Its layers (the first `layers` only: DeepCache keeps the state there), each taking a
        skip popped off `skips`; then the upsampler."""
        for i in range(len(self.resnets) if layers is None else layers):
            x = self.layer(i, torch.cat([x, skips.pop()], dim=1), c)
        if hasattr(self, "upsamplers"):
            # Nearest ×2, or to the next skip's size when the latent side is odd (as diffusers does).
            x = F.interpolate(x, size=(x.shape[2], *skips[-1].shape[-2:]), mode="nearest")
            x = per_frame(self.upsamplers[0], x)
        return x


class _Conv(nn.Module):
    """A 3×3 convolution under the name the checkpoints use (`...samplers.0.conv`)."""

    def __init__(self, channels: int, stride: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, kernel_size=3, stride=stride, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class MidBlock(nn.Module):
    def __init__(self, channels: int, kw: dict):
        super().__init__()
        self.attentions = nn.ModuleList([SpatialTransformer3D(channels, kw["heads"], kw["audio_dim"], kw["groups"])])
        self.resnets = nn.ModuleList(ResnetBlock3D(channels, channels, kw["temb"], kw["groups"], kw["eps"]) for _ in range(2))

    def forward(self, x: torch.Tensor, c: _Conditions) -> torch.Tensor:
        x = self.attentions[0](self.resnets[0](x, c.temb), c.audio)
        return self.resnets[1](x, c.temb)


@dataclass
class UNetCache:
    """DeepCache's state: the input of the last up block's last layer, from the last full step."""

    hidden: torch.Tensor


class LatentSyncUNet3D(ModelMixin, ConfigMixin):
    """The denoising network. Config: the `model` section of LatentSync's `stage2*.yaml` that
    inference uses; the block types are fixed to the published layout."""

    @register_to_config
    def __init__(
        self,
        in_channels: int = IN_CHANNELS,
        out_channels: int = 4,
        block_out_channels: tuple[int, ...] = (320, 640, 1280, 1280),
        layers_per_block: int = 2,
        attention_head_dim: int = 8,  # the number of heads (SD-1.5's naming)
        cross_attention_dim: int = 384,  # Whisper-tiny's width
        norm_num_groups: int = 32,
        norm_eps: float = 1e-5,
        flip_sin_to_cos: bool = True,
        freq_shift: int = 0,
        motion_heads: int = 8,
        motion_max_len: int = 24,  # positional-encoding table: the longest clip
    ):
        super().__init__()
        c0 = block_out_channels[0]
        kw = dict(temb=4 * c0, heads=attention_head_dim, audio_dim=cross_attention_dim, groups=norm_num_groups,
                  eps=norm_eps, motion_heads=motion_heads, motion_len=motion_max_len)  # fmt: skip
        self.conv_in = nn.Conv2d(in_channels, c0, kernel_size=3, padding=1)
        self.time_proj = Timesteps(c0, flip_sin_to_cos, freq_shift)
        self.time_embedding = TimestepEmbedding(c0, 4 * c0)
        levels = len(block_out_channels)
        self.down_blocks = nn.ModuleList(
            DownBlock(block_out_channels[max(i - 1, 0)], out, layers=layers_per_block, audio=i < levels - 1,
                      downsample=i < levels - 1, kw=kw)  # fmt: skip
            for i, out in enumerate(block_out_channels)
        )
        # The skips in the order the down path pushes them; each up block pops layers + 1.
        stack = [c0] + [w for i, w in enumerate(block_out_channels) for _ in range(layers_per_block + (i < levels - 1))]
        widths = list(reversed(block_out_channels))
        self.up_blocks = nn.ModuleList(
            UpBlock([stack.pop() for _ in range(layers_per_block + 1)], widths[max(i - 1, 0)], out,
                    audio=i > 0, upsample=i < levels - 1, kw=kw)  # fmt: skip
            for i, out in enumerate(widths)
        )
        self.mid_block = MidBlock(block_out_channels[-1], kw)
        self.conv_norm_out = nn.GroupNorm(norm_num_groups, c0, eps=norm_eps)
        self.conv_out = nn.Conv2d(c0, out_channels, kernel_size=3, padding=1)

    def forward(
        self, sample: torch.Tensor, timestep: torch.Tensor | int, audio: torch.Tensor, *, cache: UNetCache | None = None
    ) -> tuple[torch.Tensor, UNetCache]:
        """ε for one clip, and the DeepCache state of this call.

        sample (B, 13, F, h, w); timestep scalar; audio (B, F, 50, C_a). With `cache` (the state
        of an earlier full call) only `conv_in` and the last layer of the last up block run.
        """
        batch, _, frames = sample.shape[:3]
        c = _Conditions(self._time_embedding(timestep, batch, sample), audio.reshape(batch * frames, *audio.shape[2:]))
        stem = per_frame(self.conv_in, sample)
        last = self.up_blocks[-1]
        if cache is None:
            x, skips = stem, [stem]
            for block in self.down_blocks:
                x, block_skips = block(x, c)
                skips += block_skips
            x = self.mid_block(x, c)
            for block in self.up_blocks[:-1]:
                x = block(x, skips, c)
            cache = UNetCache(last(x, skips, c, layers=len(last.resnets) - 1))  # leaves the stem's skip
        x = last.layer(len(last.resnets) - 1, torch.cat([cache.hidden, stem], dim=1), c)
        return per_frame(self.conv_out, F.silu(self.conv_norm_out(x))), cache

    def _time_embedding(self, timestep, batch: int, sample: torch.Tensor) -> torch.Tensor:
        """(B, 4·C0) embedding of the diffusion timestep."""
        t = torch.as_tensor(timestep, device=sample.device).reshape(-1).expand(batch)
        return self.time_embedding(self.time_proj(t).to(dtype=sample.dtype))
