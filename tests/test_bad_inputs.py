"""The bad-input corpus: every path a user gives in or out is handled as ffmpeg would.

Each refused case is built from scratch in its own folder and run through the command; it must
exit 2 (the input's fault), print exactly one line on stderr that says what is wrong and what
to do, no traceback, nothing on stdout, and leave the folder exactly as it was: no output, no
partial file, every input byte-identical, nothing else touched. The valid odd cases (one
sample of audio, silence, /dev/null, a FIFO, `-`, links, unicode names) assert what they make.
Most run in-process through `talkinghead.cli.main`; a few run as real processes.
"""

from __future__ import annotations

import hashlib
import json
import os
import pty
import re
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from bad_inputs import (
    SUBTITLES,
    SVG,
    animated_gif,
    fifo,
    gif_stating,
    iso_media,
    motion_csv,
    motion_document,
    motion_json,
    png_of,
    png_stating,
    portrait,
    portrait_as,
    random_bytes,
    tone,
    unix_socket,
    wav_stating,
    with_bad_crc,
    write,
)
from media import PORTRAIT, SPEECH, colour_bars, make_media, sine, write_wav

from talkinghead.cli import main
from talkinghead.types import LIP_CHANNELS
from talkinghead.video.ffmpeg import probe_media

ROOT = Path(__file__).resolve().parents[1]
PREFIX = "talkinghead: error: "
NO_SCORE = "--no-score"  # the lip-sync scorer is not what these cases test


# --- what a folder holds, and the checks every refused case passes ----------------------------


def snapshot(folder: Path) -> dict[str, tuple]:
    """Every entry under `folder` (links not followed): kind, and content hash and mode of files."""
    entries = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(root) / name
            info = path.lstat()
            key = str(path.relative_to(folder))
            if stat.S_ISLNK(info.st_mode):
                entries[key] = ("link", os.readlink(path))
            elif stat.S_ISREG(info.st_mode):
                entries[key] = ("file", hashlib.sha256(path.read_bytes()).hexdigest(), stat.S_IMODE(info.st_mode))
            else:
                entries[key] = (stat.S_IFMT(info.st_mode),)
    return entries


def run_in_process(argv: list, capfd) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `talkinghead ARGV`, run in this process."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as stop:  # argparse's usage errors
        code = stop.code
    out, err = capfd.readouterr()
    return code, out, err


def visible_lines(err: str) -> list[str]:
    """The lines of `err` a terminal shows at the end: a progress bar redrawn with carriage
    returns and cleared (tqdm's leave=False) leaves nothing."""
    lines = (line.rsplit("\r", 1)[-1].rstrip() for line in err.split("\n"))
    return [line for line in lines if line]


def assert_one_line(err: str, words: str) -> str:
    """The message of the single error line on stderr; it names `words` and says what to do."""
    assert "Traceback" not in err, err
    lines = visible_lines(err)
    assert len(lines) == 1 and err.endswith("\n"), f"expected one line on stderr, got:\n{err!r}"
    assert lines[0].startswith(PREFIX), lines[0]
    message = lines[0][len(PREFIX) :]
    assert words in message, message
    assert re.search(r"[:;] \S", message), f"no 'what to do' part in: {message}"
    return message


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[Path], list]  # makes the inputs in the (current) folder, returns the command line
    words: str  # what the error line must say


def _animate(image, audio, *extra, output="out.mp4") -> list:
    return ["animate", image, audio, "-o", output, NO_SCORE, *extra]


def _img(data: bytes | Callable[[Path], Path], name: str) -> Callable[[Path], list]:
    """A case whose photo is `data` (bytes, or a builder) and whose speech is fine."""

    def build(d: Path) -> list:
        image = data(d / name) if callable(data) else write(d / name, data)
        return _animate(image, tone(d))

    return build


def _aud(data: bytes | Callable[[Path], Path], name: str, *extra) -> Callable[[Path], list]:
    """A case whose speech is `data` and whose photo is fine."""

    def build(d: Path) -> list:
        audio = data(d / name) if callable(data) else write(d / name, data)
        return _animate(portrait(d), audio, *extra)

    return build


