from __future__ import annotations

import warnings

import cv2
import numpy as np
import pytest
from PIL import Image

from talkinghead.errors import ImageError
from talkinghead.image import even_size, limit_size, load_image

GREY16 = np.array([[0, 128, 129, 256, 383], [32767, 32896, 65279, 65534, 65535]], np.uint16)


def _rgb_of(grey: np.ndarray) -> np.ndarray:
    return np.repeat(grey[..., None], 3, axis=2).astype(np.uint8)


def _check_rgb(image: np.ndarray, shape: tuple[int, int]) -> None:
    assert image.dtype == np.uint8 and image.shape == (*shape, 3) and image.flags.c_contiguous


# --- files of every kind ---------------------------------------------------------------------


def test_rgb_png_is_exact(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (6, 8, 3), np.uint8)
    Image.fromarray(pixels).save(tmp_path / "photo.png")
    np.testing.assert_array_equal(load_image(tmp_path / "photo.png"), pixels)


def test_grey_8bit(tmp_path):
    Image.fromarray(np.full((4, 6), 100, np.uint8)).save(tmp_path / "grey.png")
    image = load_image(str(tmp_path / "grey.png"))
    _check_rgb(image, (4, 6))
    assert (image == 100).all()


def test_grey_16bit_png_is_scaled_not_clipped(tmp_path):
    Image.fromarray(GREY16).save(tmp_path / "grey16.png")
    assert Image.open(tmp_path / "grey16.png").mode == "I;16"
    np.testing.assert_array_equal(load_image(tmp_path / "grey16.png"), _rgb_of(np.round(GREY16 / 257)))


def test_grey_32bit_int_tiff_is_read_as_16bit(tmp_path):
    Image.fromarray(GREY16.astype(np.int32)).save(tmp_path / "grey.tif")
    assert Image.open(tmp_path / "grey.tif").mode == "I"
    np.testing.assert_array_equal(load_image(tmp_path / "grey.tif"), _rgb_of(np.round(GREY16 / 257)))


@pytest.mark.parametrize("scale", [1.0, 255.0])
def test_float_tiff_in_either_range(tmp_path, scale):
    grey = np.array([[0.0, 0.5, 1.0]], np.float32)
    Image.fromarray(grey * scale).save(tmp_path / "float.tif")
    assert Image.open(tmp_path / "float.tif").mode == "F"
    np.testing.assert_array_equal(load_image(tmp_path / "float.tif"), _rgb_of(np.array([[0, 128, 255]])))


def test_rgb_48bit_png_keeps_its_tones(tmp_path):
    # 16-bit values the low byte alone would scramble (256 -> 0, 65279 -> 255)
    values = np.array([0, 256, 383, 32896, 65279, 65535], np.uint16)
    pixels = np.stack([values, values[::-1], np.full_like(values, 40000)], axis=1)[None]
    cv2.imwrite(str(tmp_path / "deep.png"), pixels[..., ::-1])  # cv2 writes 16-bit BGR
    image = load_image(tmp_path / "deep.png").astype(int)
    # Pillow keeps each sample's high byte: at most one level under exact rounding.
    assert np.abs(image - np.round(pixels / 257)).max() <= 1


def test_rgba_is_composited_over_white(tmp_path):
    rgba = np.zeros((2, 3, 4), np.uint8)
    rgba[0] = (255, 0, 0, 255)  # opaque red
    rgba[1] = (255, 0, 0, 0)  # fully transparent
    rgba[1, 2] = (0, 0, 255, 128)  # half-transparent blue
    Image.fromarray(rgba).save(tmp_path / "cutout.png")
    image = load_image(tmp_path / "cutout.png")
    assert (image[0] == (255, 0, 0)).all()
    assert (image[1, :2] == 255).all()
    np.testing.assert_array_equal(image[1, 2], (127, 127, 255))


def test_grey_with_alpha(tmp_path):
    Image.fromarray(np.dstack([np.zeros((2, 2), np.uint8), np.array([[255, 0], [0, 255]], np.uint8)]), "LA").save(
        tmp_path / "la.png"
    )
    image = load_image(tmp_path / "la.png")
    np.testing.assert_array_equal(image[..., 0], [[0, 255], [255, 0]])


def test_palette_with_and_without_transparency(tmp_path):
    indices = np.array([[0, 1], [1, 0]], np.uint8)
    img = Image.fromarray(indices, "P")
    img.putpalette([10, 200, 30, 0, 0, 0] + [0] * 762)
    img.save(tmp_path / "opaque.png")
    img.save(tmp_path / "transparent.png", transparency=1)
    np.testing.assert_array_equal(load_image(tmp_path / "opaque.png")[0], [(10, 200, 30), (0, 0, 0)])
    np.testing.assert_array_equal(load_image(tmp_path / "transparent.png")[0], [(10, 200, 30), (255, 255, 255)])


