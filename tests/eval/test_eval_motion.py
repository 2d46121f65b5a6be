"""Blinks are counted where they were rendered; head pose follows the renderer's pose channels."""

from __future__ import annotations

import numpy as np
import pytest
from eval_media import FPS

from talkinghead.eval.landmarks import FaceTracker
from talkinghead.eval.motion import eye_aspect_ratio, find_blinks, head_pose, measure_motion, smooth_pose
from talkinghead.audio.activity import runs
from talkinghead.eval.signals import windowed_correlation
from talkinghead.eval.sync import frame_loudness, mouth_aperture
from talkinghead.video.reader import read_frames
from talkinghead.api import Animator
from talkinghead.types import EXPRESSION_CHANNELS, POSE_CHANNELS, MotionTrack

BLINK_STARTS_S = (0.6, 1.9, 2.7, 4.1, 5.3)
BLINK_SHAPE = (0.5, 1.0, 1.0, 0.6, 0.3)  # lids per frame from a blink's start: a fast close, a slower opening (200 ms)


def blink_curve(starts_s, frames: int) -> np.ndarray:
    curve = np.zeros(frames, np.float32)
    for start in starts_s:
        first = int(start * FPS)
        curve[first : first + len(BLINK_SHAPE)] = BLINK_SHAPE
    return curve


def _landmarks(portrait, motion):
    tracker = FaceTracker()
    return np.stack([tracker.update(frame).points for frame in Animator(portrait).frames(motion)])


@pytest.fixture(scope="module")
def blinking(animator):
    frames = int(6 * FPS)
    motion = MotionTrack.still(frames, FPS)
    curve = blink_curve(BLINK_STARTS_S, frames)
    for side in ("blink_left", "blink_right"):
        motion.expression[:, EXPRESSION_CHANNELS.index(side)] = curve
    return _landmarks(animator.portrait, motion), curve


def test_rendered_blinks_are_counted(blinking):
    points, curve = blinking
    found = find_blinks(eye_aspect_ratio(points), FPS)
    assert len(found) == len(BLINK_STARTS_S)
    closed = [int(s * FPS) + 1 for s in BLINK_STARTS_S]  # the first shut frame
    assert np.abs(np.array(found) - closed).max() <= 2


def test_open_eyes_count_no_blink(blinking):
    points, curve = blinking
    open_eyes = points[curve == 0]
    assert find_blinks(eye_aspect_ratio(open_eyes), FPS) == []


def test_blink_rate_per_minute(blinking, speech):
    points, _ = blinking
    result = measure_motion(points, (256, 256), FPS, loudness=None, aperture=np.zeros(len(points)))
    assert result.blinks == 5 and result.blink_rate == pytest.approx(50.0)  # 5 blinks in 6 s
    assert result.synchrony == ()


def test_a_still_face_has_no_synchrony(still, speech):
    """Measurement noise on a photo must not correlate with the speech by chance."""
    tracker = FaceTracker()
    points = np.stack([tracker.update(frame).points for frame in read_frames(still)])
    loudness = frame_loudness(speech, FPS, len(points))
    result = measure_motion(points, (256, 256), FPS, loudness=loudness, aperture=mouth_aperture(points))
    assert [s.window_s for s in result.synchrony] == [0.5, 1.0, 2.0, 4.0]
    assert all(np.isnan(s.head) and np.isnan(s.lips) for s in result.synchrony)


def test_a_talking_head_has_synchrony_at_every_scale(rendered_points, speech):
    loudness = frame_loudness(speech, FPS, len(rendered_points))
    result = measure_motion(rendered_points, (256, 256), FPS, loudness=loudness, aperture=mouth_aperture(rendered_points))
    assert all(np.isfinite(s.head) and np.isfinite(s.lips) for s in result.synchrony)
    assert result.synchrony[0].lips > 0.2  # the lips move with the syllables


def test_blinks_stand_out_of_the_noise():
    rng = np.random.default_rng(0)
    dips = np.ones(250)
    for start in (40, 120, 200):
        dips[start : start + 3] = 0.65
    found = find_blinks(0.33 * dips + rng.normal(0, 0.005, 250), FPS)
    assert len(found) == 3 and all(abs(f - s - 1) <= 1 for f, s in zip(found, (40, 120, 200)))
    # A ratio that wobbles by 10 % (dlib's fit behind glasses) dips below 80 % of its level on
    # ~1.4 % of frames; few of those wobbles count as blinks.
    shaky = 0.33 + rng.normal(0, 0.033, 2500)
    assert len(find_blinks(shaky, FPS)) < len(runs(shaky < 0.8 * 0.33)) / 5


@pytest.mark.parametrize("channel", ["yaw", "pitch", "roll"])
def test_head_pose_follows_the_rendered_pose(animator, channel):
    frames = 40
    motion = MotionTrack.still(frames, FPS)
    turn = np.concatenate([np.linspace(-8, 8, frames // 2), np.linspace(8, -8, frames // 2)]).astype(np.float32)
    motion.pose[:, POSE_CHANNELS.index(channel)] = turn
    pose = smooth_pose(head_pose(_landmarks(animator.portrait, motion), animator.portrait.size), FPS)
    measured = pose[:, ("yaw", "pitch", "roll").index(channel)]
    assert np.corrcoef(measured, turn)[0, 1] > 0.9  # the sign conventions agree with the renderer's
    assert np.ptp(measured) > 6


def test_windowed_correlation_scales():
    rng = np.random.default_rng(0)
    a = rng.standard_normal(500)
    assert windowed_correlation(a, a, 25) == pytest.approx(1.0)
    assert abs(windowed_correlation(a, rng.standard_normal(500), 50)) < 0.1
    assert np.isnan(windowed_correlation(a[:10], a[:10], 25))  # shorter than one window
