"""The two training stages on the tiny set: they run, learn, resume exactly, and export a net.pth
the inference backend loads and renders with."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from media import PORTRAIT, write_wav
import torch
from training_setup import TINY, stage2_overrides

from talkinghead.cli import main
from talkinghead.render.hallo import loading
from talkinghead.training import TrainConfig, Trainer



def _load_exported(path: Path, weights: Path):
    from transformers import Wav2Vec2Config

    unet = loading.read_unet_config(weights / loading.UNET_CONFIG)
    audio = Wav2Vec2Config.from_pretrained(weights / loading.WAV2VEC)
    return loading.load_net(path, unet, audio.num_hidden_layers, audio.hidden_size)  # strict


def test_stage1_trains_from_sd15_and_exports_the_released_layout(stage1, weights_dir):
    assert stage1.steps == 3 and [s for s, _ in stage1.losses] == [1, 2, 3]
    assert all(np.isfinite(loss) and loss > 0 for _, loss in stage1.losses)
    state = torch.load(stage1.net, weights_only=True)
    assert {k.split(".")[0] for k in state} == {"reference_unet", "denoising_unet", "face_locator", "imageproj", "audioproj"}
    assert all(v.dtype == torch.float16 for v in state.values() if v.is_floating_point())
    net = _load_exported(stage1.net, weights_dir)
    # Stage 1 leaves the audio and motion modules as initialised: zero output convolutions.
    assert not net.denoising_unet.down_blocks[0].audio_modules[0].transformer_blocks[0].zero_conv_lip.weight.any()
    assert not net.denoising_unet.mid_block.motion_modules[0].temporal_transformer.proj_out.weight.any()
    # ...and trained the image layers away from SD-1.5.
    from safetensors.torch import load_file

    sd = load_file(str(weights_dir / "stable-diffusion-v1-5/unet/diffusion_pytorch_model.safetensors"))
    assert not torch.equal(net.denoising_unet.conv_in.weight.half(), sd["conv_in.weight"].half())
    assert (stage1.weights_dir / "hallo/net.pth").resolve() == stage1.net.resolve()


@pytest.fixture(scope="module")
def stage2(stage1, prepared, weights_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("stage2")
    overrides = [*stage2_overrides(weights_dir, prepared[0], stage1.net, out), "solver.max_steps=2", "validation.every=2", "logging.report_to=tensorboard"]
    return Trainer(TrainConfig.load("stage2", overrides=overrides)).train()


def test_stage2_trains_audio_and_motion_from_stage1_and_animatediff(stage1, stage2, weights_dir):
    before, after = _load_exported(stage1.net, weights_dir), _load_exported(stage2.net, weights_dir)
    frozen = ("reference_unet.", "face_locator.", "imageproj.", "denoising_unet.conv_in.", "denoising_unet.up_blocks.1.attentions.0.")
    a, b = before.state_dict(), after.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a if k.startswith(frozen))
    changed = [k for k in a if not torch.equal(a[k], b[k])]
    assert changed and all(".audio_modules." in k or ".motion_modules." in k or k.startswith("audioproj.") for k in changed)
    # The motion modules started from the AnimateDiff checkpoint, not from zero.
    assert after.denoising_unet.mid_block.motion_modules[0].temporal_transformer.proj_out.weight.any()
    assert len(stage2.videos) == 1 and stage2.videos[0].stat().st_size > 0
    assert list((Path(stage2.net).parent / "logs").rglob("events.out.tfevents.*"))


def test_the_exported_network_renders_with_the_hallo_backend(stage2, tmp_path, capsys):
    speech = write_wav(tmp_path / "speech.wav", 3000 * np.sin(np.arange(8000) / 7))
    out = tmp_path / "trained.mp4"
    code = main(["animate", str(PORTRAIT), str(speech), "-o", str(out), "--backend", "hallo",
                 "--weights", str(stage2.weights_dir), "--steps", "1", "--render-size", "64", "--size", "128", "--quiet"])
    assert code == 0, capsys.readouterr().err
    from talkinghead.video.reader import read_frames

    assert len(list(read_frames(out))) == 12


def _tiny_trainer(weights_dir, dataset, out, *extra) -> Trainer:
    return Trainer(TrainConfig.load("stage1", overrides=[*TINY, f"weights={weights_dir}", f"data.dataset={dataset}", f"output_dir={out}", *extra]))


def test_overfitting_one_fixed_batch_lowers_the_loss(prepared, weights_dir, tmp_path):
    trainer = _tiny_trainer(weights_dir, prepared[0], tmp_path, "solver.learning_rate=1e-3", "diffusion.snr_gamma=0")
    batch = next(iter(trainer._loader()))
    draws = trainer.state.generator.get_state()
    losses = []
    for _ in range(12):
        trainer.state.generator.set_state(draws)  # the same noise, timesteps and dropout each time
        loss = trainer.loss(batch)
        loss.backward()
        trainer.optimizer.step()
        trainer.optimizer.zero_grad()
        losses.append(loss.item())
    print(f"\nover-fitting one batch: loss {losses[0]:.4f} -> {losses[-1]:.4f}")
    assert losses[-1] < 0.5 * losses[0]


def test_gradient_checkpointing_gives_the_same_gradients(prepared, weights_dir, tmp_path):
    grads = []
    for flag in ("false", "true"):
        trainer = _tiny_trainer(weights_dir, prepared[0], tmp_path / flag, f"solver.gradient_checkpointing={flag}")
        trainer.loss(next(iter(trainer._loader()))).backward()
        grads.append(torch.cat([p.grad.flatten() for p in trainer.parameters if p.grad is not None]))
    assert grads[0].shape == grads[1].shape
    assert torch.allclose(grads[0], grads[1], rtol=1e-4, atol=1e-6)


def _stage2(weights_dir, prepared, stage1, out, max_steps: int) -> Trainer:
    overrides = [
        *stage2_overrides(weights_dir, prepared[0], stage1.net, out),
        f"solver.max_steps={max_steps}", "checkpoint.every=2", "solver.gradient_accumulation_steps=2",
        "ema.enabled=true", "lora.rank=2", "conditions.reference_dropout=0.5", "conditions.audio_dropout=0.5",
        "conditions.motion_dropout=0.5", "init.motion_module=null", "solver.learning_rate=1e-4",
    ]
    return Trainer(TrainConfig.load("stage2", overrides=overrides))


def test_resuming_from_a_checkpoint_continues_exactly(prepared, weights_dir, stage1, tmp_path):
    whole = _stage2(weights_dir, prepared, stage1, tmp_path / "whole", 4).train()
    first = _stage2(weights_dir, prepared, stage1, tmp_path / "split", 2).train()
    resumed_trainer = _stage2(weights_dir, prepared, stage1, tmp_path / "split", 4)  # a new run: resume latest
    second = resumed_trainer.train()
    assert [s for s, _ in second.losses] == [3, 4]
    assert first.losses + second.losses == whole.losses
    a, b = torch.load(whole.net, weights_only=True), torch.load(second.net, weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a)  # EMA weights with LoRA folded in, bit for bit
    print(f"\nresume: losses {[round(x, 6) for _, x in whole.losses]} equal, {len(a)} exported tensors equal")


def test_train_command_end_to_end_and_its_errors(prepared, weights_dir, tmp_path, capsys):
    sets = [x for item in TINY for x in ("--set", item)]
    code = main(["train", "--stage", "1", "--weights", str(weights_dir), "--data", str(prepared[0]), "--output-dir", str(tmp_path / "run"), *sets, "--set", "solver.max_steps=1", "--set", "init.sd_unet=false"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert (tmp_path / "run/net.pth").is_file() and (tmp_path / "run/pretrained_models/hallo/net.pth").is_file()
    for args, expected in (
        (["--stage", "1", "--data", str(prepared[0])], "needs `weights`"),
        (["--stage", "1", "--weights", str(weights_dir), "--data", str(tmp_path), "--set", "solver.mixed_precision=no"], "is not a prepared set"),
        (["--stage", "2", "--weights", str(weights_dir), "--data", str(prepared[0]), *sets], "stage 2 starts from stage 1"),
        (["--stage", "1", "--weights", str(weights_dir), "--set", "solver.mixed_precision=fp16"], "needs a GPU"),
        (["--config", str(tmp_path / "missing.yaml")], "does not exist"),
    ):
        code = main(["train", *args])
        err = capsys.readouterr().err
        assert code == 2 and expected in err and err.count("\n") == 1, (args, err)
