"""Portrait photos in: any file Pillow reads, or an array, as (H, W, 3) uint8 RGB."""

from __future__ import annotations

import codecs
import os
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps

from .errors import ImageError

FORMATS_HINT = "give a JPEG, PNG, WebP, BMP or TIFF photo"


def load_image(source: str | os.PathLike | np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB, C-contiguous, always a new array; the caller's array or file is untouched.

    Files: EXIF orientation applied; grey, 16-bit, CMYK and palette images converted; transparent
    areas composited over white. Arrays: (H, W), (H, W, 1), (H, W, 3) RGB or (H, W, 4) RGBA, of
    uint8, uint16 or float in [0, 1].
    """
    if isinstance(source, np.ndarray):
        return _from_array(source, "the image array")
    return _from_array(_read_file(Path(source)), Path(source).name)


def limit_size(image: np.ndarray, max_side: int) -> np.ndarray:
    """Downscale so the longer side is at most `max_side`; the image itself when already small."""
    if max_side < 1:
        raise ValueError(f"max_side must be at least 1, not {max_side}")
    height, width = image.shape[:2]
    scale = max_side / max(height, width)
    if scale >= 1:
        return image
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)  # INTER_AREA: no aliasing


def even_size(image: np.ndarray) -> np.ndarray:
    """The image without its last row / column where H / W is odd (H.264 yuv420p needs even sizes)."""
    height, width = image.shape[:2]
    if height % 2 == 0 and width % 2 == 0:
        return image
    return np.ascontiguousarray(image[: height - height % 2, : width - width % 2])


def _read_file(path: Path) -> np.ndarray:
    """The decoded pixels of an image file, in whatever layout `_from_array` accepts."""
    if path.is_dir():
        raise ImageError(f"{path} is a folder, not an image: {FORMATS_HINT} file")
    if not path.exists():
        raise ImageError(f"{path} does not exist: check the path of the photo")
    if path.stat().st_size == 0:
        raise ImageError(f"{path.name} is empty (0 bytes): {FORMATS_HINT}")
    try:
        with Image.open(path) as img:
            img.load()  # decode everything now, so a truncated file fails here and not later
            img = ImageOps.exif_transpose(img)
            return _pixels(img)
    except PermissionError:
        raise ImageError(f"{path.name} cannot be read (permission denied): check the file's permissions") from None
    except Image.UnidentifiedImageError:
        kind = " (it looks like text)" if _looks_like_text(path) else ""
        raise ImageError(f"{path.name} is not an image file{kind}: {FORMATS_HINT}") from None
    except (OSError, SyntaxError, ValueError) as error:  # Pillow's ways of saying "corrupt"
        raise ImageError(f"{path.name} is damaged or truncated ({error}): save or export it again") from None


def _pixels(img: Image.Image) -> np.ndarray:
    """Pillow image -> array of 1, 3 or 4 channels."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit grey (Pillow keeps it as I;16 or int32 I); Pillow's own convert("L") would clip
        # everything above 255 to white instead of scaling.
        return np.clip(np.asarray(img), 0, 65535).astype(np.uint16)
    if img.mode == "F":
        # Float images carry no range: [0, 1] is the usual one for float photos, 0..255 Pillow's.
        grey = np.asarray(img, np.float32)
        return np.clip(grey if grey.max(initial=0) <= 1 else grey / 255, 0, 1)
    # 48-bit RGB arrives here as 8-bit RGB already: Pillow keeps each sample's high byte.
    return np.asarray(img.convert("RGBA" if img.has_transparency_data else "RGB"))


def _from_array(array: np.ndarray, name: str) -> np.ndarray:
    pixels = array[..., None] if array.ndim == 2 else array
    if pixels.ndim != 3 or pixels.shape[2] not in (1, 3, 4):
        raise ImageError(f"{name} has shape {array.shape}: give (H, W) grey, (H, W, 3) RGB or (H, W, 4) RGBA")
    if pixels.shape[0] == 0 or pixels.shape[1] == 0:
        raise ImageError(f"{name} is empty ({array.shape[1]}x{array.shape[0]} pixels): give a real photo")
    rgba = _to_uint8(pixels, name)
    if rgba.shape[2] == 4:
        rgba = _over_white(rgba)
    rgb = np.repeat(rgba, 3, axis=2) if rgba.shape[2] == 1 else rgba
    return np.array(rgb, np.uint8, order="C")  # always a copy: the caller's array stays theirs


def _to_uint8(pixels: np.ndarray, name: str) -> np.ndarray:
    if pixels.dtype == np.uint8:
        return pixels
    if pixels.dtype == np.uint16:
        return np.round(pixels / 257.0).astype(np.uint8)  # 65535 -> 255 exactly
    if np.issubdtype(pixels.dtype, np.floating):
        if not np.isfinite(pixels).all():
            raise ImageError(f"{name} holds NaN or infinite values: give finite values in [0, 1]")
        low, high = float(pixels.min()), float(pixels.max())
        if low < 0 or high > 1:
            raise ImageError(
                f"{name} is {pixels.dtype} with values in [{low:g}, {high:g}]: "
                "float images must lie in [0, 1] (divide 8-bit values by 255)"
            )
        return np.round(pixels * 255.0).astype(np.uint8)
    raise ImageError(f"{name} has dtype {pixels.dtype}: give uint8, uint16 or float in [0, 1]")


def _over_white(rgba: np.ndarray) -> np.ndarray:
    """RGB of an RGBA uint8 image laid over a white page: transparent corners become white."""
    alpha = rgba[..., 3:].astype(np.float32) / 255.0
    rgb = rgba[..., :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
    return np.round(rgb).astype(np.uint8)


def _looks_like_text(path: Path) -> bool:
    with path.open("rb") as file:
        head = file.read(512)
    try:  # incremental: a character cut at byte 512 is not a decoding error
        codecs.getincrementaldecoder("utf-8")().decode(head)
    except UnicodeDecodeError:
        return False
    return b"\0" not in head
