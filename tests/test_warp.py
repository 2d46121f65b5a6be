"""The warp renderer, one channel at a time, judged on re-detected landmarks and on pixels."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from measure import face_points, mouth_opening

from talkinghead.face import landmarks as lm
from talkinghead.face.analysis import analyze_face, head_pose
from talkinghead.render.warp.renderer import prepare, render_region
from talkinghead.types import EXPRESSION_CHANNELS, LIP_CHANNELS, POSE_CHANNELS


def _values(names, **channels) -> np.ndarray:
    v = np.zeros(len(names), np.float32)
    for name, value in channels.items():
        v[names.index(name)] = value
    return v


class Still:
    """Renders single frames of a portrait with chosen channel values."""

    def __init__(self, photo: np.ndarray):
        self.photo = photo
        self.prepared = prepare(analyze_face(photo))

    def __call__(self, lip=None, expression=None, pose=None) -> np.ndarray:
        """Lip shapes given are articulated fully (absolute shapes); none: the photo's mouth."""
        x0, y0, x1, y1 = self.prepared.rig.region
        frame = self.photo.copy()
        frame[y0:y1, x0:x1] = render_region(
            self.prepared,
            _values(LIP_CHANNELS, **({"articulate": 1.0, **lip} if lip else {})),
            _values(EXPRESSION_CHANNELS, **(expression or {})),
            _values(POSE_CHANNELS, **(pose or {})),
            hold_photo_gap=False,
        )
        return frame


@pytest.fixture(scope="module")
def still(photo):
    return Still(photo)


@pytest.fixture(scope="module")
def closed_mouth_photo(photo, portrait):
    """The sample with its (smiling, open) mouth painted shut from the lips around it."""
    points = portrait.face.landmarks
    inner = np.concatenate([points[list(lm.LIPS_INNER_UPPER), :2], points[list(lm.LIPS_INNER_LOWER), :2][::-1]])
    mask = np.zeros(photo.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(inner).astype(np.int32)], 255)
    return cv2.inpaint(photo, cv2.dilate(mask, np.ones((3, 3), np.uint8)), 5, cv2.INPAINT_TELEA)


def test_jaw_opens_the_mouth_in_proportion(still):
    openings = [mouth_opening(face_points(still(lip={"jaw_open": v}))) for v in (0, 0.3, 0.6, 1.0)]
    assert all(b > a + 0.01 for a, b in zip(openings, openings[1:])), openings


def _area(points: np.ndarray, upper: tuple[int, ...], lower: tuple[int, ...], shape, grow: int = 2) -> np.ndarray:
    """Boolean mask of the opening between two contours, grown by a few pixels."""
    polygon = np.concatenate([points[list(upper), :2], points[list(lower), :2][::-1]])
    mask = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(polygon).astype(np.int32)], 1)
    return cv2.dilate(mask, np.ones((2 * grow + 1, 2 * grow + 1), np.uint8)).astype(bool)


