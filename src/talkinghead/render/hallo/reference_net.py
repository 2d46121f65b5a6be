"""ReferenceNet: an SD-1.5 2D UNet that encodes the reference image and the motion frames.

It runs once per clip at timestep 0. Its output image is never used; what matters is the
normed hidden states entering the self-attention of each of its 16 transformer blocks (the
"bank", kept by `ReferenceWriterProcessor`). The denoising UNet's block at the same module path
appends them to its own keys and values, and uses the motion-frame rows as motion frames.

Built from diffusers' 2D blocks, so the key names are SD-1.5's (`reference_unet.*` in
`net.pth`), without `conv_norm_out` / `conv_out`, which the release does not have.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from diffusers.models.modeling_utils import ModelMixin
from diffusers.models.unets.unet_2d_blocks import get_down_block, get_mid_block, get_up_block
from diffusers.utils import BaseOutput
from torch import nn

from .attention import ReferenceWriterProcessor

DOWN_BLOCKS = ("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D")
UP_BLOCKS = ("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D")


@dataclass
class ReferenceNetOutput(BaseOutput):
    """banks: path of each spatial-attention module (e.g. `down_blocks.0.attentions.1`) →
    (N, h·w, C) normed hidden states of its transformer block, one row per input image."""

    banks: dict[str, torch.Tensor]


class ReferenceNet(ModelMixin, ConfigMixin):
    """SD-1.5 UNet body (no output head) whose transformer blocks record their inputs."""

    @register_to_config
    def __init__(
        self,
        sample_size: int = 64,
        in_channels: int = 4,
        block_out_channels: tuple[int, ...] = (320, 640, 1280, 1280),
        layers_per_block: int = 2,
        attention_head_dim: int = 8,  # SD-1.5's name for the number of heads
        cross_attention_dim: int = 768,
        norm_num_groups: int = 32,
        norm_eps: float = 1e-5,
        flip_sin_to_cos: bool = True,
        freq_shift: int = 0,
        downsample_padding: int = 1,
        mid_block_scale_factor: float = 1.0,
        act_fn: str = "silu",
    ):
        super().__init__()
        c0 = block_out_channels[0]
        common = dict(
            temb_channels=4 * c0,
            resnet_eps=norm_eps,
            resnet_act_fn=act_fn,
            resnet_groups=norm_num_groups,
            cross_attention_dim=cross_attention_dim,
            num_attention_heads=attention_head_dim,
        )
        self.conv_in = nn.Conv2d(in_channels, c0, kernel_size=3, padding=1)
        self.time_proj = Timesteps(c0, flip_sin_to_cos, freq_shift)
        self.time_embedding = TimestepEmbedding(c0, 4 * c0)
        self.down_blocks = nn.ModuleList()
        for i, block_type in enumerate(DOWN_BLOCKS):
            self.down_blocks.append(
                get_down_block(
                    block_type,
                    num_layers=layers_per_block,
                    in_channels=block_out_channels[max(i - 1, 0)],
                    out_channels=block_out_channels[i],
                    add_downsample=i < len(DOWN_BLOCKS) - 1,
                    downsample_padding=downsample_padding,
                    attention_head_dim=block_out_channels[i] // attention_head_dim,
                    **common,
                )
            )
        self.up_blocks = nn.ModuleList()
        reversed_channels = list(reversed(block_out_channels))
        for i, block_type in enumerate(UP_BLOCKS):
            self.up_blocks.append(
                get_up_block(
                    block_type,
                    num_layers=layers_per_block + 1,
                    in_channels=reversed_channels[min(i + 1, len(UP_BLOCKS) - 1)],
                    out_channels=reversed_channels[i],
                    prev_output_channel=reversed_channels[max(i - 1, 0)],
                    add_upsample=i < len(UP_BLOCKS) - 1,
                    resolution_idx=i,
                    attention_head_dim=reversed_channels[i] // attention_head_dim,
                    **common,
                )
            )
        self.mid_block = get_mid_block(
            "UNetMidBlock2DCrossAttn",
            in_channels=block_out_channels[-1],
            output_scale_factor=mid_block_scale_factor,
            **common,
        )
        self._writers = self._install_writers()

    def _install_writers(self) -> dict[str, ReferenceWriterProcessor]:
        """A recording processor on the self-attention of every transformer block."""
        writers = {}
        for name, module in self.named_modules():
            if name.endswith(".transformer_blocks.0.attn1"):
                writers[name.removesuffix(".transformer_blocks.0.attn1")] = processor = ReferenceWriterProcessor()
                module.set_processor(processor)
        return writers

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor | int, encoder_hidden_states: torch.Tensor) -> ReferenceNetOutput:
        """sample (N, 4, h, w) latents; encoder_hidden_states (N, 4, C_x) face tokens, one set per
        image → the banks of the 16 transformer blocks."""
        t = torch.as_tensor(timestep, device=sample.device).reshape(-1).expand(sample.shape[0])
        temb = self.time_embedding(self.time_proj(t).to(dtype=self.dtype))
        x = self.conv_in(sample)
        skips = (x,)
        for block in self.down_blocks:
            if getattr(block, "has_cross_attention", False):
                x, block_skips = block(x, temb, encoder_hidden_states=encoder_hidden_states)
            else:
                x, block_skips = block(x, temb)
            skips += block_skips
        x = self.mid_block(x, temb, encoder_hidden_states=encoder_hidden_states)
        for i, block in enumerate(self.up_blocks):
            n = len(block.resnets)
            block_skips, skips = skips[-n:], skips[:-n]
            size = skips[-1].shape[-2:] if skips and skips[-1].shape[-2:] != tuple(2 * s for s in x.shape[-2:]) else None
            kwargs = {"encoder_hidden_states": encoder_hidden_states} if getattr(block, "has_cross_attention", False) else {}
            x = block(x, block_skips, temb, upsample_size=size, **kwargs)
        banks = {name: writer.bank for name, writer in self._writers.items()}
        for writer in self._writers.values():
            writer.bank = None
        return ReferenceNetOutput(banks=banks)
