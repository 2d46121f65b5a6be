"""Videos in, through PyAV: any codec its FFmpeg decodes (H.264, HEVC, VP9, AV1, ProRes, ...),
as constant-rate 8-bit YUV 4:2:0 frames, upright, one at a time.

    video = open_video("clip.mov", max_duration=600)    # checked: a video, not audio or a photo
    for frame in video.frames():                        # I420Frame, `video.fps` a second
        ...
    for frame in video.frames_in([3, 2, 1, 0]):          # any order; backwards in chunks

- Rotation: a phone's display-matrix flag is applied to the pixels (the output needs none).
- Variable frame rate: frames are picked on a constant clock at `fps` (the stream's average
  rate, snapped to a standard rate within 1 %), as ffmpeg's fps filter does: repeated where the
  camera paused, dropped where it sped up.
- Bit depth and chroma: 10-bit, 4:2:2 and 4:4:4 sources are converted to 8-bit 4:2:0 (noted
  once); colour tags (matrix, primaries, transfer, range) are read and carried to the output.

Memory: one decoded frame at a time going forwards; going backwards, one chunk of frames.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..errors import InputError, MediaInputError
from .frames import ColourTags, I420Frame

log = logging.getLogger("talkinghead")

STANDARD_RATES = (23.976, 24.0, 25.0, 29.97, 30.0, 48.0, 50.0, 59.94, 60.0)
IMAGE_FORMATS = {"image2", "png_pipe", "jpeg_pipe", "webp_pipe", "bmp_pipe", "tiff_pipe", "gif", "apng", "jpegls_pipe", "heif"}
IMAGE_CODECS = {"png", "mjpeg", "webp", "bmp", "tiff", "gif", "apng", "jpegls", "jpeg2000"}
REVERSE_CHUNK_S = 1.0  # frames read backwards are decoded in chunks of this many seconds
_MATRIX = {1: "bt709", 4: "fcc", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m", 9: "bt2020nc", 10: "bt2020c"}
_PRIMARIES = {1: "bt709", 4: "bt470m", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m", 9: "bt2020", 11: "smpte431", 12: "smpte432"}
_TRANSFER = {1: "bt709", 4: "gamma22", 5: "gamma28", 6: "smpte170m", 7: "smpte240m", 8: "linear", 13: "iec61966-2-1", 14: "bt2020-10", 15: "bt2020-12", 16: "smpte2084", 18: "arib-std-b67"}
_RANGE = {1: "tv", 2: "pc"}


@dataclass(frozen=True)
class VideoInfo:
    """What a video holds, as its frames will be read."""

    path: Path
    width: int  # pixels, upright (rotation applied), even
    height: int
    fps: float  # the constant rate frames are read at
    duration: float  # seconds, as the container states it (or estimated)
    frame_count: int  # frames at `fps` over `duration`: an estimate until the video is read through
    rotation: int  # degrees the pixels are turned to stand upright: 0, 90, 180, 270
    codec: str  # "h264", "hevc", "vp9", "prores", ...
    pix_fmt: str  # as decoded: "yuv420p", "yuv420p10le", ...
    bit_depth: int
    colour: ColourTags
    variable_rate: bool  # frame times are irregular: picked on a constant clock
    stated_frames: int  # coded frames the container's index lists (0: it does not say)
    has_audio: bool
    start: float  # seconds: time of the first frame

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height


def open_video(path: str | os.PathLike, *, max_duration: float | None = None) -> VideoSource:
    """The video at `path`, checked; InputError in one line for what is not a usable video."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path} is a folder, not a video: give a video file (MP4, MOV, MKV, WebM)")
    if not path.exists():
        raise InputError(f"{path} does not exist: check the path of the video")
    if path.stat().st_size == 0:
        raise MediaInputError(f"{path.name} is empty (0 bytes): give a video file (MP4, MOV, MKV, WebM)")
    import av

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as error:
        raise MediaInputError(f"{path.name} is damaged or not a video PyAV can read ({_reason(error)})") from None
    try:
        return VideoSource(_info(path, container, max_duration))
    finally:
        container.close()


def _reason(error: Exception) -> str:
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text.split(": '")[0]  # without the path PyAV appends


