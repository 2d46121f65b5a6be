"""Miniature LatentSync networks and weights folders, with the oracle's weight recipes.

The recipes (README of ../shared/latentsync-oracle) regenerate the oracle's random weights
exactly: its tiny UNet checkpoint and its Whisper encoder, so neither is stored here.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import torch
from torch import nn

from talkinghead.dubbing.latentsync import loading
from talkinghead.dubbing.latentsync.unet import LatentSyncUNet3D
from talkinghead.dubbing.latentsync.whisper import WhisperDims, WhisperEncoder

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "latentsync"
ORACLE = Path(__file__).resolve().parents[3] / "shared" / "latentsync-oracle"
TINY_WIDTHS, TINY_GROUPS = (32, 32, 32, 32), 16  # the oracle's tiny UNet
TINY_DIMS = WhisperDims(n_mels=80, n_audio_ctx=1500, n_audio_state=384, n_audio_head=6, n_audio_layer=4)


def draw_unet(unet: LatentSyncUNet3D) -> dict[str, torch.Tensor]:
    """The oracle's tiny-UNet weights: one generator (seed 0) over the parameters in state-dict
    order; norms 1 + 0.1·z / 0.1·z, matrices z/√fan_in, other vectors 0.05·z; float16. The
    positional tables are the module's own (float32)."""
    g = torch.Generator().manual_seed(0)
    norms = {n for n, m in unet.named_modules() if isinstance(m, (nn.LayerNorm, nn.GroupNorm))}
    state = {k: v.clone() for k, v in unet.state_dict().items()}  # the pe buffers
    for name, p in unet.named_parameters():
        z = torch.randn(p.shape, generator=g)
        owner, _, kind = name.rpartition(".")
        if owner in norms:
            w = 1 + 0.1 * z if kind == "weight" else 0.1 * z
        elif z.dim() >= 2:
            w = z / torch.tensor(p.shape[1:]).prod().float().sqrt()
        else:
            w = 0.05 * z
        state[name] = w.half()
    return state


def draw_whisper(encoder: WhisperEncoder) -> dict[str, torch.Tensor]:
    """The oracle's Whisper-case encoder weights: generator seed 2 over the parameters in order;
    LayerNorms 1 + 0.1·z / 0.1·z, matrices z/√fan_in, other vectors 0.05·z; rounded to float16."""
    g = torch.Generator().manual_seed(2)
    state = {"positional_embedding": encoder.positional_embedding.clone()}
    for name, p in encoder.named_parameters():
        z = torch.randn(p.shape, generator=g)
        if "_ln" in name or name.startswith("ln_post"):
            w = 1 + 0.1 * z if name.endswith("weight") else 0.1 * z
        elif z.dim() >= 2:
            w = z / torch.tensor(p.shape[1:]).prod().float().sqrt()
        else:
            w = 0.05 * z
        state[name] = w.half().float()
    return state


def tiny_unet(groups: int = TINY_GROUPS) -> LatentSyncUNet3D:
    unet = LatentSyncUNet3D(block_out_channels=TINY_WIDTHS, norm_num_groups=groups)
    unet.load_state_dict(draw_unet(unet))
    return unet


def oracle_whisper() -> WhisperEncoder:
    encoder = WhisperEncoder(TINY_DIMS)
    encoder.load_state_dict(draw_whisper(encoder))
    return encoder


def whisper_checkpoint(dims: dict, encoder: WhisperEncoder) -> dict:
    """A `tiny.pt` in OpenAI's container: the encoder's weights and a random text decoder."""
    g = torch.Generator().manual_seed(3)
    full = loading.whisper_keys(loading.TextDims(**dims), encoder.state_dict())
    encoder_state = encoder.state_dict()
    state = {k: encoder_state[k[len("encoder."):]].half() if k.startswith("encoder.") else torch.randn(shape, generator=g).half() for k, shape in full.items()}
    return {"dims": dims, "model_state_dict": state}


MINI_DIMS = dict(n_mels=80, n_audio_ctx=1500, n_audio_state=384, n_audio_head=6, n_audio_layer=1,
                 n_vocab=8, n_text_ctx=4, n_text_state=384, n_text_head=6, n_text_layer=1)  # fmt: skip


def build_weights_dir(root: Path) -> Path:
    """A `checkpoints/` folder: the tiny UNet (GroupNorm of 32 groups, the release's), a one-block
    Whisper 384 wide, and the oracle's tiny VAE as `sd-vae-ft-mse/`."""
    unet = LatentSyncUNet3D(block_out_channels=TINY_WIDTHS)
    torch.save({"global_step": 0, "state_dict": draw_unet(unet)}, root / loading.UNET)
    (root / "whisper").mkdir()
    dims = WhisperDims(**{k: v for k, v in MINI_DIMS.items() if k in WhisperDims.__dataclass_fields__})
    torch.save(whisper_checkpoint(MINI_DIMS, WhisperEncoder(dims)), root / loading.WHISPER)
    shutil.copytree(FIXTURES / "vae", root / loading.VAE)
    return root
