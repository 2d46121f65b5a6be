"""Shared fixtures of the training tests: a tiny video collection, a miniature weights folder
(with SD-1.5 UNet and AnimateDiff stand-ins), the prepared set, and a short stage-1 run.

Without the `train` extra these tests are not collected.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
import time
from pathlib import Path

import pytest
from training_setup import TINY

TRAIN_EXTRA = all(importlib.util.find_spec(n) for n in ("torch", "diffusers", "transformers", "accelerate", "yaml"))
collect_ignore_glob = [] if TRAIN_EXTRA else ["test_*.py"]
sys.path.insert(0, str(Path(__file__).parents[1] / "hallo"))  # hallo_builders, hallo_onnx

@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """As in the hallo tests: tiny models gain nothing from a second thread, and two OpenMP
    threads spin-wait into a large slowdown when another process shares the cores."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def cli_logging_reset():
    """`main()` points the talkinghead logger at the test's captured stderr; later library
    calls must not write to that closed stream."""
    yield
    logging.getLogger("talkinghead").handlers.clear()


@pytest.fixture(scope="session")
def weights_dir(tmp_path_factory) -> Path:
    """The miniature released folder, plus SD-1.5 UNet weights and an AnimateDiff checkpoint."""
    import hallo_builders
    import torch
    from diffusers import UNet2DConditionModel
    from safetensors.torch import save_file

    root = hallo_builders.build_weights_dir(tmp_path_factory.mktemp("pretrained_models"), separator=True)
    config = {k: v for k, v in hallo_builders.TINY_UNET.items() if not k.startswith("_")}
    torch.manual_seed(5)
    save_file(UNet2DConditionModel(**config).state_dict(), str(root / "stable-diffusion-v1-5/unet/diffusion_pytorch_model.safetensors"))
    torch.manual_seed(6)
    donor = hallo_builders.tiny_net(2, 32).denoising_unet.state_dict()
    motion = {k: torch.randn_like(v) * 0.02 for k, v in donor.items() if ".motion_modules." in k and not k.endswith(".pe")}
    (root / "motion_module").mkdir()
    torch.save(motion, root / "motion_module/mm_sd_v15_v2.ckpt")
    return root


@pytest.fixture(scope="session")
def collection(tmp_path_factory) -> dict[str, Path]:
    from training_media import make_collection

    return make_collection(tmp_path_factory.mktemp("videos"))


@pytest.fixture(scope="session")
def prepared(collection, weights_dir, tmp_path_factory):
    """(dataset folder, summary, seconds) of `prepare` on the collection with 2 processes."""
    from talkinghead.training import PrepareOptions, prepare_dataset

    dataset = tmp_path_factory.mktemp("dataset")
    started = time.perf_counter()
    summary = prepare_dataset(collection["alice"].parent, dataset, weights=weights_dir, options=PrepareOptions(size=64), workers=2)
    return dataset, summary, time.perf_counter() - started


@pytest.fixture(scope="session")
def stage1(prepared, weights_dir, tmp_path_factory):
    """A 3-step stage-1 run from the SD-1.5 stand-in: its TrainResult."""
    from talkinghead.training import TrainConfig, Trainer

    out = tmp_path_factory.mktemp("stage1")
    config = TrainConfig.load("stage1", overrides=[*TINY, f"weights={weights_dir}", f"data.dataset={prepared[0]}", f"output_dir={out}", "solver.max_steps=3"])
    return Trainer(config).train()
