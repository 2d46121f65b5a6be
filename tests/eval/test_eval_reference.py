"""Measures against a ground truth: identical videos score perfectly, different ones do not."""

from __future__ import annotations

import numpy as np
import pytest

from talkinghead.eval.reference_metrics import (
    MAX_PSNR,
    FeatureStats,
    compare_to_ground_truth,
    frechet_distance,
    kernel_inception_distance,
    psnr,
    ssim,
)


pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit.load of the Inception file


def _stats(features):
    stats = FeatureStats(features.shape[1])
    stats.add(features)
    return stats


def test_psnr_and_ssim():
    rng = np.random.default_rng(0)
    image = np.broadcast_to(np.linspace(40, 200, 80)[None, :, None], (64, 80, 3)).astype(np.uint8)  # smooth: noise shows
    noisy = np.clip(image + rng.normal(0, 10, image.shape), 0, 255).astype(np.uint8)
    assert psnr(image, image) == MAX_PSNR and ssim(image, image) == pytest.approx(1.0)
    assert 25 < psnr(image, noisy) < 30  # 20 log10(255 / 10) = 28.1 dB, less a little clipping
    assert ssim(image, noisy) < 0.95


def test_frechet_distance_of_gaussians():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4000, 4))
    assert frechet_distance(_stats(a), _stats(a)) == pytest.approx(0.0, abs=1e-6)
    assert frechet_distance(_stats(a), _stats(a + [2, 0, 0, 0])) == pytest.approx(4.0, rel=0.02)
    assert frechet_distance(_stats(a), _stats(2 * a)) == pytest.approx(4.0, rel=0.1)  # 4 x (2 - 1)^2


def test_pooled_statistics_equal_one_set():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((50, 3)), rng.standard_normal((70, 3)) + 1
    pooled, whole = _stats(a).merged(_stats(b)), _stats(np.concatenate([a, b]))
    for x, y in zip(pooled.mean_cov(), whole.mean_cov()):
        np.testing.assert_allclose(x, y)


def test_kernel_inception_distance():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((200, 16)), rng.standard_normal((200, 16))
    assert abs(kernel_inception_distance(a, b)) < 0.05  # unbiased: ~0 for one distribution
    assert kernel_inception_distance(a, b + 1.0) > 0.5


def test_a_video_against_itself(rendered):
    result = compare_to_ground_truth(rendered, rendered, frame_count=267, truth_size=(256, 256), fid_frames=4)
    assert result.frames == 267 and result.frame_count_difference == 0
    assert result.psnr == MAX_PSNR and result.ssim == pytest.approx(1.0)
    assert result.lmd_mouth == 0.0 and result.lmd_face == 0.0
    assert result.fid_frames == 4 and abs(result.fid) < 1e-3


def test_a_still_face_against_the_talking_one(rendered, still):
    result = compare_to_ground_truth(still, rendered, frame_count=267, truth_size=(256, 256), fid_frames=4)
    assert 20 < result.psnr < MAX_PSNR and result.ssim < 1.0
    assert result.lmd_mouth > result.lmd_face > 0.5  # the head moves a little, the mouth most
    assert result.fid > 1.0 and result.kid > 0
