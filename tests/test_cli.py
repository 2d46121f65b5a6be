"""The `talkinghead` command: exit codes, one-line errors, no partial output, inputs untouched."""

from __future__ import annotations

import hashlib
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from media import PORTRAIT, SPEECH, write_wav

from talkinghead import __version__
from talkinghead.cli import main


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def inputs(tmp_path):
    """Copies of the sample portrait and speech, so the test can check they stay untouched."""
    image, audio = tmp_path / "photo.png", tmp_path / "speech.wav"
    shutil.copy(PORTRAIT, image)
    shutil.copy(SPEECH, audio)
    return image, audio


def run(args: list[str], capsys) -> tuple[int, str]:
    code = main([str(a) for a in args])
    return code, capsys.readouterr().err


def _write_png(path: Path, image: np.ndarray) -> Path:
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return path


def _bad_image(tmp_path: Path, kind: str) -> Path:
    if kind == "missing":
        return tmp_path / "nope.jpg"
    if kind == "text":
        path = tmp_path / "notes.jpg"
        path.write_text("this is not a photo\n")
        return path
    if kind == "truncated":
        path = tmp_path / "cut.png"
        path.write_bytes(PORTRAIT.read_bytes()[:30000])
        return path
    if kind == "no face":
        return _write_png(tmp_path / "wall.png", np.full((400, 600, 3), (120, 140, 160), np.uint8))
    if kind == "tiny face":
        small = cv2.resize(cv2.imread(str(PORTRAIT)), (256, 256), interpolation=cv2.INTER_AREA)
        path = tmp_path / "tiny.png"
        cv2.imwrite(str(path), small)
        return path
    raise ValueError(kind)


@pytest.mark.parametrize(
    "kind, words",
    [
        ("missing", "does not exist"),
        ("text", "not an image"),
        ("truncated", "truncated"),
        ("no face", "no face"),
        ("tiny face", "px across"),
    ],
)
def test_bad_image(kind, words, tmp_path, inputs, capsys):
    _, audio = inputs
    image = _bad_image(tmp_path, kind)
    before = _digest(audio)
    code, err = run(["animate", image, audio, "-o", tmp_path / "out.mp4"], capsys)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("talkinghead: error:") and words in err, err
    assert "Traceback" not in err
    assert not (tmp_path / "out.mp4").exists()
    assert not list(tmp_path.glob(".out*"))  # no hidden partial file either
    assert _digest(audio) == before


def _bad_audio(tmp_path: Path, kind: str) -> Path:
    if kind == "missing":
        return tmp_path / "nope.wav"
    path = tmp_path / f"{kind.replace(' ', '_')}.wav"
    if kind == "corrupt":
        path.write_bytes(b"RIFF" + np.random.default_rng(0).bytes(5000))
    elif kind == "zero bytes":
        path.write_bytes(b"")
    elif kind == "no samples":
        header = SPEECH.read_bytes()[:44]  # a WAV header announcing data, then none
        path.write_bytes(header)
    return path


@pytest.mark.parametrize(
    "kind, words",
    [("missing", "does not exist"), ("corrupt", "not an audio file"), ("zero bytes", "empty"), ("no samples", "no sound")],
)
def test_bad_audio(kind, words, tmp_path, inputs, capsys):
    image, _ = inputs
    audio = _bad_audio(tmp_path, kind)
    before = _digest(image)
    code, err = run(["animate", image, audio, "-o", tmp_path / "out.mp4"], capsys)
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("talkinghead: error:") and words in err, err
    assert not (tmp_path / "out.mp4").exists()
    assert _digest(image) == before


def test_audio_longer_than_the_limit(tmp_path, inputs, capsys):
    image, audio = inputs
    code, err = run(["animate", image, audio, "-o", tmp_path / "out.mp4", "--max-duration", "5"], capsys)
    assert code == 2 and "--max-duration" in err and not (tmp_path / "out.mp4").exists()


def test_output_folder_missing(tmp_path, inputs, capsys):
    image, audio = inputs
    code, err = run(["animate", image, audio, "-o", tmp_path / "no" / "such" / "out.mp4"], capsys)
    assert code == 2 and "does not exist" in err


def test_output_equal_to_an_input(tmp_path, inputs, capsys):
    image, audio = inputs
    before = _digest(audio)
    code, err = run(["animate", image, audio, "-o", audio], capsys)
    assert code == 2 and "is the input" in err
    assert _digest(audio) == before


def test_a_good_run_exits_zero_and_says_what_it_did(tmp_path, inputs, capsys):
    image, _ = inputs
    short = write_wav(tmp_path / "short.wav", np.zeros(16000, np.int16))
    code, err = run(["animate", image, short, "-o", tmp_path / "out.mp4", "--quiet"], capsys)
    assert code == 0 and err == ""
    assert (tmp_path / "out.mp4").stat().st_size > 0
    code, err = run(["animate", image, short, "-o", tmp_path / "out2.mp4"], capsys)
    assert code == 0 and "warp renderer" in err and "wrote" in err


def test_version_and_help_from_the_installed_command():
    done = subprocess.run([sys.executable, "-m", "talkinghead.cli", "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == f"talkinghead {__version__}"
    done = subprocess.run([sys.executable, "-m", "talkinghead.cli", "animate", "--help"], capture_output=True, text=True)
    assert done.returncode == 0
    for flag in ("--lip-weight", "--expression-weight", "--pose-weight", "--seed", "--fps", "--size", "--face-index", "--frames-dir", "--max-duration"):
        assert flag in done.stdout


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["animate", "only-one-arg.png"])
    assert stop.value.code == 2


@pytest.mark.parametrize("flag, value", [("--lip-weight", "-1"), ("--pose-weight", "2.5"), ("--fps", "0"), ("--size", "255"), ("--crf", "60")])
def test_options_out_of_range(flag, value, tmp_path, inputs, capsys):
    image, audio = inputs
    code, err = run(["animate", image, audio, "-o", tmp_path / "out.mp4", flag, value], capsys)
    assert code == 2 and flag in err and err.count("\n") == 1
    assert not (tmp_path / "out.mp4").exists()


def test_ctrl_c_leaves_no_partial_file(tmp_path, inputs):
    image, audio = inputs
    long_audio = write_wav(tmp_path / "long.wav", np.random.default_rng(0).normal(0, 3000, 16000 * 120).astype(np.int16))
    out = tmp_path / "out.mp4"
    process = subprocess.Popen(
        [sys.executable, "-m", "talkinghead.cli", "animate", str(image), str(long_audio), "-o", str(out)],
        stderr=subprocess.PIPE, text=True,
    )
    # Wait until frames are being written (the hidden partial file exists), then interrupt.
    deadline = time.time() + 120
    while not list(tmp_path.glob(".out*")) and time.time() < deadline and process.poll() is None:
        time.sleep(0.1)
    assert process.poll() is None, process.stderr.read()
    process.send_signal(signal.SIGINT)
    err = process.communicate(timeout=60)[1]
    assert process.returncode == 130 and "interrupted" in err and "Traceback" not in err
    assert not out.exists() and not list(tmp_path.glob(".out*"))
