"""The diffusion objective: v-prediction MSE with Min-SNR-γ weights (Hang et al. 2023)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def snr(alphas_cumprod: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
    """(B,) signal-to-noise ratio ᾱ_t / (1 - ᾱ_t) of each sample's timestep."""
    alpha = alphas_cumprod.to(timesteps.device)[timesteps].float()
    return alpha / (1.0 - alpha)


def min_snr_weights(alphas_cumprod: torch.Tensor, timesteps: torch.Tensor, gamma: float, v_prediction: bool = True) -> torch.Tensor:
    """(B,) loss weights min(SNR, γ) / SNR; for v-prediction SNR + 1 stands for SNR, as the
    release does (the v target already carries a factor 1 + SNR relative to ε). This also keeps
    the zero-terminal-SNR timestep (SNR = 0) at weight 1 instead of 0 / 0."""
    ratio = snr(alphas_cumprod, timesteps)
    if v_prediction:
        ratio = ratio + 1.0
    return torch.clamp(ratio, max=gamma) / ratio.clamp(min=torch.finfo(ratio.dtype).tiny)


def diffusion_loss(prediction: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """Mean over samples of the per-sample MSE (in float32), each times its weight when given.

    The release's stage 2 multiplies the *batch* mean by the mean weight; weighting each sample
    (its stage 1, and the Min-SNR paper) is what is done here for both stages."""
    per_sample = F.mse_loss(prediction.float(), target.float(), reduction="none").flatten(1).mean(1)
    return (per_sample if weights is None else per_sample * weights).mean()
