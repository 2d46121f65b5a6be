"""Frames out: an H.264 + AAC MP4 encoded by ffmpeg while Python renders the next frames.

The video appears at its path complete or not at all: ffmpeg writes a hidden partial file beside
it, renamed onto the path only when every frame was written and ffmpeg succeeded.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from scipy.io import wavfile

from ..errors import MediaError, OutputError
from ..types import AudioClip
from .ffmpeg import ffmpeg_command, last_line
from .frames import BT601, ColourTags, I420Frame


def check_output_path(output: str | os.PathLike, *, inputs: Sequence[str | os.PathLike] = ()) -> Path:
    """The resolved output path, or OutputError when a video could not be written there.

    Call it before any heavy work, so a typo in the output path costs nothing.
    """
    path = Path(output).resolve()
    if path.is_dir():
        raise OutputError(f"{output} is a folder: give a file name, e.g. {Path(output) / 'talking.mp4'}")
    if not path.parent.is_dir():
        raise OutputError(f"the folder {path.parent} does not exist: create it or choose another output path")
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write in {path.parent} (permission denied): choose another output folder")
    for source in inputs:
        if path == Path(source).resolve() or _same_file(path, source):
            name = Path(source).name
            raise OutputError(f"the output {path.name} is the input {name}: choose another output name")
    return path


def _same_file(path: Path, other: str | os.PathLike) -> bool:
    """Hard links and other aliases the resolved paths do not reveal; False when either is missing."""
    try:
        return os.path.samefile(path, other)
    except OSError:
        return False


class VideoWriter:
    """Stream (H, W, 3) uint8 RGB frames into an MP4: H.264 yuv420p, AAC audio, faststart.

        with VideoWriter("out.mp4", size=(width, height), fps=25, audio=clip, crf=18) as video:
            for frame in frames:
                video.write(frame)

    Write `audio.frame_count(fps)` frames: the audio is never cut, so video and audio then
    last equally long (±1 frame). Without `with`, call `close()` to finish or `abort()` to drop.

    Frames are RGB arrays (converted here to BT.601 video-range YUV, tagged so) or I420Frames
    a video was decoded to, written as they are and tagged with `colour`, the source's tags.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        size: tuple[int, int],  # (width, height), pixels, both even
        fps: float,
        audio: AudioClip | None = None,
        crf: int,  # x264 quality: 0 lossless, 18 visually lossless, 23 x264's default
        preset: str = "veryfast",  # x264 speed/size trade-off
        frames_dir: str | os.PathLike | None = None,  # also save each frame there: frame_000001.png, ...
        colour: ColourTags = BT601,  # how the YUV of I420Frames is to be read (RGB frames are made BT.601)
    ) -> None:
        width, height = size
        if width < 2 or height < 2 or width % 2 or height % 2:
            raise ValueError(f"video size {width}x{height} must be even (H.264 yuv420p): trim with even_size")
        self.path = Path(path)
        self.size = (width, height)
        self.frames_written = 0
        self.colour = colour
        self._partial = self.path.with_name(f".{self.path.stem}.partial{self.path.suffix}")
        self._frames_dir = Path(frames_dir) if frames_dir is not None else None
        if self._frames_dir is not None:
            self._frames_dir.mkdir(parents=True, exist_ok=True)
        self._wav = _temporary_wav(audio) if audio is not None and audio.source is None else None
        audio_file = self._wav or (audio.source if audio is not None else None)
        self._stderr = tempfile.TemporaryFile()  # a file, not a pipe: a full pipe would stall ffmpeg
        # A session of its own: Ctrl-C reaches Python only, which then stops ffmpeg and cleans up.
        self._process = subprocess.Popen(
            ffmpeg_command(_encode_args(self._partial, self.size, fps, audio_file, crf, preset, colour)),
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            start_new_session=True,
        )

    def write(self, frame: np.ndarray | I420Frame) -> None:
        """Append one (H, W, 3) uint8 RGB frame, or an I420Frame, of exactly `size`."""
        width, height = self.size
        if isinstance(frame, I420Frame):
            self._write_yuv(frame)
            return
        if self.colour != BT601:
            raise ValueError(f"RGB frames are written as BT.601; this video is tagged {self.colour.describe()}: write I420Frames")
        if not isinstance(frame, np.ndarray) or frame.shape != (height, width, 3) or frame.dtype != np.uint8:
            got = f"{frame.shape} {frame.dtype}" if isinstance(frame, np.ndarray) else type(frame).__name__
            raise ValueError(f"frame is {got}; this video takes ({height}, {width}, 3) uint8 RGB frames")
        pixels = np.ascontiguousarray(frame)
        # BT.601 video-range YUV 4:2:0 made here (SIMD, ~1 ms at 1.5 MP) halves what goes down
        # the pipe and spares ffmpeg its slower conversion: the same numbers ffmpeg would make.
        self._send(cv2.cvtColor(pixels, cv2.COLOR_RGB2YUV_I420), pixels)

    def _write_yuv(self, frame: I420Frame) -> None:
        if frame.size != self.size:
            raise ValueError(f"frame is {frame.width}x{frame.height}; this video is {self.size[0]}x{self.size[1]}")
        self._send(np.ascontiguousarray(frame.data), None if self._frames_dir is None else frame.rgb())

    def _send(self, yuv: np.ndarray, pixels: np.ndarray | None) -> None:
        if self._process.returncode is not None:
            raise ValueError("this VideoWriter was already closed or aborted")
        try:
            self._process.stdin.write(yuv.data.cast("B"))
        except BrokenPipeError:  # ffmpeg stopped: its stderr says why
            self._fail()
        self.frames_written += 1
        if self._frames_dir is not None:
            png = self._frames_dir / f"frame_{self.frames_written:06d}.png"
            if not cv2.imwrite(str(png), cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)):
                raise OutputError(f"cannot write {png}: check that the frames folder is writable")

    def close(self) -> Path:
        """Finish the video and move it onto `path`; returns `path`."""
        if self._process.returncode is not None:
            raise ValueError("this VideoWriter was already closed or aborted")
        if self.frames_written == 0:
            self.abort()
            raise ValueError("no frames were written: a video needs at least one frame")
        self._close_stdin()  # end of input: ffmpeg finishes the file
        if self._process.wait() != 0:
            self._fail()
        try:
            os.replace(self._partial, self.path)
        except OSError as error:
            self.abort()
            raise OutputError(f"cannot write {self.path} ({error.strerror}): choose another output path") from None
        self._cleanup()
        return self.path

    def abort(self) -> None:
        """Stop ffmpeg and remove every trace of this video; a file already at `path` stays as it was."""
        if self._process.returncode is None:
            self._process.kill()
            self._process.wait()
        self._partial.unlink(missing_ok=True)
        self._cleanup()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        # Any exception (KeyboardInterrupt included) drops the video; only a clean exit keeps it.
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def _fail(self) -> None:
        self._process.kill()  # it may still be alive when the pipe broke
        self._process.wait()
        self._stderr.seek(0)
        reason = last_line(self._stderr.read())
        self.abort()
        raise MediaError(f"ffmpeg could not write {self.path.name}: {reason}") from None

    def _close_stdin(self) -> None:
        with contextlib.suppress(BrokenPipeError):  # ffmpeg has exited already; its exit code says how
            self._process.stdin.close()

    def _cleanup(self) -> None:
        self._close_stdin()
        self._stderr.close()
        if self._wav is not None:
            self._wav.unlink(missing_ok=True)


