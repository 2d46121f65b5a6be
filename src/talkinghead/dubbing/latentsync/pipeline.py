"""LatentSync's lip-sync sampling: aligned face crops + Whisper windows → the crops with a new lower face.

    pipe = LatentSyncPipeline(unet, vae, whisper, mask, device="cpu", dtype=torch.float32)
    windows = pipe.audio_windows(samples, fps)          # (N, 50, 384): one per output frame
    noise = pipe.initial_noise(generator)               # one draw for the whole video
    faces = pipe.clip(crops, windows[:16], noise, generator, steps=20, guidance=1.5)  # per 16-frame clip

Per clip, as the release's `LipsyncPipeline` does (the oracle's README measures each rule):
1. the face crops in [−1, 1]; the masked crops are the crops times the mouth mask (0 = re-draw);
2. VAE posteriors of the masked crops, then of the crops themselves (the reference is the very
   frames being re-drawn), each *sampled* (mean + std·ε, ε drawn in that order) and scaled by
   0.18215; the mask resized to the latents by nearest neighbour;
3. every frame starts from the same noise image (`initial_noise`, repeated over the frames);
4. DDIM over the release's schedule (scaled-linear betas, leading spacing, offset 1, ε), the UNet
   input `[latents, mask, masked-image latents, reference latents]` (13 channels); with
   guidance > 1 the unconditional half gets zero audio and ε = ε_u + g·(ε_c − ε_u);
5. the latents decoded (÷ 0.18215), and the upper face (mask 1) put back from the crops.
The random draws come from a CPU generator and are moved to the device, so a seed gives the same
draws on every device (the release draws from the device's own generator on CUDA).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL, DDIMScheduler
from torch import nn

from .unet import LatentSyncUNet3D, UNetCache
from .whisper import WhisperEncoder, audio_features, frame_windows, mel_filters, window_indices

CLIP_FRAMES = 16  # frames per clip (`num_frames`)
VAE_SCALE = 0.18215  # SD's latent scaling; the release also sets the shift to 0
SCHEDULER = dict(
    num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
    clip_sample=False, set_alpha_to_one=False, steps_offset=1, prediction_type="epsilon", timestep_spacing="leading",
)  # fmt: skip
"""LatentSync's `configs/scheduler_config.json` with diffusers' defaults it relies on spelled out."""

StepProgress = Callable[[int], None]
"""step_done(): called after every denoising step."""


class LatentSyncPipeline:
    """The three networks and the mask, on one device, in one dtype."""

    def __init__(self, unet: LatentSyncUNet3D, vae: AutoencoderKL, whisper: WhisperEncoder, mask: torch.Tensor, *,
                 device: torch.device | str, dtype: torch.dtype):  # fmt: skip
        """mask (S, S) float64 in [0, 1] at the crop side S: 1 keeps the crop's pixel, 0 re-draws it."""
        self.device, self.dtype = torch.device(device), dtype
        # nn.Module.to: ModelMixin.to warns about casting, which is what the release does.
        self.unet = nn.Module.to(unet, self.device, dtype).eval()
        self.vae = nn.Module.to(vae, self.device, dtype).eval()
        self.whisper = whisper.to(self.device, dtype).eval()  # fp16 on GPUs too, as the release's transcribe()
        self.mask = mask.to(self.device)
        self.side = mask.shape[-1]
        self.filters = mel_filters().to(self.device)
        self.scheduler = DDIMScheduler(**SCHEDULER)

    def audio_features(self, samples: torch.Tensor) -> torch.Tensor:
        """(n,) float32 16 kHz samples → (T, 5, 384) Whisper features, 50 per second."""
        return audio_features(self.whisper, samples, self.filters)

    def audio_windows(self, samples: torch.Tensor, fps: float) -> torch.Tensor:
        """(n,) float32 16 kHz samples → (N, 50, 384) one window per output frame, N ≥ the frames
        the audio covers (the release's count). For long audio, take `windows` clip by clip."""
        features = self.audio_features(samples)
        return frame_windows(features, window_indices(features.shape[0], fps).to(features.device))

    def initial_noise(self, generator: torch.Generator) -> torch.Tensor:
        """(1, 4, 1, h, w): the one noise image every frame of the video starts from."""
        side = self.side // 8
        return torch.randn((1, 4, 1, side, side), generator=generator, dtype=torch.float32).to(self.device, self.dtype)

    def clip(self, crops: torch.Tensor, windows: torch.Tensor, noise: torch.Tensor, generator: torch.Generator, *, steps: int,
             guidance: float, cache_interval: int = 1, step_done: StepProgress | None = None) -> torch.Tensor:  # fmt: skip
        """Re-draw the lower face of one clip: `denoise`, then `finish`.

        crops (F, 3, S, S) uint8 aligned faces, F ≤ 16; windows (F, 50, 384); noise from
        `initial_noise`. Returns (F, 3, S, S) float32 faces in about [−1, 1], not clamped (as the
        release hands them to its paste-back).
        """
        pixels = self.pixels(crops)
        latents = self.denoise(pixels, windows, noise, generator, steps=steps, guidance=guidance,
                               cache_interval=cache_interval, step_done=step_done)  # fmt: skip
        return self.finish(latents, pixels)

    def pixels(self, crops: torch.Tensor) -> torch.Tensor:
        """(F, 3, S, S) uint8 → float32 in [−1, 1] on the device."""
        return (crops.to(self.device, torch.float32) / 255 - 0.5) / 0.5

    @torch.no_grad()
    def denoise(self, pixels: torch.Tensor, windows: torch.Tensor, noise: torch.Tensor, generator: torch.Generator, *,
                steps: int, guidance: float, cache_interval: int = 1, step_done: StepProgress | None = None) -> torch.Tensor:  # fmt: skip
        """(1, 4, F, h, w) final latents of one clip (steps 1-4 of the module docstring).

        cache_interval k > 1: DeepCache, a full UNet pass on every k-th step and only its last
        layers between, as the release's `DeepCacheSDHelper(cache_interval=k, cache_branch_id=0)`.
        """
        frames = pixels.shape[0]
        masked = (pixels * self.mask).to(self.dtype)  # float64 mask: the product in float64, as released
        mask_latents = F.interpolate(self.mask[None, None].to(self.dtype), size=(self.side // 8,) * 2, mode="nearest")
        mask_latents = mask_latents[:, :, None].expand(1, 1, frames, -1, -1)
        conditions = torch.cat(
            [mask_latents, self._latents(masked, generator), self._latents(pixels.to(self.dtype), generator)], dim=1
        )
        latents = noise.expand(-1, -1, frames, -1, -1)
        audio = windows.to(self.device, self.dtype)[None]
        guided = guidance > 1.0
        if guided:
            conditions = conditions.repeat(2, 1, 1, 1, 1)
            audio = torch.cat([torch.zeros_like(audio), audio])
        self.scheduler.set_timesteps(steps, device=self.device)
        cache: UNetCache | None = None
        for j, t in enumerate(self.scheduler.timesteps):
            unet_in = torch.cat([latents.repeat(2 if guided else 1, 1, 1, 1, 1), conditions], dim=1)
            reuse = cache if cache_interval > 1 and j % cache_interval else None
            eps, cache = self.unet(unet_in, t, audio, cache=reuse)
            if guided:
                uncond, cond = eps.chunk(2)
                eps = uncond + guidance * (cond - uncond)
            latents = self.scheduler.step(eps, t, latents, eta=0.0).prev_sample
            if step_done is not None:
                step_done()
        return latents

    @torch.no_grad()
    def finish(self, latents: torch.Tensor, pixels: torch.Tensor) -> torch.Tensor:
        """Decode (1, 4, F, h, w) latents and put the crops' upper face back: (F, 3, S, S) float32."""
        decoded = self.vae.decode(latents[0].transpose(0, 1) / VAE_SCALE).sample
        keep = self.mask.to(self.dtype)
        return (decoded * (1 - keep) + pixels.to(self.dtype) * keep).float()

    def _latents(self, pixels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """(F, 3, S, S) → (1, 4, F, h, w): a sample of the VAE posterior, scaled."""
        posterior = self.vae.encode(pixels).latent_dist
        eps = torch.randn(posterior.mean.shape, generator=generator, dtype=torch.float32).to(self.device, self.dtype)
        return ((posterior.mean + posterior.std * eps) * VAE_SCALE).transpose(0, 1)[None]


def clip_count(frames: int) -> int:
    return math.ceil(frames / CLIP_FRAMES)