def _out(make_output: Callable[[Path], object], command: str = "animate") -> Callable[[Path], list]:
    """A case whose output is whatever `make_output(folder)` makes (and returns)."""

    def build(d: Path) -> list:
        output = make_output(d)
        if command == "motion":
            return ["motion", tone(d), "-o", output]
        if command == "eval":
            return ["eval", _clip(d), "-o", output]
        return _animate(portrait(d), tone(d), output=output)

    return build


def _track(data: bytes, name: str) -> Callable[[Path], list]:
    def build(d: Path) -> list:
        return _animate(portrait(d), tone(d), "--motion", write(d / name, data))

    return build


def _motion_with(changes: dict) -> bytes:
    document = motion_document()
    document.update(changes)
    return motion_json(document)


def _channel_row(value) -> list[list]:
    return [[0, 0.0, value], [1, 0.04, 0.0]]


def _folder(d: Path, name: str) -> str:
    (d / name).mkdir()
    return name


def _link(d: Path, name: str, target: str) -> str:
    os.symlink(target, d / name)
    return name


def _hard_link_to_speech(d: Path) -> str:
    os.link(d / "speech.wav", d / "alias.mp4")
    return "alias.mp4"


def _under_a_file(d: Path) -> str:
    write(d / "notes.txt", b"notes\n")
    return "notes.txt/out.mp4"


def _block_device(d: Path) -> str:
    try:
        os.mknod(d / "disk", 0o600 | stat.S_IFBLK, os.makedev(7, 0))  # a loop device's number
    except (PermissionError, OSError):
        pytest.skip("cannot make a device node here")
    return "disk"


def _eval_args(video_data: bytes, name: str = "clip.mp4") -> Callable[[Path], list]:
    def build(d: Path) -> list:
        return ["eval", write(d / name, video_data), "-o", "report.json"]

    return build


def _clip(d: Path) -> Path:
    """A 0.2 s video of colour bars with a tone: readable, with sound, and no face."""
    return make_media(d / "clip.mp4", *colour_bars(seconds=0.2), *sine(seconds=0.2))


def _eval_with(d_extra: Callable[[Path], list]) -> Callable[[Path], list]:
    def build(d: Path) -> list:
        clip = _clip(d)
        return ["eval", clip, "-o", "report.json", *d_extra(d)]

    return build


def _has_heif() -> bool:
    try:
        import pillow_heif  # noqa: F401
    except ImportError:
        return False
    return True


def _truncated(data: bytes, keep: float) -> bytes:
    return data[: int(len(data) * keep)]


