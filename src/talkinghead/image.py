"""Portrait photos in: any file Pillow reads, or an array, as (H, W, 3) uint8 RGB.

What each kind of file gets (as ImageMagick would, short of guessing):

    a photo of more than `max_pixels`   refused from its header, before any decoding
    0 bytes, truncated, corrupt         refused: save or export it again
    an animated GIF/WebP, a multi-page  its first frame, with a warning
    TIFF
    HEIC/HEIF, AVIF                     read when this Pillow can (pillow-heif installed, AVIF
                                        built in), else refused with what to install
    SVG (a drawing, no pixels)          refused: convert it to PNG
    text, or anything else              refused: which formats to give
"""

from __future__ import annotations

import codecs
import logging
import os
import re
import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, features

from .config import FaceConfig
from .errors import ImageError

log = logging.getLogger("talkinghead")

FORMATS_HINT = "give a JPEG, PNG, WebP, BMP or TIFF photo"
MAX_PIXELS = FaceConfig.max_pixels  # the --max-pixels default
MIN_SIDE = 64  # px: a photo must hold the smallest face analysis takes (face.analysis.MIN_FACE_SIZE)
HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"}
AVIF_BRANDS = {b"avif", b"avis"}


def load_image(source: str | os.PathLike | np.ndarray, *, max_pixels: int | None = MAX_PIXELS) -> np.ndarray:
    """(H, W, 3) uint8 RGB, C-contiguous, always a new array; the caller's array or file is untouched.

    Files: EXIF orientation applied; grey, 16-bit, CMYK and palette images converted; transparent
    areas composited over white; an animation's first frame. A file of more than `max_pixels`
    pixels (None: no limit) is refused before it is decoded. Arrays: (H, W), (H, W, 1),
    (H, W, 3) RGB or (H, W, 4) RGBA, of uint8, uint16 or float in [0, 1].
    """
    if isinstance(source, np.ndarray):
        return _from_array(source, "the image array")
    return _from_array(_read_file(Path(source), max_pixels), Path(source).name)


def portrait_photo(
    source: str | os.PathLike | np.ndarray, *, max_pixels: int | None = MAX_PIXELS, max_side: int, min_side: int = MIN_SIDE
) -> np.ndarray:
    """The photo as face analysis takes it: loaded (see load_image), checked to hold at least
    `min_side` pixels each way, scaled down to `max_side`, trimmed to even sides."""
    image = load_image(source, max_pixels=max_pixels)
    height, width = image.shape[:2]
    if min(height, width) < min_side:
        name = Path(source).name if not isinstance(source, np.ndarray) else "the image array"
        raise ImageError(
            f"{name} is {width}x{height} pixels; a face needs at least {min_side} px across: "
            f"give a photo of at least {min_side}x{min_side} pixels (256 or more works best)"
        )
    return even_size(limit_size(image, max_side))


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


def _read_file(path: Path, max_pixels: int | None) -> np.ndarray:
    """The decoded pixels of an image file, in whatever layout `_from_array` accepts."""
    if path.is_dir():
        raise ImageError(f"{path} is a folder, not an image: {FORMATS_HINT} file")
    if not path.exists():
        raise ImageError(f"{path} does not exist: check the path of the photo")
    if not path.is_file():
        raise ImageError(f"{path} is not a regular file (a device or a pipe): save the photo to a file and give that")
    if path.stat().st_size == 0:
        raise ImageError(f"{path.name} is empty (0 bytes): {FORMATS_HINT}")
    _register_heif()
    with warnings.catch_warnings(record=True) as caught:  # Pillow's complaints, as one log line each
        warnings.simplefilter("always")
        pixels = _decode(path, max_pixels)  # when it fails, its error alone is what the user reads
    for warning in caught:
        if not issubclass(warning.category, Image.DecompressionBombWarning):
            log.warning("%s: %s", path.name, str(warning.message).strip().splitlines()[0])
    return pixels


