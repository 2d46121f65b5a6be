"""Frames out: an H.264 + AAC MP4 encoded by ffmpeg while Python renders the next frames.

The video appears at its path complete or not at all: ffmpeg writes a hidden partial file beside
it, renamed onto the path only when every frame was written and ffmpeg succeeded. Standard
output (`-`), a character device or a FIFO is written into as a stream instead: a fragmented
MP4 that needs no seeking (see talkinghead.output for every kind of output).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
from pathlib import Path

import cv2
import numpy as np
from scipy.io import wavfile

from ..errors import MediaError, OutputError
from ..output import check_output_path, file_target, is_stream, open_stream, partial_path, replace_with
from ..types import AudioClip
from .ffmpeg import ffmpeg_command, last_line
from .frames import BT601, ColourTags, I420Frame

__all__ = ["VideoWriter", "check_output_path"]


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
        self._stream = is_stream(self.path)
        self._target = None if self._stream else file_target(self.path)  # a link's target is what is replaced
        self._partial = None if self._stream else partial_path(self._target)
        self._killed = False  # by us: abort() or a broken pipe, not from outside
        self._finished = False  # closed or aborted
        self._frames_dir = Path(frames_dir) if frames_dir is not None else None
        if self._frames_dir is not None:
            self._frames_dir.mkdir(parents=True, exist_ok=True)
        # A FIFO blocks here until its reader opens it; nothing else exists yet to clean up.
        stream = open_stream(self.path) if self._stream else None
        self._wav = None
        try:
            self._wav = _temporary_wav(audio) if audio is not None and audio.source is None else None
            audio_file = self._wav or (audio.source if audio is not None else None)
            self._stderr = tempfile.TemporaryFile()  # a file, not a pipe: a full pipe would stall ffmpeg
            # A session of its own: Ctrl-C reaches Python only, which then stops ffmpeg and cleans up.
            self._process = subprocess.Popen(
                ffmpeg_command(_encode_args(self._partial, self.size, fps, audio_file, crf, preset, colour)),
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL if stream is None else stream,
                stderr=self._stderr,
                start_new_session=True,
            )
        except BaseException:
            if self._wav is not None:
                self._wav.unlink(missing_ok=True)
            raise
        finally:
            if stream is not None:
                os.close(stream)  # ffmpeg holds its own copy: the reader sees the end when ffmpeg exits

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
        if self._finished:
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
        if self._finished:
            raise ValueError("this VideoWriter was already closed or aborted")
        if self.frames_written == 0:
            self.abort()
            raise ValueError("no frames were written: a video needs at least one frame")
        self._close_stdin()  # end of input: ffmpeg finishes the file
        if self._process.wait() != 0:
            self._fail()
        try:
            if self._partial is not None:
                replace_with(self._partial, self._target)
        finally:
            self._cleanup()
        return self.path

    def abort(self) -> None:
        """Stop ffmpeg and remove every trace of this video; a file already at `path` stays as it was.

        A stream cannot be taken back: its reader has what was written so far.
        """
        if self._process.poll() is None:
            self._killed = True
            self._process.kill()
            self._process.wait()
        if self._partial is not None:
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
        try:  # it may still be alive when the pipe broke: a moment to finish its last words
            self._process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            self._killed = True
            self._process.kill()
            self._process.wait()
        self._stderr.seek(0)
        reason = last_line(self._stderr.read())
        code = self._process.returncode
        if code < 0 and not self._killed:
            reason = f"ffmpeg was stopped by {_signal_name(-code)}"
        self.abort()
        name = "standard output" if str(self.path) == "-" else self.path.name
        raise MediaError(f"ffmpeg could not write {name}: {reason}") from None

    def _close_stdin(self) -> None:
        with contextlib.suppress(BrokenPipeError):  # ffmpeg has exited already; its exit code says how
            self._process.stdin.close()

    def _cleanup(self) -> None:
        self._finished = True
        self._close_stdin()
        self._stderr.close()
        if self._wav is not None:
            self._wav.unlink(missing_ok=True)


def _signal_name(number: int) -> str:
    try:
        return f"{signal.Signals(number).name} ({signal.strsignal(number)})"
    except ValueError:
        return f"signal {number}"


def _encode_args(
    output: Path | None, size: tuple[int, int], fps: float, audio: Path | None, crf: int, preset: str, colour: ColourTags
) -> list[str]:
    """ffmpeg's arguments; `output` None: a fragmented MP4 into its standard output (a stream)."""
    width, height = size
    video_in = ["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{width}x{height}", "-r", str(fps), "-i", "pipe:0"]
    audio_in = ["-i", str(audio), "-map", "0:v:0", "-map", "1:a:0"] if audio is not None else []
    # Tagged as the YUV is (BT.601 for RGB frames, so players do not guess BT.709 for HD sizes;
    # a video's own tags for its frames).
    video_out = ["-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-pix_fmt", "yuv420p", *colour.ffmpeg_args()]
    audio_out = ["-c:a", "aac", "-b:a", "192k"] if audio is not None else []
    # -f mp4 whatever the file name says; faststart puts the index first so playback starts at
    # once. A stream cannot be rewritten: an index first, then self-contained fragments;
    # delay_moov writes the index once the first fragment is known, with the edit lists that
    # start video and sound together (without it the first frame shows 2 frames late).
    if output is None:
        container = ["-movflags", "+frag_keyframe+empty_moov+delay_moov+default_base_moof", "-f", "mp4", "pipe:1"]
    else:
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
    try:
        wavfile.write(name, int(rate), np.asarray(samples, np.float32))
    except OSError as error:
        Path(name).unlink(missing_ok=True)
        raise MediaError(f"cannot write a temporary file in {tempfile.gettempdir()} ({error.strerror}): free some space or set TMPDIR") from None
    return Path(name)
