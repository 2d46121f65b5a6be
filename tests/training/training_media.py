"""A tiny talking-head video collection for the training tests: clips of the bundled portrait
rendered by the warp renderer on synthetic speech, plus the bad videos `prepare` must reject."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from media import PORTRAIT, make_media

RATE = 16_000


def speech_like(seconds: float, seed: int = 0) -> np.ndarray:
    """(N,) float32: voiced bursts (a 150 Hz buzz with formant-like partials) and pauses."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    buzz = sum(np.sin(2 * np.pi * f * t) / k for k, f in enumerate((150, 700, 1200, 2500), start=1))
    envelope = np.clip(np.sin(2 * np.pi * rng.uniform(2.5, 4.0) * t + rng.uniform(0, 6)), 0, None)
    return (0.25 * buzz * envelope).astype(np.float32)


def talking_clip(path: Path, seconds: float, seed: int = 0, size: int = 128) -> Path:
    """The portrait speaking `seconds` of synthetic speech, a size × size MP4 with sound."""
    from talkinghead.api import animate

    return animate(PORTRAIT, (speech_like(seconds, seed), RATE), path, progress=False, size=size, seed=seed).output


def plain_colour_clip(path: Path, seconds: float = 1.5) -> Path:
    """A grey picture with a tone: no face."""
    return make_media(
        path, "-f", "lavfi", "-i", f"color=c=gray:s=128x128:r=25:d={seconds}",
        "-f", "lavfi", "-i", f"sine=frequency=300:sample_rate=16000:duration={seconds}",
        "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest",
    )


def two_faces_clip(path: Path, talking: Path) -> Path:
    """Two copies of a talking clip side by side: several faces."""
    return make_media(
        path, "-i", str(talking), "-i", str(talking),
        "-filter_complex", "[0:v][1:v]hstack=inputs=2[v]", "-map", "[v]", "-map", "0:a",
        "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac",
    )


def short_audio_clip(path: Path, talking: Path, audio_seconds: float) -> Path:
    """A talking clip whose sound stops early: audio and video lengths differ."""
    return make_media(
        path, "-i", str(talking), "-map", "0:v", "-map", "0:a",
        "-c:v", "copy", "-c:a", "aac", "-af", f"atrim=0:{audio_seconds}",
    )


def make_collection(folder: Path) -> dict[str, Path]:
    """Three good clips (one in a sub-folder) and four bad ones; name → path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "more").mkdir(exist_ok=True)
    clips = {
        "alice": talking_clip(folder / "alice.mp4", 1.6, seed=1),
        "bob": talking_clip(folder / "more" / "bob.mp4", 1.2, seed=2),
        "carol": talking_clip(folder / "carol.mp4", 1.4, seed=3),
        "short": talking_clip(folder / "short.mp4", 0.5, seed=4),
        "plain": plain_colour_clip(folder / "plain.mp4"),
    }
    clips["pair"] = two_faces_clip(folder / "pair.mp4", clips["bob"])
    clips["mute_end"] = short_audio_clip(folder / "mute_end.mp4", clips["alice"], 0.9)
    return clips
