"""Identity: the rendered face stays its own person; another person is far away."""

from __future__ import annotations

import numpy as np
import pytest
from eval_media import FPS, PORTRAIT, other_person

from talkinghead.eval.identity import SAME_PERSON, measure_identity
from talkinghead.eval.landmarks import face_descriptor, face_in_image
from talkinghead.eval.pipeline import observe
from talkinghead.image import load_image
from talkinghead.video.reader import read_frames


@pytest.fixture(scope="module")
def observed(rendered):
    return observe(read_frames(rendered), total=None, identity_every=25, arcface=None, progress=False)[0]


def _descriptor(path):
    image = load_image(path)
    return face_descriptor(image, face_in_image(image))


def test_render_keeps_the_portraits_identity(observed):
    result = measure_identity(observed.descriptors, observed.sampled, _descriptor(PORTRAIT), FPS, reference_kind="image")
    assert result.same_person and result.distance_max < SAME_PERSON
    assert abs(result.drift) < 0.12  # 11 samples of a 10 s clip whose lips close and open: ~0.1 of noise
    assert len(result.distances) == len(observed.sampled) == 11  # every 25th of 267 frames


def test_another_person_is_far(observed):
    """No second face ships with talkinghead; matplotlib's sample data has Grace Hopper's portrait."""
    own = measure_identity(observed.descriptors, observed.sampled, _descriptor(PORTRAIT), FPS, reference_kind="image")
    other = measure_identity(observed.descriptors, observed.sampled, _descriptor(other_person()), FPS, reference_kind="image")
    assert not other.same_person and other.distances.min() > SAME_PERSON
    assert other.distance_mean > 1.8 * own.distance_mean


def test_drift_is_the_end_minus_the_start():
    frames = np.arange(0, 250, 5)
    reference = np.zeros(128, np.float32)
    descriptors = np.zeros((len(frames), 128), np.float32)
    descriptors[:, 0] = np.linspace(0.1, 0.5, len(frames))  # the face wanders away steadily
    result = measure_identity(descriptors, frames, reference, FPS, reference_kind="first frame")
    assert result.drift > 0.3 and result.distance_max == pytest.approx(0.5)
    assert measure_identity(descriptors[:0], frames[:0], reference, FPS, reference_kind="image") is None
