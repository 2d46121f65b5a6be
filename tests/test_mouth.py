"""The mouth as a viewer sees it, judged on rendered frames by dlib's 68 points (not the
MediaPipe landmarks that drive the renderer): lips that close from any photo, shapes that
differ, an interior without black holes, the photo's own teeth kept in place."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from media import PORTRAIT

from talkinghead.eval.landmarks import detect_boxes, landmarks_in_box
from talkinghead.eval.mouth import MouthShape, mouth_shape
from talkinghead.face import landmarks as lm
from talkinghead.face.analysis import analyze_face
from talkinghead.image import load_image
from talkinghead.motion.lip import lip_curves
from talkinghead.motion.visemes import BY_NAME
from talkinghead.render.warp.renderer import prepare, render_region
from talkinghead.types import EXPRESSION_CHANNELS, LIP_CHANNELS, POSE_CHANNELS, PhoneSegment

PORTRAITS = Path(__file__).resolve().parent / "fixtures" / "portraits"


class Judged:
    """One portrait, rendered with chosen lip values and measured by dlib."""

    def __init__(self, path: Path):
        self.photo = load_image(path)
        self.portrait = analyze_face(self.photo)
        self.prepared = prepare(self.portrait)
        fx0, fy0, fx1, fy1 = self.portrait.face.box
        # dlib's box of the same face: the one nearest the face being animated.
        self.box = min(detect_boxes(self.photo), key=lambda b: abs(b[0] - fx0) + abs(b[2] - fx1) + abs(b[1] - fy0))

    def frame(self, lip: np.ndarray) -> np.ndarray:
        x0, y0, x1, y1 = self.prepared.rig.region
        out = self.photo.copy()
        still = np.zeros(len(EXPRESSION_CHANNELS), np.float32), np.zeros(len(POSE_CHANNELS), np.float32)
        out[y0:y1, x0:x1] = render_region(self.prepared, np.asarray(lip, np.float32), *still, hold_photo_gap=False)
        return out

    def mouth(self, image: np.ndarray) -> MouthShape:
        return mouth_shape(landmarks_in_box(image, self.box))

    def viseme(self, name: str) -> MouthShape:
        return self.mouth(self.frame(BY_NAME[name].shape))


@pytest.fixture(scope="module")
def smile() -> Judged:
    return Judged(PORTRAIT)  # a broad smile showing the teeth


@pytest.fixture(scope="module")
def closed() -> Judged:
    return Judged(PORTRAITS / "hopper_closed.jpg")


@pytest.fixture(scope="module")
def parted() -> Judged:
    return Judged(PORTRAITS / "hopper_parted.jpg")


def test_a_broad_smile_closes_on_m(smile):
    photo = smile.mouth(smile.photo)
    m = smile.viseme("bilabial")
    assert photo.gap > 0.12  # the photo grins with its teeth...
    assert m.gap <= 0.04 and m.gap < 0.25 * photo.gap  # ...and the "m" is closed
    assert m.upper_lip > 0.8 * photo.upper_lip  # by the lips themselves, not by a lip going missing


def test_parted_lips_close_in_a_pause_with_rest_closed_and_keep_the_photo_with_rest_photo(parted):
    speech = [PhoneSegment("AA", 0.0, 0.3), PhoneSegment("SIL", 0.3, 1.5), PhoneSegment("AA", 1.5, 1.8)]
    loudness = np.where((np.arange(45) < 8) | (np.arange(45) > 37), 0.8, 0.0)
    pause = 22  # frame 22 is well inside the pause
    photo = parted.mouth(parted.photo)
    closed_rest = parted.mouth(parted.frame(lip_curves(speech, loudness, 25.0, rest="closed")[pause]))
    photo_rest = parted.mouth(parted.frame(lip_curves(speech, loudness, 25.0, rest="photo")[pause]))
    assert photo.gap > 0.08
    assert closed_rest.gap <= 0.045 and closed_rest.gap < 0.4 * photo.gap
    assert abs(photo_rest.gap - photo.gap) < 0.01


@pytest.mark.parametrize("who", ["smile", "closed"])
def test_rounded_and_spread_mouths_differ_from_each_other_and_from_neutral(who, request):
    judged = request.getfixturevalue(who)
    neutral, ee, oo = judged.mouth(judged.photo), judged.viseme("wide"), judged.viseme("round")
    assert ee.width - oo.width > 0.04  # eye distances
    assert oo.width < neutral.width - 0.03


def test_an_open_mouth_on_the_sample_has_no_black_pixels(smile):
    frame = smile.frame(BY_NAME["open"].shape)
    inner = landmarks_in_box(frame, smile.box).points[60:68]
    mask = np.zeros(frame.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(inner).astype(np.int32)], 1)
    inside = frame[mask.astype(bool)].astype(int)
    assert len(inside) > 40 and smile.viseme("open").gap > 1.1 * smile.mouth(smile.photo).gap
    assert inside.max(1).min() >= 25  # the darkest is a shadowed red, never black


def test_the_photos_own_teeth_stay_put_while_the_jaw_opens(smile):
    """The upper teeth hang from the skull: opening the jaw leaves them where they were."""
    points = smile.portrait.face.landmarks[:, :2]
    upper = points[list(lm.LIPS_INNER_UPPER)]
    lower = points[list(lm.LIPS_INNER_LOWER)]
    # The upper half of the photo's opening: its own upper teeth.
    band = np.concatenate([upper, (0.45 * upper + 0.55 * lower)[::-1]])
    mask = np.zeros(smile.photo.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(band).astype(np.int32)], 1)
    mask = cv2.erode(mask, np.ones((3, 3), np.uint8)).astype(bool)
    jaw = np.zeros(len(LIP_CHANNELS), np.float32)
    jaw[[LIP_CHANNELS.index("jaw_open"), LIP_CHANNELS.index("articulate")]] = (0.8, 1.0)
    jaw[LIP_CHANNELS.index("lips_wide")] = smile.prepared.rig.mouth.wide  # the smile's own width
    opened = smile.frame(jaw)
    assert mask.sum() > 30
    assert np.abs(opened[mask].astype(int) - smile.photo[mask]).mean() < 12