REFUSED = [
    # --- the photo -----------------------------------------------------------------------------
    Case("image missing", lambda d: _animate("phto.png", tone(d)), "does not exist"),
    Case("image 0 bytes", _img(b"", "photo.png"), "empty (0 bytes)"),
    Case("image PNG cut in half", _img(lambda p: write(p, _truncated(PORTRAIT.read_bytes(), 0.5)), "photo.png"), "damaged or truncated"),
    Case("image JPEG cut at 30 %", _img(lambda p: write(p, _truncated(portrait_as("JPEG"), 0.3)), "photo.jpg"), "damaged or truncated"),
    Case("image PNG with a flipped byte", _img(lambda p: write(p, with_bad_crc(PORTRAIT.read_bytes())), "photo.png"), "damaged or truncated"),
    Case("image PNG signature then random bytes", _img(b"\x89PNG\r\n\x1a\n" + random_bytes(4000), "photo.png"), "photo.png"),
    Case("image JPEG markers then random bytes", _img(b"\xff\xd8\xff\xe0" + random_bytes(4000, 1), "photo.jpg"), "photo.jpg"),
    Case("image random bytes", _img(random_bytes(4000, 2), "photo.jpg"), "is not an image file"),
    Case("image text named .png", _img(b"a photo of me, honest\n" * 30, "photo.png"), "looks like text"),
    Case("image a WAV named .jpg", lambda d: _animate(write(d / "photo.jpg", wav_stating()), tone(d)), "is not an image file"),
    Case("image PNG stating 30000x30000", _img(png_stating(30_000, 30_000), "bomb.png"), "--max-pixels"),
    Case("image PNG stating 13000x13000", _img(png_stating(13_000, 13_000), "big.png"), "13000x13000 pixels"),
    Case("image GIF stating 65535x65535", _img(gif_stating(65_535, 65_535), "bomb.gif"), "--max-pixels"),
    Case("image over --max-pixels", lambda d: _animate(portrait(d), tone(d), "--max-pixels", "100000"), "512x512 pixels"),
    Case("image 1x1", _img(png_stating(1, 1), "dot.png"), "dot.png is 1x1 pixels; a face needs at least 64 px"),
    Case("image 2000x1 strip", _img(lambda p: write(p, png_of(2000, 1)), "strip.png"), "strip.png is 2000x1 pixels; a face needs at least 64 px"),
    Case("image SVG", _img(SVG, "drawing.svg"), "convert it to PNG"),
    Case("image SVG named .png", _img(SVG, "drawing.png"), "SVG"),
    Case("image HEIC", _img(iso_media(b"heic"), "phone.heic"), "HEIC" if not _has_heif() else "damaged"),
    Case("image AVIF that is damaged", _img(iso_media(b"avif"), "photo.avif"), "damaged"),
    Case("image a folder", lambda d: _animate(_folder(d, "photos"), tone(d)), "is a folder"),
    Case("image a FIFO", _img(fifo, "photo.png"), "not a regular file"),
    Case("image with no face", _img(lambda p: write(p, png_of(400, 300, (120, 140, 160))), "wall.png"), "no face"),
    # --- the speech ----------------------------------------------------------------------------
    Case("audio missing", lambda d: _animate(portrait(d), "speach.wav"), "does not exist"),
    Case("audio 0 bytes", _aud(b"", "speech.wav"), "empty (0 bytes)"),
    Case("audio RIFF then random bytes", _aud(b"RIFF" + random_bytes(5000, 3), "speech.wav"), "not an audio file"),
    Case("audio header and no samples", _aud(wav_stating(frames=0), "speech.wav"), "no sound (0 samples)"),
    Case("audio sample rate 0", _aud(wav_stating(rate=0), "speech.wav"), "speech.wav"),
    Case("audio sample rate 2^31-1", _aud(wav_stating(rate=2**31 - 1), "speech.wav"), "sample rate"),
    Case("audio 0 channels", _aud(wav_stating(channels=0), "speech.wav"), "0 audio channels"),
    Case("audio 12 channels", _aud(wav_stating(channels=12), "speech.wav"), "12 audio channels"),
    Case("audio 16 channels", _aud(wav_stating(channels=16), "speech.wav"), "16 audio channels"),
    Case("audio 0 bits per sample", _aud(wav_stating(bits=0), "speech.wav"), "audio format ffmpeg does not know"),
    Case("audio text named .mp3", _aud(b"la la la\n" * 100, "speech.mp3"), "not an audio file"),
    Case("audio a photo", lambda d: _animate(portrait(d), portrait(d, "speech.png")), "no audio track"),
    Case("audio subtitles only", _aud(SUBTITLES, "speech.srt"), "no audio track"),
    Case("audio a silent video", lambda d: _animate(portrait(d), make_media(d / "silent.mp4", *colour_bars(seconds=0.2))), "no audio track"),
    Case("audio a folder", lambda d: _animate(portrait(d), _folder(d, "takes")), "is a folder"),
    Case("audio a FIFO", _aud(fifo, "speech.wav"), "not a regular file"),
    Case("audio longer than --max-duration", lambda d: _animate(portrait(d), tone(d, seconds=2.0), "--max-duration", "1"), "lasts 0:02; the limit is 0:01 (--max-duration)"),
    # --- the output ----------------------------------------------------------------------------
    Case("output a folder", _out(lambda d: _folder(d, "videos")), "is a folder"),
    Case("output folder missing", _out(lambda d: "no/such/out.mp4"), "does not exist"),
    Case("output under a file", _out(_under_a_file), "is not a folder"),
    Case("output is the photo", lambda d: _animate(portrait(d), tone(d), output="photo.png"), "is the input"),
    Case("output is the motion track", lambda d: _animate(portrait(d), tone(d), "--motion", write(d / "track.json", motion_json(motion_document())), output="track.json"), "is the input track.json"),
    Case("motion output is the transcript", lambda d: ["motion", tone(d), "-o", write(d / "words.csv", b"hello there\n"), "--transcript", "words.csv"], "is the input words.csv"),
    Case("output a hard link to the speech", lambda d: _animate(portrait(d), tone(d), output=_hard_link_to_speech(d)), "is the input"),
    Case("output a dangling symlink", _out(lambda d: _link(d, "latest.mp4", "gone/out.mp4")), "does not exist"),
    Case("output a symlink loop", _out(lambda d: _link(d, "loop.mp4", "loop.mp4")), "leads back to itself"),
    Case("output a socket", _out(lambda d: unix_socket(Path("out.sock"))), "is a socket"),
    Case("output a block device", _out(_block_device), "block device"),
    # --- options that name files ---------------------------------------------------------------
    Case("transcript a missing file", lambda d: _animate(portrait(d), tone(d), "--transcript", "script.txt"), "no such file"),
    Case("transcript a missing file with a space", lambda d: _animate(portrait(d), tone(d), "--transcript", "takes/take 2.txt"), "no such file"),
    Case("transcript an empty file", lambda d: _animate(portrait(d), tone(d), "--transcript", write(d / "words.txt", b"\n \n")), "is empty"),
    Case("transcript not UTF-8", lambda d: _animate(portrait(d), tone(d), "--transcript", write(d / "words.txt", "Grüße aus Köln".encode("latin-1"))), "not UTF-8"),
    Case("transcript an empty string", lambda d: _animate(portrait(d), tone(d), "--transcript", ""), "is empty"),
    Case("motion track missing", lambda d: _animate(portrait(d), tone(d), "--motion", "track.json"), "does not exist"),
    Case("motion track not JSON", _track(b"{'fps': 25,", "track.json"), "not a usable motion track"),
    Case("motion track a JSON list", _track(b"[1, 2, 3]", "track.json"), "format"),
    Case("motion track with NaN", _track(_motion_with({"lip": [[float("nan")] * len(LIP_CHANNELS)] * 5}), "track.json"), "NaN"),
    Case("motion track with fps 0", _track(_motion_with({"fps": 0}), "track.json"), "fps is 0"),
    Case("motion track with fps -25", _track(_motion_with({"fps": -25}), "track.json"), "fps is -25"),
    Case("motion track with a renamed channel", _track(_motion_with({"channels": {**motion_document()["channels"], "lip": ["jaw_opn", *LIP_CHANNELS[1:]]}}), "track.json"), "jaw_opn"),
    Case("motion CSV with a misspelt column", _track(motion_csv(["frame", "time", "jaw_opn"], _channel_row(0.5)), "track.csv"), "did you mean 'jaw_open'"),
    Case("motion CSV with inf", _track(motion_csv(["frame", "time", "jaw_open"], _channel_row("inf")), "track.csv"), "infinite"),
    Case("motion CSV with one time twice", _track(motion_csv(["frame", "time", "jaw_open"], [[0, 0.0, 0.1], [1, 0.0, 0.2]]), "track.csv"), "do not increase"),
    Case("motion CSV cut mid-row", _track(motion_csv(["frame", "time", "jaw_open"], [[0, 0.0, 0.1], [1, 0.04]]), "track.csv"), "line 3"),
    Case("motion CSV random bytes", _track(random_bytes(3000, 4), "track.csv"), "track.csv"),
    Case("option --max-pixels out of range", lambda d: _animate(portrait(d), tone(d), "--max-pixels", "5"), "--max-pixels 5 is out of range"),
    # --- motion --------------------------------------------------------------------------------
    Case("motion output named .txt", _out(lambda d: "track.txt", "motion"), "name the file .json or .csv"),
    Case("motion output a folder", _out(lambda d: _folder(d, "tracks"), "motion"), "is a folder"),
    Case("motion speech of random bytes", lambda d: ["motion", write(d / "speech.ogg", b"OggS" + random_bytes(3000, 5)), "-o", "track.json"], "speech.ogg"),
    Case("motion transcript a missing file", lambda d: ["motion", tone(d), "-o", "track.json", "--transcript", "../script.srt"], "no such file"),
    # --- eval ----------------------------------------------------------------------------------
    Case("eval video missing", lambda d: ["eval", "talkng.mp4", "-o", "report.json"], "does not exist"),
    Case("eval random bytes", _eval_args(random_bytes(6000, 6)), "damaged or not a video"),
    Case("eval MP4 cut to its first 600 bytes", lambda d: ["eval", write(d / "cut.mp4", make_media(d / "whole.mp4", *colour_bars(seconds=0.5)).read_bytes()[:600]), "-o", "report.json"], "cut.mp4"),
    Case("eval a WAV as the video", lambda d: ["eval", tone(d), "-o", "report.json"], "no video stream"),
    Case("eval report to /dev/null", _out(lambda d: "/dev/null", "eval"), "give a file name"),
    Case("eval report to -", _out(lambda d: "-", "eval"), "standard output"),
    Case("eval report a folder", _out(lambda d: _folder(d, "reports"), "eval"), "is a folder"),
    Case("eval --audio missing", _eval_with(lambda d: ["--audio", "speach.wav"]), "does not exist"),
    Case("eval --reference 1x1", _eval_with(lambda d: ["--reference", write(d / "dot.png", png_stating(1, 1))]), "no face found in the reference photo"),
    Case("eval a video with no face", lambda d: ["eval", _clip(d), "-o", "report.json"], "no face"),
]


