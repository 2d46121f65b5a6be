"""Frames in: a video's frames streamed from ffmpeg one at a time, never the whole video in memory."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..errors import MediaError, MediaInputError
from .ffmpeg import ffmpeg_command, last_line, probe_media


def read_frames(
    path: str | os.PathLike, *, size: tuple[int, int] | None = None, fps: float | None = None
) -> Iterator[np.ndarray]:
    """Yield (H, W, 3) uint8 RGB frames of the first video stream, each a new writable array.

    `size` (width, height) rescales every frame; by default frames keep the video's display size.
    `fps` resamples the video to that constant rate (frames dropped or repeated by ffmpeg);
    by default every coded frame comes once.
    Raises MediaInputError when the file has no video or ffmpeg cannot decode it.
    """
    path = Path(path)
    if size is None:
        info = probe_media(path)
        if not info.has_video or info.width is None or info.height is None:
            raise MediaInputError(f"{path.name} has no video stream: give a video")
        size = (info.width, info.height)
    width, height = size
    filters = f"scale={width}:{height}" if fps is None else f"fps={fps},scale={width}:{height}"
    args = ["-loglevel", "error", "-i", str(path), "-map", "0:v:0", "-vf", filters]
    # passthrough: every coded frame once (or as the fps filter made them), none added to fit a rate.
    args += ["-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]
    with tempfile.TemporaryFile() as stderr:  # a file, not a pipe: a full pipe would stall ffmpeg
        process = subprocess.Popen(ffmpeg_command(args), stdout=subprocess.PIPE, stderr=stderr)
        try:
            while True:
                frame = np.empty((height, width, 3), np.uint8)
                if process.stdout.readinto(frame.data.cast("B")) < frame.nbytes:
                    break
                yield frame
            process.wait()
        finally:  # also when the caller stops early: ffmpeg must not outlive the generator
            if process.poll() is None:
                process.kill()
            process.stdout.close()
            process.wait()
        if process.returncode != 0:
            stderr.seek(0)
            if process.returncode < 0:  # a signal from outside: not the file's fault
                raise MediaError(f"ffmpeg was stopped (signal {-process.returncode}) while reading {path.name}")
            raise MediaInputError(f"ffmpeg could not read {path.name}: {last_line(stderr.read())}")
