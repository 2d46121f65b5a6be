"""Bad and odd inputs, built from scratch in a test's folder: headers that lie, files cut short,
random bytes behind a valid signature, formats we do not read, special files.

Each builder writes one file and returns its path; none needs anything but Pillow and numpy.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from media import PORTRAIT, write_wav


def portrait(folder: Path, name: str = "photo.png") -> Path:
    """A copy of the bundled 512² portrait (a face the warp renderer animates)."""
    path = folder / name
    shutil.copy(PORTRAIT, path)
    return path


def tone(folder: Path, name: str = "speech.wav", seconds: float = 0.2, rate: int = 16_000) -> Path:
    """A 16-bit mono WAV of a 220 Hz tone."""
    t = np.arange(int(seconds * rate)) / rate
    return write_wav(folder / name, (8000 * np.sin(2 * np.pi * 220 * t)).astype(np.int16), rate)


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def random_bytes(count: int, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).bytes(count)


# --- images ----------------------------------------------------------------------------------


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def portrait_as(fmt: str, **options) -> bytes:
    """The bundled portrait encoded as `fmt` (JPEG, WEBP, ...)."""
    with Image.open(PORTRAIT) as img:
        return encoded(img.convert("RGB"), fmt, **options)


def png_of(width: int, height: int, colour=(128, 128, 128)) -> bytes:
    """A real PNG of one flat colour."""
    return encoded(Image.new("RGB", (width, height), colour), "PNG")


def png_stating(width: int, height: int) -> bytes:
    """A PNG whose header states width x height but whose pixel data is one grey pixel: a
    decompression bomb's header on an 80-byte file."""
    data = bytearray(encoded(Image.new("L", (1, 1)), "PNG"))
    # Signature (8), IHDR length (4), "IHDR" (4), width (4), height (4), ..., CRC at 29.
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def gif_stating(width: int, height: int) -> bytes:
    """A GIF whose logical screen and only image state width x height (16-bit each)."""
    data = bytearray(encoded(Image.new("P", (1, 1)), "GIF"))
    data[6:10] = struct.pack("<HH", width, height)
    image = data.index(b",")  # the image descriptor: separator, left, top, width, height
    data[image + 5 : image + 9] = struct.pack("<HH", width, height)
    return bytes(data)


def with_bad_crc(png: bytes) -> bytes:
    """The PNG with one byte of its first IDAT chunk's data flipped."""
    data = bytearray(png)
    start = data.index(b"IDAT") + 4
    data[start + 50] ^= 0xFF
    return bytes(data)


def animated_gif(frames: int = 3, size: int = 512) -> bytes:
    """The portrait, then frames of other tints: an animated GIF."""
    with Image.open(PORTRAIT) as img:
        first = img.convert("RGB").resize((size, size))
    others = [Image.new("RGB", (size, size), (40 * i, 80, 120)) for i in range(1, frames)]
    return encoded(first, "GIF", save_all=True, append_images=others, duration=100, loop=0)


SVG = b"""<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="512" height="512"><circle cx="256" cy="256" r="200" fill="peachpuff"/></svg>
"""


def iso_media(brand: bytes, size: int = 3000) -> bytes:
    """An ISO-BMFF file (HEIC, AVIF) of the given brand: a valid ftyp box, then random boxes."""
    ftyp = b"ftyp" + brand + b"\0\0\0\0" + b"mif1" + brand
    return struct.pack(">I", len(ftyp) + 4) + ftyp + random_bytes(size)


# --- audio -----------------------------------------------------------------------------------


def wav_stating(*, rate: int = 16_000, channels: int = 1, bits: int = 16, frames: int = 1600, data: bytes | None = None) -> bytes:
    """A PCM WAV whose header states what it is told to, with silence as its data."""
    block = channels * bits // 8
    payload = bytes(block * frames) if data is None else data
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * block, block, bits)
    body = b"WAVEfmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", len(body)) + body


SUBTITLES = b"1\n00:00:00,000 --> 00:00:01,000\nhello there\n"


# --- motion tracks ---------------------------------------------------------------------------


def motion_document(frames: int = 5, fps: float = 25.0) -> dict:
    """A talkinghead.motion JSON document of a still face."""
    from talkinghead.motion.track_io import FORMAT, LEVEL_CHANNELS, VERSION

    return {
        "format": FORMAT,
        "version": VERSION,
        "fps": fps,
        "frames": frames,
        "channels": {level: list(names) for level, names in LEVEL_CHANNELS.items()},
        **{level: [[0.0] * len(names) for _ in range(frames)] for level, names in LEVEL_CHANNELS.items()},
        "meta": {},
    }


def motion_json(document: dict) -> bytes:
    return json.dumps(document).encode()


def motion_csv(header: list[str], rows: list[list]) -> bytes:
    lines = [",".join(header), *(",".join(str(v) for v in row) for row in rows)]
    return ("\n".join(lines) + "\n").encode()


# --- special files ---------------------------------------------------------------------------


def fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def unix_socket(path: Path) -> Path:
    """A socket file left on disk, as a server leaves it (AF_UNIX paths are at most ~107 bytes)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(path))
    return path