def test_cmyk(tmp_path):
    cmyk = np.array([[(0, 0, 0, 0), (0, 255, 255, 0), (0, 0, 0, 255)]], np.uint8)
    Image.fromarray(cmyk, "CMYK").save(tmp_path / "print.tif")
    np.testing.assert_array_equal(load_image(tmp_path / "print.tif")[0], [(255, 255, 255), (255, 0, 0), (0, 0, 0)])


def test_exif_orientation_is_applied(tmp_path):
    pixels = np.zeros((20, 40, 3), np.uint8)
    pixels[:, :20] = (255, 0, 0)  # left half red
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display": a phone held upright
    Image.fromarray(pixels).save(tmp_path / "phone.jpg", exif=exif, quality=95)
    image = load_image(tmp_path / "phone.jpg")
    _check_rgb(image, (40, 20))
    assert image[5, 10, 0] > 200 and image[35, 10, 0] < 50  # the left half is now the top half


def test_file_is_not_modified(tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray(np.zeros((4, 4, 4), np.uint8)).save(path)
    before = path.read_bytes(), path.stat().st_mtime_ns
    load_image(path)
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before


# --- arrays ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "array, expected",
    [
        (np.full((2, 3), 7, np.uint8), 7),
        (np.full((2, 3, 1), 7, np.uint8), 7),
        (np.full((2, 3, 3), 7, np.uint8), 7),
        (np.full((2, 3, 4), 7, np.uint8), 248),  # alpha 7/255: almost transparent, over white
        (np.full((2, 3, 3), 257 * 7, np.uint16), 7),
        (np.full((2, 3), 7 / 255, np.float32), 7),
        (np.full((2, 3, 3), 7 / 255, np.float64), 7),
    ],
)
def test_arrays(array, expected):
    before = array.copy()
    image = load_image(array)
    _check_rgb(image, (2, 3))
    assert (image == expected).all()
    np.testing.assert_array_equal(array, before)
    assert not np.shares_memory(image, array)


def test_rgb_uint8_array_is_a_copy():
    array = np.zeros((4, 4, 3), np.uint8)
    image = load_image(array)
    image[:] = 9
    assert (array == 0).all()


@pytest.mark.parametrize(
    "array, words",
    [
        (np.zeros((2, 3, 2), np.uint8), "(2, 3, 2)"),
        (np.zeros((1, 2, 3, 3), np.uint8), "(1, 2, 3, 3)"),
        (np.zeros(5, np.uint8), "(5,)"),
        (np.zeros((0, 4, 3), np.uint8), "empty"),
        (np.zeros((4, 4, 3), np.int32), "int32"),
        (np.full((4, 4, 3), 255.0), "[0, 1]"),
        (np.full((4, 4, 3), np.nan), "NaN"),
    ],
)
def test_bad_arrays(array, words):
    with pytest.raises(ImageError) as caught:
        load_image(array)
    assert words in str(caught.value) and "\n" not in str(caught.value)


# --- errors ----------------------------------------------------------------------------------


def _error(source) -> str:
    with pytest.raises(ImageError) as caught:
        load_image(source)
    message = str(caught.value)
    assert "\n" not in message and ": " in message  # one line: what is wrong: what to do
    return message


def test_missing_file(tmp_path):
    assert "does not exist" in _error(tmp_path / "nope.jpg")


def test_directory(tmp_path):
    assert "folder" in _error(tmp_path)


def test_text_file(tmp_path):
    (tmp_path / "photo.jpg").write_text("these are my notes, not a photo — ünïcode too\n" * 20)
    message = _error(tmp_path / "photo.jpg")
    assert message.startswith("photo.jpg is not an image file (it looks like text)") and "PNG" in message


def test_binary_junk(tmp_path):
    (tmp_path / "photo.png").write_bytes(bytes(range(256)) * 4)
    assert "is not an image file:" in _error(tmp_path / "photo.png")


def test_empty_file(tmp_path):
    (tmp_path / "photo.jpg").write_bytes(b"")
    assert "empty" in _error(tmp_path / "photo.jpg")


@pytest.mark.parametrize("suffix", ["jpg", "png"])
def test_truncated(tmp_path, suffix):
    path = tmp_path / f"photo.{suffix}"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64, 3), np.uint8)).save(path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    assert "damaged or truncated" in _error(path)


def test_corrupt_png(tmp_path):
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (32, 32, 3), np.uint8)).save(tmp_path / "a.png")
    data = bytearray((tmp_path / "a.png").read_bytes())
    data[200] ^= 0xFF  # inside the compressed pixel data
    (tmp_path / "a.png").write_bytes(bytes(data))
    assert "damaged or truncated" in _error(tmp_path / "a.png")


