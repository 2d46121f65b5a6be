"""Tiny Hallo components for the tests: the oracle's weight recipe and a miniature weights folder
in the released `pretrained_models/` layout."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch
from diffusers import AutoencoderKL
from torch import nn
from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

import hallo_onnx
from talkinghead.render.hallo import loading
from talkinghead.render.hallo.loading import HalloNet

FIXTURES = Path(__file__).parents[1] / "fixtures" / "hallo"
ORACLE = Path(__file__).resolve().parents[3] / "shared" / "hallo-oracle"  # beside the checkouts, optional

# The oracle's tiny SD-format UNet config: only widths differ from SD-1.5.
TINY_UNET = json.loads((FIXTURES / "unet_config.json").read_text())
TINY_AUDIO = dict(intermediate_dim=24, output_dim=40)  # the oracle's AudioProj sizes
WAV2VEC_TINY = dict(
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=37,
    conv_dim=(16,) * 7,
    num_conv_pos_embeddings=16,
    num_conv_pos_embedding_groups=2,
)
DETECTOR_SIDE = 64


def tiny_net(audio_layers: int = 12, audio_width: int = 768) -> HalloNet:
    """A HalloNet with the oracle's tiny widths, default initialisation."""
    unet = {k: TINY_UNET[k] for k in loading.UNET_KEYS}
    unet["block_out_channels"] = tuple(unet["block_out_channels"])
    audio = dict(seq_len=5, blocks=audio_layers, channels=audio_width, context_tokens=32, **TINY_AUDIO)
    image = dict(cross_attention_dim=unet["cross_attention_dim"], clip_embeddings_dim=512, clip_extra_context_tokens=4)
    return HalloNet.from_config(unet, audio, image)


def draw_weights(net: nn.Module, seed: int = 0) -> dict[str, torch.Tensor]:
    """The oracle's recipe: every parameter re-drawn in state-dict order from one generator
    (LayerNorm/GroupNorm weights 1 + 0.1·N, their biases 0.1·N, other ≥2-D tensors N/√fan_in,
    other 1-D tensors 0.05·N), stored as float16; buffers kept as computed (float32)."""
    generator = torch.Generator().manual_seed(seed)
    parameters = dict(net.named_parameters())
    state = {}
    for name, value in net.state_dict().items():
        if name not in parameters:
            state[name] = value.clone()
            continue
        owner, leaf = net.get_submodule(name.rpartition(".")[0]), name.rpartition(".")[2]
        noise = torch.randn(value.shape, generator=generator)
        if isinstance(owner, (nn.LayerNorm, nn.GroupNorm)):
            drawn = 1 + 0.1 * noise if leaf == "weight" else 0.1 * noise
        elif value.dim() >= 2:
            drawn = noise / math.sqrt(value[0].numel())
        else:
            drawn = 0.05 * noise
        state[name] = drawn.half()
    return state


def build_weights_dir(root: Path, *, separator: bool = False) -> Path:
    """A miniature `pretrained_models/` folder with random weights, in the released layout."""
    (root / "hallo").mkdir(parents=True)
    torch.manual_seed(0)
    wav2vec = Wav2Vec2Model(Wav2Vec2Config(**WAV2VEC_TINY))
    wav2vec.save_pretrained(root / loading.WAV2VEC)
    Wav2Vec2FeatureExtractor(sampling_rate=16000, do_normalize=True, return_attention_mask=False).save_pretrained(root / loading.WAV2VEC)
    net = tiny_net(WAV2VEC_TINY["num_hidden_layers"], WAV2VEC_TINY["hidden_size"])
    torch.save(draw_weights(net), root / loading.NET)
    (root / loading.UNET_CONFIG).parent.mkdir(parents=True)
    (root / loading.UNET_CONFIG).write_text(json.dumps(TINY_UNET))
    tiny_vae().save_pretrained(root / loading.VAE)
    (root / loading.FACE_DETECTOR).parent.mkdir(parents=True)
    (root / loading.FACE_DETECTOR).write_bytes(hallo_onnx.scrfd(DETECTOR_SIDE))
    (root / loading.FACE_RECOGNIZER).write_bytes(hallo_onnx.arcface())
    if separator:
        (root / loading.SEPARATOR).parent.mkdir(parents=True)
        (root / loading.SEPARATOR).write_bytes(hallo_onnx.mdx(dim_f=3072, dim_t=16))
    return root


def tiny_vae() -> AutoencoderKL:
    torch.manual_seed(1)
    return AutoencoderKL(
        block_out_channels=(8, 8, 8, 8),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        layers_per_block=1,
        norm_num_groups=4,
        latent_channels=4,
        sample_size=64,
    )


def face_landmarks(size: int, seed: int = 0) -> np.ndarray:
    """(478, 3) float32 points: a face-like cloud in the middle of a size×size crop."""
    rng = np.random.default_rng(seed)
    centre = np.array([size / 2, size / 2])
    points = centre + rng.uniform(-0.25, 0.25, (478, 2)) * size
    return np.hstack([points, rng.normal(0, 2, (478, 1))]).astype(np.float32)


def portrait(size: int, seed: int = 0) -> np.ndarray:
    """(size, size, 3) uint8 RGB: smooth colour gradients plus a bright disc."""
    y, x = np.mgrid[:size, :size] / size
    image = np.stack([x, y, 1 - x * y], axis=-1)
    image[(x - 0.5) ** 2 + (y - 0.45) ** 2 < 0.06] = (0.9, 0.7, 0.6)
    noise = np.random.default_rng(seed).normal(0, 0.02, image.shape)
    return (np.clip(image + noise, 0, 1) * 255).astype(np.uint8)
