from __future__ import annotations

import numpy as np
import pytest
from scipy.io import wavfile

from media import colour_bars, peak_frequency, sine, state_flac_length
from talkinghead.audio.decode import load_audio
from talkinghead.errors import AudioError
from talkinghead.types import ANALYSIS_RATE


def _check_sine(clip, *, seconds: float = 1.0, tolerance: float = 0.03) -> None:
    """16 kHz mono float32 of the right length that still sounds like the 440 Hz sine."""
    assert clip.rate == ANALYSIS_RATE and clip.samples.dtype == np.float32 and clip.samples.ndim == 1
    assert abs(clip.duration - seconds) <= tolerance
    assert abs(peak_frequency(clip.samples, clip.rate) - 440) < 3
    assert np.abs(clip.samples).max() <= 1.0


# --- files -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, rate, channels, codec",
    [
        ("speech.wav", 8_000, 1, []),
        ("speech.wav", 44_100, 2, []),
        ("speech.wav", 16_000, 1, ["-c:a", "pcm_f32le"]),
        ("speech.mp3", 44_100, 2, []),
        ("speech.m4a", 48_000, 1, []),
        ("speech.flac", 22_050, 1, []),
        ("speech.ogg", 44_100, 2, ["-c:a", "libvorbis"]),
        ("speech.opus", 48_000, 1, []),
    ],
)
def test_formats(media, name, rate, channels, codec):
    # mp3 and aac pad their first frame: a few tens of milliseconds are allowed
    path = media(name, *sine(rate=rate, channels=channels), *codec)
    clip = load_audio(path, max_duration=None)
    _check_sine(clip, tolerance=0.06)
    assert clip.source == path and clip.original is None


def test_audio_track_of_a_video(media):
    clip = load_audio(media("talk.mp4", *colour_bars(), *sine(), "-c:v", "libx264", "-pix_fmt", "yuv420p"), max_duration=None)
    _check_sine(clip, tolerance=0.06)


def test_stereo_is_averaged_not_clipped(media):
    clip = load_audio(media("loud.wav", *sine(rate=44_100, channels=2, amplitude=0.9)), max_duration=None)
    assert 0.88 < np.abs(clip.samples).max() <= 0.91  # ffmpeg's default down-mix would reach 1.27


def test_silence_is_valid(media):
    clip = load_audio(media("silence.wav", "-f", "lavfi", "-i", "anullsrc=r=44100:cl=stereo", "-t", "0.5"), max_duration=None)
    assert abs(clip.duration - 0.5) < 0.01 and not clip.samples.any()


def test_within_the_limit(media):
    assert load_audio(media("a.wav", *sine(seconds=2)), max_duration=2.5).duration == pytest.approx(2.0)
    assert load_audio(media("b.wav", *sine(seconds=2)), max_duration=None).duration == pytest.approx(2.0)


# --- arrays ----------------------------------------------------------------------------------


def _wave(rate: int, seconds: float = 1.0) -> np.ndarray:
    return 0.5 * np.sin(2 * np.pi * 440 * np.arange(round(rate * seconds)) / rate)


@pytest.mark.parametrize(
    "samples",
    [
        (_wave(16_000) * 32767).astype(np.int16),
        (_wave(16_000) * 2**31).astype(np.int32),
        (_wave(16_000) * 127 + 128).astype(np.uint8),
        _wave(16_000).astype(np.float32),
        _wave(16_000),
    ],
    ids=lambda samples: str(samples.dtype),
)
def test_array_dtypes(samples):
    before = samples.copy()
    clip = load_audio((samples, 16_000), max_duration=None)
    _check_sine(clip, tolerance=0.001)
    assert 0.48 < np.abs(clip.samples).max() < 0.52  # each dtype's full scale maps to 1.0
    assert clip.source is None and clip.original_rate == 16_000
    assert clip.original.dtype == np.float32 and clip.original.shape == (len(samples), 1)
    np.testing.assert_array_equal(samples, before)


@pytest.mark.parametrize("rate", [8_000, 22_050, 44_100, 48_000])
def test_array_is_resampled(rate):
    stereo = np.stack([_wave(rate), _wave(rate)], axis=1).astype(np.float32)
    clip = load_audio((stereo, rate), max_duration=None)
    _check_sine(clip, tolerance=0.001)
    assert clip.original.shape == (rate, 2) and clip.original_rate == rate
    np.testing.assert_array_equal(clip.original, stereo)
    assert not np.shares_memory(clip.original, stereo)


def test_float_beyond_full_scale_is_scaled_down():
    clip = load_audio(((_wave(16_000) * 32767).astype(np.float32), 16_000), max_duration=None)
    assert np.abs(clip.samples).max() == pytest.approx(1.0) and np.abs(clip.original).max() == pytest.approx(1.0)


# --- errors ----------------------------------------------------------------------------------


def _error(source, **options) -> str:
    with pytest.raises(AudioError) as caught:
        load_audio(source, **{"max_duration": None, **options})
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_missing_file(tmp_path):
    assert "does not exist" in _error(tmp_path / "speech.wav")


def test_directory(tmp_path):
    assert "folder" in _error(tmp_path)


def test_text_file(tmp_path):
    (tmp_path / "speech.wav").write_text("not audio\n" * 50)
    message = _error(tmp_path / "speech.wav")
    assert message.startswith("speech.wav is damaged or not an audio file ffmpeg can read: give a WAV")


