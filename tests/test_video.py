from __future__ import annotations

import os
import re
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from media import colour_bars, peak_frequency, sine
from talkinghead.audio.decode import load_audio
from talkinghead.errors import OutputError, TalkingHeadError
from talkinghead.types import AudioClip
from talkinghead.video.ffmpeg import probe_media
from talkinghead.video.reader import read_frames
from talkinghead.video.writer import VideoWriter, check_output_path

SIZE = (64, 48)  # width, height
COLOURS = [(220, 30, 30), (30, 200, 40), (20, 40, 230), (240, 240, 240), (10, 10, 10), (200, 180, 20)]


def _frames(count: int) -> list[np.ndarray]:
    """Frames of big flat colour blocks, a different arrangement each frame."""
    width, height = SIZE
    frames = []
    for index in range(count):
        frame = np.empty((height, width, 3), np.uint8)
        frame[:, : width // 2] = COLOURS[index % len(COLOURS)]
        frame[:, width // 2 :] = COLOURS[(index + 3) % len(COLOURS)]
        frames.append(frame)
    return frames


def _write(path, frames, **options):
    with VideoWriter(path, size=SIZE, **{"fps": 25, "crf": 18, **options}) as video:
        for frame in frames:
            video.write(frame)


def _leftovers(folder) -> list[str]:
    return sorted(name for name in os.listdir(folder) if "partial" in name)


def _wait_for(condition, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


# --- probing ---------------------------------------------------------------------------------


def test_probe_video_with_sound(media):
    path = media("clip.mp4", *colour_bars(fps=30), *sine(rate=22_050, channels=2), "-pix_fmt", "yuv420p")
    info = probe_media(path)
    assert (info.width, info.height, info.fps, info.video_codec, info.pix_fmt) == (64, 48, 30.0, "h264", "yuv420p")
    assert (info.has_audio, info.audio_codec, info.audio_rate, info.audio_channels) == (True, "aac", 22_050, 2)
    assert info.has_video and info.duration == pytest.approx(1.0, abs=0.05)


def test_probe_audio_only(media):
    info = probe_media(media("a.mp3", *sine(rate=44_100)))
    assert not info.has_video and info.width is None and info.audio_codec == "mp3" and info.audio_channels == 1


def test_cover_picture_is_not_video(media):
    cover = media("cover.png", *colour_bars(seconds=0.04), "-frames:v", "1")
    song = media("song.mp3", *sine(), "-i", str(cover), "-map", "0", "-map", "1", "-disposition:v", "attached_pic")
    info = probe_media(song)
    assert info.has_audio and not info.has_video


def test_phone_rotation_gives_the_display_size(media):
    landscape = media("raw.mp4", *colour_bars())
    upright = media("phone.mp4", "-display_rotation", "90", "-i", str(landscape), "-c", "copy")
    info = probe_media(upright)
    assert (info.width, info.height) == (48, 64)
    assert next(read_frames(upright)).shape == (64, 48, 3)


def test_probe_unreadable(tmp_path):
    (tmp_path / "notes.mp4").write_text("hello\n")
    with pytest.raises(TalkingHeadError, match=r"ffmpeg cannot read notes\.mp4"):
        probe_media(tmp_path / "notes.mp4")


# --- writing ---------------------------------------------------------------------------------


@pytest.fixture
def speech(media) -> AudioClip:
    return load_audio(media("speech.wav", *sine(rate=44_100, seconds=1.3)), max_duration=None)


def test_video_lasts_as_long_as_the_audio(tmp_path, speech):
    frames = _frames(speech.frame_count(25))
    _write(tmp_path / "talk.mp4", frames, fps=25, audio=speech)
    info = probe_media(tmp_path / "talk.mp4")
    assert abs(info.duration - speech.duration) <= 1 / 25
    assert (info.width, info.height) == SIZE and info.fps == 25
    assert (info.video_codec, info.pix_fmt, info.audio_codec) == ("h264", "yuv420p", "aac")
    assert len(list(read_frames(tmp_path / "talk.mp4"))) == len(frames)
    data = (tmp_path / "talk.mp4").read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")  # faststart: playable while downloading
    assert _leftovers(tmp_path) == []


def test_muxed_sound_is_the_source(tmp_path, media):
    # The source file's own audio goes in (here from a video's audio track), not the 16 kHz copy.
    source = media("interview.mkv", *colour_bars(), *sine(rate=48_000, channels=2), "-c:v", "libx264")
    clip = load_audio(source, max_duration=None)
    _write(tmp_path / "talk.mp4", _frames(clip.frame_count(25)), audio=clip)
    info = probe_media(tmp_path / "talk.mp4")
    assert (info.audio_rate, info.audio_channels) == (48_000, 2)
    assert peak_frequency(load_audio(tmp_path / "talk.mp4", max_duration=None).samples, 16_000) == pytest.approx(440, abs=3)


def test_array_audio_is_muxed_from_a_temporary_wav(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # to see the WAV go away
    rate = 22_050
    samples = (0.5 * np.sin(2 * np.pi * 440 * np.arange(rate) / rate)).astype(np.float32)
    clip = load_audio((samples, rate), max_duration=None)
    _write(tmp_path / "talk.mp4", _frames(clip.frame_count(25)), audio=clip)
    assert probe_media(tmp_path / "talk.mp4").audio_rate == rate
    assert peak_frequency(load_audio(tmp_path / "talk.mp4", max_duration=None).samples, 16_000) == pytest.approx(440, abs=3)
    assert [path.name for path in tmp_path.iterdir()] == ["talk.mp4"]


def test_frames_round_trip(tmp_path):
    frames = _frames(6)
    _write(tmp_path / "still.mp4", frames, crf=18)
    back = list(read_frames(tmp_path / "still.mp4"))
    assert len(back) == len(frames)
    for written, read in zip(frames, back, strict=True):
        assert read.shape == written.shape and read.dtype == np.uint8
        assert np.abs(read.astype(int) - written).mean() < 3
    assert probe_media(tmp_path / "still.mp4").has_audio is False


def test_frames_dir_holds_the_frames(tmp_path):
    frames = _frames(3)
    _write(tmp_path / "v.mp4", frames, frames_dir=tmp_path / "frames" / "new")
    names = sorted(os.listdir(tmp_path / "frames" / "new"))
    assert names == ["frame_000001.png", "frame_000002.png", "frame_000003.png"]
    for frame, name in zip(frames, names, strict=True):
        np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "frames" / "new" / name)), frame)


def test_read_frames_rescales(tmp_path):
    _write(tmp_path / "v.mp4", _frames(2))
    frames = list(read_frames(tmp_path / "v.mp4", size=(32, 24)))
    assert len(frames) == 2 and frames[0].shape == (24, 32, 3) and frames[0].flags.writeable


def test_read_frames_stopped_early(tmp_path):
    _write(tmp_path / "v.mp4", _frames(6))
    frames = read_frames(tmp_path / "v.mp4")
    assert next(frames).shape == (48, 64, 3)
    frames.close()  # ffmpeg is stopped, not left running


def test_read_frames_without_video(media):
    with pytest.raises(TalkingHeadError, match="no video stream"):
        next(read_frames(media("a.wav", *sine())))


# --- nothing half-written --------------------------------------------------------------------


@pytest.mark.parametrize("interruption", [RuntimeError("renderer crashed"), KeyboardInterrupt()])
def test_no_partial_file_after_an_exception(tmp_path, speech, interruption):
    output = tmp_path / "talk.mp4"
    output.write_bytes(b"yesterday's video")
    with pytest.raises(type(interruption)), VideoWriter(output, size=SIZE, fps=25, crf=18, audio=speech) as video:
        for frame in _frames(30):
            video.write(frame)
        # ffmpeg has started the file beside the output by now; it must not survive.
        assert _wait_for(lambda: [re.sub(r"-\w{6}", "", name) for name in _leftovers(tmp_path)] == [".talk.partial.mp4"])
        raise interruption
    assert output.read_bytes() == b"yesterday's video"
    assert _leftovers(tmp_path) == []


def test_ffmpeg_failure_is_reported_and_cleaned_up(tmp_path):
    broken = AudioClip(np.zeros(16_000, np.float32), source=tmp_path / "deleted.wav")
    with pytest.raises(TalkingHeadError, match=r"ffmpeg could not write talk\.mp4: .*No such file"):
        _write(tmp_path / "talk.mp4", _frames(2), audio=broken)
    assert os.listdir(tmp_path) == []


def test_close_and_abort_without_with(tmp_path):
    video = VideoWriter(tmp_path / "kept.mp4", size=SIZE, fps=25, crf=18)
    video.write(_frames(1)[0])
    assert video.close() == tmp_path / "kept.mp4" and (tmp_path / "kept.mp4").exists()
    dropped = VideoWriter(tmp_path / "dropped.mp4", size=SIZE, fps=25, crf=18)
    dropped.write(_frames(1)[0])
    dropped.abort()
    assert sorted(os.listdir(tmp_path)) == ["kept.mp4"]


def test_a_video_needs_frames(tmp_path):
    with pytest.raises(ValueError, match="no frames"):
        _write(tmp_path / "empty.mp4", [])
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    "frame",
    [np.zeros((48, 64, 3), np.float32), np.zeros((64, 48, 3), np.uint8), np.zeros((48, 64), np.uint8)],
)
def test_wrong_frames_are_refused(tmp_path, frame):
    with pytest.raises(ValueError, match=r"takes \(48, 64, 3\) uint8 RGB"):
        _write(tmp_path / "v.mp4", [frame])
    assert os.listdir(tmp_path) == []


