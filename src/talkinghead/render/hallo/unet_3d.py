"""Hallo's denoising UNet: SD-1.5 inflated to video, with reference, audio and motion modules.

Every 2D layer (convolutions, GroupNorm, spatial attention) runs on each frame: frames are folded
into the batch, `(B·F, C, h, w)`, batch-major. A layer of a cross-attention block runs, in the
order of the released inference:

    resnet → spatial attention (self-attention with ReferenceNet tokens in K/V, then
    cross-attention to the 4 face tokens) → audio module (three masked audio cross-attentions)
    → motion module over [2 motion frames ; F frames], the 2 motion frames dropped after.

Reproduced from the release (`scripts/inference.py` never calls `.eval()` and enables gradient
checkpointing, so every 3D down/up block takes its checkpointing branch):
- `down_blocks.3` and `up_blocks.0` run their resnets only; their motion modules have weights
  in `net.pth` but never run.
- the motion frames are prepended in every motion module, and the pose/expression/lip weights
  (`motion_scale`) reach every audio module, including those of the down and up blocks.
- the ReferenceNet rows are tiled over the frames (see `_reference_index`).
The state-dict keys and their order equal the release's `denoising_unet.*`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.attention import FeedForward
from diffusers.models.attention_processor import Attention
from diffusers.models.downsampling import Downsample2D
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from diffusers.models.modeling_utils import ModelMixin
from diffusers.models.resnet import ResnetBlock2D
from diffusers.models.upsampling import Upsample2D
from diffusers.utils import BaseOutput
from torch import nn

from .attention import ReferenceAttnProcessor
from .audio_module import AudioModule, MotionWeights, RegionMasks
from .motion_module import MotionModule

N_MOTION_FRAMES = 2  # frames of the previous clip prepended in the motion modules


@dataclass
class HalloUNet3DOutput(BaseOutput):
    """sample: (batch, 4, frames, h, w), the v-prediction."""

    sample: torch.Tensor


@dataclass
class _Conditions:
    """Everything a layer needs besides its input, with frames folded into the batch."""

    frames: int
    temb: torch.Tensor  # (B·F, T) time embedding
    tokens: torch.Tensor  # (B·F, 4, C_x) face tokens
    audio: torch.Tensor | None  # (B·F, 32, C_a) audio tokens
    masks: RegionMasks | None
    weights: MotionWeights
    reference: dict[str, torch.Tensor]  # block path → (B, 3, L, C): [reference, motion 1, motion 2]
    reference_index: torch.Tensor  # (B·F,) long: reference row each frame attends to, -1 for none
    spatial_only: bool = False  # stage-1 training: no audio and no motion modules


class SpatialTransformerBlock(nn.Module):
    """Reference self-attention, cross-attention to the face tokens, GEGLU feed-forward."""

    def __init__(self, dim: int, heads: int, cross_attention_dim: int):
        super().__init__()
        self.attn1 = Attention(query_dim=dim, heads=heads, dim_head=dim // heads, processor=ReferenceAttnProcessor())
        self.norm1 = nn.LayerNorm(dim)
        self.attn2 = Attention(query_dim=dim, cross_attention_dim=cross_attention_dim, heads=heads, dim_head=dim // heads)
        self.norm2 = nn.LayerNorm(dim)
        self.ff = FeedForward(dim, activation_fn="geglu")
        self.norm3 = nn.LayerNorm(dim)

    def forward(self, x, tokens, reference, reference_index) -> torch.Tensor:
        """x (B·F, L, C); tokens (B·F, 4, C_x); reference (B, L_r, C); reference_index (B·F,)
        → (B·F, L, C)."""
        x = self.attn1(self.norm1(x), reference=reference, reference_index=reference_index) + x
        x = self.attn2(self.norm2(x), encoder_hidden_states=tokens) + x
        return self.ff(self.norm3(x)) + x


class SpatialTransformer(nn.Module):
    """Per-frame transformer (diffusers `Transformer2DModel` layout) reading the reference bank."""

    def __init__(self, channels: int, heads: int, cross_attention_dim: int, norm_groups: int):
        super().__init__()
        self.norm = nn.GroupNorm(norm_groups, channels, eps=1e-6)
        self.proj_in = nn.Conv2d(channels, channels, kernel_size=1)
        self.transformer_blocks = nn.ModuleList([SpatialTransformerBlock(channels, heads, cross_attention_dim)])
        self.proj_out = nn.Conv2d(channels, channels, kernel_size=1)
        self.reference_key = ""  # this module's path; the ReferenceNet block at that path writes its bank

    def forward(self, x: torch.Tensor, tokens, reference, reference_index) -> torch.Tensor:
        """x (B·F, C, h, w) → (B·F, C, h, w)."""
        n, channels, height, width = x.shape
        h = self.proj_in(self.norm(x)).permute(0, 2, 3, 1).reshape(n, height * width, channels)
        for block in self.transformer_blocks:
            h = block(h, tokens, reference, reference_index)
        h = h.reshape(n, height, width, channels).permute(0, 3, 1, 2).contiguous()
        return self.proj_out(h) + x


def _resnet(in_channels: int, out_channels: int, temb_channels: int, groups: int, eps: float, scale: float = 1.0):
    return ResnetBlock2D(
        in_channels=in_channels,
        out_channels=out_channels,
        temb_channels=temb_channels,
        groups=groups,
        eps=eps,
        non_linearity="silu",
        output_scale_factor=scale,
    )


def _with_motion_frames(module: MotionModule, x: torch.Tensor, motion: torch.Tensor, frames: int) -> torch.Tensor:
    """Temporal attention over [motion frames ; frames], motion frames dropped afterwards.

    x (B·F, C, h, w); motion (B, 2, h·w, C) LayerNorm-ed ReferenceNet tokens of the two motion
    frames (row-major pixels) → (B·F, C, h, w).
    """
    n, channels, height, width = x.shape
    batch = n // frames
    motion = motion.transpose(2, 3).reshape(batch, N_MOTION_FRAMES, channels, height, width).to(x.dtype)
    sequence = torch.cat([motion, x.reshape(batch, frames, channels, height, width)], dim=1)
    return module(sequence)[:, N_MOTION_FRAMES:].reshape(n, channels, height, width)


class _CrossAttnLayers(nn.Module):
    """The layers shared by down, mid and up cross-attention blocks."""

    depth: int  # resolution level: masks at latent side / 2^depth

    def _attend(self, i: int, x: torch.Tensor, c: _Conditions) -> torch.Tensor:
        """Spatial attention, audio module and motion module of layer i; x (B·F, C, h, w)."""
        attention = self.attentions[i]
        bank = c.reference[attention.reference_key]
        x = attention(x, c.tokens, bank[:, 0], c.reference_index)
        if c.spatial_only:
            return x
        x = self.audio_modules[i](x, c.audio, c.masks.level(self.depth), c.weights)
        return _with_motion_frames(self.motion_modules[i], x, bank[:, 1:], c.frames)


class CrossAttnDownBlock3D(_CrossAttnLayers):
    def __init__(self, in_channels, out_channels, *, depth, layers, add_downsample, kw: dict):
        super().__init__()
        self.depth = depth
        channels_in = [in_channels] + [out_channels] * (layers - 1)
        self.attentions = nn.ModuleList(
            SpatialTransformer(out_channels, kw["heads"], kw["cross_attention_dim"], kw["groups"]) for _ in channels_in
        )
        self.resnets = nn.ModuleList(
            _resnet(c, out_channels, kw["temb_channels"], kw["groups"], kw["eps"]) for c in channels_in
        )
        # Inner width from the layer's input width (the release's construction).
        self.audio_modules = nn.ModuleList(
            AudioModule(out_channels, kw["heads"] * (c // kw["heads"]), kw["audio_dim"], kw["groups"]) for c in channels_in
        )
        self.motion_modules = nn.ModuleList(MotionModule(out_channels, **kw["motion"]) for _ in channels_in)
        self.downsamplers = _downsamplers(out_channels, kw["downsample_padding"]) if add_downsample else None

    def forward(self, x: torch.Tensor, c: _Conditions) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        skips = ()
        for i, resnet in enumerate(self.resnets):
            x = self._attend(i, resnet(x, c.temb), c)
            skips += (x,)
        if self.downsamplers is not None:
            x = self.downsamplers[0](x)
            skips += (x,)
        return x, skips


class DownBlock3D(nn.Module):
    def __init__(self, in_channels, out_channels, *, layers, add_downsample, kw: dict):
        super().__init__()
        channels_in = [in_channels] + [out_channels] * (layers - 1)
        self.resnets = nn.ModuleList(
            _resnet(c, out_channels, kw["temb_channels"], kw["groups"], kw["eps"]) for c in channels_in
        )
        # In net.pth, never run at inference (see the module docstring).
        self.motion_modules = nn.ModuleList(MotionModule(out_channels, **kw["motion"]) for _ in channels_in)
        self.downsamplers = _downsamplers(out_channels, kw["downsample_padding"]) if add_downsample else None

    def forward(self, x: torch.Tensor, c: _Conditions) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        skips = ()
        for resnet in self.resnets:
            x = resnet(x, c.temb)
            skips += (x,)
        if self.downsamplers is not None:
            x = self.downsamplers[0](x)
            skips += (x,)
        return x, skips


class MidBlock3D(_CrossAttnLayers):
    def __init__(self, channels, *, scale, kw: dict):
        super().__init__()
        self.depth = 3
        self.attentions = nn.ModuleList([SpatialTransformer(channels, kw["heads"], kw["cross_attention_dim"], kw["groups"])])
        self.resnets = nn.ModuleList(
            _resnet(channels, channels, kw["temb_channels"], kw["groups"], kw["eps"], scale) for _ in range(2)
        )
        inner = kw["heads"] * (channels // kw["heads"])
        self.audio_modules = nn.ModuleList([AudioModule(channels, inner, kw["audio_dim"], kw["groups"])])
        self.motion_modules = nn.ModuleList([MotionModule(channels, **kw["motion"])])

    def forward(self, x: torch.Tensor, c: _Conditions) -> torch.Tensor:
        x = self.resnets[0](x, c.temb)
        x = self._attend(0, x, c)
        return self.resnets[1](x, c.temb)


class CrossAttnUpBlock3D(_CrossAttnLayers):
    def __init__(self, in_channels, out_channels, prev_channels, *, depth, layers, add_upsample, kw: dict):
        super().__init__()
        self.depth = depth
        resnet_in = [prev_channels] + [out_channels] * (layers - 1)
        skip_in = [out_channels] * (layers - 1) + [in_channels]
        self.attentions = nn.ModuleList(
            SpatialTransformer(out_channels, kw["heads"], kw["cross_attention_dim"], kw["groups"]) for _ in resnet_in
        )
        self.resnets = nn.ModuleList(
            _resnet(r + s, out_channels, kw["temb_channels"], kw["groups"], kw["eps"]) for r, s in zip(resnet_in, skip_in)
        )
        # Inner width from the block's `in_channels` for every layer (the release's construction).
        inner = kw["heads"] * (in_channels // kw["heads"])
        self.audio_modules = nn.ModuleList(AudioModule(out_channels, inner, kw["audio_dim"], kw["groups"]) for _ in resnet_in)
        self.motion_modules = nn.ModuleList(MotionModule(out_channels, **kw["motion"]) for _ in resnet_in)
        self.upsamplers = nn.ModuleList([Upsample2D(out_channels, use_conv=True)]) if add_upsample else None

    def forward(self, x, skips, c: _Conditions, upsample_size=None) -> torch.Tensor:
        for i, resnet in enumerate(self.resnets):
            x = torch.cat([x, skips[-1 - i]], dim=1)
            x = self._attend(i, resnet(x, c.temb), c)
        if self.upsamplers is not None:
            x = self.upsamplers[0](x, upsample_size)
        return x


class UpBlock3D(nn.Module):
    def __init__(self, in_channels, out_channels, prev_channels, *, layers, add_upsample, kw: dict):
        super().__init__()
        resnet_in = [prev_channels] + [out_channels] * (layers - 1)
        skip_in = [out_channels] * (layers - 1) + [in_channels]
        self.resnets = nn.ModuleList(
            _resnet(r + s, out_channels, kw["temb_channels"], kw["groups"], kw["eps"]) for r, s in zip(resnet_in, skip_in)
        )
        # In net.pth, never run at inference (see the module docstring).
        self.motion_modules = nn.ModuleList(MotionModule(out_channels, **kw["motion"]) for _ in resnet_in)
        self.upsamplers = nn.ModuleList([Upsample2D(out_channels, use_conv=True)]) if add_upsample else None

    def forward(self, x, skips, c: _Conditions, upsample_size=None) -> torch.Tensor:
        for i, resnet in enumerate(self.resnets):
            x = resnet(torch.cat([x, skips[-1 - i]], dim=1), c.temb)
        if self.upsamplers is not None:
            x = self.upsamplers[0](x, upsample_size)
        return x


def _reference_index(batch: int, frames: int, reference_mask: torch.Tensor | None, device) -> torch.Tensor:
    """(B·F,) reference row for each frame of the batch-major frame batch, -1 for none.

    Reproduces the release: it tiles the B reference rows over the B·F frames (`repeat`, not
    `repeat_interleave`), so frame j reads row j mod B. With classifier-free guidance (B = 2,
    rows [uncond, cond]) the conditional frames therefore alternate between the reference
    features computed with the unconditional and with the conditional face tokens. Checked
    against the oracle's recorded noise predictions (rel. L2 0.08 if each frame read its own
    batch item's row instead).
    """
    index = torch.arange(batch * frames, device=device) % batch
    if reference_mask is not None:
        index[~reference_mask.to(device).repeat_interleave(frames)] = -1
    return index


def _downsamplers(channels: int, padding: int) -> nn.ModuleList:
    return nn.ModuleList([Downsample2D(channels, use_conv=True, out_channels=channels, padding=padding, name="op")])


class HalloUNet3D(ModelMixin, ConfigMixin):
    """The denoising network. Config: the SD-1.5 `unet/config.json` values plus Hallo's additions.

    Block types are fixed to the published layout: down = 3 × CrossAttnDownBlock3D + DownBlock3D,
    up = UpBlock3D + 3 × CrossAttnUpBlock3D, mid = UNetMidBlock3DCrossAttn.
    """

    @register_to_config
    def __init__(
        self,
        sample_size: int = 64,  # latent side the model was trained at (512 px / 8)
        in_channels: int = 4,
        out_channels: int = 4,
        block_out_channels: tuple[int, ...] = (320, 640, 1280, 1280),
        layers_per_block: int = 2,
        attention_head_dim: int = 8,  # SD-1.5's name for the number of heads
        cross_attention_dim: int = 768,  # face-token width
        audio_attention_dim: int = 768,  # audio-token width
        norm_num_groups: int = 32,
        norm_eps: float = 1e-5,
        flip_sin_to_cos: bool = True,
        freq_shift: int = 0,
        downsample_padding: int = 1,
        mid_block_scale_factor: float = 1.0,
        motion_module_heads: int = 8,
        motion_module_max_len: int = 32,  # positional-encoding table length: frames + motion frames
    ):
        super().__init__()
        c0 = block_out_channels[0]
        kw = dict(
            temb_channels=4 * c0,
            heads=attention_head_dim,
            cross_attention_dim=cross_attention_dim,
            audio_dim=audio_attention_dim,
            groups=norm_num_groups,
            eps=norm_eps,
            downsample_padding=downsample_padding,
            motion=dict(heads=motion_module_heads, max_len=motion_module_max_len),
        )
        self.conv_in = nn.Conv2d(in_channels, c0, kernel_size=3, padding=1)
        self.time_proj = Timesteps(c0, flip_sin_to_cos, freq_shift)
        self.time_embedding = TimestepEmbedding(c0, 4 * c0)
        self.down_blocks = self._down_blocks(block_out_channels, layers_per_block, kw)
        self.up_blocks = self._up_blocks(block_out_channels, layers_per_block, kw)
        self.mid_block = MidBlock3D(block_out_channels[-1], scale=mid_block_scale_factor, kw=kw)
        self.conv_norm_out = nn.GroupNorm(norm_num_groups, c0, eps=norm_eps)
        self.conv_act = nn.SiLU()
        self.conv_out = nn.Conv2d(c0, out_channels, kernel_size=3, padding=1)
        for name, module in self.named_modules():
            if isinstance(module, SpatialTransformer):
                module.reference_key = name

    @staticmethod
    def _down_blocks(channels: tuple[int, ...], layers: int, kw: dict) -> nn.ModuleList:
        blocks = []
        for i, out in enumerate(channels):
            last = i == len(channels) - 1
            prev = channels[max(i - 1, 0)]
            if last:
                blocks.append(DownBlock3D(prev, out, layers=layers, add_downsample=False, kw=kw))
            else:
                blocks.append(CrossAttnDownBlock3D(prev, out, depth=i, layers=layers, add_downsample=True, kw=kw))
        return nn.ModuleList(blocks)

    @staticmethod
    def _up_blocks(channels: tuple[int, ...], layers: int, kw: dict) -> nn.ModuleList:
        reversed_channels = list(reversed(channels))
        blocks = []
        for i, out in enumerate(reversed_channels):
            prev = reversed_channels[max(i - 1, 0)]
            skip = reversed_channels[min(i + 1, len(channels) - 1)]
            add_upsample = i < len(channels) - 1
            if i == 0:
                blocks.append(UpBlock3D(skip, out, prev, layers=layers + 1, add_upsample=add_upsample, kw=kw))
            else:
                blocks.append(
                    CrossAttnUpBlock3D(skip, out, prev, depth=3 - i, layers=layers + 1, add_upsample=add_upsample, kw=kw)
                )
        return nn.ModuleList(blocks)

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | int,
        encoder_hidden_states: torch.Tensor,
        audio_embedding: torch.Tensor | None,
        masks: RegionMasks | None,
        reference: dict[str, torch.Tensor],
        *,
        face_features: torch.Tensor | None = None,
        reference_mask: torch.Tensor | None = None,
        motion_weights: MotionWeights = MotionWeights(),
        reference_index: torch.Tensor | None = None,
        spatial_only: bool = False,
    ) -> HalloUNet3DOutput:
        """Predict v for one clip.

        sample (B, 4, F, h, w) noisy latents; timestep scalar; encoder_hidden_states (B, 4, C_x)
        face tokens; audio_embedding (B, F, 32, C_a); masks at the 4 levels; reference: block
        path → (B, 3, h_l·w_l, C_l) ReferenceNet banks [reference, motion 1, motion 2];
        face_features (B, C0, h, w) FaceLocator output; reference_mask (B,) bool, None = all.

        Training overrides: `reference_index` (B·F,) long gives each frame's reference row
        directly (-1: none), instead of the release's tiling; `spatial_only` skips the audio and
        motion modules (stage 1 trains the image model alone; audio and masks may then be None).
        """
        batch, _, frames, height, width = sample.shape
        x = sample.transpose(1, 2).reshape(batch * frames, -1, height, width)
        if reference_index is None:
            reference_index = _reference_index(batch, frames, reference_mask, sample.device)
        c = _Conditions(
            frames=frames,
            temb=self._time_embedding(timestep, batch, sample).repeat_interleave(frames, dim=0),
            tokens=encoder_hidden_states.repeat_interleave(frames, dim=0),
            audio=None if audio_embedding is None else audio_embedding.reshape(batch * frames, *audio_embedding.shape[2:]),
            masks=masks,
            weights=motion_weights,
            reference=reference,
            reference_index=reference_index,
            spatial_only=spatial_only,
        )
        x = self.conv_in(x)
        if face_features is not None:
            x = x + face_features.repeat_interleave(frames, dim=0)
        skips = (x,)
        for block in self.down_blocks:
            x, block_skips = block(x, c)
            skips += block_skips
        x = self.mid_block(x, c)
        for i, block in enumerate(self.up_blocks):
            n = len(block.resnets)
            block_skips, skips = skips[-n:], skips[:-n]
            # Odd latent sides: upsample to the skip's size instead of ×2 (as diffusers does).
            size = skips[-1].shape[-2:] if skips and skips[-1].shape[-2:] != tuple(2 * s for s in x.shape[-2:]) else None
            x = block(x, block_skips, c, size)
        x = self.conv_out(self.conv_act(self.conv_norm_out(x)))
        return HalloUNet3DOutput(sample=x.reshape(batch, frames, -1, height, width).transpose(1, 2))

    def _time_embedding(self, timestep, batch: int, sample: torch.Tensor) -> torch.Tensor:
        """(B, 4·C0) embedding of the diffusion timestep."""
        t = torch.as_tensor(timestep, device=sample.device)
        t = t.reshape(-1).expand(batch)
        return self.time_embedding(self.time_proj(t).to(dtype=sample.dtype))
