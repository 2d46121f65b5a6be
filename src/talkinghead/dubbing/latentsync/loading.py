"""LatentSync's released `checkpoints/` folder: layout, validation, loading, device and memory.

    checkpoints/
      latentsync_unet.pt     {"global_step": int, "state_dict": {...}} (1.5: 256² faces, 1.6: 512²)
      whisper/tiny.pt        OpenAI Whisper tiny: {"dims": {...}, "model_state_dict": {...}}
      sd-vae-ft-mse/         the SD VAE as a diffusers folder (the release fetches
                             stabilityai/sd-vae-ft-mse from the Hub; here it must be local)

Both checkpoints are loaded strictly. The release's UNet loader is lenient: it drops `conv_in`,
`conv_out` and `attn2.to_k/to_v` tensors of another shape and ignores missing and unexpected
keys, leaving those weights at their (zero or random) initial values; here every such key is
reported and the folder refused, since its output would not be LatentSync's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers import AutoencoderKL

from ... import devices
from ...checkpoints import state_dict_problems
from ...devices import MemoryEstimate
from ...errors import ModelError
from .unet import LatentSyncUNet3D
from .whisper import WhisperDims, WhisperEncoder

UNET = "latentsync_unet.pt"
WHISPER = "whisper/tiny.pt"
VAE = "sd-vae-ft-mse"
DOWNLOAD_HINT = (
    "download LatentSync's checkpoints/ folder (huggingface.co/ByteDance/LatentSync-1.5 or -1.6), put "
    "stabilityai/sd-vae-ft-mse in it as sd-vae-ft-mse/, and pass it to --weights"
)
REQUIRED_FILES: tuple[str | tuple[str, ...], ...] = (
    UNET,
    WHISPER,
    f"{VAE}/config.json",
    (f"{VAE}/diffusion_pytorch_model.safetensors", f"{VAE}/diffusion_pytorch_model.bin"),
)
AUDIO_WIDTH = 384  # Whisper tiny's width, the UNet's cross-attention width (768 would be Whisper small)
PE_KEY = "down_blocks.0.motion_modules.0.temporal_transformer.transformer_blocks.0.attention_blocks.0.pos_encoder.pe"


def check_weights_dir(root: str | Path) -> Path:
    """The folder as a Path; ModelError naming every file it lacks, before anything is read."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise ModelError(f"LatentSync weights folder {root} does not exist; {DOWNLOAD_HINT}.")
    missing = [" or ".join(r) if isinstance(r, tuple) else r for r in REQUIRED_FILES if not _present(root, r)]
    if missing:
        raise ModelError(f"LatentSync weights folder {root} lacks {', '.join(missing)}; {DOWNLOAD_HINT}.")
    return root


def _present(root: Path, requirement: str | tuple[str, ...]) -> bool:
    options = requirement if isinstance(requirement, tuple) else (requirement,)
    return any((root / option).is_file() for option in options)


def read_checkpoint(path: Path, container_key: str) -> dict:
    """The checkpoint's dict, memory-mapped where the file allows; ModelError when it is not a
    dict holding `container_key`."""
    try:
        try:
            data = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError:  # a legacy (non-zip) torch file cannot be memory-mapped
            data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - whatever the reason, the file is unusable
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ModelError(f"{path} cannot be read as a PyTorch checkpoint ({first_line}); {DOWNLOAD_HINT}.") from error
    if not isinstance(data, dict) or not isinstance(data.get(container_key), dict):
        raise ModelError(f"{path} has no {container_key!r} dict: it is not a LatentSync release file; {DOWNLOAD_HINT}.")
    return data


def unet_config(state: dict[str, torch.Tensor], path: Path) -> dict:
    """The UNet's sizes read from the checkpoint's shapes (the release's full size: widths
    320/640/1280/1280); the inputs (13 channels, 384-wide audio) are the release's, not read."""
    widths, level = [], 0
    while f"down_blocks.{level}.resnets.0.conv1.weight" in state:
        widths.append(state[f"down_blocks.{level}.resnets.0.conv1.weight"].shape[0])
        level += 1
    if not widths or PE_KEY not in state:
        raise ModelError(f"{path} holds no LatentSync UNet (no down_blocks.0 resnet or motion module); {DOWNLOAD_HINT}.")
    return dict(block_out_channels=tuple(widths), motion_max_len=state[PE_KEY].shape[1])


def load_unet(path: Path, *, norm_num_groups: int = 32) -> LatentSyncUNet3D:
    """The UNet of `latentsync_unet.pt`, built on the meta device and loaded strictly."""
    state = read_checkpoint(path, "state_dict")["state_dict"]
    with torch.device("meta"):
        unet = LatentSyncUNet3D(**unet_config(state, path), norm_num_groups=norm_num_groups)
    check_keys(unet.state_dict(), state, path)
    unet.load_state_dict(state, strict=True, assign=True)
    return unet.float()


