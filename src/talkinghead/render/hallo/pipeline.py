"""HalloPipeline: a square portrait crop + speech → talking-head frames with Hallo.

The loop follows the release's `scripts/inference.py` and `FaceAnimatePipeline`:
- the audio is cut into clips of 16 frames; each clip is denoised on its own, with the last 2
  generated frames of the previous clip as motion frames (the reference image for the first);
- per clip: VAE-encode [reference, motion 1, motion 2], run the ReferenceNet once, then DDIM
  (v-prediction, zero-terminal-SNR, trailing spacing) with classifier-free guidance, then
  decode one frame at a time;
- the unconditional branch gets ImageProj(0) face tokens, zero audio tokens, zero FaceLocator
  features and no reference tokens in self-attention (but the same motion frames and masks).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from diffusers import AutoencoderKL, DDIMScheduler
from diffusers.utils.torch_utils import randn_tensor
from transformers import Wav2Vec2Config

from ...devices import pick_device, pick_dtype
from ...types import ANALYSIS_RATE, AudioClip
from . import loading
from .audio_encoder import Wav2Vec2FrameEncoder, frame_windows
from .audio_module import MotionWeights, RegionMasks
from .face_embedding import FaceEmbedder
from .loading import HalloNet
from .masks import hallo_masks
from .separator import VocalSeparator
from .speech import release_speech
from .unet_3d import N_MOTION_FRAMES

log = logging.getLogger("talkinghead")

CLIP_FRAMES = 16  # `n_sample_frames`
VAE_SCALE = 0.18215  # hard-coded by the release for sd-vae-ft-mse
SCHEDULER = dict(  # `noise_scheduler_kwargs` with `enable_zero_snr`
    beta_start=0.00085,
    beta_end=0.012,
    beta_schedule="linear",
    clip_sample=False,
    steps_offset=1,
    prediction_type="v_prediction",
    rescale_betas_zero_snr=True,
    timestep_spacing="trailing",
)


@dataclass
class PortraitConditions:
    """What the portrait contributes to every clip; B = 2 with guidance ([uncond, cond]), else 1."""

    pixels: torch.Tensor  # (3, S, S) in [-1, 1], the reference image
    tokens: torch.Tensor  # (B, 4, C_x) face tokens
    face_features: torch.Tensor  # (B, C0, S/8, S/8) FaceLocator output, zeros for uncond
    masks: RegionMasks

    @property
    def guidance(self) -> bool:
        return self.tokens.shape[0] == 2


class HalloPipeline:
    """Hallo on the released weights: `from_pretrained(folder)`, then `frames(...)`.

    The components run on `device` in `dtype` (the VAE must already be in `dtype`); the wav2vec2
    encoder runs in float32, as in the release.
    """

    def __init__(
        self,
        net: HalloNet,
        vae: AutoencoderKL,
        scheduler: DDIMScheduler,
        audio_encoder: Wav2Vec2FrameEncoder | None,
        face_embedder: FaceEmbedder | None,
        separator: VocalSeparator | None = None,
        *,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ):
        self.device = torch.device(device)
        self.dtype = dtype
        self.net = net.to(device=self.device, dtype=dtype).eval()
        self.vae = vae.to(self.device).eval()  # loaded in `dtype` (diffusers warns on dtype casts)
        self.scheduler = scheduler
        self.audio_encoder = audio_encoder
        self.face_embedder = face_embedder
        self.separator = separator

    @classmethod
    def from_pretrained(cls, weights_dir: str | Path, *, device: str | None = None, dtype: torch.dtype | None = None) -> "HalloPipeline":
        """Load the released `pretrained_models/` folder; ModelError listing what is missing."""
        root = loading.check_weights_dir(weights_dir)
        chosen = pick_device(device)
        dtype = pick_dtype(chosen, dtype)
        unet = loading.read_unet_config(root / loading.UNET_CONFIG)
        audio = Wav2Vec2Config.from_pretrained(root / loading.WAV2VEC, local_files_only=True)
        net = loading.load_net(root / loading.NET, unet, audio.num_hidden_layers, audio.hidden_size)
        vae = AutoencoderKL.from_pretrained(root / loading.VAE, local_files_only=True, torch_dtype=dtype)
        element = torch.finfo(dtype).bits // 8
        weights = (_numel(net) + _numel(vae)) * element + 4 * _wav2vec_numel(audio)
        loading.check_fits(weights, chosen, "its weights")
        return cls(
            net,
            vae,
            DDIMScheduler(**SCHEDULER),
            *loading.load_front_end(root, chosen, _onnx_providers(chosen)),
            device=chosen,
            dtype=dtype,
        )

    @property
    def native_size(self) -> int:
        """Image side the model was trained at (512 for the released weights)."""
        return self.net.denoising_unet.config.sample_size * self._vae_factor

    @property
    def _vae_factor(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @torch.no_grad()
    def frames(
        self,
        reference: np.ndarray,
        landmarks: np.ndarray,
        audio: AudioClip,
        *,
        face_expand_ratio: float,
        steps: int,
        cfg_scale: float,
        fps: float,
        seed: int = 0,
        pose_weight: float = 1.0,
        face_weight: float = 1.0,
        lip_weight: float = 1.0,
        progress: Callable[[int, int], None] | None = None,
    ) -> Iterator[np.ndarray]:
        """Yield audio.frame_count(fps) frames (S, S, 3) uint8 RGB, clip by clip.

        reference (S, S, 3) uint8 RGB square crop, S a multiple of 8; landmarks (478, 2|3)
        MediaPipe Face Mesh points in the crop's pixels; face_expand_ratio: the face box →
        face region scale (the release's 1.2; the lip box keeps 2.0 whatever it is).
        progress(done, total) after every denoising step, total = clips × steps.
        """
        # 1. Check inputs and memory
        size = _check_inputs(reference, landmarks, audio, steps)
        base_channels = self.net.denoising_unet.config.block_out_channels[0]
        needed = loading.estimate_memory(0, size, base_channels, self.dtype, CLIP_FRAMES)
        loading.check_fits(needed.activations, self.device, f"{size}×{size} frames")
        # 2. Encode the portrait: identity embedding, face region, region masks
        portrait = self.encode_portrait(reference, landmarks, guidance=cfg_scale > 1.0, face_expand_ratio=face_expand_ratio)
        # 3. Encode the speech: wav2vec2 features per frame, padded to whole clips
        features = self.encode_speech(audio, fps)
        total = audio.frame_count(fps)
        clips = math.ceil(total / CLIP_FRAMES)
        # 4. Generate clip by clip; one CPU generator draws every clip's noise, as the release
        generator = torch.Generator("cpu").manual_seed(seed)
        weights = MotionWeights(pose_weight, face_weight, lip_weight)
        latent_shape = (1, 4, CLIP_FRAMES, size // self._vae_factor, size // self._vae_factor)
        motion = None
        for k in range(clips):
            latents = randn_tensor(latent_shape, generator=generator, device=self.device, dtype=self.dtype)
            windows = frame_windows(features, k * CLIP_FRAMES, (k + 1) * CLIP_FRAMES)
            report = _step_reporter(progress, k * steps, clips * steps)
            video = self.generate_clip(portrait, windows, motion, latents, steps=steps, cfg_scale=cfg_scale, weights=weights, on_step=report)
            # The next clip continues from the last generated frames, unquantised, in [-1, 1].
            motion = video[-N_MOTION_FRAMES:] * 2.0 - 1.0
            # 5. Post-process: uint8 like the release's writer, which truncates x · 255; one
            # device-to-host copy per clip, not per frame
            kept = video[: total - k * CLIP_FRAMES]
            yield from (kept.permute(0, 2, 3, 1).float() * 255).clamp(0, 255).to(torch.uint8).cpu().numpy()

    def encode_portrait(self, reference: np.ndarray, landmarks: np.ndarray, guidance: bool, *, face_expand_ratio: float) -> PortraitConditions:
        """reference (S, S, 3) uint8 RGB, landmarks (478, 2|3) → the per-video conditions."""
        size = reference.shape[0]
        pixels = (torch.tensor(reference).permute(2, 0, 1).float() / 255.0 - 0.5) / 0.5
        embedding = torch.from_numpy(self.face_embedder(reference))
        masks = hallo_masks(landmarks, (size, size), size, face_expand_ratio=face_expand_ratio)
        to_tensors = lambda levels: tuple(torch.from_numpy(m).reshape(-1) for m in levels)  # noqa: E731
        region_masks = RegionMasks(to_tensors(masks.pose), to_tensors(masks.expression), to_tensors(masks.lip))
        return self.portrait_conditions(pixels, embedding, torch.from_numpy(masks.face_region), region_masks, guidance)

    def encode_speech(self, audio: AudioClip, fps: float) -> torch.Tensor:
        """(T, layers, width) wav2vec2 features of the vocals (separated first when the weights
        folder has the separator), T = ceil(seconds · fps) rounded up to whole clips.

        The 16 kHz samples come as in the release: with the separator, its vocals resampled by
        ffmpeg; without, the speech as `librosa.load` resamples it (soxr, HQ)."""
        if self.separator is not None:
            log.info("hallo: vocals separated, then resampled to 16 kHz by ffmpeg (the release's path with %s)", loading.SEPARATOR)
            speech = self.separator(audio)
        else:
            log.info("hallo: no vocal separator (%s absent): speech loaded as librosa.load does, resampled to 16 kHz by soxr (HQ)", loading.SEPARATOR)
            speech = release_speech(audio)
        return self.audio_encoder(speech, fps, CLIP_FRAMES)

    def portrait_conditions(
        self,
        pixels: torch.Tensor,
        face_embedding: torch.Tensor,
        face_region: torch.Tensor,
        masks: RegionMasks,
        guidance: bool,
    ) -> PortraitConditions:
        """pixels (3, S, S) in [-1, 1]; face_embedding (512,); face_region (S, S) in {0, 1}."""
        net = self.net
        embedding = face_embedding.reshape(1, -1).to(self.device, self.dtype)
        tokens = net.imageproj(embedding)
        region = face_region.to(self.device, self.dtype).expand(1, 3, *face_region.shape[-2:])
        face = net.face_locator(region)
        if guidance:
            # Unconditional: ImageProj of a zero embedding (not zero tokens), no face features.
            tokens = torch.cat([net.imageproj(torch.zeros_like(embedding)), tokens])
            face = torch.cat([torch.zeros_like(face), face])
        return PortraitConditions(pixels.to(self.device, self.dtype), tokens, face, masks.to(self.device, self.dtype))

    @torch.no_grad()
    def generate_clip(
        self,
        portrait: PortraitConditions,
        audio_windows: torch.Tensor,
        motion_pixels: torch.Tensor | None,
        latents: torch.Tensor,
        *,
        steps: int,
        cfg_scale: float,
        weights: MotionWeights = MotionWeights(),
        on_step: Callable[[int, torch.Tensor], None] | None = None,
    ) -> torch.Tensor:
        """One clip: audio_windows (F, 5, L, C) wav2vec2 windows; motion_pixels (2, 3, S, S) in
        [-1, 1] or None for the first clip; latents (1, 4, F, S/8, S/8) initial noise.
        Returns the frames (F, 3, S, S) in [0, 1]. on_step(step, latents) after each step."""
        batch = portrait.tokens.shape[0]
        # 1. Reference features of [reference, motion 1, motion 2]
        reference = self._reference_banks(portrait, motion_pixels)
        # 2. Audio tokens; the unconditional branch gets zeros
        audio = self.net.audioproj(audio_windows[None].to(self.device, self.dtype))
        if portrait.guidance:
            audio = torch.cat([torch.zeros_like(audio), audio])
        reference_mask = torch.tensor([False, True], device=self.device) if portrait.guidance else None
        # 3. Denoising loop
        self.scheduler.set_timesteps(steps, device=self.device)
        for i, t in enumerate(self.scheduler.timesteps):
            model_input = self.scheduler.scale_model_input(torch.cat([latents] * batch), t)
            v = self.net.denoising_unet(
                model_input,
                t,
                portrait.tokens,
                audio,
                portrait.masks,
                reference,
                face_features=portrait.face_features,
                reference_mask=reference_mask,
                motion_weights=weights,
            ).sample
            if portrait.guidance:
                v_uncond, v_cond = v.chunk(2)
                v = v_uncond + cfg_scale * (v_cond - v_uncond)
            latents = self.scheduler.step(v, t, latents, eta=0.0).prev_sample
            if on_step is not None:
                on_step(i, latents)
        # 4. Decode one frame at a time (VAE memory stays that of a single image)
        return self.decode(latents)

    def _reference_banks(self, portrait: PortraitConditions, motion_pixels: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """ReferenceNet banks per spatial block: (B, 3, L, C) rows [reference, motion 1, motion 2]."""
        if motion_pixels is None:
            motion_pixels = portrait.pixels[None].expand(N_MOTION_FRAMES, -1, -1, -1)
        images = torch.cat([portrait.pixels[None], motion_pixels.to(self.device, self.dtype)])
        # diffusers' VaeImageProcessor (which the release runs) rescales x → 2x - 1 when no
        # value is negative, i.e. it takes such a batch for [0, 1] images.
        if images.min() >= 0:
            images = 2.0 * images - 1.0
        latents = self.vae.encode(images).latent_dist.mean * VAE_SCALE
        batch = portrait.tokens.shape[0]
        # Image i of the 3·B batch reads token set i mod B: [ref, m1, m2] × B tiled against
        # (uncond, cond) tokens, as the release's transformer blocks repeat their tokens.
        banks = self.net.reference_unet(latents.repeat(batch, 1, 1, 1), 0, portrait.tokens.repeat(3, 1, 1)).banks
        # The release hands the banks over in float16 (also in a float32 run), then promotes them.
        return {name: bank.to(torch.float16).to(self.dtype).reshape(batch, 3, *bank.shape[1:]) for name, bank in banks.items()}

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """(1, 4, F, h, w) latents → (F, 3, S, S) frames in [0, 1], one VAE call per frame."""
        frames = [self.vae.decode(latents[:, :, f] / VAE_SCALE).sample for f in range(latents.shape[2])]
        return (torch.cat(frames) / 2 + 0.5).clamp(0, 1)


def _check_inputs(reference: np.ndarray, landmarks: np.ndarray, audio: AudioClip, steps: int) -> int:
    if reference.ndim != 3 or reference.shape[2] != 3 or reference.shape[0] != reference.shape[1] or reference.dtype != np.uint8:
        raise ValueError(f"reference must be a square (S, S, 3) uint8 RGB image, got {reference.shape} {reference.dtype}")
    if reference.shape[0] % 8:
        raise ValueError(f"reference side must be a multiple of 8, got {reference.shape[0]}")
    if landmarks.ndim != 2 or landmarks.shape[0] != 478 or landmarks.shape[1] not in (2, 3):
        raise ValueError(f"landmarks must be (478, 2 or 3) MediaPipe Face Mesh points, got {landmarks.shape}")
    if len(audio.samples) == 0 or audio.rate != ANALYSIS_RATE:
        raise ValueError(f"audio must be non-empty {ANALYSIS_RATE} Hz samples, got {len(audio.samples)} at {audio.rate} Hz")
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    return reference.shape[0]


def _step_reporter(progress, done_before: int, total: int):
    if progress is None:
        return None
    return lambda step, _latents: progress(done_before + step + 1, total)


def _numel(module: torch.nn.Module) -> int:
    return sum(t.numel() for t in module.state_dict().values())


def _wav2vec_numel(config: Wav2Vec2Config) -> int:
    """Approximate parameter count of a wav2vec2 model from its config (for the memory check)."""
    per_layer = 4 * config.hidden_size**2 + 2 * config.hidden_size * config.intermediate_size
    return config.num_hidden_layers * per_layer + config.hidden_size * config.hidden_size * config.num_conv_pos_embeddings // config.num_conv_pos_embedding_groups


def _onnx_providers(device: torch.device) -> list[str]:
    available = ort.get_available_providers()
    if device.type == "cuda" and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]
