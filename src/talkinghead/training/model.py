"""The networks under training: built from the weights folder and initialised as the recipe says,
trainable parts selected, optional LoRA and gradient checkpointing, and the training forward pass.
"""

from __future__ import annotations

import fnmatch
import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers.models.resnet import ResnetBlock2D
from diffusers.models.transformers.transformer_2d import Transformer2DModel
from torch import nn
from torch.utils.checkpoint import checkpoint

from ..errors import ModelError
from ..render.hallo import loading
from ..render.hallo.audio_encoder import WINDOW
from ..render.hallo.audio_module import AudioModule, RegionMasks
from ..render.hallo.loading import HalloNet
from ..render.hallo.motion_module import MotionModule
from ..render.hallo.unet_3d import SpatialTransformer
from .config import WEIGHTS, TrainConfig

log = logging.getLogger("talkinghead")

SD_UNET_WEIGHTS = (
    "stable-diffusion-v1-5/unet/diffusion_pytorch_model.safetensors",
    "stable-diffusion-v1-5/unet/diffusion_pytorch_model.bin",
)
# Layers whose activations are recomputed in the backward pass when checkpointing is on.
CHECKPOINTED = (ResnetBlock2D, Transformer2DModel, SpatialTransformer, AudioModule, MotionModule)


@dataclass(frozen=True)
class NetArgs:
    """The construction arguments of a HalloNet (`HalloNet.from_config`)."""

    unet: dict
    audio: dict
    image: dict
    motion_max_len: int

    def build(self) -> HalloNet:
        return HalloNet.from_config(self.unet, self.audio, self.image, self.motion_max_len)


def build_net(config: TrainConfig, weights: Path, unet: dict, audio_layers: int, audio_width: int) -> tuple[HalloNet, NetArgs]:
    """The networks at the start of training: a net.pth when `init.net` is given (stage 2 from
    stage 1, or fine-tuning the release), else fresh ones with both UNets from SD-1.5; then the
    AnimateDiff motion modules when `init.motion_module` is given."""
    init, m = config.init, config.model
    start, motion = resolve(init.net, weights), resolve(init.motion_module, weights)
    if start is not None:
        if not start.is_file():
            raise ModelError(f"init.net {start} does not exist: give a net.pth (the release's, or one exported by training)")
        net = loading.load_net(start, unet, audio_layers, audio_width)
        args = NetArgs(unet, _init_args(net.audioproj), _init_args(net.imageproj), net.denoising_unet.config.motion_module_max_len)
    else:
        if config.stage == 2 and not init.sd_unet:
            raise ModelError("stage 2 starts from stage 1's networks: set init.net to its net.pth")
        audio = dict(
            seq_len=WINDOW, blocks=audio_layers, channels=audio_width, intermediate_dim=m.audio_intermediate_dim,
            output_dim=m.audio_dim or unet["cross_attention_dim"], context_tokens=m.audio_tokens,
        )
        image = dict(cross_attention_dim=unet["cross_attention_dim"], clip_embeddings_dim=m.face_embedding_dim, clip_extra_context_tokens=m.face_tokens)
        args = NetArgs(unet, audio, image, m.motion_max_len)
        net = args.build()
        if init.sd_unet:
            load_sd_unet(net, _sd_unet_file(weights))
    if motion is not None:
        load_motion_module(net, motion)
    return net, args


def resolve(path: Path | None, weights: Path) -> Path | None:
    """A config path with a leading {weights}/ replaced by the weights folder."""
    if path is None:
        return None
    text = str(path)
    return weights / text.removeprefix(WEIGHTS).lstrip("/") if text.startswith(WEIGHTS) else Path(text)


def _init_args(module) -> dict:
    """A diffusers model's constructor arguments, from its registered config."""
    return {k: v for k, v in module.config.items() if not k.startswith("_")}


def _sd_unet_file(weights: Path) -> Path:
    for name in SD_UNET_WEIGHTS:
        if (weights / name).is_file():
            return weights / name
    raise ModelError(
        f"stage 1 starts from Stable Diffusion 1.5's UNet, but {weights} has no {SD_UNET_WEIGHTS[0]}; "
        "add it, or start from a net.pth (init.net)"
    )


