"""Uploads, checked while they stream: the request's bytes, the photo's pixels (from its header,
as soon as the header has arrived) and the speech's length (a WAV header at once; any other
format from what ffmpeg reads of the file on disk, before the job is queued). A dub's video is
checked once it is on disk: a video (not a photo, not audio) PyAV can read, not too long.

Nothing is held whole in memory: file parts stream to disk, a part's first bytes are kept
only up to HEAD_BYTES. Files are named by their role (`image` or `video`, `audio`) in a server-made
folder; the names a client sends are never used, and formats are told by content.
"""

from __future__ import annotations

import io
import shutil
import struct
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from ..errors import InputError, MediaInputError
from ..video.ffmpeg import probe_media

HEAD_BYTES = 256 * 1024  # enough for the header of any photo but those with very large metadata
FILE_PARTS = ("image", "video", "audio")
FACE_PARTS = ("image", "video")  # a job has one: a photo to animate, or a video to dub
TEXT_PARTS = {"options": 64 * 1024}
IMAGE_HINT = "give a JPEG, PNG, WebP, BMP or TIFF photo"
AUDIO_HINT = "give a WAV, MP3, M4A, FLAC or OGG recording, or a video with sound"
VIDEO_HINT = "give an MP4, MOV, MKV or WebM video of the face"
PROBES = threading.BoundedSemaphore(4)  # ffmpeg probes at once: a burst of uploads must not start one each


class UploadRefused(Exception):
    """An upload that is not taken: `status` 413 (too large) or 422 (unusable), `field` the part."""

    def __init__(self, status: int, field: str | None, reason: str):
        super().__init__(f"{field}: {reason}" if field else reason)
        self.status, self.field, self.reason = status, field, reason


@dataclass(frozen=True)
class Limits:
    max_bytes: int  # of the whole request body
    max_pixels: float  # width x height
    max_duration: float  # seconds

    @property
    def megabytes(self) -> str:
        return f"{self.max_bytes / 2**20:g} MB"


@dataclass
class Intake:
    """What a job was given: its two files (a photo or a video, and the speech) and its options' JSON text."""

    image: Path | None = None
    video: Path | None = None
    audio: Path | None = None
    options: bytes = b""

    @property
    def kind(self) -> str:
        """The job's kind (store.KINDS): a video is dubbed, a photo animated."""
        return "dub" if self.video is not None else "animate"


# --- checks shared by the API's stream and the web app's files --------------------------------


def check_image_head(head: bytes, limits: Limits, *, complete: bool) -> bool:
    """True once the photo's size is known and allowed; UploadRefused when it is too large or (with
    the whole file, `complete`) not an image. False: the header has not all arrived yet."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the limit is ours, below
            with Image.open(io.BytesIO(head)) as img:
                width, height = img.size
    except Image.DecompressionBombError:
        raise UploadRefused(413, "image", f"the photo has more than {Image.MAX_IMAGE_PIXELS * 2 / 1e6:.0f} megapixels") from None
    except Exception:  # Pillow's many ways of saying "not (yet) an image"
        if complete:
            raise UploadRefused(422, "image", f"the file is not an image Pillow can read: {IMAGE_HINT}") from None
        return False
    _check_pixels(width, height, limits)
    return True


def _check_pixels(width: int, height: int, limits: Limits) -> None:
    if width * height > limits.max_pixels:
        raise UploadRefused(413, "image", f"the photo is {width}x{height} ({width * height / 1e6:.1f} megapixels); "
                                          f"the limit is {limits.max_pixels / 1e6:g} megapixels (--max-pixels)")
    if width < 1 or height < 1:
        raise UploadRefused(422, "image", f"the photo is {width}x{height} pixels: {IMAGE_HINT}")


def wav_duration(head: bytes) -> float | None:
    """Seconds a RIFF/WAVE header states (None: not a WAV, not yet all arrived, or unstated)."""
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    at, byte_rate = 12, None
    while at + 8 <= len(head):
        chunk, size = head[at : at + 4], struct.unpack("<I", head[at + 4 : at + 8])[0]
        if chunk == b"fmt " and at + 16 <= len(head):
            byte_rate = struct.unpack("<I", head[at + 16 : at + 20])[0] if at + 20 <= len(head) else None
        elif chunk == b"data":
            if not byte_rate or size in (0, 0xFFFFFFFF):  # streamed WAVs leave the size open
                return None
            return size / byte_rate
        at += 8 + size + (size & 1)
    return None


def check_audio_head(head: bytes, limits: Limits) -> None:
    _check_length(wav_duration(head), limits, "audio")


def check_audio_file(path: Path, limits: Limits) -> None:
    """The whole file: readable by ffmpeg, with sound, not longer than allowed (as its container says)."""
    info = _probed(path, "audio", f"the file is not a recording ffmpeg can read: {AUDIO_HINT}")
    if not info.has_audio:
        raise UploadRefused(422, "audio", f"the file has no audio track: {AUDIO_HINT}")
    _check_length(info.duration, limits, "audio")


def _probed(path: Path, field: str, unreadable: str):
    """The file's streams and length, as ffmpeg reads them; 422 saying `unreadable` when it cannot."""
    try:
        with PROBES:
            return probe_media(path)
    except MediaInputError:
        raise UploadRefused(422, field, unreadable) from None


