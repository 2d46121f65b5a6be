"""Hallo backend: the Hallo latent-diffusion model (Fudan 2024) on its released weights.

    from talkinghead.render.hallo import HalloPipeline
    pipe = HalloPipeline.from_pretrained("pretrained_models")      # picks cuda > mps > cpu
    for frame in pipe.frames(crop, landmarks, audio, face_expand_ratio=1.2): ...  # (S, S, 3) uint8 RGB

Needs the `hallo` extra (torch, diffusers, transformers); importing this package without it
raises ModelError with the install command.
"""

from ...errors import ModelError

try:
    from .pipeline import HalloPipeline
except ImportError as error:  # torch / diffusers / transformers absent
    raise ModelError(f"the hallo backend needs its extra packages ({error.name} is missing): pip install 'talkinghead[hallo]'") from error

__all__ = ["HalloPipeline"]
