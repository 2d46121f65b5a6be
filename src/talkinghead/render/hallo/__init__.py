"""Hallo backend: the Hallo latent-diffusion model (Fudan 2024) on the released weights."""
