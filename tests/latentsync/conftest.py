"""Shared fixtures of the latentsync tests: a miniature `checkpoints/` folder.

The backend needs the `hallo` extra (torch, diffusers); without it these tests are not collected.
"""

from __future__ import annotations

import importlib.util

import pytest

EXTRA = all(importlib.util.find_spec(name) for name in ("torch", "diffusers"))
collect_ignore_glob = [] if EXTRA else ["test_*.py"]


@pytest.fixture(scope="session")
def weights_dir(tmp_path_factory):
    """A miniature LatentSync `checkpoints/` folder (random weights, the released layout)."""
    import latentsync_builders

    return latentsync_builders.build_weights_dir(tmp_path_factory.mktemp("checkpoints"))


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """One thread: the tiny models gain nothing from a second, and the oracle's cases were
    recorded bit-identical between 1 and 2 threads for the first clip."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
