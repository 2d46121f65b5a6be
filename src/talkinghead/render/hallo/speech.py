"""The 16 kHz mono speech Hallo's wav2vec2 reads when no vocals are separated, loaded as the
release loads it.

Without the vocal separator the release's `AudioProcessor.preprocess` calls
`librosa.load(path, sr=16000)`: the file decoded at its own rate (16-bit PCM as int16 / 32768
exactly), the channels averaged in float32, then resampled by soxr at librosa's default quality
`soxr_hq`, to ceil(n · 16000 / rate) samples. With the separator it resamples the separated
vocals with ffmpeg instead (`separator.py`). The two resamplers differ by ~3e-3 relative L2 on
the 16 kHz samples and on the wav2vec2 features, far above every other stage's rounding, so each
path keeps its own.

The project's own decoding (`audio.decode`, ffmpeg's resampler and down-mix) serves every other
stage; only the hallo backend loads the speech this way.
"""

from __future__ import annotations

import numpy as np
import soxr

from ...errors import AudioError
from ...types import ANALYSIS_RATE, AudioClip
from ...video.ffmpeg import last_line, probe_media, run_ffmpeg

SOXR_QUALITY = "soxr_hq"  # librosa.load's default `res_type`


def release_speech(audio: AudioClip) -> np.ndarray:
    """(M,) float32 at 16 kHz: the clip's source file when it has one, else the caller's own
    samples, else its 16 kHz samples as they are."""
    channels, rate = _native(audio)
    mono = np.mean(channels, axis=0)  # librosa's `to_mono`, in float32
    return mono if rate == ANALYSIS_RATE else soxr_resample(mono, rate)


def soxr_resample(mono: np.ndarray, rate: int) -> np.ndarray:
    """(N,) float32 at `rate` → (ceil(N · 16000 / rate),) float32 at 16 kHz: librosa's
    `resample(res_type="soxr_hq")`, with its length rule (zeros appended or samples dropped)."""
    resampled = soxr.resample(mono, rate, ANALYSIS_RATE, quality=SOXR_QUALITY)
    length = int(np.ceil(len(mono) * (float(ANALYSIS_RATE) / rate)))
    return np.pad(resampled, (0, max(0, length - len(resampled))))[:length].astype(np.float32)


def _native(audio: AudioClip) -> tuple[np.ndarray, int]:
    """(C, N) float32 samples at their own rate, and that rate."""
    if audio.source is not None and audio.source.is_file():
        return _decode(audio.source)
    if audio.original is not None and audio.original_rate:
        return audio.original.T, audio.original_rate
    return audio.samples[None], audio.rate


def _decode(path) -> tuple[np.ndarray, int]:
    """The file's first audio track, every channel, at its own rate, as float32."""
    info = probe_media(path)
    channels = info.audio_channels or 1  # a layout the probe cannot count: ffmpeg's own down-mix
    args = ["-v", "error", "-i", str(path), "-map", "0:a:0", "-ac", str(channels), "-f", "f32le", "pipe:1"]
    decoded = run_ffmpeg(args)
    if decoded.returncode != 0 or info.audio_rate is None:
        raise AudioError(f"{path.name} cannot be decoded at its own sample rate: {last_line(decoded.stderr)}")
    return np.frombuffer(decoded.stdout, np.float32).reshape(-1, channels).T, info.audio_rate