def _read_state(path: Path) -> dict[str, torch.Tensor]:
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any reason makes the file unusable
        raise ModelError(f"{path} cannot be read ({str(error).splitlines()[0] if str(error) else type(error).__name__})") from error
    return state.get("state_dict", state) if isinstance(state, dict) else state


def load_sd_unet(net: HalloNet, path: Path) -> None:
    """SD-1.5 UNet weights into both UNets (the ReferenceNet has no output head); every SD key
    must find its place, as the release's `from_pretrained_2d` does for the spatial layers."""
    state = _read_state(path)
    for name, module in (("reference_unet", net.reference_unet), ("denoising_unet", net.denoising_unet)):
        own = module.state_dict()
        usable = {k: v for k, v in state.items() if k in own}
        skipped = [k for k in state if k not in own and not (name == "reference_unet" and k.startswith(("conv_norm_out", "conv_out")))]
        reshaped = [k for k, v in usable.items() if v.shape != own[k].shape]
        if skipped or reshaped or not usable:
            example = (skipped or reshaped or ["(no key matches)"])[0]
            raise ModelError(f"{path} is not an SD-1.5 UNet matching this weights folder's config (e.g. {example})")
        module.load_state_dict(usable, strict=False)


def load_motion_module(net: HalloNet, path: Path) -> int:
    """AnimateDiff motion-module weights (mm_sd_v15_v2.ckpt) into the denoising UNet's motion
    modules, matched by name; a tensor of another shape keeps its own value, as in the release.
    Returns how many tensors were loaded."""
    if not path.is_file():
        raise ModelError(f"init.motion_module {path} does not exist: give AnimateDiff's mm_sd_v15_v2.ckpt")
    state = _read_state(path)
    own = net.denoising_unet.state_dict()
    usable = {k: v for k, v in state.items() if k in own and v.shape == own[k].shape}
    if not usable:
        raise ModelError(f"{path} holds no motion-module weights for this UNet (no key matches)")
    net.denoising_unet.load_state_dict(usable, strict=False)
    log.info("motion modules: %d tensors from %s", len(usable), path.name)
    return len(usable)


def select_trainable(net: nn.Module, trainable: list[str], frozen: list[str]) -> list[str]:
    """Set requires_grad by name patterns (fnmatch; `frozen` wins); LoRA weights always train.
    Returns the trainable parameter names."""
    names = []
    for name, parameter in net.named_parameters():
        train = ".lora." in name or (
            any(fnmatch.fnmatchcase(name, p) for p in trainable) and not any(fnmatch.fnmatchcase(name, p) for p in frozen)
        )
        parameter.requires_grad_(train)
        if train:
            names.append(name)
    if not names:
        raise ModelError("no parameter is trainable: check the `trainable`, `frozen` and `lora` settings")
    return names


# ---------------------------------------------------------------------------------------------
# LoRA


class LoRA(nn.Module):
    """Low-rank update of a Linear layer: x → scale · up(down(x)); `up` starts at zero."""

    def __init__(self, linear: nn.Linear, rank: int, alpha: float | None):
        super().__init__()
        self.down = nn.Linear(linear.in_features, rank, bias=False)
        self.up = nn.Linear(rank, linear.out_features, bias=False)
        nn.init.kaiming_uniform_(self.down.weight, a=5**0.5)
        nn.init.zeros_(self.up.weight)
        self.scale = (alpha if alpha is not None else rank) / rank

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(self.down(x.to(self.down.weight.dtype))) * self.scale

    def delta(self) -> torch.Tensor:
        """The (out, in) weight change it amounts to."""
        return (self.up.weight @ self.down.weight) * self.scale


def _lora_hook(module: nn.Linear, args, output):
    return output + module.lora(args[0]).to(output.dtype)