@pytest.mark.parametrize("case", REFUSED, ids=[case.name for case in REFUSED])
def test_refused(case: Case, tmp_path, monkeypatch, capfd):
    monkeypatch.chdir(tmp_path)
    argv = case.build(tmp_path)
    capfd.readouterr()  # whatever building printed
    before = snapshot(tmp_path)
    code, out, err = run_in_process(argv, capfd)
    assert code == 2, err
    message = assert_one_line(err, case.words)
    if os.environ.get("BAD_INPUT_MESSAGES"):  # a file to collect every message in, for review
        with open(os.environ["BAD_INPUT_MESSAGES"], "a") as log:
            log.write(f"{case.name:42} {message}\n")
    assert out == ""
    assert snapshot(tmp_path) == before  # no output, no partial file, every input as it was


def test_the_corpus_is_large_enough():
    assert len(REFUSED) >= 40


# --- valid odd inputs: the sensible result -----------------------------------------------------


def _playable(data_or_path: bytes | Path, tmp_path: Path):
    """MediaInfo of an MP4 with a video and a sound stream."""
    path = data_or_path if isinstance(data_or_path, Path) else tmp_path / "received.mp4"
    if not isinstance(data_or_path, Path):
        path.write_bytes(data_or_path)
    info = probe_media(path)
    assert info.has_video and info.has_audio and info.video_codec == "h264", info
    return info