def test_corrupt_file(tmp_path, media):
    path = media("speech.flac", *sine())
    path.write_bytes(path.read_bytes()[:30])  # header only, cut short
    assert _error(path).startswith("speech.flac is damaged")


def test_silent_video(media):
    path = media("silent.mp4", *colour_bars(), "-c:v", "libx264", "-pix_fmt", "yuv420p")
    assert _error(path).startswith("silent.mp4 has no audio track (it holds only video or an image)")


def test_empty_wav(tmp_path):
    wavfile.write(tmp_path / "empty.wav", 16_000, np.zeros(0, np.int16))
    assert "no sound" in _error(tmp_path / "empty.wav")


def test_too_long_fails_before_decoding(media):
    # A 1-second file whose header says 3 hours: the stated length alone must reject it.
    path = state_flac_length(media("speech.flac", *sine(rate=16_000)), 3 * 3600 * 16_000)
    assert _error(path, max_duration=600.0) == "speech.flac lasts 3:00:00; the limit is 10:00 (--max-duration)"


def test_too_long_without_a_stated_length(media):
    path = state_flac_length(media("speech.flac", *sine(rate=16_000, seconds=3)), 0)
    assert _error(path, max_duration=1.0) == "speech.flac lasts more than 0:01; the limit is 0:01 (--max-duration)"


def test_too_long_array():
    assert "lasts 0:03; the limit is 0:02" in _error((np.zeros(48_000, np.float32), 16_000), max_duration=2.0)


@pytest.mark.parametrize(
    "samples, rate, words",
    [
        (np.zeros((2, 16_000), np.float32), 16_000, "transpose"),
        (np.zeros((10, 10, 2), np.float32), 16_000, "(10, 10, 2)"),
        (np.zeros(0, np.float32), 16_000, "empty"),
        (np.zeros(100, np.float32), 0, "sample rate 0"),
        (np.zeros(100, np.float32), -8000, "sample rate -8000"),
        (np.zeros(100, np.float32), 44_100.5, "sample rate 44100.5"),
        (np.full(100, np.nan, np.float32), 16_000, "NaN"),
        (np.full(100, np.inf), 16_000, "NaN or infinite"),
        (np.zeros(100, np.uint16), 16_000, "uint16"),
        (np.zeros(100, np.complex64), 16_000, "complex64"),
    ],
)
def test_bad_arrays(samples, rate, words):
    assert words in _error((samples, rate))


# --- the player's clock: start times and edit lists ------------------------------------------


def _first_sound(clip, threshold: float = 0.05) -> float:
    """Seconds until the first sample louder than `threshold`."""
    return float(np.flatnonzero(np.abs(clip.samples) > threshold)[0]) / clip.rate


def test_a_late_audio_stream_starts_with_silence(tmp_path, media):
    """-itsoffset 0.5 on the sound: a player plays 0.5 s of silence first, so does the decoder."""
    tone = media("tone.wav", *sine(seconds=1.0))
    path = media("late.mp4", *colour_bars(seconds=1.5), "-itsoffset", "0.5", "-i", str(tone),
                 "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-pix_fmt", "yuv420p")
    clip = load_audio(path, max_duration=None)
    assert 0.45 < _first_sound(clip) < 0.52 and not clip.samples[: int(0.4 * ANALYSIS_RATE)].any()
    assert abs(clip.duration - 1.5) < 0.08
    assert abs(peak_frequency(clip.samples[8000:], clip.rate) - 440) < 3


def test_an_audio_file_starts_when_it_starts(media, tmp_path):
    """A recording that states a start time of its own is not padded: the player's clock starts with it."""
    tone = media("tone.wav", *sine(seconds=1.0))
    path = media("offset.mkv", "-itsoffset", "0.3", "-i", str(tone), "-c:a", "flac")
    clip = load_audio(path, max_duration=None)
    assert _first_sound(clip) < 0.01 and abs(clip.duration - 1.0) < 0.01


def test_the_video_delay_is_cut_for_eval(media):
    from talkinghead.audio.decode import from_first_frame
    from talkinghead.video.ffmpeg import probe_media

    tone = media("tone.wav", *sine(seconds=1.0))
    path = media("late_picture.mkv", "-itsoffset", "0.4", *colour_bars(seconds=1.0), "-i", str(tone),
                 "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "flac")
    info = probe_media(path)
    assert abs(info.video_delay - 0.4) < 0.01 and info.audio_delay == 0
    clip = from_first_frame(load_audio(path, max_duration=None), info)
    assert abs(clip.duration - 0.6) < 0.03  # the sound from the first frame on


@pytest.mark.parametrize("channels, words", [(12, "12 audio channels"), (16, "16 audio channels"), (0, "0 audio channels")])
def test_channel_counts_beyond_a_recording(tmp_path, channels, words):
    import struct

    block = max(1, channels) * 2
    fmt = struct.pack("<HHIIHH", 1, channels, 16_000, 16_000 * block, block, 16)
    data = bytes(block * 160)
    body = b"WAVEfmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", len(data)) + data
    (tmp_path / "many.wav").write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    assert words in _error(tmp_path / "many.wav")


def test_eight_channels_are_mixed_down(media):
    clip = load_audio(media("surround.wav", *sine(channels=8, seconds=0.5)), max_duration=None)
    assert abs(peak_frequency(clip.samples, clip.rate) - 440) < 3


def test_a_pipe_is_refused(tmp_path):
    import os

    os.mkfifo(tmp_path / "speech.wav")
    assert "not a regular file" in _error(tmp_path / "speech.wav")