# --- sizes -----------------------------------------------------------------------------------


def test_limit_size():
    image = np.zeros((100, 50, 3), np.uint8)
    assert limit_size(image, 40).shape == (40, 20, 3)
    assert limit_size(image, 100) is image
    with pytest.raises(ValueError):
        limit_size(image, 0)


def test_limit_size_averages():
    image = np.zeros((4, 4, 3), np.uint8)
    image[:, ::2] = 200  # stripes: area averaging gives grey, not one of the stripes
    assert (limit_size(image, 2) == 100).all()


@pytest.mark.parametrize("shape", [(5, 7), (4, 7), (5, 6), (4, 6)])
def test_even_size(shape):
    expected = (4, 6)
    image = np.arange(np.prod(shape) * 3, dtype=np.uint8).reshape(*shape, 3)
    trimmed = even_size(image)
    assert trimmed.shape[:2] == expected and trimmed.flags.c_contiguous
    np.testing.assert_array_equal(trimmed, image[: expected[0], : expected[1]])


# --- hardening: limits, animations, other formats ---------------------------------------------


def test_the_minimum_photo_holds_the_minimum_face():
    from talkinghead.face.analysis import MIN_FACE_SIZE
    from talkinghead.image import MIN_SIDE

    assert MIN_SIDE == MIN_FACE_SIZE


def test_a_photo_too_small_for_a_face_is_named_with_its_size():
    from talkinghead.image import portrait_photo

    with pytest.raises(ImageError, match=r"the image array is 40x30 pixels; a face needs at least 64 px"):
        portrait_photo(np.zeros((30, 40, 3), np.uint8), max_side=1920)
    assert portrait_photo(np.zeros((65, 101, 3), np.uint8), max_side=1920).shape == (64, 100, 3)


def _png_stating(path, width, height):
    import struct
    import zlib

    Image.new("L", (1, 1)).save(path)
    data = bytearray(path.read_bytes())
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))
    return path


def test_the_pixel_limit_is_ours_not_pillows(tmp_path):
    path = _png_stating(tmp_path / "big.png", 15_000, 15_000)  # 225 MP: past Pillow's own error limit
    assert "15,000" not in _error(path) and "225 MP" in _error(path)
    with pytest.raises(ImageError, match="more than the limit of 0.01 MP"):
        load_image(_png_stating(tmp_path / "small.png", 200, 200), max_pixels=10_000)
    # Raised past Pillow's limit, the header passes and the (missing) pixels are what fails.
    limit = Image.MAX_IMAGE_PIXELS
    with pytest.raises(ImageError, match="damaged or truncated"):
        load_image(path, max_pixels=300_000_000)
    assert Image.MAX_IMAGE_PIXELS == limit  # Pillow's own setting is put back


def test_an_animation_gives_its_first_frame(tmp_path, caplog):
    frames = [Image.new("RGB", (8, 8), colour) for colour in ((200, 10, 10), (10, 200, 10), (10, 10, 200))]
    frames[0].save(tmp_path / "wave.gif", save_all=True, append_images=frames[1:], duration=100)
    with caplog.at_level("WARNING", logger="talkinghead"):
        image = load_image(tmp_path / "wave.gif")
    assert tuple(image[4, 4]) == (200, 10, 10)
    assert "wave.gif holds 3 frames" in caplog.text


@pytest.mark.skipif(not __import__("PIL.features").features.check("avif"), reason="this Pillow reads no AVIF")
def test_avif_is_read(tmp_path):
    Image.new("RGB", (16, 16), (30, 120, 200)).save(tmp_path / "photo.avif", quality=95)
    assert np.abs(load_image(tmp_path / "photo.avif").astype(int) - (30, 120, 200)).max() < 12


def test_damaged_exif_is_ignored(tmp_path, caplog):
    path = tmp_path / "phone.jpg"
    Image.new("RGB", (8, 6), (90, 90, 90)).save(path, exif=b"Exif\0\0MM\0*\0\0\0\x08\xff\xff")  # an IFD of 65535 entries, cut
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing reaches Python's warnings (several lines on stderr)...
        with caplog.at_level("WARNING", logger="talkinghead"):
            assert load_image(path).shape == (6, 8, 3)
    assert "phone.jpg: Corrupt EXIF data" in caplog.text  # ...but one log line


def test_svg_and_heic_say_what_to_do(tmp_path):
    (tmp_path / "logo.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"/>')
    assert "convert it to PNG" in _error(tmp_path / "logo.svg")
    (tmp_path / "phone.heic").write_bytes(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic" + bytes(200))
    assert "HEIC" in _error(tmp_path / "phone.heic") or "damaged" in _error(tmp_path / "phone.heic")