def test_one_sample_of_audio_makes_a_one_frame_video(tmp_path, monkeypatch, capfd):
    monkeypatch.chdir(tmp_path)
    audio = write_wav(tmp_path / "click.wav", np.array([1000], np.int16))
    code, out, err = run_in_process(_animate(portrait(tmp_path), audio), capfd)
    assert code == 0, err
    _playable(tmp_path / "out.mp4", tmp_path)
    assert "1 frames" in err and out == ""


def test_silence_only_is_animated_with_a_still_mouth(tmp_path, monkeypatch, capfd):
    monkeypatch.chdir(tmp_path)
    audio = write_wav(tmp_path / "silence.wav", np.zeros(16_000, np.int16))
    code, out, err = run_in_process(_animate(portrait(tmp_path), audio, "--size", "128"), capfd)
    assert code == 0, err
    info = _playable(tmp_path / "out.mp4", tmp_path)
    assert (info.width, info.height) == (128, 128)


def test_a_long_silence_gives_a_motion_track(tmp_path, monkeypatch, capfd):
    monkeypatch.chdir(tmp_path)
    audio = write_wav(tmp_path / "silence.wav", np.zeros(16_000 * 60, np.int16))
    code, _, err = run_in_process(["motion", audio, "-o", "track.json"], capfd)
    assert code == 0, err
    document = json.loads((tmp_path / "track.json").read_text())
    assert document["frames"] == 1500 and not np.any(document["lip"])


