"""Shared fixtures of the hallo tests: a miniature weights folder and a pipeline on it.

The hallo backend needs the `hallo` extra (torch, diffusers, transformers); without it these
tests are not collected.
"""

from __future__ import annotations

import importlib.util

import pytest

HALLO_EXTRA = all(importlib.util.find_spec(name) for name in ("torch", "diffusers", "transformers"))
collect_ignore_glob = [] if HALLO_EXTRA else ["test_*.py"]


@pytest.fixture(scope="session")
def weights_dir(tmp_path_factory):
    """A miniature `pretrained_models/` folder (random weights, released layout, with separator)."""
    import hallo_builders

    return hallo_builders.build_weights_dir(tmp_path_factory.mktemp("pretrained_models"), separator=True)


@pytest.fixture(scope="session")
def pipeline(weights_dir):
    from talkinghead.render.hallo.pipeline import HalloPipeline

    return HalloPipeline.from_pretrained(weights_dir, device="cpu")


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """The tiny models gain nothing from a second thread, and when another process shares the
    two cores, two OpenMP threads spin-wait into a ~5x slowdown; restored after each module."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
