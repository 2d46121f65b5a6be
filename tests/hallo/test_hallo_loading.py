"""The weights folder: layout validation, strict net.pth loading, devices, memory estimates."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from hallo_builders import FIXTURES, TINY_UNET, draw_weights, tiny_net
from talkinghead import devices
from talkinghead.errors import InputError, ModelError
from talkinghead.render.hallo import loading
from talkinghead.render.hallo.pipeline import HalloPipeline

UNET = loading.read_unet_config(FIXTURES / "unet_config.json")


def released_layout(root):
    """Empty files at every required path of the released layout (the first of each choice)."""
    for requirement in loading.REQUIRED_FILES:
        path = root / (requirement[0] if isinstance(requirement, tuple) else requirement)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    return root


def test_complete_layout_passes_and_every_missing_file_is_named(tmp_path):
    root = released_layout(tmp_path)
    assert loading.check_weights_dir(root) == root
    (root / loading.NET).unlink()
    (root / loading.VAE / "diffusion_pytorch_model.safetensors").unlink()
    (root / loading.FACE_RECOGNIZER).unlink()
    with pytest.raises(ModelError) as error:
        HalloPipeline.from_pretrained(root)  # before any heavy work
    message = str(error.value)
    assert "hallo/net.pth" in message and "face_analysis/models/glintr100.onnx" in message
    assert "sd-vae-ft-mse/diffusion_pytorch_model.safetensors or sd-vae-ft-mse/diffusion_pytorch_model.bin" in message
    assert "wav2vec" not in message and "\n" not in message


def test_alternative_weight_files_are_accepted(tmp_path):
    root = released_layout(tmp_path)
    (root / loading.WAV2VEC / "model.safetensors").rename(root / loading.WAV2VEC / "pytorch_model.bin")
    loading.check_weights_dir(root)


def test_missing_folder_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        loading.check_weights_dir(tmp_path / "nowhere")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    net = tiny_net(audio_layers=2, audio_width=32)
    path = tmp_path_factory.mktemp("net") / "net.pth"
    torch.save(draw_weights(net), path)
    return path


def test_net_loads_strictly_from_its_shapes(checkpoint):
    net = loading.load_net(checkpoint, UNET, audio_layers=2, audio_width=32)
    assert net.audioproj.config.intermediate_dim == 24 and net.audioproj.config.output_dim == 40
    assert net.denoising_unet.config.audio_attention_dim == 40
    assert net.denoising_unet.config.motion_module_max_len == 32
    state = torch.load(checkpoint, weights_only=True)
    assert all(torch.equal(value.to(state[key].dtype), state[key]) for key, value in net.state_dict().items())


@pytest.mark.parametrize("damage", ["missing", "unexpected", "reshaped"])
def test_mismatching_checkpoint_is_rejected_with_counts(checkpoint, tmp_path, damage):
    state = torch.load(checkpoint, weights_only=True)
    key = "denoising_unet.conv_out.weight"
    if damage == "missing":
        del state[key]
    elif damage == "unexpected":
        state["denoising_unet.extra.weight"] = torch.zeros(1)
    else:
        state[key] = torch.zeros(1, 2, 3)
    torch.save(state, tmp_path / "net.pth")
    with pytest.raises(ModelError, match=f"1 {'keys of another shape' if damage == 'reshaped' else damage + ' keys'}"):
        loading.load_net(tmp_path / "net.pth", UNET, audio_layers=2, audio_width=32)


def test_wav2vec_features_must_fit_the_audio_projection(checkpoint):
    with pytest.raises(ModelError, match="expects 320 audio values per frame"):
        loading.load_net(checkpoint, UNET, audio_layers=12, audio_width=768)


def test_non_sd15_unet_config_is_rejected(tmp_path):
    config = dict(TINY_UNET, up_block_types=["UpBlock2D"] * 4)
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match="up_block_types"):
        loading.read_unet_config(tmp_path / "config.json")


def test_unreadable_checkpoint_is_a_model_error(tmp_path):
    (tmp_path / "net.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="cannot be read"):
        loading.load_net(tmp_path / "net.pth", UNET, audio_layers=2, audio_width=32)


def test_device_and_dtype_choice():
    expected = "cuda" if torch.cuda.is_available() else ("mps" if torch.backends.mps.is_available() else "cpu")
    assert devices.pick_device(None).type == expected
    assert devices.pick_dtype(torch.device("cpu"), None) == torch.float32
    assert devices.pick_dtype(torch.device("cuda"), None) == torch.float16
    assert devices.pick_dtype(torch.device("cpu"), torch.bfloat16) == torch.bfloat16


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_unavailable_device_is_an_input_error():
    with pytest.raises(InputError, match="not available"):
        devices.pick_device("cuda")


def test_memory_estimate_matches_the_published_figure_at_512():
    weights = int(2.42e9 * 2 + 84e6 * 2 + 95e6 * 4)  # net and VAE in fp16, wav2vec2 in fp32
    estimate = loading.estimate_memory(weights, size=512, base_channels=320, dtype=torch.float16)
    # the paper reports ~9.8 GB at 512² on an A100, CUDA context and allocator cache included
    assert 7.5e9 < estimate.total < 9.8e9
    smaller = loading.estimate_memory(weights, size=256, base_channels=320, dtype=torch.float16)
    assert smaller.activations * 4 == estimate.activations


def test_a_size_the_device_cannot_hold_is_refused():
    with pytest.raises(ModelError, match="GiB on cpu"):
        loading.check_fits(1 << 60, torch.device("cpu"), "512×512 frames")
    loading.check_fits(1, torch.device("cpu"), "a byte")


def test_copied_layout_keeps_working(weights_dir, tmp_path):
    copy = shutil.copytree(weights_dir, tmp_path / "copy")
    assert loading.check_weights_dir(copy) == copy