def _decode(path: Path, max_pixels: int | None) -> np.ndarray:
    try:
        with _open(path, max_pixels) as img:
            _check_pixels(path.name, *img.size, max_pixels)
            frames = getattr(img, "n_frames", 1)
            if frames > 1:
                log.warning("%s holds %d frames (an animation or several pages): animating the first", path.name, frames)
            img.load()  # decode everything now, so a truncated file fails here and not later
            return _pixels(_upright(img, path.name))
    except ImageError:
        raise
    except PermissionError:
        raise ImageError(f"{path.name} cannot be read (permission denied): check the file's permissions") from None
    except Image.UnidentifiedImageError:
        raise ImageError(f"{path.name} {_not_an_image(path)}") from None
    except MemoryError:
        raise ImageError(f"{path.name} is too large to decode in this memory: scale it down, e.g. to 4000 px on its longer side") from None
    except Exception as error:  # noqa: BLE001 - Pillow says "corrupt" in many ways: OSError, SyntaxError, struct.error, ...
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ImageError(f"{path.name} is damaged or truncated ({detail}): save or export it again") from None


def _upright(img: Image.Image, name: str) -> Image.Image:
    """EXIF orientation applied; a photo whose EXIF block is damaged is taken as stored."""
    try:
        return ImageOps.exif_transpose(img)
    except Exception as error:  # noqa: BLE001 - damaged EXIF: the pixels are still good
        log.warning("%s has damaged EXIF data (%s): its orientation tag is ignored", name, error)
        return img


def _open(path: Path, max_pixels: int | None) -> Image.Image:
    """Image.open with our pixel limit instead of Pillow's: its decompression-bomb check
    (a warning past 89 MP, an error past 179 MP) never reaches the user."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            return Image.open(path)
        except Image.DecompressionBombError as error:
            pixels = re.search(r"\((\d+) pixels\)", str(error))
            count = int(pixels[1]) if pixels else None
            if max_pixels is not None and (count is None or count > max_pixels):
                _refuse_size(path.name, _megapixels(count) if count else "larger than Pillow allows", max_pixels)
        # Above Pillow's own limit but within the caller's: open with Pillow's check lifted.
        limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            return Image.open(path)
        finally:
            Image.MAX_IMAGE_PIXELS = limit


def _check_pixels(name: str, width: int, height: int, max_pixels: int | None) -> None:
    if max_pixels is not None and width * height > max_pixels:
        _refuse_size(name, f"{width}x{height} pixels ({_megapixels(width * height)})", max_pixels)


def _refuse_size(name: str, size: str, max_pixels: int) -> None:
    raise ImageError(
        f"{name} is {size}, more than the limit of {_megapixels(max_pixels)} (--max-pixels): "
        "scale it down (e.g. to 4000 px on its longer side) or raise --max-pixels"
    )


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1e6:,.0f} MP" if pixels >= 10e6 else f"{pixels / 1e6:.2g} MP"


def _register_heif() -> None:
    """Let Pillow read HEIC/HEIF photos when pillow-heif is installed (once)."""
    global _heif_checked, _heif_registered
    if _heif_checked:
        return
    _heif_checked = True
    try:
        from pillow_heif import register_heif_opener
    except ImportError:
        return
    register_heif_opener()
    _heif_registered = True


_heif_checked = _heif_registered = False


def _not_an_image(path: Path) -> str:
    """Why Pillow could not identify `path`, and what to do: the rest of a one-line message."""
    with path.open("rb") as file:
        head = file.read(512)
    brand = head[8:12] if head[4:8] == b"ftyp" else None
    if brand in HEIF_BRANDS and not _heif_registered:
        return "is a HEIC/HEIF photo, which this installation cannot read: pip install pillow-heif, or convert it to JPEG"
    if brand in AVIF_BRANDS and not features.check("avif"):
        return "is an AVIF photo, which this Pillow cannot read: install a Pillow built with AVIF (pip install -U pillow), or convert it to JPEG"
    if brand in HEIF_BRANDS | AVIF_BRANDS:
        return "is a damaged HEIF/AVIF photo: save or export it again"
    text = _as_text(head)
    if path.suffix.lower() in (".svg", ".svgz") or (text is not None and re.search(r"<svg[\s>]", text)):
        return f"is an SVG drawing, not a photo: convert it to PNG first (e.g. rsvg-convert -w 1024 -o photo.png {path.name})"
    kind = " (it looks like text)" if text is not None else ""
    return f"is not an image file{kind}: {FORMATS_HINT}"


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


def _as_text(head: bytes) -> str | None:
    """`head` decoded as UTF-8 text, None when it is binary."""
    if b"\0" in head:
        return None
    try:  # incremental: a character cut at byte 512 is not a decoding error
        return codecs.getincrementaldecoder("utf-8")().decode(head)
    except UnicodeDecodeError:
        return None
