"""The one place that runs ffmpeg: the static binary imageio-ffmpeg ships, called as a program.

There is no ffprobe beside that binary, so `probe_media` reads what `ffmpeg -i` prints.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg

from ..errors import MediaInputError


def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary."""
    return imageio_ffmpeg.get_ffmpeg_exe()


def ffmpeg_command(args: list[str]) -> list[str]:
    """The full command line for ffmpeg `args`; never reads the terminal, prints no banner."""
    return [ffmpeg_exe(), "-hide_banner", "-nostdin", *args]


def run_ffmpeg(args: list[str], *, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run ffmpeg to completion, `input` on its stdin; stdout and stderr captured as bytes, the
    exit code not checked."""
    return subprocess.run(ffmpeg_command(args), input=input, capture_output=True, check=False)


def last_line(stderr: bytes | str) -> str:
    """ffmpeg's last non-empty stderr line: where it states why it failed."""
    text = stderr.decode("utf-8", "replace") if isinstance(stderr, bytes) else stderr
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


@dataclass(frozen=True)
class MediaInfo:
    """What a media file holds: its first video stream and its first audio stream."""

    duration: float | None  # seconds, as the container states it; None when it does not
    has_video: bool  # a cover picture (mp3, m4a artwork) is not video
    width: int | None  # display size, pixels (a phone's rotation flag applied)
    height: int | None
    fps: float | None
    has_audio: bool
    audio_rate: int | None  # Hz
    audio_channels: int | None
    video_codec: str | None  # ffmpeg's codec name: "h264", "png", ...
    audio_codec: str | None  # "aac", "mp3", "pcm_s16le", ...
    pix_fmt: str | None  # "yuv420p", "rgb24", ...
    start: float = 0.0  # seconds: the container's start time, where a player's clock starts
    video_start: float = 0.0  # seconds, container time: the first video frame's (edit lists applied)
    audio_start: float = 0.0  # seconds, container time: the first audio sample's

    @property
    def audio_delay(self) -> float:
        """Seconds of the player's clock before the sound starts (a late audio stream)."""
        return max(0.0, self.audio_start - self.start) if self.has_audio else 0.0

    @property
    def video_delay(self) -> float:
        """Seconds of the player's clock before the first frame shows (a late video stream)."""
        return max(0.0, self.video_start - self.start) if self.has_video else 0.0


_DURATION = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_START = re.compile(r"Duration: [^\n]*?, start: (-?[\d.]+)")
_STREAM_START = re.compile(r", start (-?[\d.]+)")
_STREAM = re.compile(r"Stream #\d+:\d+\S*: (Video|Audio): (.*)")
_NESTED = re.compile(r"\([^()]*\)")
# ffmpeg's named channel layouts; the others are "5.1", "7.1.4", ... or "N channels".
_CHANNELS = {"mono": 1, "stereo": 2, "binaural": 2, "downmix": 2, "quad": 4, "hexagonal": 6, "octagonal": 8, "cube": 8, "hexadecagonal": 16}


def probe_media(path: str | os.PathLike) -> MediaInfo:
    """Describe a media file. Raises MediaInputError when ffmpeg cannot open it."""
    path = Path(path)
    # Without an output file ffmpeg prints the input's description and exits 1 by design.
    stderr = run_ffmpeg(["-i", str(path)]).stderr.decode("utf-8", "replace")
    if "Input #0" not in stderr:
        raise MediaInputError(f"ffmpeg cannot read {path.name}: {last_line(stderr)}")
    video = audio = None
    for kind, description in _STREAM.findall(stderr):
        if kind == "Video" and video is None and "(attached pic)" not in description:
            video = description
        elif kind == "Audio" and audio is None:
            audio = description
    duration, start = _DURATION.search(stderr), _START.search(stderr)
    container_start = float(start[1]) if start else 0.0
    return MediaInfo(
        duration=(int(duration[1]) * 3600 + int(duration[2]) * 60 + float(duration[3])) if duration else None,
        has_video=video is not None,
        **_video_fields(video, rotated="rotation of -90" in stderr or "rotation of 90" in stderr),
        has_audio=audio is not None,
        **_audio_fields(audio),
        start=container_start,
        # A stream's start is printed only where it is not 0.
        video_start=_stream_start(video),
        audio_start=_stream_start(audio),
    )


def _stream_start(description: str | None) -> float:
    match = _STREAM_START.search(description) if description else None
    return float(match[1]) if match else 0.0


def _fields(description: str) -> list[str]:
    """A stream description split at its top-level commas, parenthesised details removed:
    "h264 (High) (avc1 / 0x31637661), yuv420p(tv, bt709), 64x48 [SAR 1:1 DAR 4:3], 25 fps"
    -> ["h264", "yuv420p", "64x48 [SAR 1:1 DAR 4:3]", "25 fps"]."""
    while _NESTED.search(description):
        description = _NESTED.sub("", description)
    return [field.strip() for field in description.split(",")]


def _video_fields(description: str | None, *, rotated: bool) -> dict:
    if description is None:
        return dict(width=None, height=None, fps=None, video_codec=None, pix_fmt=None)
    fields = _fields(description)
    size = next((match for field in fields if (match := re.match(r"(\d+)x(\d+)\b", field))), None)
    width, height = (int(size[1]), int(size[2])) if size else (None, None)
    if rotated:  # phones store portrait video as landscape plus a rotation flag ffmpeg applies
        width, height = height, width
    rate = re.search(r"([\d.]+) fps", description) or re.search(r"([\d.]+) tbr", description)
    pix_fmt = fields[1] if len(fields) > 1 and re.fullmatch(r"\w+", fields[1]) else None
    return dict(
        width=width,
        height=height,
        fps=float(rate[1]) if rate else None,
        video_codec=fields[0].split()[0],
        pix_fmt=pix_fmt,
    )


def _audio_fields(description: str | None) -> dict:
    if description is None:
        return dict(audio_rate=None, audio_channels=None, audio_codec=None)
    fields = _fields(description)
    rate = re.search(r"(\d+) Hz", description)
    layout = fields[2] if len(fields) > 2 else ""  # "mono", "stereo", "5.1", "7.1.4", "3 channels", ...
    counted = re.fullmatch(r"(\d+) channels?", layout) or re.fullmatch(r"(\d+)\.(\d+)(?:\.(\d+))?", layout)
    channels = _CHANNELS.get(layout)
    if channels is None and counted:
        channels = sum(int(n) for n in counted.groups() if n is not None)
    return dict(
        audio_rate=int(rate[1]) if rate else None,
        audio_channels=channels,
        audio_codec=fields[0].split()[0],
    )