def test_odd_size_is_refused(tmp_path):
    with pytest.raises(ValueError, match="even"):
        VideoWriter(tmp_path / "v.mp4", size=(63, 48), fps=25, crf=18)


# --- output path -----------------------------------------------------------------------------


def _output_error(output, **options) -> str:
    with pytest.raises(OutputError) as caught:
        check_output_path(output, **options)
    assert "\n" not in str(caught.value)
    return str(caught.value)


def test_output_path_ok(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert check_output_path("out.mp4", inputs=["photo.png"]) == tmp_path / "out.mp4"


def test_output_folder_missing(tmp_path):
    assert "does not exist" in _output_error(tmp_path / "nope" / "out.mp4")


def test_output_is_a_folder(tmp_path):
    assert "is a folder" in _output_error(tmp_path)


def test_output_is_an_input(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "speech.mp4").write_bytes(b"x")
    os.link(tmp_path / "speech.mp4", tmp_path / "alias.mp4")
    assert "is the input" in _output_error("speech.mp4", inputs=["photo.png", tmp_path / "speech.mp4"])
    assert "is the input" in _output_error("alias.mp4", inputs=["speech.mp4"])  # same file, other name


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root may write anywhere")
def test_output_folder_not_writable(tmp_path):
    (tmp_path / "locked").mkdir(mode=0o555)
    assert "permission denied" in _output_error(tmp_path / "locked" / "out.mp4")


# --- outputs that are not new files ------------------------------------------------------------


def test_streams_are_returned_as_given(tmp_path):
    from talkinghead.output import STDOUT, is_stream

    os.mkfifo(tmp_path / "pipe.mp4")
    assert check_output_path("-") == STDOUT and is_stream(STDOUT)
    assert check_output_path("/dev/null") == Path("/dev/null") and is_stream("/dev/null")
    assert check_output_path(tmp_path / "pipe.mp4") == tmp_path / "pipe.mp4" and is_stream(tmp_path / "pipe.mp4")
    assert not is_stream(tmp_path / "new.mp4")


def test_a_symlink_resolves_to_its_target(tmp_path):
    (tmp_path / "real.mp4").write_bytes(b"old")
    os.symlink("real.mp4", tmp_path / "link.mp4")
    assert check_output_path(tmp_path / "link.mp4") == tmp_path / "real.mp4"
    os.symlink("gone.mp4", tmp_path / "dangling.mp4")
    assert "does not exist" in _output_error(tmp_path / "dangling.mp4")


@pytest.mark.parametrize("output", ["-", "/dev/null"])
def test_commands_that_write_beside_their_output_refuse_streams(output):
    assert "give a file name" in _output_error(output, streams=False)


def test_the_video_streams_into_a_fifo(tmp_path):
    import threading

    os.mkfifo(tmp_path / "pipe.mp4")
    received = []
    reader = threading.Thread(target=lambda: received.append((tmp_path / "pipe.mp4").read_bytes()))
    reader.start()
    _write(tmp_path / "pipe.mp4", _frames(10), fps=25)
    reader.join(timeout=30)
    (tmp_path / "got.mp4").write_bytes(received[0])
    assert len(list(read_frames(tmp_path / "got.mp4"))) == 10
    assert sorted(os.listdir(tmp_path)) == ["got.mp4", "pipe.mp4"]


def test_a_replaced_video_keeps_its_permissions(tmp_path):
    (tmp_path / "talk.mp4").write_bytes(b"old")
    (tmp_path / "talk.mp4").chmod(0o600)
    _write(tmp_path / "talk.mp4", _frames(2))
    assert (tmp_path / "talk.mp4").stat().st_mode & 0o777 == 0o600 and len(list(read_frames(tmp_path / "talk.mp4"))) == 2


def test_an_atomic_text_output_appears_whole_or_not_at_all(tmp_path):
    from talkinghead.output import atomic_output

    (tmp_path / "track.json").write_text("yesterday")
    with pytest.raises(RuntimeError), atomic_output(tmp_path / "track.json") as file:
        file.write("half of it")
        raise RuntimeError("stopped")
    assert os.listdir(tmp_path) == ["track.json"] and (tmp_path / "track.json").read_text() == "yesterday"
    with atomic_output(tmp_path / "track.json") as file:
        file.write("today")
    assert os.listdir(tmp_path) == ["track.json"] and (tmp_path / "track.json").read_text() == "today"


def test_ffmpeg_killed_from_outside_is_named(tmp_path):
    import signal

    video = VideoWriter(tmp_path / "talk.mp4", size=SIZE, fps=25, crf=18)
    video.write(_frames(1)[0])
    os.kill(video._process.pid, signal.SIGKILL)
    with pytest.raises(TalkingHeadError, match=r"ffmpeg could not write talk\.mp4: ffmpeg was stopped by SIGKILL") as caught:
        for frame in _frames(200):  # the pipe breaks at the first write after the kill
            video.write(frame)
        video.close()
    assert caught.value.exit_code == 1 and os.listdir(tmp_path) == []


def test_the_writer_itself_never_replaces_a_device_or_a_link(tmp_path):
    """Without check_output_path: a link's target is written, a non-file is refused."""
    (tmp_path / "real.mp4").write_bytes(b"old")
    os.symlink("real.mp4", tmp_path / "link.mp4")
    _write(tmp_path / "link.mp4", _frames(2))
    assert os.path.islink(tmp_path / "link.mp4") and len(list(read_frames(tmp_path / "real.mp4"))) == 2
    os.mkdir(tmp_path / "folder.mp4")
    with pytest.raises(OutputError, match="not replaced"):
        VideoWriter(tmp_path / "folder.mp4", size=SIZE, fps=25, crf=18)
    assert sorted(os.listdir(tmp_path)) == ["folder.mp4", "link.mp4", "real.mp4"]
