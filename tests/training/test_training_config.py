"""Training configs: presets = published defaults, strict keys, typed values, one-line errors."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from talkinghead.errors import InputError
from talkinghead.training.config import PRESETS, TrainConfig
from talkinghead.training.dataset import EpochBatches
from talkinghead.training.losses import diffusion_loss, min_snr_weights


@pytest.mark.parametrize("stage", [1, 2])
def test_presets_state_the_published_defaults(stage):
    preset = TrainConfig.load(f"stage{stage}")
    defaults = TrainConfig.defaults(stage)
    paths = {"weights", "output_dir", "data", "init"}  # the presets name example folders
    for f in dataclasses.fields(TrainConfig):
        if f.name not in paths:
            assert getattr(preset, f.name) == getattr(defaults, f.name), f.name
    assert dataclasses.replace(preset.data, dataset=None) == defaults.data
    assert preset.solver.learning_rate == 1e-5 and preset.diffusion.snr_gamma == 5.0 and preset.diffusion.noise_offset == 0.05
    assert (preset.data.batch_size, preset.solver.gradient_checkpointing) == ((8, False) if stage == 1 else (4, True))


def test_personalise_preset_trains_lora_only_from_the_release():
    config = TrainConfig.load("personalise")
    assert config.stage == 2 and config.lora.rank == 16 and config.trainable == []
    assert str(config.init.net) == "{weights}/hallo/net.pth" and config.init.motion_module is None


def test_yaml_values_are_typed_and_overrides_apply(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("stage: 2\nsolver:\n  learning_rate: 3e-5\n  mixed_precision: no\ndata:\n  dataset: ~/data\n")
    config = TrainConfig.load(path, overrides=["solver.max_steps=7", "lora.targets=['*.audio_modules.*']", "ema.enabled=true"])
    assert config.solver.learning_rate == 3e-5 and config.solver.mixed_precision == "no"
    assert config.data.dataset == Path("~/data").expanduser() and config.solver.max_steps == 7
    assert config.lora.targets == ["*.audio_modules.*"] and config.ema.enabled
    assert config.data.batch_size == 4  # stage 2's default where the file says nothing


@pytest.mark.parametrize(
    "text, overrides, message",
    [
        ("stage: 1\nsolver:\n  max_step: 3\n", [], "unknown config key 'solver.max_step'"),
        ("stage: 1\ndata: 3\n", [], "'data' is a section"),
        ("stage: 1\n", ["data.batch_size=two"], "'data.batch_size': 'two' is not a valid int"),
        ("stage: 1\n", ["solver.max_steps"], "write KEY=VALUE"),
        ("stage: 2\n", [], None),
        ("solver: {}\n", [], "say which stage"),
        ("stage: 1\n: :\n", [], "not valid YAML"),
        ("stage: 1\n", ["data.size=60"], "multiple of 8"),
    ],
)
def test_bad_configs_are_input_errors(tmp_path, text, overrides, message):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    if message is None:
        with pytest.raises(InputError, match="contradicts"):
            TrainConfig.load(path, stage=1)
        return
    with pytest.raises(InputError, match=message.replace("(", r"\(")):
        TrainConfig.load(path, overrides=overrides)


def test_every_preset_file_loads():
    for path in PRESETS.glob("*.yaml"):
        TrainConfig.load(path)


def test_min_snr_weights_for_v_prediction():
    alphas = torch.tensor([0.999, 0.8, 0.5, 2.0**-24])
    weights = min_snr_weights(alphas, torch.arange(4), gamma=5.0)
    snr_plus_one = alphas / (1 - alphas) + 1
    assert torch.allclose(weights, torch.clamp(snr_plus_one, max=5.0) / snr_plus_one)
    assert weights[0] < 0.01 and weights[2] == 1.0 and weights[3] == 1.0  # zero terminal SNR: weight 1
    prediction, target = torch.zeros(4, 3), torch.ones(4, 3)
    assert diffusion_loss(prediction, target, weights) == pytest.approx(weights.mean().item())


def test_epoch_batches_are_disjoint_across_processes_and_resume_mid_epoch():
    shards = [EpochBatches(10, 2, seed=3, rank=r, world=2) for r in range(2)]
    assert len(shards[0]) == 2  # 10 clips, global batch 4: the incomplete last one is dropped
    items = [item for shard in shards for batch in shard.epoch(0) for item in batch]
    assert len({key for _, key in items}) == len(items) == 8 and len({clip for clip, _ in items}) == 8
    assert shards[0].epoch(0, start=1) == shards[0].epoch(0)[1:]
    assert shards[0].epoch(1) != shards[0].epoch(0)
    small = EpochBatches(1, 4, seed=0)  # one long clip, a batch of 4: the clip repeats
    assert [clip for clip, _ in small.epoch(0)[0]] == [0, 0, 0, 0] and len({k for _, k in small.epoch(0)[0]}) == 4