def test_unicode_spaces_and_a_wrong_extension(tmp_path, monkeypatch, capfd):
    """A PNG named .jpg in a folder and file names with accents, spaces and an emoji."""
    folder = tmp_path / "mes vidéos 🎬"
    folder.mkdir()
    image = write(folder / "portrait de Zoë.jpg", PORTRAIT.read_bytes())
    audio = write_wav(folder / "voix enregistrée.wav", np.array([0, 1000], np.int16))
    code, _, err = run_in_process(_animate(image, audio, output=folder / "Zoë parle.mp4"), capfd)
    assert code == 0, err
    _playable(folder / "Zoë parle.mp4", tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == ["Zoë parle.mp4", "portrait de Zoë.jpg", "voix enregistrée.wav"]


def test_an_animation_gives_its_first_frame_with_a_warning(tmp_path, monkeypatch, capfd):
    monkeypatch.chdir(tmp_path)
    image = write(tmp_path / "wave.gif", animated_gif())
    audio = write_wav(tmp_path / "click.wav", np.array([1000], np.int16))
    code, _, err = run_in_process(_animate(image, audio), capfd)
    assert code == 0, err
    assert "wave.gif holds 3 frames" in err and "animating the first" in err
    _playable(tmp_path / "out.mp4", tmp_path)


def test_dev_null_is_written_into_not_replaced(tmp_path, capfd):
    before = os.stat("/dev/null")
    audio = write_wav(tmp_path / "click.wav", np.array([1000], np.int16))
    code, _, err = run_in_process(_animate(portrait(tmp_path), audio, output="/dev/null"), capfd)
    assert code == 0, err
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev and after.st_ino == before.st_ino
    assert not list(Path("/dev").glob(".null.partial*"))
    code, _, err = run_in_process(["motion", audio, "-o", "/dev/null"], capfd)
    assert code == 0 and stat.S_ISCHR(os.stat("/dev/null").st_mode), err


def _read_fifo(path: Path) -> tuple[threading.Thread, list[bytes]]:
    received: list[bytes] = []

    def read() -> None:
        with open(path, "rb") as pipe:  # blocks until the writer opens it
            received.append(pipe.read())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    return reader, received


def test_a_fifo_receives_a_playable_mp4(tmp_path, monkeypatch, capfd):
    monkeypatch.chdir(tmp_path)
    pipe = fifo(tmp_path / "player.mp4")
    reader, received = _read_fifo(pipe)
    code, _, err = run_in_process(_animate(portrait(tmp_path), tone(tmp_path, seconds=0.2), output=pipe), capfd)
    reader.join(timeout=30)
    assert code == 0, err
    assert stat.S_ISFIFO(pipe.lstat().st_mode)  # still a pipe, not replaced by a file
    info = _playable(received[0], tmp_path)
    assert (info.width, info.height) == (512, 512)
    assert info.video_start == pytest.approx(info.audio_start, abs=0.001)  # picture and sound start together


def test_a_fifo_receives_a_motion_track(tmp_path, monkeypatch, capfd):
    monkeypatch.chdir(tmp_path)
    pipe = fifo(tmp_path / "rig.csv")
    reader, received = _read_fifo(pipe)
    code, _, err = run_in_process(["motion", tone(tmp_path), "-o", pipe], capfd)
    reader.join(timeout=30)
    assert code == 0, err
    header = received[0].decode().splitlines()[0].split(",")
    assert header[:3] == ["frame", "time", "jaw_open"] and "jawOpen" in header


def test_dash_writes_the_video_to_stdout(tmp_path, monkeypatch, capfdbinary):
    monkeypatch.chdir(tmp_path)
    argv = _animate(portrait(tmp_path), tone(tmp_path, seconds=0.3), output="-")
    before = snapshot(tmp_path)
    code = main([str(a) for a in argv])
    out, err = capfdbinary.readouterr()
    assert code == 0, err
    assert snapshot(tmp_path) == before  # no file named "-", nothing beside it
    assert out[4:8] == b"ftyp"  # the MP4 itself, and nothing else, on stdout
    _playable(out, tmp_path)
    assert b"talkinghead:" in err and b"talkinghead:" not in out


def test_dash_writes_the_track_to_stdout(tmp_path, monkeypatch, capfd):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_in_process(["motion", tone(tmp_path), "-o", "-"], capfd)
    assert code == 0, err
    assert json.loads(out)["format"] == "talkinghead.motion"
    assert not (tmp_path / "-").exists()


def test_a_symlink_is_followed_and_its_target_replaced(tmp_path, monkeypatch, capfd):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "renders").mkdir()
    target = write(tmp_path / "renders" / "v1.mp4", b"yesterday's video")
    target.chmod(0o640)
    os.symlink("renders/v1.mp4", tmp_path / "latest.mp4")
    photo = tmp_path / "photo link.png"
    os.symlink(portrait(tmp_path), photo)  # an input through a link, too
    audio = write_wav(tmp_path / "click.wav", np.array([1000], np.int16))
    code, _, err = run_in_process(_animate(photo, audio, output="latest.mp4"), capfd)
    assert code == 0, err
    assert os.readlink(tmp_path / "latest.mp4") == "renders/v1.mp4"  # the link stays a link
    _playable(target, tmp_path)
    assert stat.S_IMODE(target.stat().st_mode) == 0o640  # the replaced file keeps its permissions
    assert sorted(p.name for p in (tmp_path / "renders").iterdir()) == ["v1.mp4"]  # no partial left