def _info(path: Path, container, max_duration: float | None) -> VideoInfo:
    videos = [s for s in container.streams.video if not (s.disposition & 0x400)]  # not an attached picture (cover art)
    has_audio = bool(container.streams.audio)
    if not videos:
        if has_audio:
            raise InputError(f"{path.name} is audio, not a video: to animate a photo with it use `talkinghead animate PHOTO {path.name}`")
        raise MediaInputError(f"{path.name} holds no video frames (no video stream, or an empty one): give a video of the face (MP4, MOV, MKV, WebM)")
    stream = videos[0]
    codec = stream.codec_context.name or "unknown"
    if container.format.name in IMAGE_FORMATS or codec in IMAGE_CODECS and (stream.frames or 0) <= 1:
        raise InputError(f"{path.name} is a photo, not a video: animate it with `talkinghead animate {path.name} AUDIO`")
    duration = _duration(container, stream)
    if max_duration is not None and duration is not None and duration > max_duration:
        raise InputError(f"{path.name} lasts {_clock(duration)}; the limit is {_clock(max_duration)} (--max-duration)")
    fps = _frame_rate(stream)
    if fps is None:
        raise MediaInputError(f"{path.name} states no frame rate: re-encode it, e.g. with ffmpeg -i {path.name} -r 25 fixed.mp4")
    first = _first_frame(path, container, stream)
    rotation = int(round(-(first.rotation or 0))) % 360  # PyAV: counter-clockwise degrees of the display matrix
    width, height = (first.height, first.width) if rotation in (90, 270) else (first.width, first.height)
    depth = max((c.bits for c in first.format.components), default=8)
    variable = _variable_rate(stream, fps)
    start = float(first.time or 0.0)
    duration = duration if duration is not None else 0.0
    return VideoInfo(
        path=path, width=width - width % 2, height=height - height % 2, fps=fps, duration=duration,
        frame_count=max(1, round(duration * fps)), rotation=rotation, codec=codec, pix_fmt=first.format.name,
        bit_depth=depth, colour=_colour(first), variable_rate=variable, stated_frames=int(stream.frames or 0), has_audio=has_audio, start=start,
    )