def _check_length(seconds: float | None, limits: Limits, field: str) -> None:
    """413 when the file lasts longer than allowed (as its container says)."""
    if seconds is not None and seconds > limits.max_duration:
        what = "the speech" if field == "audio" else "the video"
        raise UploadRefused(413, field, f"{what} lasts {seconds:.1f} s; the limit is {limits.max_duration:g} s (--max-duration)")


def check_video_file(path: Path, limits: Limits) -> None:
    """The whole file: a video PyAV reads (not a photo, not audio alone), not longer than allowed."""
    from ..video.source import open_video

    if _is_image(path):
        raise UploadRefused(422, "video", "the file is a photo, not a video: send it as 'image' to animate it")
    info = _probed(path, "video", f"the file is not a video ffmpeg can read: {VIDEO_HINT}")
    if not info.has_video:
        what = "audio, not a video: send it as 'audio', with a photo as 'image' to animate" if info.has_audio else f"not a video: {VIDEO_HINT}"
        raise UploadRefused(422, "video", f"the file is {what}")
    _check_length(info.duration, limits, "video")
    try:
        with PROBES:
            open_video(path, max_duration=limits.max_duration)
    except InputError as error:  # its words start with the file's name, here the server's own
        raise UploadRefused(422, "video", f"the file {str(error).removeprefix(path.name + ' ')}") from None


def _is_image(path: Path) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as img:
                return img.format is not None
    except Exception:  # Pillow's many ways of saying "not an image"
        return False


def take_files(face: Path, audio: Path, folder: Path, limits: Limits, *, kind: str = "animate") -> Intake:
    """Copy files already on this machine (the web app's uploads: a photo, or with `kind` "dub"
    a video, and the speech) into `folder`, with the API's checks."""
    part = "video" if kind == "dub" else "image"
    total = face.stat().st_size + audio.stat().st_size
    if total > limits.max_bytes:
        raise UploadRefused(413, None, f"the {'video' if kind == 'dub' else 'photo'} and the speech are {total / 2**20:.1f} MB; "
                                       f"the limit is {limits.megabytes} (--max-upload-mb)")
    if part == "image":
        with face.open("rb") as file:
            check_image_head(file.read(HEAD_BYTES), limits, complete=False) or _check_image_file(face, limits)
    with audio.open("rb") as file:
        check_audio_head(file.read(HEAD_BYTES), limits)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(face, folder / part)
    shutil.copyfile(audio, folder / "audio")
    if part == "video":
        check_video_file(folder / "video", limits)
    check_audio_file(folder / "audio", limits)
    return Intake(**{part: folder / part}, audio=folder / "audio")


def _check_image_file(path: Path, limits: Limits) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                width, height = img.size
    except Image.DecompressionBombError:
        raise UploadRefused(413, "image", f"the photo has more than {Image.MAX_IMAGE_PIXELS * 2 / 1e6:.0f} megapixels") from None
    except Exception:
        raise UploadRefused(422, "image", f"the file is not an image Pillow can read: {IMAGE_HINT}") from None
    _check_pixels(width, height, limits)
    return True


# --- the API's multipart stream ----------------------------------------------------------------


