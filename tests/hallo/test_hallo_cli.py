"""`talkinghead animate --backend hallo` end to end on a miniature release folder: the same
front end as the warp renderer (any photo size, paste-back, one-line errors)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from media import PORTRAIT, write_wav

from talkinghead.cli import main
from talkinghead.image import load_image
from talkinghead.video.ffmpeg import probe_media
from talkinghead.video.reader import read_frames



@pytest.fixture
def short_speech(tmp_path) -> Path:
    samples = 0.2 * np.sin(2 * np.pi * 220 * np.arange(9600) / 16000) * 32767  # 0.6 s
    return write_wav(tmp_path / "speech.wav", samples)


def test_hallo_backend_animates_the_whole_photo_with_paste_back(weights_dir, short_speech, tmp_path, capsys):
    out = tmp_path / "hallo.mp4"
    code = main(["animate", str(PORTRAIT), str(short_speech), "-o", str(out), "--backend", "hallo",
                 "--weights", str(weights_dir), "--steps", "2", "--render-size", "64", "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "hallo renderer on cpu" in err
    info = probe_media(out)
    assert (info.width, info.height) == (512, 512) and info.has_audio
    assert abs(info.duration - 0.6) <= 1 / 25
    frames = list(read_frames(out))
    photo = load_image(PORTRAIT)
    assert len(frames) == 15
    # Away from the face crop the frames are the photo (encoder noise only)...
    assert all(np.abs(f[:60, 400:].astype(int) - photo[:60, 400:]).mean() < 3 for f in frames)
    # ...and on the face they are the (random-weight) model's.
    assert np.abs(frames[-1][100:160, 190:260].astype(int) - photo[100:160, 190:260]).mean() > 5


def test_hallo_backend_square_output(weights_dir, short_speech, tmp_path, capsys):
    out = tmp_path / "square.mp4"
    code = main(["animate", str(PORTRAIT), str(short_speech), "-o", str(out), "--backend", "hallo", "--weights",
                 str(weights_dir), "--steps", "1", "--render-size", "64", "--size", "128", "--quiet"])
    assert code == 0, capsys.readouterr().err
    assert (probe_media(out).width, probe_media(out).height) == (128, 128)


def test_hallo_backend_errors_are_one_line(tmp_path, short_speech, capsys):
    code = main(["animate", str(PORTRAIT), str(short_speech), "-o", str(tmp_path / "x.mp4"), "--backend", "hallo"])
    err = capsys.readouterr().err
    assert code == 2 and "--weights" in err and err.count("\n") == 1
    code = main(["animate", str(PORTRAIT), str(short_speech), "-o", str(tmp_path / "x.mp4"), "--backend", "hallo", "--weights", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "hallo/net.pth" in err and err.count("\n") == 1 and not (tmp_path / "x.mp4").exists()