def add_lora(net: nn.Module, rank: int, alpha: float | None, targets: list[str]) -> int:
    """A LoRA on every Linear layer whose name matches `targets`; its weights are the `lora`
    child of the layer (state-dict keys `<layer>.lora.down/up.weight`), so the base keys stay
    those of the release. Returns the number of layers adapted."""
    count = 0
    for name, module in list(net.named_modules()):
        if isinstance(module, nn.Linear) and any(fnmatch.fnmatchcase(name + ".", t) for t in targets):
            module.lora = LoRA(module, rank, alpha).to(module.weight.device)
            module.register_forward_hook(_lora_hook)
            count += 1
    if count == 0:
        raise ModelError(f"lora.targets {targets} match no Linear layer")
    return count


def merged_state(net: nn.Module) -> dict[str, torch.Tensor]:
    """The state dict with every LoRA folded into its layer's weight and the LoRA keys left out:
    the released key layout."""
    state = {k: v for k, v in net.state_dict().items() if ".lora." not in k}
    for name, module in net.named_modules():
        if isinstance(module, nn.Linear) and hasattr(module, "lora"):
            key = f"{name}.weight"
            state[key] = (state[key].float() + module.lora.delta().detach().float()).to(state[key].dtype)
    return state


# ---------------------------------------------------------------------------------------------
# Gradient checkpointing


def enable_checkpointing(net: nn.Module) -> int:
    """Recompute the activations of resnets, transformers, audio and motion modules in the
    backward pass (non-reentrant checkpoints: the ReferenceNet banks, taken inside a block, keep
    their gradient path). Returns the number of layers wrapped."""
    count = 0
    for module in net.modules():
        if isinstance(module, CHECKPOINTED):
            module.forward = _checkpointed(module.forward)
            count += 1
    return count


def _checkpointed(forward):
    def run(*args, **kwargs):
        if torch.is_grad_enabled():
            return checkpoint(forward, *args, use_reentrant=False, **kwargs)
        return forward(*args, **kwargs)

    return run


# ---------------------------------------------------------------------------------------------
# The training forward pass


class HalloTrainingModel(nn.Module):
    """One denoising step of the training objective, through every network that may train.

    Stage 1 (one frame, image layers only) and stage 2 (frames + motion frames + audio) differ
    in their inputs: stage 1 gives one reference latent per sample and no audio.
    """

    def __init__(self, net: HalloNet):
        super().__init__()
        self.net = net

    def forward(
        self,
        noisy: torch.Tensor,
        timesteps: torch.Tensor,
        reference_latents: torch.Tensor,
        face_embedding: torch.Tensor,
        face_region: torch.Tensor,
        reference_index: torch.Tensor,
        audio_windows: torch.Tensor | None = None,
        audio_keep: torch.Tensor | None = None,
        masks: RegionMasks | None = None,
    ) -> torch.Tensor:
        """noisy (B, 4, F, h, w); timesteps (B,); reference_latents (B·R, 4, h, w), R = 1
        (stage 1: the reference) or 3 ([reference, motion 1, motion 2]); face_embedding (B, 512);
        face_region (B, 3, S, S); reference_index (B·F,) row per frame, -1 = no reference tokens;
        audio_windows (B, F, 5, L, C), audio_keep (B,) 0/1, masks per frame (stage 2).
        Returns the v-prediction (B, 4, F, h, w)."""
        net = self.net
        batch = noisy.shape[0]
        rows = reference_latents.shape[0] // batch
        tokens = net.imageproj(face_embedding)
        face = net.face_locator(face_region)
        banks = net.reference_unet(reference_latents, 0, tokens.repeat_interleave(rows, dim=0)).banks
        # The release hands the banks to the denoising UNet in float16, in training as at inference.
        banks = {k: b.to(torch.float16).to(b.dtype).reshape(batch, rows, *b.shape[1:]) for k, b in banks.items()}
        audio = None
        if audio_windows is not None:
            audio = net.audioproj(audio_windows) * audio_keep[:, None, None, None].to(audio_windows.dtype)
        return net.denoising_unet(
            noisy, timesteps, tokens, audio, masks, banks,
            face_features=face, reference_index=reference_index, spatial_only=audio_windows is None,
        ).sample
