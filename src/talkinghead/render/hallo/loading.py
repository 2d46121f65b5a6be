"""Hallo's released `pretrained_models/` folder: layout, validation, loading, device and memory.

What is read from the folder (and what is not):
- `hallo/net.pth`: every weight of the five networks, loaded strictly (no missing, no unexpected
  keys, equal shapes), as `scripts/inference.py` asserts;
- `stable-diffusion-v1-5/unet/config.json`: the architecture of both UNets. The SD-1.5 UNet
  *weights* and `motion_module/mm_sd_v15_v2.ckpt` are not read: the release loads them into the
  denoising UNet and then overwrites every one of those parameters from `net.pth`, so they never
  reach the output;
- `sd-vae-ft-mse/`, `wav2vec/wav2vec2-base-960h/`: diffusers / transformers folders;
- `face_analysis/models/{scrfd_10g_bnkps,glintr100}.onnx`: face detection and identity;
- `audio_separator/Kim_Vocal_2.onnx`: optional; when present, speech is separated from music
  first, as the release does.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from ... import devices
from ...checkpoints import state_dict_problems
from ...devices import MemoryEstimate
from ...errors import ModelError
from .audio_encoder import WINDOW, Wav2Vec2FrameEncoder
from .face_embedding import FaceEmbedder
from .face_locator import FaceLocator
from .projections import AudioProjection, ImageProjection
from .reference_net import DOWN_BLOCKS, UP_BLOCKS, ReferenceNet
from .separator import VocalSeparator
from .unet_3d import HalloUNet3D

NET = "hallo/net.pth"
UNET_CONFIG = "stable-diffusion-v1-5/unet/config.json"
VAE = "sd-vae-ft-mse"
WAV2VEC = "wav2vec/wav2vec2-base-960h"
FACE_DETECTOR = "face_analysis/models/scrfd_10g_bnkps.onnx"
FACE_RECOGNIZER = "face_analysis/models/glintr100.onnx"
SEPARATOR = "audio_separator/Kim_Vocal_2.onnx"
DOWNLOAD_HINT = "download Hallo's pretrained_models/ folder (huggingface.co/fudan-generative-ai/hallo) and pass it to --weights"

# Each entry is one requirement; a tuple means "any one of these files".
REQUIRED_FILES: tuple[str | tuple[str, ...], ...] = (
    NET,
    UNET_CONFIG,
    f"{VAE}/config.json",
    (f"{VAE}/diffusion_pytorch_model.safetensors", f"{VAE}/diffusion_pytorch_model.bin"),
    f"{WAV2VEC}/config.json",
    f"{WAV2VEC}/preprocessor_config.json",
    (f"{WAV2VEC}/model.safetensors", f"{WAV2VEC}/pytorch_model.bin"),
    FACE_DETECTOR,
    FACE_RECOGNIZER,
)
# The published UNet layout both UNets are built for.
SD15_BLOCKS = {"down_block_types": list(DOWN_BLOCKS), "up_block_types": list(UP_BLOCKS)}
UNET_KEYS = (
    "sample_size", "in_channels", "block_out_channels", "layers_per_block", "attention_head_dim",
    "cross_attention_dim", "norm_num_groups", "norm_eps", "flip_sin_to_cos", "freq_shift",
    "downsample_padding", "mid_block_scale_factor",
)  # fmt: skip
MOTION_PE_KEY = "denoising_unet.mid_block.motion_modules.0.temporal_transformer.transformer_blocks.0.attention_blocks.0.pos_encoder.pe"


def check_weights_dir(root: str | Path, required: tuple[str | tuple[str, ...], ...] = REQUIRED_FILES) -> Path:
    """The folder as a Path; ModelError naming every `required` file it lacks (by default, what
    inference reads; data preparation and training pass their own lists)."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise ModelError(f"Hallo weights folder {root} does not exist; {DOWNLOAD_HINT}.")
    missing = [" or ".join(r) if isinstance(r, tuple) else r for r in required if not _present(root, r)]
    if missing:
        raise ModelError(f"Hallo weights folder {root} lacks {', '.join(missing)}; {DOWNLOAD_HINT}.")
    return root


def load_front_end(
    root: Path, device: torch.device | str = "cpu", providers: list[str] | None = None
) -> tuple[Wav2Vec2FrameEncoder, FaceEmbedder, VocalSeparator | None]:
    """(wav2vec2 encoder, face embedder, vocal separator or None) from a weights folder: the
    speech and identity front end that inference, data preparation and validation share."""
    separator = root / SEPARATOR
    return (
        Wav2Vec2FrameEncoder.from_pretrained(root / WAV2VEC, device),
        FaceEmbedder.from_files(root / FACE_DETECTOR, root / FACE_RECOGNIZER, providers),
        VocalSeparator.from_file(separator, providers) if separator.is_file() else None,
    )


def _present(root: Path, requirement: str | tuple[str, ...]) -> bool:
    options = requirement if isinstance(requirement, tuple) else (requirement,)
    return any((root / option).is_file() for option in options)