def _duration(container, stream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000
    return None


def _first_frame(path: Path, container, stream):
    import av

    try:
        for frame in container.decode(stream):
            return frame
    except av.error.FFmpegError as error:
        raise MediaInputError(f"{path.name} is damaged: its first frame cannot be decoded ({_reason(error)})") from None
    raise MediaInputError(f"{path.name} holds no video frames (a zero-length video): give a video that shows the face")


def _frame_rate(stream) -> float | None:
    """The camera's rate: the stream's own (ffmpeg's r_frame_rate) when it is a standard one (a
    variable-rate phone video's average is a little below it), else the average."""
    rates = [float(r) for r in (stream.guessed_rate, stream.average_rate, stream.base_rate) if r and float(r) > 0]
    if not rates:
        return None
    standard = [r for r in rates if abs(_standard_rate(r) - r) <= 0.01 * r and r <= 120]
    return _standard_rate(standard[0] if standard else rates[0])


def _standard_rate(rate: float) -> float:
    near = min(STANDARD_RATES, key=lambda r: abs(r - rate))
    return near if abs(near - rate) <= 0.01 * rate else round(rate, 3)


def _variable_rate(stream, fps: float) -> bool:
    """Whether the first packets' time steps are irregular (a phone's variable frame rate)."""
    entries = getattr(stream, "index_entries", None) or []
    times = sorted(e.timestamp for e in list(entries)[:200])
    if len(times) < 3 or stream.time_base is None:
        return False
    steps = np.diff(np.array(times, np.float64)) * float(stream.time_base)
    steps = steps[steps > 0]
    return bool(len(steps) and (steps.max() - steps.min()) > 0.25 / fps)


def _colour(frame) -> ColourTags:
    return ColourTags(
        matrix=_MATRIX.get(int(frame.colorspace or 0)),
        primaries=_PRIMARIES.get(int(frame.color_primaries or 0)),
        transfer=_TRANSFER.get(int(frame.color_trc or 0)),
        range=_RANGE.get(int(frame.color_range or 0)),
    )


def _clock(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class VideoSource:
    """A checked video, read as constant-rate upright I420 frames (see the module's notes)."""

    def __init__(self, info: VideoInfo) -> None:
        self.info = info
        self._noted = False

    @property
    def fps(self) -> float:
        return self.info.fps

    def counted(self, frames: int) -> VideoSource:
        """The same video, its frame count now known (from reading it through)."""
        source = VideoSource(replace(self.info, frame_count=frames))
        source._noted = self._noted
        return source

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[I420Frame]:
        """Frames `start` to `stop` (exclusive; None: to the end) on the constant clock."""
        import av

        info = self.info
        container = av.open(str(info.path))
        try:
            stream = next(s for s in container.streams.video if not (s.disposition & 0x400))
            stream.thread_type = "AUTO"  # frame threads: decoding uses the other core while this one works
            if start > 0:
                target = info.start + start / info.fps
                container.seek(int(target / stream.time_base), stream=stream, backward=True, any_frame=False)
            index, pending = start, None  # pending: the latest decoded frame that started before tick `index`'s middle
            count = 0
            for frame in self._decoded(container, stream):
                count += 1
                t = float(frame.time) if frame.time is not None else info.start + index / info.fps
                while pending is not None and t > self._middle(index):
                    if stop is not None and index >= stop:
                        return
                    yield self._upright(pending)
                    index += 1
                if pending is None or t <= self._middle(index):
                    pending = frame
            if start == 0 and info.stated_frames and count < info.stated_frames - 1:
                raise MediaInputError(
                    f"{info.path.name} is truncated or damaged: its index lists {info.stated_frames} frames, "
                    f"only {count} could be decoded; export or copy it again"
                )
            if pending is not None and (stop is None or index < stop):
                yield self._upright(pending)
        finally:
            container.close()

    def _middle(self, index: int) -> float:
        return self.info.start + (index + 0.5) / self.info.fps

    def frames_in(self, order: Iterable[int]) -> Iterator[I420Frame]:
        """The frames of `order` (frame indices on the clock), in that order; an index past the
        end gives the last frame.

        Runs going forwards stream; a run going backwards is read in chunks of REVERSE_CHUNK_S,
        each decoded forwards from the key frame before it and handed out in reverse.
        """
        chunk = max(1, round(REVERSE_CHUNK_S * self.fps))
        forward, at = None, 0  # a forward reader and the index it yields next
        held: dict[int, I420Frame] = {}  # the chunk read for going backwards
        last: tuple[int, I420Frame] | None = None
        for i in order:
            if last is not None and i == last[0]:
                frame = last[1]
            elif i in held:
                frame = held[i]
            elif forward is not None and at <= i < at + chunk:
                frame = None
                while at <= i and (frame := next(forward, None)) is not None:
                    at += 1
                if frame is None:
                    forward = None
            elif last is not None and i < last[0]:  # backwards: the chunk that ends at i
                first = max(0, i - chunk + 1)
                held = dict(zip(range(first, i + 1), self.frames(first, i + 1)))
                forward, frame = None, held.get(i)
            else:  # a jump forwards: read on from i
                held, forward, at = {}, self.frames(i), i + 1
                frame = next(forward, None)
            if frame is None:
                if last is None:
                    raise MediaInputError(f"{self.info.path.name}: frame {i} cannot be decoded")
                frame = last[1]
            last = (i, frame)
            yield frame

    def _decoded(self, container, stream) -> Iterator:
        import av

        try:
            yield from container.decode(stream)
        except av.error.EOFError:
            return
        except av.error.FFmpegError as error:
            raise MediaInputError(f"{self.info.path.name} is damaged: decoding stopped ({_reason(error)})") from None

    def _upright(self, frame) -> I420Frame:
        """The decoded frame as 8-bit I420, turned upright."""
        info = self.info
        if frame.format.name != "yuv420p" or frame.width % 2 or frame.height % 2:
            if not self._noted and frame.format.name != "yuvj420p":
                self._noted = True
                log.info("%s is %s (%d-bit): converted to 8-bit 4:2:0 for H.264", info.path.name, frame.format.name, info.bit_depth)
            frame = frame.reformat(format="yuv420p", width=frame.width - frame.width % 2, height=frame.height - frame.height % 2)
        data = frame.to_ndarray(format="yuv420p")
        out = I420Frame(np.ascontiguousarray(data))
        if info.rotation:
            out = _rotated(out, info.rotation)
        if out.size != info.size:  # the first frame fixed the size; a stream that changes size is scaled to it
            import cv2

            rgb = cv2.resize(out.rgb(), info.size, interpolation=cv2.INTER_AREA)
            out = I420Frame.from_rgb(rgb)
        return out


def _rotated(frame: I420Frame, degrees: int) -> I420Frame:
    """The frame turned clockwise by `degrees` (90, 180, 270)."""
    from .frames import pack_i420

    k = {90: -1, 180: 2, 270: 1}[degrees]  # np.rot90 turns counter-clockwise
    planes = [np.ascontiguousarray(np.rot90(p, k)) for p in (frame.y, frame.u, frame.v)]
    return I420Frame(pack_i420(*planes))
