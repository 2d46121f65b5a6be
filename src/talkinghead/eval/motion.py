"""Motion beyond the lips: blinks, head pose, and how head and lips move with the speech at several time scales."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter1d, median_filter

from .landmarks import EYE_OUTER_CORNERS, LEFT_EYE, RIGHT_EYE, RIGID
from ..audio.activity import runs
from .signals import fill_gaps, windowed_correlation
from .sync import MIN_APERTURE_SPREAD

# Blinks: the eye aspect ratio (Soukupová & Čech, 2016) drops when the lids close. dlib's
# 68-point fit follows closing lids only part of the way (a fully closed eye reads ~60 % of
# the open ratio), so a blink is a dip below a share of the eye's own open level, and also
# clearly below the ratio's frame-to-frame noise (behind glasses the fit wobbles by ~10 %,
# as much as a blink moves it: there, blinks are missed rather than invented).
CLOSED_SHARE = 0.8  # below this share of the open level (rolling median) the eyes count as closing
NOISE_MARGIN = 3.0  # ... and more than this many noise deviations (robust, from the clip) below it
OPEN_LEVEL_WINDOW_S = 3.0
MAX_BLINK_S = 0.5  # longer closures are eyes kept shut, not blinks
HEAD_STILL = 0.01  # eye-corner distances per second: windows where head speed varies less carry no motion (a still face: < 0.004)

SYNCHRONY_WINDOWS_S = (0.5, 1.0, 2.0, 4.0)  # from syllables to phrases

# A generic face for head pose, millimetres: origin at the nose tip, x to the image's right,
# y down, z away from the camera. Anthropometric averages, rounded: eye corners 90 and 32 mm
# apart, 34 mm above the nose tip, set back 36 and 22 mm. Only points that move with the head
# and not with speech or blinks (dlib's nostril points follow the upper lip a little).
# Absolute angles are approximate (a few degrees: every face differs from the generic one);
# changes over time, which range, speed and synchrony use, are what matters.
POSE_MODEL = {
    27: (0.0, -36.0, 20.0),  # nose bridge between the eyes
    30: (0.0, 0.0, 0.0),  # nose tip
    36: (-45.0, -34.0, 36.0),  # outer eye corners
    45: (45.0, -34.0, 36.0),
    39: (-16.0, -34.0, 22.0),  # inner eye corners
    42: (16.0, -34.0, 22.0),
}
EYE_SPAN_MM = POSE_MODEL[45][0] - POSE_MODEL[36][0]
# Landmark noise makes the per-frame pose tremble by a degree or so, which differentiating
# turns into tens of degrees per second; heads move slower than this smoothing removes.
POSE_SMOOTHING_S = 0.1


@dataclass(frozen=True)
class Angles:
    """Degrees. yaw + = the face turns towards the image's right; pitch + = looks down;
    roll + = tilts clockwise in the image (as `talkinghead.types.Face`)."""

    yaw: float
    pitch: float
    roll: float


@dataclass(frozen=True)
class Synchrony:
    """Windowed correlation with the loudness envelope at one window length."""

    window_s: float
    head: float  # head speed (see head_speed) vs loudness, -1..1; NaN when the head never moves
    lips: float  # mouth aperture vs loudness


@dataclass(frozen=True)
class MotionResult:
    blinks: int
    blink_rate: float  # blinks per minute
    blink_frames: tuple[int, ...]  # the most closed frame of each blink
    pose_range: Angles  # 5th to 95th percentile spread of each angle
    pose_speed: Angles  # mean absolute angular speed, degrees per second
    synchrony: tuple[Synchrony, ...]  # one per window length, shortest first; empty without audio
    pose: np.ndarray  # (T, 3) float32 yaw, pitch, roll per frame, degrees, smoothed; NaN without a face
    eye_openness: np.ndarray  # (T,) float32 eye aspect ratio, mean of both eyes


def eye_aspect_ratio(points: np.ndarray) -> np.ndarray:
    """(T,) lid gap over eye width, mean of both eyes, for (T, 68, 2) landmarks."""
    ratios = []
    for corner_a, up_1, up_2, corner_b, low_2, low_1 in (RIGHT_EYE, LEFT_EYE):
        gap = np.linalg.norm(points[:, up_1] - points[:, low_1], axis=1) + np.linalg.norm(points[:, up_2] - points[:, low_2], axis=1)
        ratios.append(gap / (2 * np.maximum(np.linalg.norm(points[:, corner_a] - points[:, corner_b], axis=1), 1e-6)))
    return np.mean(ratios, axis=0).astype(np.float32)


def find_blinks(openness: np.ndarray, fps: float) -> list[int]:
    """The most closed frame of each blink in an eye-aspect-ratio series."""
    if not np.isfinite(openness).any():
        return []
    filled = fill_gaps(openness)
    window = max(3, int(OPEN_LEVEL_WINDOW_S * fps) | 1)
    open_level = median_filter(filled, size=window, mode="nearest")
    deviation = filled - open_level
    noise = 1.4826 * np.median(np.abs(deviation - np.median(deviation)))  # a standard deviation blinks hardly sway
    closing = filled < np.minimum(CLOSED_SHARE * open_level, open_level - NOISE_MARGIN * noise)
    return [start + int(np.argmin(filled[start:stop])) for start, stop in runs(closing) if stop - start <= MAX_BLINK_S * fps]


def head_pose(points: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(T, 3) float32 yaw, pitch, roll in degrees from (T, 68, 2) landmarks in a (width, height) frame."""
    width, height = size
    focal = float(max(width, height))  # a ~53 degree field of view, typical of webcams and phones
    camera = np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1]], np.float64)
    model = np.array(list(POSE_MODEL.values()), np.float64)
    index = list(POSE_MODEL)
    out = np.full((len(points), 3), np.nan, np.float32)
    for t, frame_points in enumerate(points):
        image = frame_points[index].astype(np.float64)
        if not np.isfinite(image).all():
            continue
        # Start from a frontal face at the distance its eye corners imply: every frame then
        # converges to the same local solution instead of inheriting the last frame's errors.
        eyes = np.linalg.norm(image[index.index(45)] - image[index.index(36)])
        rvec = np.zeros((3, 1))
        tvec = np.array([[0.0], [0.0], [focal * EYE_SPAN_MM / max(eyes, 1.0)]])
        ok, rvec, tvec = cv2.solvePnP(model, image, camera, None, rvec, tvec, True, cv2.SOLVEPNP_ITERATIVE)
        if ok:
            out[t] = _angles(cv2.Rodrigues(rvec)[0])
    return out