def _encode_args(
    output: Path, size: tuple[int, int], fps: float, audio: Path | None, crf: int, preset: str, colour: ColourTags = BT601
) -> list[str]:
    width, height = size
    video_in = ["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{width}x{height}", "-r", str(fps), "-i", "pipe:0"]
    audio_in = ["-i", str(audio), "-map", "0:v:0", "-map", "1:a:0"] if audio is not None else []
    # Tagged as the YUV is (BT.601 for RGB frames, so players do not guess BT.709 for HD sizes;
    # a video's own tags for its frames).
    video_out = ["-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-pix_fmt", "yuv420p", *colour.ffmpeg_args()]
    audio_out = ["-c:a", "aac", "-b:a", "192k"] if audio is not None else []
    # -f mp4 whatever the file name says; faststart puts the index first so playback starts at once.
    container = ["-movflags", "+faststart", "-f", "mp4", str(output)]
    return ["-y", "-loglevel", "error", *video_in, *audio_in, *video_out, *audio_out, *container]


def _temporary_wav(audio: AudioClip) -> Path:
    """The caller's own samples (or the analysis samples) as a float WAV ffmpeg can mux."""
    if audio.original is not None:
        samples, rate = audio.original, audio.original_rate
    else:
        samples, rate = audio.samples, audio.rate
    handle, name = tempfile.mkstemp(prefix="talkinghead-", suffix=".wav")
    os.close(handle)
    wavfile.write(name, int(rate), np.asarray(samples, np.float32))
    return Path(name)
