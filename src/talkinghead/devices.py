"""Where the diffusion backends (hallo, latentsync) run: the torch device and dtype chosen, and
whether a run fits in the memory that device has free. One place for both, so that
`--device auto` means the same thing whichever model is asked for.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from .errors import InputError, ModelError


def pick_device(device: str | None) -> torch.device:
    """cuda > mps > cpu when None or "auto"; InputError for a device this machine does not have."""
    if device in (None, "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if torch.backends.mps.is_available() else "cpu")
    chosen = torch.device(device)
    available = {
        "cpu": True,
        "cuda": torch.cuda.is_available(),
        "mps": torch.backends.mps.is_available(),
    }.get(chosen.type, False)
    if not available:
        raise InputError(f"device {device!r} is not available on this machine; use cpu, or leave the device unset.")
    return chosen


def pick_dtype(device: torch.device, dtype: torch.dtype | None) -> torch.dtype:
    """float16 on GPUs (both releases' default), float32 on the CPU, unless asked otherwise."""
    if dtype is not None:
        return dtype
    return torch.float32 if device.type == "cpu" else torch.float16


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a run needs on its device."""

    weights: int
    activations: int

    @property
    def total(self) -> int:
        return self.weights + self.activations


def free_memory(device: torch.device) -> int | None:
    """Bytes free on the device, None when unknown."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    if device.type == "mps":
        return torch.mps.recommended_max_memory() - torch.mps.driver_allocated_memory()
    return _available_ram()


def _available_ram() -> int | None:
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_fits(needed: int, device: torch.device, what: str, *, model: str, remedy: str) -> None:
    """ModelError when `needed` bytes exceed what is free on the device; `remedy`: what the user
    of `model` can do about it."""
    free = free_memory(device)
    if free is not None and needed > free:
        raise ModelError(
            f"{model} needs about {needed / 2**30:.1f} GiB on {device} for {what}, but only "
            f"{free / 2**30:.1f} GiB are free; {remedy}."
        )