def whisper_keys(dims: WhisperDims, encoder: dict[str, torch.Tensor]) -> dict[str, tuple[int, ...]]:
    """Every key of OpenAI's `Whisper` state dict at these sizes with its shape: our encoder's
    under `encoder.`, and the text decoder's, which the release loads (strictly) but never runs."""
    text = dims
    keys = {f"encoder.{k}": tuple(v.shape) for k, v in encoder.items()}
    keys["decoder.positional_embedding"] = (text.n_text_ctx, text.n_text_state)
    keys["decoder.token_embedding.weight"] = (text.n_vocab, text.n_text_state)
    for i in range(text.n_text_layer):
        block = f"decoder.blocks.{i}"
        for attention in ("attn", "cross_attn"):
            for part in ("query", "key", "value", "out"):
                keys[f"{block}.{attention}.{part}.weight"] = (text.n_text_state, text.n_text_state)
                if part != "key":
                    keys[f"{block}.{attention}.{part}.bias"] = (text.n_text_state,)
            keys[f"{block}.{attention}_ln.weight"] = keys[f"{block}.{attention}_ln.bias"] = (text.n_text_state,)
        keys[f"{block}.mlp.0.weight"], keys[f"{block}.mlp.0.bias"] = (4 * text.n_text_state, text.n_text_state), (4 * text.n_text_state,)
        keys[f"{block}.mlp.2.weight"], keys[f"{block}.mlp.2.bias"] = (text.n_text_state, 4 * text.n_text_state), (text.n_text_state,)
        keys[f"{block}.mlp_ln.weight"] = keys[f"{block}.mlp_ln.bias"] = (text.n_text_state,)
    keys["decoder.ln.weight"] = keys["decoder.ln.bias"] = (text.n_text_state,)
    return keys


@dataclass(frozen=True)
class TextDims(WhisperDims):
    """The checkpoint's `dims`: the encoder's, and the decoder's, needed only to check its keys."""

    n_vocab: int
    n_text_ctx: int
    n_text_state: int
    n_text_head: int
    n_text_layer: int


def load_whisper(path: Path) -> WhisperEncoder:
    """The encoder of `whisper/tiny.pt`; the file must hold exactly Whisper's keys (as the
    release's strict load requires), and be 384 wide (tiny) to match the UNet."""
    data = read_checkpoint(path, "model_state_dict")
    try:
        dims = TextDims(**{k: int(v) for k, v in data["dims"].items()})
    except (KeyError, TypeError, AttributeError) as error:
        raise ModelError(f"{path} has no Whisper 'dims' (n_mels, n_audio_state, ...): it is not a Whisper checkpoint; {DOWNLOAD_HINT}.") from error
    if dims.n_audio_state != AUDIO_WIDTH:
        raise ModelError(f"{path} is a Whisper {dims.n_audio_state} wide; LatentSync's UNet reads Whisper tiny (384): use checkpoints/whisper/tiny.pt.")
    encoder_dims = WhisperDims(dims.n_mels, dims.n_audio_ctx, dims.n_audio_state, dims.n_audio_head, dims.n_audio_layer)
    with torch.device("meta"):
        encoder = WhisperEncoder(encoder_dims)
    state = data["model_state_dict"]
    check_keys({k: torch.empty(s, device="meta") for k, s in whisper_keys(dims, encoder.state_dict()).items()}, state, path)
    encoder.load_state_dict({k[len("encoder."):]: v for k, v in state.items() if k.startswith("encoder.")}, strict=True, assign=True)
    return encoder.float()


def load_vae(folder: Path) -> AutoencoderKL:
    try:
        return AutoencoderKL.from_pretrained(folder)
    except Exception as error:  # noqa: BLE001 - a damaged folder, whatever the reason
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ModelError(f"{folder} cannot be read as a diffusers VAE ({first_line}); {DOWNLOAD_HINT}.") from error


def check_keys(expected: dict, found: dict, path) -> None:
    """ModelError naming what differs between a module's state dict and a checkpoint's."""
    problems = state_dict_problems(expected, found)
    if problems:
        raise ModelError(
            f"{path} does not match LatentSync's architecture: {'; '.join(problems)} (the release's loader would "
            f"skip these and leave initial weights); {DOWNLOAD_HINT}."
        )


# ---------------------------------------------------------------------------------------------
# Memory

# Peak activation memory of one denoising step, in units of one (B·F, C0, h, w) feature map
# (B = 2 with guidance, F = 16). Measured on the CPU with the full-size architecture (random
# weights, 256², float32): peak RSS growth of one UNet call over the loaded process, 33 maps
# (`python benchmarks/latentsync_speed.py --full-size --steps 1 --clips 1`); 40 adds ~20 %
# headroom. Re-check with the benchmark on a GPU.
ACTIVATION_MAPS = 40


def estimate_memory(weight_bytes: int, side: int, base_channels: int, dtype: torch.dtype, guided: bool) -> MemoryEstimate:
    """Weights plus the peak activations of one denoising step for faces of `side` pixels."""
    element = torch.finfo(dtype).bits // 8
    feature_map = (2 if guided else 1) * 16 * base_channels * (side // 8) ** 2 * element
    return MemoryEstimate(weights=weight_bytes, activations=ACTIVATION_MAPS * feature_map)


def check_fits(needed: int, device: torch.device, what: str) -> None:
    """ModelError when `needed` bytes exceed what is free on the device."""
    devices.check_fits(needed, device, what, model="LatentSync", remedy="free memory, turn guidance off (--guidance 1), or choose another device")