def head_speed(points: np.ndarray, fps: float) -> np.ndarray:
    """(T,) speed of the eye corners' and nose's centre, eye-corner distances per second; NaN at frame 0.

    Nods, turns and sways all move it; averaged over 13 points it trembles far less than the
    angles solvePnP gives, which a pixel's change in the fit tilts by a degree or two. This is
    the head motion the synchrony compares with the speech.
    """
    centre = np.stack([fill_gaps(points[:, list(RIGID), i].mean(1)) for i in range(2)], axis=1)
    centre = gaussian_filter1d(centre, POSE_SMOOTHING_S * fps, axis=0, mode="nearest")
    eyes = np.nanmedian(np.linalg.norm(points[:, EYE_OUTER_CORNERS[1]] - points[:, EYE_OUTER_CORNERS[0]], axis=1))
    speed = np.linalg.norm(np.diff(centre, axis=0), axis=1) * fps / max(float(eyes), 1e-6)
    speed = np.concatenate([[np.nan], speed]).astype(np.float32)
    speed[~np.isfinite(points[:, 0, 0])] = np.nan
    return speed


def smooth_pose(pose: np.ndarray, fps: float) -> np.ndarray:
    """(T, 3) pose smoothed over POSE_SMOOTHING_S, zero-phase; frames without a face stay NaN."""
    missing = ~np.isfinite(pose[:, 0])
    if missing.all():
        return pose
    filled = np.stack([fill_gaps(pose[:, i]) for i in range(3)], axis=1)
    out = gaussian_filter1d(filled, POSE_SMOOTHING_S * fps, axis=0, mode="nearest").astype(np.float32)
    out[missing] = np.nan
    return out


def _angles(rotation: np.ndarray) -> tuple[float, float, float]:
    facing = rotation @ np.array([0.0, 0.0, -1.0])  # the direction the face looks, camera axes
    across = rotation @ np.array([1.0, 0.0, 0.0])  # from the image-left eye to the image-right one
    yaw = np.degrees(np.arctan2(facing[0], -facing[2]))
    pitch = np.degrees(np.arctan2(facing[1], -facing[2]))
    roll = np.degrees(np.arctan2(across[1], across[0]))
    return float(yaw), float(pitch), float(roll)


def measure_motion(
    points: np.ndarray, size: tuple[int, int], fps: float, *, loudness: np.ndarray | None, aperture: np.ndarray
) -> MotionResult:
    """Blinks, head pose and multi-scale synchrony from (T, 68, 2) landmarks (NaN: no face)."""
    openness = eye_aspect_ratio(points)
    blinks = find_blinks(openness, fps)
    pose = smooth_pose(head_pose(points, size), fps)
    speed = np.abs(np.diff(pose, axis=0)) * fps
    moving = head_speed(points, fps)
    synchrony: tuple[Synchrony, ...] = ()
    if loudness is not None:
        synchrony = tuple(
            Synchrony(
                w,
                head=windowed_correlation(moving, loudness, round(w * fps), min_spread=HEAD_STILL),
                lips=windowed_correlation(aperture, loudness, round(w * fps), min_spread=MIN_APERTURE_SPREAD),
            )
            for w in SYNCHRONY_WINDOWS_S
        )
    minutes = len(points) / fps / 60
    spread = np.nanpercentile(pose, 95, axis=0) - np.nanpercentile(pose, 5, axis=0) if np.isfinite(pose).any() else np.full(3, np.nan)
    mean_speed = np.nanmean(speed, axis=0) if np.isfinite(speed).any() else np.full(3, np.nan)
    return MotionResult(
        blinks=len(blinks),
        blink_rate=len(blinks) / minutes if minutes > 0 else 0.0,
        blink_frames=tuple(blinks),
        pose_range=Angles(*map(float, spread)),
        pose_speed=Angles(*map(float, mean_speed)),
        synchrony=synchrony,
        pose=pose,
        eye_openness=openness,
    )