class HalloNet(nn.Module):
    """The five networks of `net.pth`, under the release's attribute names (its state-dict keys)."""

    def __init__(self, reference_unet, denoising_unet, face_locator, imageproj, audioproj):
        super().__init__()
        self.reference_unet: ReferenceNet = reference_unet
        self.denoising_unet: HalloUNet3D = denoising_unet
        self.face_locator: FaceLocator = face_locator
        self.imageproj: ImageProjection = imageproj
        self.audioproj: AudioProjection = audioproj

    @classmethod
    def from_config(cls, unet: dict, audio: dict, image: dict, motion_max_len: int = 32) -> "HalloNet":
        """unet: SD-1.5 UNet config values (`UNET_KEYS`); audio / image: AudioProjection /
        ImageProjection arguments. The UNets' audio width follows the audio projection."""
        return cls(
            ReferenceNet(**unet),
            HalloUNet3D(**unet, audio_attention_dim=audio["output_dim"], motion_module_max_len=motion_max_len),
            FaceLocator(conditioning_embedding_channels=unet["block_out_channels"][0]),
            ImageProjection(**image),
            AudioProjection(**audio),
        )


def read_unet_config(path: str | Path) -> dict:
    """The SD-1.5 `unet/config.json` values the UNets use; ModelError for another layout."""
    config = json.loads(Path(path).read_text())
    for key, expected in SD15_BLOCKS.items():
        if config.get(key) != expected:
            raise ModelError(f"{path}: {key} is {config.get(key)}, Hallo needs the SD-1.5 layout {expected}.")
    unet = {key: config[key] for key in UNET_KEYS if key in config}
    unet["block_out_channels"] = tuple(unet["block_out_channels"])
    return unet


def load_net(path: str | Path, unet: dict, audio_layers: int, audio_width: int) -> HalloNet:
    """Build the networks on the meta device and load `net.pth` into them strictly.

    The projection sizes are read from the checkpoint's shapes (512 and 768 in the release),
    and checked against the wav2vec2 features: `audio_layers` × `audio_width` per frame.
    """
    state = _load_state(Path(path))
    audio = _audio_projection_config(state, audio_layers, audio_width, path)
    image = _image_projection_config(state, unet["cross_attention_dim"], path)
    motion_max_len = state[MOTION_PE_KEY].shape[1] if MOTION_PE_KEY in state else 32
    with torch.device("meta"):
        net = HalloNet.from_config(unet, audio, image, motion_max_len)
    _check_keys(net.state_dict(), state, path)
    net.load_state_dict(state, strict=True, assign=True)
    return net.float()


def _load_state(path: Path) -> dict[str, torch.Tensor]:
    """The checkpoint's tensors, memory-mapped when the file allows it (no copy until used)."""
    try:
        try:
            return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError:  # a legacy (non-zip) torch file cannot be memory-mapped
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - whatever the reason, the file is unusable
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ModelError(f"{path} cannot be read as a PyTorch checkpoint ({first_line}); {DOWNLOAD_HINT}.") from error


def _shape(state: dict, key: str, path) -> torch.Size:
    if key not in state:
        raise ModelError(f"{path} has no {key}: it is not a Hallo checkpoint; {DOWNLOAD_HINT}.")
    return state[key].shape


def _audio_projection_config(state: dict, layers: int, width: int, path) -> dict:
    window = WINDOW
    intermediate, inputs = _shape(state, "audioproj.proj1.weight", path)
    output_dim = _shape(state, "audioproj.norm.weight", path)[0]
    if inputs != window * layers * width:
        raise ModelError(
            f"{path} expects {inputs} audio values per frame, but the wav2vec2 folder gives "
            f"{window} × {layers} layers × {width}; use the wav2vec2-base-960h folder of the release."
        )
    tokens = _shape(state, "audioproj.proj3.weight", path)[0] // output_dim
    return dict(seq_len=window, blocks=layers, channels=width, intermediate_dim=intermediate, output_dim=output_dim, context_tokens=tokens)


def _image_projection_config(state: dict, cross_attention_dim: int, path) -> dict:
    out, embedding = _shape(state, "imageproj.proj.weight", path)
    return dict(cross_attention_dim=cross_attention_dim, clip_embeddings_dim=embedding, clip_extra_context_tokens=out // cross_attention_dim)


def _check_keys(expected: dict, found: dict, path) -> None:
    problems = state_dict_problems(expected, found)
    if problems:
        raise ModelError(
            f"{path} does not match the Hallo architecture of this weights folder: {'; '.join(problems)}; "
            f"{DOWNLOAD_HINT}."
        )


# ---------------------------------------------------------------------------------------------
# Memory (the device and what it has free: talkinghead.devices)


# Peak activation memory of one denoising step, in units of one (B·(F+2), C0, h, w) feature map
# (B = 2 with guidance). Measured on the CPU (peak RSS growth during the UNet calls of
# benchmarks/hallo_speed.py, tiny widths, 256²): ~27 maps, the widest tensors being the GEGLU
# feed-forwards at the first level. 32 adds ~20 % headroom. At 512² in fp16 that is 3.0 GB on top
# of ~5.4 GB of weights; the paper's ~9.8 GB (an nvidia-smi figure) also holds the CUDA context
# and the allocator's cache. Re-check with the benchmark on a GPU.
ACTIVATION_MAPS = 32


def estimate_memory(weight_bytes: int, size: int, base_channels: int, dtype: torch.dtype, frames: int = 16) -> MemoryEstimate:
    """Weights plus the peak activations of one denoising step for an image of side `size`."""
    element = torch.finfo(dtype).bits // 8
    latent_pixels = (size // 8) ** 2
    feature_map = 2 * (frames + 2) * base_channels * latent_pixels * element
    return MemoryEstimate(weights=weight_bytes, activations=ACTIVATION_MAPS * feature_map)


def check_fits(needed: int, device: torch.device, what: str) -> None:
    """ModelError when `needed` bytes exceed what is free on the device."""
    devices.check_fits(needed, device, what, model="Hallo", remedy="use a smaller size, free memory, or choose another device")
