"""Short test media made by ffmpeg's lavfi sources, and measures to check what comes back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.io import wavfile

from talkinghead.video.ffmpeg import last_line, run_ffmpeg

ROOT = Path(__file__).resolve().parents[1]
PORTRAIT = ROOT / "assets" / "portrait.png"  # the bundled sample portrait
SPEECH = ROOT / "assets" / "speech.wav"  # the bundled sample speech


def write_wav(path: Path, samples: np.ndarray, rate: int = 16_000) -> Path:
    """A 16-bit WAV of int16 samples, (N,) mono or (N, C)."""
    wavfile.write(path, rate, samples.astype(np.int16))
    return path


def make_media(path: Path, *args: str) -> Path:
    """Run `ffmpeg -y ARGS path` and return `path`; fail the test with ffmpeg's reason."""
    done = run_ffmpeg(["-y", *args, str(path)])
    assert done.returncode == 0, f"ffmpeg could not make {path.name}: {last_line(done.stderr)}"
    return path


def sine(
    *, freq: float = 440, rate: int = 16_000, seconds: float = 1.0, amplitude: float = 0.5, channels: int = 1
) -> list[str]:
    """ffmpeg input args: a sine in every channel."""
    wave = "|".join([f"{amplitude}*sin(2*PI*{freq}*t)"] * channels)
    return ["-f", "lavfi", "-i", f"aevalsrc={wave}:s={rate}:d={seconds}"]


def colour_bars(*, size: str = "64x48", fps: float = 25, seconds: float = 1.0) -> list[str]:
    """ffmpeg input args: ffmpeg's moving colour-bar test picture."""
    return ["-f", "lavfi", "-i", f"testsrc=size={size}:rate={fps}:duration={seconds}"]


def peak_frequency(samples: np.ndarray, rate: int) -> float:
    """Hz of the strongest component of a mono signal."""
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[np.argmax(spectrum)])


def state_flac_length(path: Path, samples: int) -> Path:
    """Rewrite the sample count a FLAC file states in its header (0: unknown); the audio is kept."""
    data = bytearray(path.read_bytes())
    assert data[:4] == b"fLaC"
    # STREAMINFO starts at byte 8; its bytes 10..17 end with the 36-bit total sample count.
    packed = int.from_bytes(data[18:26], "big")
    data[18:26] = ((packed >> 36 << 36) | samples).to_bytes(8, "big")
    path.write_bytes(data)
    return path