def test_an_existing_output_survives_a_failed_run(tmp_path, monkeypatch, capfd):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "out.mp4", b"yesterday's video")
    argv = _animate(portrait(tmp_path), write(tmp_path / "speech.wav", b"RIFF" + random_bytes(100)))
    before = snapshot(tmp_path)
    code, _, err = run_in_process(argv, capfd)
    assert code == 2 and snapshot(tmp_path) == before, err


def test_a_transcript_that_cannot_be_aligned_falls_back_to_recognition(tmp_path, monkeypatch, capfd):
    """Words that are not what is said: the whole clip is recognised instead, with a warning."""
    monkeypatch.chdir(tmp_path)
    speech = write(tmp_path / "speech.wav", SPEECH.read_bytes())
    words = write(tmp_path / "words.txt", "Zyxwv qqq, ### 1234!".encode())
    code, _, err = run_in_process(["motion", speech, "-o", "aligned.json", "--transcript", words], capfd)
    assert code == 0, err
    assert "forced alignment failed for" in err and "using phone recognition there" in err
    code, _, err = run_in_process(["motion", speech, "-o", "recognized.json"], capfd)
    assert code == 0, err
    aligned, recognized = (json.loads((tmp_path / name).read_text()) for name in ("aligned.json", "recognized.json"))
    np.testing.assert_allclose(aligned["lip"], recognized["lip"], atol=1e-4)  # the same mouth as without a transcript


# --- real processes: exit codes and no traceback end to end ------------------------------------


def _env() -> dict[str, str]:
    """The worktree's package first, whatever is installed: subprocesses test this code."""
    paths = [str(ROOT / "src"), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "OMP_NUM_THREADS": "1"}


def _talkinghead(*args, **options) -> subprocess.CompletedProcess:
    streams = {} if "stdout" in options else {"capture_output": True}
    return subprocess.run([sys.executable, "-m", "talkinghead.cli", *map(str, args)], env=_env(), timeout=120, **streams, **options)


def test_subprocesses_import_this_worktree():
    where = "import importlib.util; print(importlib.util.find_spec('talkinghead').origin)"
    done = subprocess.run([sys.executable, "-c", where], env=_env(), capture_output=True, text=True)
    assert Path(done.stdout.strip()).resolve().is_relative_to(ROOT / "src")


def test_a_decompression_bomb_ends_in_one_line_from_a_real_process(tmp_path):
    bomb, audio = write(tmp_path / "bomb.png", png_stating(30_000, 30_000)), tone(tmp_path)
    before = snapshot(tmp_path)
    done = _talkinghead("animate", bomb, audio, "-o", tmp_path / "out.mp4", text=True)
    assert done.returncode == 2
    assert_one_line(done.stderr, "900 MP, more than the limit of 150 MP (--max-pixels)")
    assert done.stdout == ""
    assert snapshot(tmp_path) == before


def test_bad_track_and_bad_video_end_in_one_line_from_real_processes(tmp_path):
    done = _talkinghead("motion", tone(tmp_path), "-o", tmp_path / "track.yaml", text=True)
    assert done.returncode == 2 and assert_one_line(done.stderr, ".json or .csv")
    done = _talkinghead("eval", write(tmp_path / "v.mp4", random_bytes(5000)), "-o", tmp_path / "r.json", text=True)
    assert done.returncode == 2 and assert_one_line(done.stderr, "v.mp4")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["speech.wav", "v.mp4"]


