"""LatentSync dub backend: the LatentSync 1.5 / 1.6 lip-sync model (ByteDance) on its released weights.

    from talkinghead.dubbing.latentsync import load_pipeline
    pipe = load_pipeline("checkpoints", device=None)      # picks cuda > mps > cpu; fp16 on GPUs
    windows = pipe.audio_windows(samples, fps=25)         # Whisper-tiny windows, one per frame
    faces = pipe.clip(crops, windows[:16], pipe.initial_noise(g), g, steps=20, guidance=1.5)

It lives beside the dub's own redraw (talkinghead.dubbing) rather than among the renderers:
it re-draws the mouth of an existing video, it does not animate a photo. Needs the `hallo`
extra (torch, diffusers, transformers: the same packages); importing this package without it
raises ModelError with the install command.
"""

from ...errors import ModelError

try:
    from .backend import load_pipeline
    from .pipeline import LatentSyncPipeline
except ImportError as error:  # torch / diffusers absent
    raise ModelError(f"the latentsync backend needs its extra packages ({error.name} is missing): pip install 'talkinghead[hallo]'") from error

__all__ = ["LatentSyncPipeline", "load_pipeline"]
