"""FaceLocator: a light conv net that tells the denoising UNet where the face is.

Its output (latent resolution, UNet width) is added to the `conv_in` features of every frame;
`face_locator.*` in `net.pth`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn


class FaceLocator(ModelMixin, ConfigMixin):
    """Binary face-region image → features at 1/8 resolution, added after the UNet's `conv_in`."""

    @register_to_config
    def __init__(
        self,
        conditioning_embedding_channels: int = 320,  # block_out_channels[0] of the denoising UNet
        conditioning_channels: int = 3,
        block_out_channels: tuple[int, ...] = (16, 32, 64, 128),
    ):
        super().__init__()
        self.conv_in = nn.Conv2d(conditioning_channels, block_out_channels[0], kernel_size=3, padding=1)
        blocks = []
        for c_in, c_out in zip(block_out_channels[:-1], block_out_channels[1:]):
            blocks.append(nn.Conv2d(c_in, c_in, kernel_size=3, padding=1))
            blocks.append(nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, stride=2))
        self.blocks = nn.ModuleList(blocks)
        # Zero-initialised so that a freshly added locator leaves the UNet unchanged (paper, stage 1).
        self.conv_out = nn.Conv2d(block_out_channels[-1], conditioning_embedding_channels, kernel_size=3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, face_region: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) face-box mask in {0, 1} → (N, C0, H/8, W/8)."""
        x = F.silu(self.conv_in(face_region))
        for conv in self.blocks:
            x = F.silu(conv(x))
        return self.conv_out(x)
