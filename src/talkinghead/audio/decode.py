"""Speech in: any file ffmpeg reads, or a (samples, rate) array, as 16 kHz mono float32.

Samples sit where a player plays them: a stream that starts after the file's start (a
container start time, an edit list, `-itsoffset`) begins with that much silence. Refused with
one line: no audio stream (only video, subtitles or data), a sample rate of 0 or beyond any
recorder's, no channels or more than MAX_CHANNELS, no samples at all. Silence, however long
(within the duration limit), is valid speech: the face then stays still.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

from ..errors import AudioError, MediaInputError
from ..types import ANALYSIS_RATE, AudioClip
from ..video.ffmpeg import MediaInfo, last_line, probe_media, run_ffmpeg

FORMATS_HINT = "give a WAV, MP3, M4A, FLAC or OGG recording, or a video with sound"
MAX_CHANNELS = 8  # 7.1: more is a multitrack session, not a recording of one voice
RATES = (1_000, 768_000)  # Hz: lowest and highest sample rates accepted from a file


def load_audio(
    source: str | os.PathLike | tuple[np.ndarray, int],
    *,
    max_duration: float | None,
) -> AudioClip:
    """Decode speech to mono float32 samples in [-1, 1] at ANALYSIS_RATE (16 kHz).

    `source` is a file (any format ffmpeg reads, also a video's first audio track; kept as
    `AudioClip.source` so the video gets the original sound) or `(samples, rate)` with samples
    (N,) or (N, channels) of int16, int32, uint8 or float (kept as `AudioClip.original`).
    Longer than `max_duration` seconds -> AudioError; None means no limit.
    """
    if isinstance(source, tuple):
        return _from_array(*source, max_duration=max_duration)
    return _from_file(Path(source), max_duration=max_duration)


def _from_file(path: Path, *, max_duration: float | None) -> AudioClip:
    if path.is_dir():
        raise AudioError(f"{path} is a folder, not a recording: {FORMATS_HINT}")
    if not path.exists():
        raise AudioError(f"{path} does not exist: check the path of the speech recording")
    if not path.is_file():
        raise AudioError(f"{path} is not a regular file (a device or a pipe, read more than once): save the recording to a file and give that")
    if path.stat().st_size == 0:
        raise AudioError(f"{path.name} is empty (0 bytes): {FORMATS_HINT}")
    try:
        info = probe_media(path)
    except MediaInputError:
        raise AudioError(f"{path.name} is damaged or not an audio file ffmpeg can read: {FORMATS_HINT}") from None
    if not info.has_audio:
        held = "only video or an image" if info.has_video else "no audio stream"
        raise AudioError(f"{path.name} has no audio track (it holds {held}): {FORMATS_HINT}")
    _check_stream(info, path.name)
    # The container's stated length lets a 3-hour file fail before it is decoded.
    if info.duration is not None:
        _check_duration(info.duration, max_duration, path.name)
    # Where the container does not say, decoding stops one second past the limit: enough to tell.
    limit = [] if max_duration is None else ["-t", f"{max_duration + 1.0:.3f}"]
    # first_pts 0: a stream that starts late is padded with silence from the file's start, as a
    # player plays it. rematrix_maxval 1: the down-mix averages the channels; ffmpeg's default
    # adds them at -3 dB each, which takes a loud stereo recording past full scale.
    resample = ["-af", "aresample=first_pts=0:rematrix_maxval=1.0", "-rematrix_maxval", "1.0"]
    args = ["-i", str(path), "-map", "0:a:0", *limit, *resample, "-ac", "1", "-ar", str(ANALYSIS_RATE)]
    decoded = run_ffmpeg([*args, "-f", "f32le", "pipe:1"])
    if decoded.returncode != 0:
        raise AudioError(f"{path.name} cannot be decoded ({last_line(decoded.stderr)}): {FORMATS_HINT}")
    samples = np.frombuffer(decoded.stdout, np.float32)
    if samples.size == 0:
        raise AudioError(f"{path.name} holds no sound (0 samples): give a recording of the speech")
    _check_duration(samples.size / ANALYSIS_RATE, max_duration, path.name, at_least=True)
    return AudioClip(_full_scale(samples), ANALYSIS_RATE, source=path)


def from_first_frame(clip: AudioClip, info: MediaInfo) -> AudioClip:
    """A video's own sound (`clip`, from load_audio) cut to start with its first frame.

    load_audio puts the samples on the player's clock, which starts with the file; a video
    stream that starts late shows its first frame `info.video_delay` seconds into that clock,
    and frame i of the decoded video belongs with the sound from there on.
    """
    skip = round(info.video_delay * clip.rate)
    if skip <= 0:
        return clip
    return AudioClip(clip.samples[skip:], clip.rate, source=clip.source)


def _check_stream(info: MediaInfo, name: str) -> None:
    """AudioError for a first audio stream no recording has: no rate, no or too many channels."""
    rate, channels = info.audio_rate, info.audio_channels
    if rate is not None and not RATES[0] <= rate <= RATES[1]:
        raise AudioError(f"{name} states a sample rate of {rate} Hz, which no recording has: export it again (e.g. at 48000 Hz)")
    if channels == 0:
        raise AudioError(f"{name} states 0 audio channels: export the recording again")
    if channels is not None and channels > MAX_CHANNELS:
        raise AudioError(
            f"{name} has {channels} audio channels; talkinghead takes at most {MAX_CHANNELS}: "
            f"mix the voice down to mono or stereo (e.g. ffmpeg -i {name} -ac 2 {Path(name).stem}-stereo.wav)"
        )
    if info.audio_codec in (None, "none"):
        raise AudioError(f"{name} states an audio format ffmpeg does not know: export the recording again as WAV, MP3 or FLAC")


def _from_array(samples: np.ndarray, rate: int, *, max_duration: float | None) -> AudioClip:
    name = "the audio array"
    samples = np.asarray(samples)
    if samples.ndim == 1:
        samples = samples[:, None]
    if samples.ndim != 2 or samples.shape[1] > MAX_CHANNELS:
        hint = " (transpose it)" if samples.ndim == 2 and samples.shape[0] <= MAX_CHANNELS else ""
        raise AudioError(f"{name} has shape {np.shape(samples)}: give (samples,) or (samples, channels){hint}")
    if samples.shape[0] == 0 or samples.shape[1] == 0:
        raise AudioError(f"{name} is empty (shape {samples.shape}): give a recording of the speech")
    if not (rate > 0 and float(rate).is_integer()):
        raise AudioError(f"{name} has sample rate {rate}: give a whole number of samples per second, e.g. 16000")
    rate = int(rate)
    original = _to_float(samples, name)
    _check_duration(len(original) / rate, max_duration, name)
    mono = original.mean(axis=1)
    if rate != ANALYSIS_RATE:
        mono = resample_poly(mono, ANALYSIS_RATE, rate)  # scipy reduces the ratio itself
    return AudioClip(_full_scale(mono), ANALYSIS_RATE, original=original, original_rate=rate)


def float_samples(samples: np.ndarray, name: str) -> np.ndarray:
    """float32 samples (a new array) from uint8, signed integer or finite float ones; integer
    full scale maps to ±1. AudioError naming `name` for other dtypes and non-finite values."""
    if samples.dtype == np.uint8:  # 8-bit WAV: unsigned, silence at 128
        return (samples.astype(np.float32) - 128.0) / 128.0
    if np.issubdtype(samples.dtype, np.signedinteger):
        return samples.astype(np.float32) / float(-np.iinfo(samples.dtype).min)
    if not np.issubdtype(samples.dtype, np.floating):
        raise AudioError(f"{name} has dtype {samples.dtype}: give int16, int32 or float samples")
    if not np.isfinite(samples).all():
        raise AudioError(f"{name} holds NaN or infinite values: give finite samples in [-1, 1]")
    return samples.astype(np.float32)  # a copy even when already float32


def _to_float(samples: np.ndarray, name: str) -> np.ndarray:
    """(N, C) float32 in [-1, 1], a new array."""
    result = float_samples(samples, name)
    if samples.dtype.kind in "ui":
        return result
    peak = float(np.abs(result).max())
    # Beyond full scale (e.g. int16 values stored as floats) the waveform is kept and scaled
    # down, rather than clipped into a buzz.
    return result / peak if peak > 1.0 else result


def _full_scale(samples: np.ndarray) -> np.ndarray:
    """(N,) float32 within [-1, 1]: decoders and resamplers overshoot a little near full scale."""
    return np.clip(samples, -1.0, 1.0).astype(np.float32, copy=False)


def _check_duration(seconds: float, max_duration: float | None, name: str, *, at_least: bool = False) -> None:
    """`at_least`: `seconds` is where decoding stopped, not the whole length."""
    if max_duration is not None and seconds > max_duration:
        lasts = f"more than {_clock(max_duration)}" if at_least else _clock(seconds)
        raise AudioError(f"{name} lasts {lasts}; the limit is {_clock(max_duration)} (--max-duration)")


def _clock(seconds: float) -> str:
    """3:00:00, 10:00, 0:02."""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
