"""What the conformance tests (hallo, latentsync) compare with: relative L2 against the
recorded tensors, and the key lists recorded from the releases."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import torch


def rel_l2(ours, theirs) -> float:
    """‖ours − theirs‖ / ‖theirs‖, in double precision (tensors or arrays)."""
    ours, theirs = torch.as_tensor(ours).double(), torch.as_tensor(theirs).double()
    return float((ours - theirs).norm() / theirs.norm())


def read_keys(path: Path) -> list[tuple[str, list[int]]]:
    """(key, shape) rows of a gzipped `key<TAB>[shape]<TAB>dtype` list, in its order."""
    with gzip.open(path, "rt") as rows:
        return [(key, json.loads(shape)) for key, shape, _dtype in (row.rstrip("\n").split("\t") for row in rows)]
