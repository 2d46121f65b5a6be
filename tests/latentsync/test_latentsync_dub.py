"""`talkinghead dub --backend latentsync` end to end on a miniature checkpoints folder, and what
it refuses: bad weights folders, options it does not honour."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from media import SPEECH, write_wav
from video_media import FPS, decoded, known_motion, rendered_frames, tone, write_clip

from latentsync_builders import MINI_DIMS, whisper_checkpoint
from talkinghead import AnimateConfig, Cancelled, CancelToken, Engine
from talkinghead.audio.decode import load_audio
from talkinghead.cli import main
from talkinghead.dubbing.latentsync import loading
from talkinghead.dubbing.latentsync.whisper import WhisperDims, WhisperEncoder

SECONDS = 0.8  # 20 output frames: two clips (16 + 4)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """1.2 s of the bundled portrait talking (30 frames), and 0.8 s of new speech."""
    folder = tmp_path_factory.mktemp("media")
    video = write_clip(folder / "source.mp4", rendered_frames(known_motion(30)), audio=tone(1.2))
    samples = load_audio(SPEECH, max_duration=None).samples
    speech = write_wav(folder / "speech.wav", samples[: int(SECONDS * 16000)] * 32767)
    return video, speech


def _dub(clip, out, weights_dir, *extra):
    video, speech = clip
    return main(["dub", str(video), str(speech), "-o", str(out), "--backend", "latentsync", "--weights", str(weights_dir),
                 "--steps", "2", "--device", "cpu", "--resolution", "64", "--no-score", "--json", "--quiet", *extra])  # fmt: skip


def test_dub_redraws_the_lower_face_and_keeps_the_rest(clip, weights_dir, tmp_path, capsys):
    out = tmp_path / "dubbed.mp4"
    assert _dub(clip, out, weights_dir, "--crf", "0") == 0
    result = json.loads(capsys.readouterr().out)
    assert result["frames"] == round(SECONDS * FPS) and result["meta"]["backend"] == "latentsync"
    assert result["device"] == "cpu (float32)" and result["size"] == [256, 256]
    before = np.stack([f.rgb() for f in decoded(clip[0])[: result["frames"]]]).astype(np.int16)
    after = np.stack([f.rgb() for f in decoded(out)]).astype(np.int16)
    assert after.shape == before.shape
    # The miniature model draws noise-like faces: the mouth region changes a lot, the corners of
    # the frame (outside the pasted crop) not at all, the eyes (kept by the mask) hardly.
    change = np.abs(after - before).mean(axis=(0, 3))
    assert change[170:200, 100:156].mean() > 10
    assert change[:20, :20].max() < 1.5 and change[:20, -20:].max() < 1.5
    assert change[95:115, 80:176].mean() < change[170:200, 100:156].mean() / 4


def test_progress_counts_denoising_steps_and_cancel_stops_within_one(clip, weights_dir, tmp_path):
    config = AnimateConfig.from_options(backend="latentsync", weights=weights_dir, steps=2, device="cpu", resolution=64, score=False)
    seen, cancel = [], CancelToken()

    def progress(done, total, unit):
        seen.append((done, total, unit))
        if unit == "step" and done == 1:
            cancel.cancel()

    out = tmp_path / "cancelled.mp4"
    with pytest.raises(Cancelled):
        Engine().dub(clip[0], clip[1], out, config, progress=progress, cancel=cancel)
    steps = [s for s in seen if s[2] == "step"]
    assert steps == [(1, 4, "step")]  # 2 clips × 2 steps; stopped at the next step's check
    assert not out.exists()


@pytest.mark.parametrize("args, message", [
    (["--lip-weight", "0.5"], "--lip-weight is not used by dub --backend latentsync"),
    (["--transcript", "hello"], "--transcript is not used by dub --backend latentsync"),
    (["--cache-interval", "0"], "--cache-interval 0 is out of range"),
    (["--resolution", "100"], "--resolution 100 must be a multiple of 64"),
])  # fmt: skip
def test_options_latentsync_does_not_honour_are_refused(clip, weights_dir, tmp_path, capsys, args, message):
    assert _dub(clip, tmp_path / "out.mp4", weights_dir, *args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and not (tmp_path / "out.mp4").exists()


def test_warp_refuses_latentsync_options_and_names_are_checked(clip, tmp_path, capsys):
    video, speech = clip
    assert main(["dub", str(video), str(speech), "-o", str(tmp_path / "a.mp4"), "--guidance", "2"]) == 2
    assert "--guidance is not used by dub --backend warp" in capsys.readouterr().err
    assert main(["dub", str(video), str(speech), "-o", str(tmp_path / "b.mp4"), "--backend", "hallo", "--weights", str(tmp_path)]) == 2
    assert "is not a dub backend" in capsys.readouterr().err
    assert main(["dub", str(video), str(speech), "-o", str(tmp_path / "c.mp4"), "--backend", "latentsync"]) == 2
    assert "needs --weights DIR" in capsys.readouterr().err


def _broken_folder(tmp_path, weights_dir, change):
    import shutil

    folder = tmp_path / "checkpoints"
    shutil.copytree(weights_dir, folder)
    change(folder)
    return folder


def _wider_conv_in(folder):
    data = torch.load(folder / loading.UNET, weights_only=True)
    data["state_dict"]["conv_in.weight"] = torch.zeros(32, 9, 3, 3)  # an SD inpainting UNet's 9 channels
    torch.save(data, folder / loading.UNET)


def _whisper_base(folder):
    dims = {**MINI_DIMS, "n_audio_state": 512, "n_text_state": 512, "n_audio_head": 8, "n_text_head": 8}
    encoder = WhisperEncoder(WhisperDims(**{k: v for k, v in dims.items() if k in WhisperDims.__dataclass_fields__}))
    torch.save(whisper_checkpoint(dims, encoder), folder / loading.WHISPER)


@pytest.mark.parametrize("change, message", [
    (lambda f: (f / loading.WHISPER).unlink(), "lacks whisper/tiny.pt"),
    (lambda f: (f / "sd-vae-ft-mse" / "diffusion_pytorch_model.safetensors").unlink(), "lacks sd-vae-ft-mse/diffusion_pytorch_model.safetensors or"),
    (_wider_conv_in, "1 keys of another shape (e.g. conv_in.weight: [32, 9, 3, 3] where [32, 13, 3, 3] is needed)"),
    (lambda f: torch.save({"state_dict": {}}, f / loading.UNET), "holds no LatentSync UNet"),
    (lambda f: torch.save({"weights": 1}, f / loading.UNET), "has no 'state_dict' dict"),
    (_whisper_base, "is a Whisper 512 wide"),
])  # fmt: skip
def test_bad_weights_folders_give_one_line_errors(clip, weights_dir, tmp_path, capsys, change, message):
    folder = _broken_folder(tmp_path, weights_dir, change)
    assert _dub(clip, tmp_path / "out.mp4", folder) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "out.mp4").exists()
