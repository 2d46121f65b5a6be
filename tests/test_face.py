"""Face analysis and crops on photos a user would bring."""

from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest
from PIL import Image

from talkinghead.errors import FaceError
from talkinghead.face.analysis import analyze_face, detect_faces
from talkinghead.face.crop import PasteBack, crop_portrait, face_crop
from talkinghead.image import load_image


def test_sample_face_is_found_with_sane_geometry(portrait):
    face = portrait.face
    assert face.landmarks.shape == (478, 3)
    assert 80 < face.width < 120 and 90 < face.height < 130  # the astronaut's face, in pixels
    assert abs(face.yaw) < 10 and abs(face.roll) < 10


def test_several_faces_largest_by_default_and_index_picks_left_to_right(photo, caplog):
    small = cv2.resize(photo, (384, 384), interpolation=cv2.INTER_AREA)
    group = np.full((512, 896, 3), 230, np.uint8)
    group[64:448, :384] = small  # smaller face on the left
    group[:, 384:] = photo
    with caplog.at_level(logging.WARNING, logger="talkinghead"):
        chosen = analyze_face(group)
    assert chosen.faces_found == 2 and chosen.face_index == 1
    assert "found 2 faces" in caplog.text and "--face-index" in caplog.text
    left = analyze_face(group, face_index=0)
    assert left.face.box[0] < chosen.face.box[0]
    with pytest.raises(FaceError, match="out of range"):
        analyze_face(group, face_index=2)


def test_small_face_in_a_large_photo_is_found(photo):
    small = cv2.resize(photo, (340, 340), interpolation=cv2.INTER_AREA)
    large = np.full((1350, 1800, 3), 90, np.uint8)
    large[900:1240, 1300:1640] = small
    faces = detect_faces(large)
    assert len(faces) == 1 and 1300 < faces[0].box[0] < 1640


def test_exif_rotated_phone_photo(tmp_path, photo):
    # A camera stores the pixels sideways and an EXIF tag saying how to turn them upright.
    sideways = Image.fromarray(np.ascontiguousarray(np.rot90(photo, 1)))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to view"
    path = tmp_path / "phone.jpg"
    sideways.save(path, exif=exif, quality=95)
    upright = analyze_face(load_image(path))
    assert abs(upright.face.roll) < 10


def test_face_crop_frames_the_head_and_pastes_back_seamlessly(portrait, photo):
    crop = face_crop(portrait.face, portrait.size, size=256, face_expand_ratio=1.2)
    cropped = crop_portrait(portrait, crop)
    assert cropped.image.shape == (256, 256, 3)
    centre = cropped.face.landmarks[:468, :2].mean(0)
    assert np.all(np.abs(centre - 128) < 40)
    paste = PasteBack(photo, crop)
    # Pasting the untouched crop back gives the photo again (resampling noise only)...
    same = paste(cropped.image)
    assert np.abs(same.astype(int) - photo).mean() < 1.0
    # ...and a changed crop changes only the crop's area, fading in at its border.
    bright = np.clip(cropped.image.astype(int) + 60, 0, 255).astype(np.uint8)
    mixed = paste(bright)
    x0, y0, x1, y1 = paste.box
    outside = np.ones(photo.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(mixed[outside], photo[outside])
    inner = (slice((y0 + y1) // 2 - 10, (y0 + y1) // 2 + 10), slice((x0 + x1) // 2 - 10, (x0 + x1) // 2 + 10))
    assert (mixed[inner].astype(int) - photo[inner]).mean() > 40
    # No seam: along a row through the crop's left edge the change ramps up over several pixels.
    row = (mixed[(y0 + y1) // 2, x0 : x0 + 30].astype(int) - photo[(y0 + y1) // 2, x0 : x0 + 30]).mean(1)
    assert np.all(np.diff(row) < 25) and row[-1] > 40
