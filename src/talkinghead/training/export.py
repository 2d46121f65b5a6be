"""Trained networks out: `net.pth` in the released key layout, and a weights folder around it.

`load_net` of the hallo backend loads the file strictly, so `talkinghead animate --backend hallo
--weights OUTPUT/pretrained_models` renders with what was trained.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ..render.hallo import loading
from ..render.hallo.loading import HalloNet
from .model import NetArgs, merged_state


def release_state(net: HalloNet, dtype: torch.dtype = torch.float16) -> dict[str, torch.Tensor]:
    """The five networks' tensors under the release's keys, LoRA folded in, floats in `dtype`
    (the release ships float16), contiguous and on the CPU."""
    state = merged_state(net)
    return {k: (v.to(dtype) if v.is_floating_point() else v).detach().cpu().contiguous() for k, v in state.items()}


def save_net(net: HalloNet, path: str | Path, dtype: torch.dtype = torch.float16) -> Path:
    """Write `net.pth` (written beside, then renamed: never half a file at `path`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    torch.save(release_state(net, dtype), partial)
    os.replace(partial, path)
    return path


def inference_copy(net: HalloNet, args: NetArgs) -> HalloNet:
    """A separate HalloNet with the exported weights (float32), loaded strictly: what a user of
    the exported file gets, without touching the networks under training."""
    copy = args.build()
    copy.load_state_dict(release_state(net, torch.float32), strict=True)
    return copy


def make_weights_folder(weights: Path, net_path: Path, out: Path) -> Path:
    """`out` as a released `pretrained_models/` folder: links to every entry of `weights` but
    `hallo/`, whose `net.pth` is the trained one. Returns `out`."""
    out.mkdir(parents=True, exist_ok=True)
    for entry in weights.iterdir():
        if entry.name == "hallo":
            continue
        link = out / entry.name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(entry.resolve(), target_is_directory=entry.is_dir())
    target = out / loading.NET
    target.parent.mkdir(exist_ok=True)
    target.unlink(missing_ok=True)
    try:
        target.symlink_to(net_path.resolve())
    except OSError:  # a file system without links: hard link, or copy
        try:
            os.link(net_path, target)
        except OSError:
            import shutil

            shutil.copyfile(net_path, target)
    return out