def _grey(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(int)


def _white(image: np.ndarray) -> np.ndarray:
    """Teeth-like pixels: bright and colourless (lips are bright too, but pink)."""
    rgb = image.astype(int)
    return (rgb.min(2) > 140) & (rgb.max(2) - rgb.min(2) < 45)


def test_pressed_lips_close_an_open_photo_mouth(still, portrait, photo):
    mouth = _area(portrait.face.landmarks, lm.LIPS_INNER_UPPER, lm.LIPS_INNER_LOWER, photo.shape, 0)
    teeth_before = _white(photo)[mouth].sum()
    teeth_after = _white(still(lip={"lips_press": 1}))[mouth].sum()
    assert teeth_before > 50 and teeth_after < 0.25 * teeth_before  # left: the lip's own highlight


def _iris_pixels(frame: np.ndarray, portrait) -> int:
    """Dark (iris and pupil) pixels inside both eye openings of the photo."""
    points, grey = portrait.face.landmarks, _grey(frame)
    eyes = _area(points, lm.RIGHT_EYE_UPPER, lm.RIGHT_EYE_LOWER, frame.shape, 0) | _area(points, lm.LEFT_EYE_UPPER, lm.LEFT_EYE_LOWER, frame.shape, 0)
    return int((grey[eyes] < 90).sum())


def test_blink_covers_the_eyes_with_lids(still, portrait, photo):
    open_eyes = _iris_pixels(photo, portrait)
    closed = still(expression={"blink_left": 1, "blink_right": 1})
    half = still(expression={"blink_left": 0.5, "blink_right": 0.5})
    assert open_eyes > 30
    assert _iris_pixels(closed, portrait) < 0.15 * open_eyes  # what is left is the lash line
    assert _iris_pixels(closed, portrait) < _iris_pixels(half, portrait) < 0.9 * open_eyes
    # The lids that cover them are skin, not a dark smear.
    eyes = _area(portrait.face.landmarks, lm.RIGHT_EYE_UPPER, lm.RIGHT_EYE_LOWER, photo.shape, 0)
    assert _grey(closed)[eyes].mean() > 0.8 * _grey(photo)[portrait.face.box[1] + 5, (portrait.face.box[0] + portrait.face.box[2]) // 2]


def test_gaze_turns_the_irises(still, portrait):
    before = portrait.face.landmarks[[lm.RIGHT_IRIS_CENTRE, lm.LEFT_IRIS_CENTRE], :2]
    after = face_points(still(expression={"gaze_x": 1}))[[lm.RIGHT_IRIS_CENTRE, lm.LEFT_IRIS_CENTRE], :2]
    shift = after - before
    assert np.all(shift[:, 0] > 1.5) and np.all(np.abs(shift[:, 1]) < 1.5)


@pytest.mark.parametrize("channel, index", [("yaw", 0), ("pitch", 1), ("roll", 2)])
def test_head_rotation_is_seen_in_3d(still, portrait, channel, index):
    before = np.array(head_pose(portrait.face.landmarks))
    plus = np.array(head_pose(face_points(still(pose={channel: 8}))))
    minus = np.array(head_pose(face_points(still(pose={channel: -8}))))
    assert plus[index] - before[index] > 3 and before[index] - minus[index] > 3


def test_a_turned_head_keeps_its_detail(still, portrait, photo):
    x0, y0, x1, y1 = portrait.face.box

    def sharpness(image):
        grey = cv2.cvtColor(image[y0:y1, x0:x1], cv2.COLOR_RGB2GRAY).astype(np.float64)
        return cv2.Laplacian(grey, cv2.CV_64F).var()

    moved = still(lip={"jaw_open": 0.3}, pose={"yaw": 4, "pitch": 2, "shift_x": 0.01})
    assert sharpness(moved) > 0.6 * sharpness(photo)


def test_a_closed_mouth_opens_onto_teeth_and_a_dark_cavity_not_a_hole(closed_mouth_photo):
    still = Still(closed_mouth_photo)
    assert not still.prepared.rig.mouth_open
    rest = still()
    assert np.abs(rest.astype(int) - closed_mouth_photo).max() <= 1  # at rest: the photo itself
    open_frame = still(lip={"jaw_open": 0.7})
    inside = _area(face_points(open_frame), lm.LIPS_INNER_UPPER, lm.LIPS_INNER_LOWER, open_frame.shape, 0)
    grey = _grey(open_frame)[inside]
    assert inside.sum() > 60
    assert np.mean(_white(open_frame)[inside]) > 0.15  # teeth
    assert np.mean(grey < 80) > 0.15  # cavity
    assert np.mean(grey < 10) < 0.05  # not a black hole


def test_expression_moves_only_eyes_and_brows(still, photo, portrait):
    frame = still(expression={"blink_left": 1, "blink_right": 1, "brow_up": 1, "gaze_x": 0.5})
    changed = np.abs(frame.astype(int) - photo).max(2) > 12
    points = portrait.face.landmarks
    mouth_and_chin = points[list(lm.LIPS_OUTER_LOWER + lm.LIPS_OUTER_UPPER + (lm.CHIN,)), :2]
    x0, y0 = mouth_and_chin.min(0).astype(int) - 3
    x1, y1 = mouth_and_chin.max(0).astype(int) + 3
    assert not changed[y0:y1, x0:x1].any()
    nose_tip_y = int(points[lm.NOSE_TIP, 1])
    assert changed[:nose_tip_y].sum() > 50 and not changed[nose_tip_y + 3 :].any()


def test_lips_move_only_the_lower_face(still, photo, portrait):
    frame = still(lip={"jaw_open": 0.6, "lips_wide": 0.5})
    changed = np.abs(frame.astype(int) - photo).max(2) > 12
    eyes_y = int(portrait.face.landmarks[list(lm.RIGHT_EYE_LOWER + lm.LEFT_EYE_LOWER), 1].max())
    assert not changed[: eyes_y + 3].any()
    assert changed.sum() > 200


def test_a_mesh_moved_by_an_affine_map_gives_exactly_that_backward_field():
    from talkinghead.render.warp.raster import backward_field

    rng = np.random.default_rng(0)
    # A jittered grid mesh over 0..60 px, two triangles per cell.
    ys, xs = np.mgrid[0:7, 0:7]
    source = np.stack([xs.ravel() * 10.0, ys.ravel() * 10.0], 1) + rng.uniform(-2, 2, (49, 2)) * (0 < xs.ravel()[:, None] % 6)
    cells = [(r * 7 + c, r * 7 + c + 1, r * 7 + c + 8, r * 7 + c + 7) for r in range(6) for c in range(6)]
    triangles = np.array([t for a, b, c, d in cells for t in ((a, b, c), (a, c, d))])
    affine = np.array([[1.1, 0.15, 3.0], [-0.1, 0.95, 5.0]])  # target = A · source + b
    target = source @ affine[:, :2].T + affine[:, 2]
    step = 2
    field = backward_field(target, source, triangles, (40, 40), step, outside=np.nan)
    gy, gx = np.mgrid[0:40, 0:40]
    pixels = np.dstack([(gx + 0.5) * step - 0.5, (gy + 0.5) * step - 0.5])
    expected = (pixels - affine[:, 2]) @ np.linalg.inv(affine[:, :2]).T - pixels  # source − target
    covered = ~np.isnan(field[..., 0])
    assert covered.sum() > 600  # the moved mesh covers most of the grid
    np.testing.assert_allclose(field[covered], expected[covered], atol=1e-3)