def test_dash_from_a_real_process_is_a_playable_mp4(tmp_path):
    done = _talkinghead("animate", portrait(tmp_path), tone(tmp_path, seconds=0.3), "-o", "-", NO_SCORE, cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    assert b"Traceback" not in done.stderr
    _playable(done.stdout, tmp_path)


def test_dash_to_a_terminal_is_refused(tmp_path):
    controller, terminal = pty.openpty()
    try:
        done = _talkinghead("motion", tone(tmp_path), "-o", "-", stdout=terminal, stderr=subprocess.PIPE, text=True)
    finally:
        os.close(terminal)
        os.close(controller)
    assert done.returncode == 2 and assert_one_line(done.stderr, "is a terminal")


# --- errors in long runs: disk full, ffmpeg killed ------------------------------------------------

_FILE_SIZE_LIMIT = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # inherited by ffmpeg: a write past the limit fails (EFBIG)
resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
from talkinghead.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _noise(folder: Path, seconds: float) -> Path:
    return write_wav(folder / "speech.wav", np.random.default_rng(0).normal(0, 3000, int(16_000 * seconds)).astype(np.int16))


def test_a_full_disk_leaves_the_old_video_and_no_partial(tmp_path):
    """A file-size limit stops ffmpeg 60 kB into the video (~130 kB), as a full disk would.

    Python starts ffmpeg with SIGXFSZ at its default (subprocess' restore_signals), so the
    limit kills it rather than failing its write: the message names the signal.
    """
    image, audio = portrait(tmp_path), _noise(tmp_path, 4.0)
    output = write(tmp_path / "out.mp4", b"yesterday's video")
    before = snapshot(tmp_path)
    script = _FILE_SIZE_LIMIT.format(limit=60_000)
    done = subprocess.run(
        [sys.executable, "-c", script, "-q", "animate", str(image), str(audio), "-o", str(output), NO_SCORE],
        env=_env(), capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 1, done.stderr
    message = assert_one_line(done.stderr, "File size limit exceeded")
    assert message.startswith("ffmpeg could not write out.mp4")
    assert snapshot(tmp_path) == before  # the old video untouched, no partial file


def test_a_full_disk_for_a_motion_track(tmp_path):
    """Python writes the track itself: past the limit its write fails with EFBIG."""
    audio = write_wav(tmp_path / "speech.wav", np.zeros(16_000 * 60, np.int16))  # its JSON track is ~ 1 MB
    before = snapshot(tmp_path)
    script = _FILE_SIZE_LIMIT.format(limit=100_000)
    done = subprocess.run(
        [sys.executable, "-c", script, "-q", "motion", str(audio), "-o", str(tmp_path / "track.json")],
        env=_env(), capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert_one_line(done.stderr, "File too large")
    assert snapshot(tmp_path) == before


def _mount_tmpfs(folder: Path, size: str) -> bool:
    folder.mkdir()
    if os.geteuid() != 0:
        return False
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True)
    return done.returncode == 0


def test_a_really_full_disk(tmp_path, capfd):
    """Where a small tmpfs can be mounted (root): No space left on device, nothing left behind."""
    small = tmp_path / "small"
    if not _mount_tmpfs(small, "120k"):
        pytest.skip("cannot mount a tmpfs here")
    try:
        image, audio = portrait(tmp_path), _noise(tmp_path, 4.0)
        code, _, err = run_in_process(["-q", "animate", image, audio, "-o", small / "out.mp4", NO_SCORE], capfd)
        assert code == 1, err
        assert_one_line(err, "No space left on device")
        assert os.listdir(small) == []
    finally:
        subprocess.run(["umount", str(small)], check=False)


def _children(pid: int) -> list[tuple[int, str]]:
    """(pid, command name) of the processes whose parent is `pid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                name = (entry / "comm").read_text().strip()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append((int(entry.name), name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to find ffmpeg")
def test_ffmpeg_killed_mid_run(tmp_path):
    image, audio = portrait(tmp_path), _noise(tmp_path, 60.0)
    output = tmp_path / "out.mp4"
    process = subprocess.Popen(
        [sys.executable, "-m", "talkinghead.cli", "-q", "animate", str(image), str(audio), "-o", str(output), NO_SCORE],
        env=_env(), stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 90
        encoders: list[int] = []
        while not encoders and time.monotonic() < deadline and process.poll() is None:
            if list(tmp_path.glob(".out.partial*")):  # frames are being encoded
                encoders = [pid for pid, name in _children(process.pid) if name.startswith("ffmpeg")]
            time.sleep(0.05)
        assert encoders, "ffmpeg never started"
        os.kill(encoders[0], signal.SIGKILL)
        err = process.communicate(timeout=60)[1]
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 1, err
    assert_one_line(err, "SIGKILL")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.png", "speech.wav"]
