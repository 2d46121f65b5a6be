"""Behaviour of the Hallo networks: round trips, the hierarchical fusion, motion and reference paths."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from hallo_builders import draw_weights, tiny_net
from talkinghead.render.hallo import loading
from talkinghead.render.hallo.audio_module import AudioModule, MotionWeights, RegionMasks
from talkinghead.render.hallo.face_locator import FaceLocator
from talkinghead.render.hallo.motion_module import PositionalEncoding
from talkinghead.render.hallo.projections import AudioProjection, ImageProjection
from talkinghead.render.hallo.reference_net import ReferenceNet
from talkinghead.render.hallo.unet_3d import HalloUNet3D, _reference_index

FRAMES, SIDE = 4, 8  # latent clip used below: 4 frames of 8×8 (a 64×64 image)


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    net = tiny_net(audio_layers=2, audio_width=32)
    net.load_state_dict(draw_weights(net, seed=3))
    return net.eval()


def level_sides() -> list[int]:
    return [SIDE, SIDE // 2, SIDE // 4, SIDE // 8]


def thirds(side: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Disjoint binary masks (pose, expression, lip): left, middle and right column bands."""
    columns = torch.arange(side).expand(side, side)
    bands = [(columns * 3 // side) == i for i in range(3)]
    return tuple(band.float().reshape(-1) for band in bands)


def unet_inputs(net, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    unet = net.denoising_unet
    masks = RegionMasks(*zip(*(thirds(s) for s in level_sides())))
    reference = {}
    for name, module in unet.named_modules():
        if getattr(module, "reference_key", ""):
            depth = module.reference_key  # e.g. down_blocks.1.attentions.0
            level = 3 if depth.startswith("mid") else int(depth.split(".")[1])
            level = 3 - level if depth.startswith("up") else level
            side = level_sides()[level]
            reference[name] = torch.randn(2, 3, side * side, module.proj_in.in_channels, generator=g)
    return dict(
        sample=torch.randn(2, 4, FRAMES, SIDE, SIDE, generator=g),
        timestep=999,
        encoder_hidden_states=torch.randn(2, 4, unet.config.cross_attention_dim, generator=g),
        audio_embedding=torch.randn(2, FRAMES, 32, unet.config.audio_attention_dim, generator=g),
        masks=masks,
        reference=reference,
        face_features=torch.randn(2, unet.config.block_out_channels[0], SIDE, SIDE, generator=g),
        reference_mask=torch.tensor([False, True]),
    )


def run(unet, inputs, **changes) -> torch.Tensor:
    with torch.no_grad():
        return unet(**{**inputs, **changes}).sample


def test_denoising_unet_keeps_the_clip_shape(net):
    inputs = unet_inputs(net)
    assert run(net.denoising_unet, inputs).shape == inputs["sample"].shape


@pytest.mark.parametrize(
    "model",
    [
        lambda: ReferenceNet(block_out_channels=(32, 32, 64, 64), norm_num_groups=16, cross_attention_dim=48),
        lambda: HalloUNet3D(block_out_channels=(32, 32, 64, 64), norm_num_groups=16, cross_attention_dim=48, audio_attention_dim=40),
        lambda: FaceLocator(conditioning_embedding_channels=32),
        lambda: ImageProjection(cross_attention_dim=48),
        lambda: AudioProjection(blocks=2, channels=32, intermediate_dim=24, output_dim=40),
    ],
    ids=["reference_net", "unet_3d", "face_locator", "image_projection", "audio_projection"],
)
def test_save_pretrained_round_trip_restores_config_and_weights(model, tmp_path):
    torch.manual_seed(0)
    original = model()
    for parameter in original.parameters():  # no zero-initialised paths left inert
        parameter.data.normal_(0, 0.05)
    original.save_pretrained(tmp_path)
    loaded = type(original).from_pretrained(tmp_path)
    assert plain(loaded.config) == plain(original.config)
    assert all(torch.equal(a, b) for a, b in zip(original.state_dict().values(), loaded.state_dict().values()))
    assert list(original.state_dict()) == list(loaded.state_dict())


def plain(config) -> dict:
    """A config without diffusers' bookkeeping entries, tuples as lists (as JSON stores them)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in config.items() if not k.startswith("_")}


def test_net_checkpoint_round_trip_gives_identical_outputs(net, tmp_path):
    torch.save(net.state_dict(), tmp_path / "net.pth")
    unet_config = {k: net.denoising_unet.config[k] for k in loading.UNET_KEYS}
    loaded = loading.load_net(tmp_path / "net.pth", unet_config, audio_layers=2, audio_width=32).float().eval()
    assert not any(t.is_meta for t in loaded.state_dict().values())
    inputs = unet_inputs(net)
    assert torch.equal(run(net.denoising_unet, inputs), run(loaded.denoising_unet, inputs))
    windows = torch.randn(1, FRAMES, 5, 2, 32)
    with torch.no_grad():
        assert torch.equal(net.audioproj(windows), loaded.audioproj(windows))


def first_audio_output(unet, inputs, weights: MotionWeights) -> torch.Tensor:
    """Output of `down_blocks.0.audio_modules.0` at the first UNet call."""
    captured = []
    handle = unet.down_blocks[0].audio_modules[0].register_forward_hook(lambda _m, _i, out: captured.append(out))
    try:
        run(unet, inputs, motion_weights=weights)
    finally:
        handle.remove()
    return captured[0]


@pytest.mark.parametrize("region", ["pose", "expression", "lip"])
def test_each_fusion_weight_changes_only_its_region_at_the_first_step(net, region):
    unet = copy.deepcopy(net.denoising_unet)
    for module in unet.modules():  # the 1×1 convs' bias is added after the mask (see below)
        if isinstance(module, AudioModule):
            for conv in ("zero_conv_full", "zero_conv_face", "zero_conv_lip"):
                getattr(module.transformer_blocks[0], conv).bias.data.zero_()
    inputs = unet_inputs(net)
    base = first_audio_output(unet, inputs, MotionWeights())
    changed = first_audio_output(unet, inputs, MotionWeights(**{region: 2.0}))
    index = ("pose", "expression", "lip").index(region)
    inside = thirds(SIDE)[index].reshape(SIDE, SIDE).bool()
    difference = (changed - base).abs()  # (B·F, C, h, w)
    assert torch.all(difference[..., ~inside] == 0)
    assert torch.all(difference[..., inside].amax(dim=(0, 1)) > 0)


def test_fusion_bias_is_not_masked_as_in_the_release():
    torch.manual_seed(0)
    module = AudioModule(channels=32, inner_channels=32, audio_dim=40, norm_groups=16)
    for parameter in module.parameters():
        parameter.data.normal_(0, 0.1)
    x, audio = torch.randn(2, 32, SIDE, SIDE), torch.randn(2, 32, 40)
    masks = thirds(SIDE)
    with torch.no_grad():
        base = module(x, audio, masks, MotionWeights())
        changed = module(x, audio, masks, MotionWeights(pose=0.0))
    outside = ~masks[0].reshape(SIDE, SIDE).bool()
    assert (changed - base)[..., outside].abs().max() > 0  # the pose bias reaches every pixel


def test_reference_rows_are_tiled_over_frames_and_uncond_frames_read_none():
    # The release tiles the (uncond, cond) reference rows over the 2F frames: frame j ← row j mod 2.
    index = _reference_index(batch=2, frames=4, reference_mask=torch.tensor([False, True]), device="cpu")
    assert index.tolist() == [-1, -1, -1, -1, 0, 1, 0, 1]
    assert _reference_index(1, 3, None, "cpu").tolist() == [0, 0, 0]


def test_unconditional_half_ignores_the_reference_image_but_not_the_motion_frames(net):
    unet = net.denoising_unet
    inputs = unet_inputs(net)
    base = run(unet, inputs)
    other_image = {k: torch.cat([torch.randn_like(v[:, :1]), v[:, 1:]], dim=1) for k, v in inputs["reference"].items()}
    other_motion = {k: torch.cat([v[:, :1], torch.randn_like(v[:, 1:])], dim=1) for k, v in inputs["reference"].items()}
    image_changed = run(unet, inputs, reference=other_image)
    motion_changed = run(unet, inputs, reference=other_motion)
    assert torch.equal(image_changed[0], base[0]) and not torch.equal(image_changed[1], base[1])
    assert not torch.equal(motion_changed[0], base[0]) and not torch.equal(motion_changed[1], base[1])


def test_motion_modules_of_the_plain_blocks_never_run(net):
    # The release's inference takes the checkpointing branch of DownBlock3D / UpBlock3D, which
    # runs their resnets only: their motion-module weights do not affect the output.
    unet = net.denoising_unet
    inputs = unet_inputs(net)
    base = run(unet, inputs)
    with torch.no_grad():
        for block in (unet.down_blocks[3], unet.up_blocks[0]):
            for parameter in block.motion_modules.parameters():
                parameter.add_(1.0)
        after = run(unet, inputs)
        for block in (unet.down_blocks[3], unet.up_blocks[0]):
            for parameter in block.motion_modules.parameters():
                parameter.sub_(1.0)
    assert torch.equal(base, after)


def test_positional_encoding_is_the_published_sinusoid():
    pe = PositionalEncoding(channels=64, max_len=32).pe[0]
    p, i = 7, 5
    assert math.isclose(pe[p, 2 * i].item(), math.sin(p * 10000 ** (-2 * i / 64)), abs_tol=1e-6)
    assert math.isclose(pe[p, 2 * i + 1].item(), math.cos(p * 10000 ** (-2 * i / 64)), abs_tol=1e-6)