class FormReader:
    """Parses a multipart/form-data body fed chunk by chunk, checking limits as bytes arrive.

        reader = FormReader(boundary, folder, limits)
        async for chunk in request.stream():
            reader.feed(chunk)            # UploadRefused as soon as something is over a limit
        intake = reader.finish()          # the checks that need the whole file
    """

    def __init__(self, boundary: bytes, folder: Path, limits: Limits):
        from python_multipart.multipart import MultipartParser

        self.folder, self.limits = folder, limits
        self.received = 0
        self.intake = Intake()
        self._part: str | None = None
        self._header_field = b""
        self._header_value = b""
        self._disposition = b""
        self._file = None
        self._head = bytearray()
        self._head_checked = False
        self._text = bytearray()
        self._error: UploadRefused | None = None
        callbacks = {
            "on_part_begin": self._part_begin, "on_header_field": self._on_header_field,
            "on_header_value": self._on_header_value, "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished, "on_part_data": self._data, "on_part_end": self._part_end,
        }
        self._parser = MultipartParser(boundary, callbacks)

    def feed(self, chunk: bytes) -> None:
        self.received += len(chunk)
        if self.received > self.limits.max_bytes:
            raise UploadRefused(413, None, f"the upload is larger than {self.limits.megabytes} (--max-upload-mb)")
        try:
            self._parser.write(chunk)
        except UploadRefused:
            raise
        except Exception as error:  # python-multipart's parse errors
            raise UploadRefused(422, None, f"the body is not valid multipart/form-data ({error})") from None
        if self._error is not None:
            raise self._error

    def finish(self) -> Intake:
        try:
            self._parser.finalize()
        except Exception as error:
            raise UploadRefused(422, None, f"the body is not valid multipart/form-data ({error})") from None
        if self._error is not None:
            raise self._error
        if self._file is not None:
            raise UploadRefused(422, self._part, "the upload ended inside this part")
        if self.intake.image is None and self.intake.video is None:
            raise UploadRefused(422, "image", "is missing: send the photo as the multipart field 'image' (or, to dub, a video as 'video')")
        if self.intake.audio is None:
            raise UploadRefused(422, "audio", "is missing: send the speech as the multipart field 'audio'")
        if self.intake.video is not None:
            check_video_file(self.intake.video, self.limits)
        check_audio_file(self.intake.audio, self.limits)
        return self.intake

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    # python-multipart's callbacks; errors are kept and raised by feed(), outside the parser
    def _part_begin(self) -> None:
        self._part, self._disposition, self._head, self._head_checked, self._text = None, b"", bytearray(), False, bytearray()

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        if self._header_field.lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_field, self._header_value = b"", b""

    def _headers_finished(self) -> None:
        from python_multipart.multipart import parse_options_header

        _, params = parse_options_header(self._disposition)
        name = params.get(b"name", b"").decode("utf-8", "replace")
        if name in FILE_PARTS:
            if getattr(self.intake, name) is not None:
                self._fail(422, name, "is given twice")
                return
            if name in FACE_PARTS and any(getattr(self.intake, other) is not None for other in FACE_PARTS):
                self._fail(422, name, "a job takes a photo ('image', to animate) or a video ('video', to dub), not both")
                return
            self.folder.mkdir(parents=True, exist_ok=True)
            self._file = (self.folder / name).open("wb")
        elif name not in TEXT_PARTS:
            self._fail(422, name or None, f"is not a field of a job: send {', '.join((*FILE_PARTS, *TEXT_PARTS))}")
        self._part = name

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._error is not None:
            return
        piece = data[start:end]
        if self._part in TEXT_PARTS:
            self._text += piece
            if len(self._text) > TEXT_PARTS[self._part]:
                self._fail(413, self._part, f"is longer than {TEXT_PARTS[self._part] // 1024} KiB")
            return
        if self._file is None:
            return
        self._file.write(piece)
        if not self._head_checked and len(self._head) < HEAD_BYTES:  # the header is still arriving
            self._head += piece[: HEAD_BYTES - len(self._head)]
            self._check_head()

    def _check_head(self) -> None:
        try:
            if self._part == "image":
                self._head_checked = check_image_head(bytes(self._head), self.limits, complete=False)
            elif self._part == "audio":
                check_audio_head(bytes(self._head), self.limits)
        except UploadRefused as refused:
            self._error = refused

    def _part_end(self) -> None:
        if self._error is not None or self._part is None:
            return
        if self._part in TEXT_PARTS:
            self.intake.options = bytes(self._text)
            return
        self._file.close()
        self._file = None
        if (self.folder / self._part).stat().st_size == 0:
            self._fail(422, self._part, "is empty (0 bytes)")
            return
        if self._part == "image" and not self._head_checked:  # a header beyond HEAD_BYTES: read from the file
            try:
                self._head_checked = _check_image_file(self.folder / "image", self.limits)
            except UploadRefused as refused:
                self._error = refused
        setattr(self.intake, self._part, self.folder / self._part)

    def _fail(self, status: int, field: str | None, reason: str) -> None:
        if self._error is None:
            self._error = UploadRefused(status, field, reason)
