"""Jitter ignores rigid head motion and grows with landmark noise; flicker sees the background only."""

from __future__ import annotations

import numpy as np
import pytest

from talkinghead.eval.stability import BackgroundFlicker, align_rigidly, landmark_jitter


def _moving_head(rendered_points, frames=100):
    """The first frame's landmarks turned, scaled and moved smoothly: rigid motion only."""
    base = rendered_points[0].astype(np.float64)
    centre = base.mean(0)
    t = np.linspace(0, 2 * np.pi, frames)
    out = []
    for angle, scale, dx in zip(0.2 * np.sin(t), 1 + 0.1 * np.sin(2 * t), 20 * np.cos(t)):
        rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        out.append((base - centre) @ rotation.T * scale + centre + [dx, 0])
    return np.array(out, np.float32)


def test_rigid_motion_is_not_jitter(rendered_points):
    assert landmark_jitter(_moving_head(rendered_points)) < 0.01


def test_landmark_noise_is_jitter(rendered_points):
    head = _moving_head(rendered_points)
    rng = np.random.default_rng(0)
    small = landmark_jitter(head + rng.normal(0, 0.5, head.shape).astype(np.float32))
    large = landmark_jitter(head + rng.normal(0, 2.0, head.shape).astype(np.float32))
    assert 0.2 < small < large and large == pytest.approx(4 * small, rel=0.25)


def test_frames_without_a_face_are_skipped(rendered_points):
    points = _moving_head(rendered_points).copy()
    points[40:45] = np.nan
    assert np.isfinite(landmark_jitter(points))
    assert np.isnan(align_rigidly(points)[42]).all()


def _frames(noise: float, count: int = 10):
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (240, 320, 3)).astype(np.float32)
    for _ in range(count):
        frame = base.copy()
        frame[:, :40] += rng.normal(0, noise, frame[:, :40].shape)  # a flickering strip at the left edge
        yield np.clip(frame, 0, 255).astype(np.uint8)


def test_background_flicker():
    box = np.array([120.0, 60.0, 200.0, 160.0])  # a face in the middle
    steady, flickering = BackgroundFlicker(), BackgroundFlicker()
    for frame in _frames(0.0):
        steady.add(frame, box)
    for frame in _frames(20.0):
        flickering.add(frame, box)
    assert steady.result()[0] == 0.0
    assert flickering.result()[0] > 1.0
    assert 0.3 < steady.result()[1] < 0.9


def test_changes_inside_the_head_region_are_not_flicker():
    box = np.array([100.0, 60.0, 220.0, 160.0])
    flicker = BackgroundFlicker()
    rng = np.random.default_rng(0)
    for _ in range(5):
        frame = np.full((240, 320, 3), 128, np.uint8)
        frame[60:, 100:220] = rng.integers(0, 255, (180, 120, 3))  # the face and body change, nothing else
        flicker.add(frame, box)
    assert flicker.result()[0] < 0.5


def test_a_still_face_gives_steady_landmarks(tmp_path):
    """The box must not chase the fit: on this grainy photo that once made the mouth 'tremble'
    (a cycle of box and fit) and the eyes 'blink' about once a second."""
    from eval_media import other_person, write_video

    from talkinghead.api import Animator
    from talkinghead.eval.landmarks import FaceTracker
    from talkinghead.eval.motion import eye_aspect_ratio, find_blinks
    from talkinghead.eval.sync import mouth_aperture
    from talkinghead.video.reader import read_frames

    photo = Animator(other_person(), size=256).portrait.image
    video = write_video(tmp_path / "still.mp4", [photo] * 100, None)  # H.264: frames differ very slightly
    tracker = FaceTracker()
    points = np.stack([tracker.update(frame).points for frame in read_frames(video)])
    assert np.std(mouth_aperture(points[5:])) < 0.002
    assert landmark_jitter(points) < 0.1
    assert find_blinks(eye_aspect_ratio(points), 25) == []
