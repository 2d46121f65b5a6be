"""Tiny random networks with the interfaces of the real ones, so the neural metrics run in CI.

    syncnet.pt    SyncNet's published layer layout (syncnet_v2.model's keys), 4-8 channels wide
    i3d.pt        TorchScript taking (N, 3, 16, 224, 224) clips with StyleGAN-V's keyword flags
    arcface.onnx  ONNX taking (N, 3, 112, 112) faces, giving 16-d embeddings
"""

from __future__ import annotations

from pathlib import Path

import torch

from talkinghead.eval.neural.syncnet import build_syncnet

TINY = ([4, 4, 4, 4, 4, 8], [8, 8])  # conv widths, (hidden, embedding) widths


def tiny_syncnet(path: Path) -> Path:
    torch.manual_seed(0)
    torch.save(build_syncnet(TINY, TINY).state_dict(), path)
    return path


class TinyI3D(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv3d(3, 8, kernel_size=(4, 16, 16), stride=(4, 16, 16))

    def forward(self, x: torch.Tensor, rescale: bool = False, resize: bool = False, return_features: bool = True) -> torch.Tensor:
        return self.conv(x).mean(dim=(2, 3, 4))


def tiny_i3d(path: Path) -> Path:
    torch.manual_seed(0)
    torch.jit.script(TinyI3D().eval()).save(str(path))
    return path


def tiny_arcface(path: Path) -> Path:
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 4, stride=4), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(2), torch.nn.Flatten(), torch.nn.Linear(32, 16)
    ).eval()
    torch.onnx.export(net, torch.zeros(1, 3, 112, 112), str(path), dynamo=False, input_names=["input.1"], output_names=["embedding"])
    return path
