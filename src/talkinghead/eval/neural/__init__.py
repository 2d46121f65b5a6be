"""The field's standard metrics, with networks the user supplies as local files.

Nothing here downloads anything: each metric loads only the file it is given, and says which
file it needs when that file is missing or of the wrong kind.

    syncnet.py   Sync-C / Sync-D   SyncNet `syncnet_v2.model` (joonson/syncnet_python's release)
    fvd.py       FVD               an I3D network saved as TorchScript (StyleGAN-V's `i3d_torchscript.pt`)
    csim.py      CSIM              an ArcFace network in ONNX (e.g. InsightFace's `w600k_r50.onnx`)
"""

from __future__ import annotations

import os
from pathlib import Path

from ...errors import ModelError


def model_file(path: str | os.PathLike, what: str, hint: str) -> Path:
    """`path` as a Path when it is a readable file; ModelError saying what is expected otherwise."""
    path = Path(path)
    if not path.is_file():
        state = "is a folder" if path.is_dir() else "does not exist"
        raise ModelError(f"the {what} file {path} {state}: {hint}")
    return path
