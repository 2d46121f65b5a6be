"""`evaluate()`: every measure of one talking-head video, from one pass over its frames.

The pass records small per-frame values only (68 landmarks, a background change, a face
descriptor every few frames), so memory stays flat however long the video; every measure is
then computed from those records. Measures against a ground truth and the neural metrics
read the video again, each in its own pass.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..audio.decode import from_first_frame, load_audio
from ..errors import FaceError, InputError, TalkingHeadError
from ..image import load_image
from ..types import AudioClip
from ..video.ffmpeg import MediaInfo, probe_media
from ..video.reader import read_frames
from .identity import measure_identity
from .landmarks import POINT_COUNT, FaceTracker, Landmarks, face_descriptor, face_in_image
from .motion import measure_motion
from .neural.csim import ArcFace, csim
from .neural.fvd import fvd
from .neural.syncnet import syncnet_scores
from .reference_metrics import FID_FRAMES, compare_to_ground_truth
from .report import Report
from .stability import BackgroundFlicker, StabilityResult, landmark_jitter
from .sync import frame_loudness, measure_sync, mouth_aperture

log = logging.getLogger("talkinghead")

IDENTITY_EVERY = 5  # frames between face descriptors: dlib's network takes ~70 ms a face on a CPU core


@dataclass(frozen=True)
class Observations:
    """What the pass over a video's frames records."""

    points: np.ndarray  # (T, 68, 2) float32 dlib landmarks, frame pixels; NaN where no face was found
    sampled: np.ndarray  # (K,) int32 frames whose face was embedded
    descriptors: np.ndarray  # (K, 128) float32 dlib face descriptors of those frames
    arcface: np.ndarray  # (K, D) float32 ArcFace embeddings of those frames; (0, 0) without a network
    background: tuple[float, float]  # (flicker in grey levels, background share), see stability.py


@dataclass(frozen=True)
class ReferenceFace:
    """The face whose identity the video should keep."""

    kind: str  # "image" or "first frame"
    descriptor: np.ndarray  # (128,) float32
    arcface: np.ndarray | None  # (D,) float32


def observe(
    frames, *, total: int | None, identity_every: int, arcface: ArcFace | None, progress: bool
) -> tuple[Observations, tuple[np.ndarray, Landmarks] | None]:
    """Landmarks of every frame, descriptors every `identity_every` frames, background change.

    Returns the observations and the first (frame, face) seen, None when no frame shows a
    face: the identity reference when no photo is given.
    """
    tracker, flicker = FaceTracker(), BackgroundFlicker()
    points, sampled, descriptors, embeddings = [], [], [], []
    first = None
    for t, frame in enumerate(tqdm(frames, total=total, unit="frame", desc="measuring", disable=not progress, leave=False)):
        face = tracker.update(frame)
        flicker.add(frame, face.box if face is not None else None)
        points.append(face.points if face is not None else np.full((POINT_COUNT, 2), np.nan, np.float32))
        if face is not None and first is None:
            first = (frame, face)
        if face is not None and t % identity_every == 0:
            sampled.append(t)
            descriptors.append(face_descriptor(frame, face))
            if arcface is not None:
                embeddings.append(arcface.embed(frame, face.points))
    return Observations(
        points=np.array(points, np.float32).reshape(-1, POINT_COUNT, 2),
        sampled=np.array(sampled, np.int32),
        descriptors=np.array(descriptors, np.float32).reshape(-1, 128),
        arcface=np.array(embeddings, np.float32) if embeddings else np.zeros((0, 0), np.float32),
        background=flicker.result(),
    ), first


def evaluate(
    video: str | os.PathLike,
    *,
    audio: str | os.PathLike | AudioClip | None = None,
    reference: str | os.PathLike | np.ndarray | None = None,
    ground_truth: str | os.PathLike | None = None,
    syncnet: str | os.PathLike | None = None,
    i3d: str | os.PathLike | None = None,
    arcface: str | os.PathLike | None = None,
    identity_every: int = IDENTITY_EVERY,
    fid_frames: int = FID_FRAMES,
    progress: bool = False,
) -> Report:
    """Measure a talking-head video (ours or any other method's).

    `audio`: the speech it should follow (default: the video's own sound; without either the
    sync measures are left out). `reference`: the portrait whose identity it should keep
    (default: the video's first face). `ground_truth`: a real video of the same speech, for
    FID, KID, PSNR, SSIM and LMD. `syncnet`, `i3d`, `arcface`: local model files for Sync-C /
    Sync-D, FVD and CSIM (needs `reference` or uses the first frame).
    """
    # 1. Inputs, checked before the long pass.
    path = Path(video)
    info = _video_info(path)
    fps = info.fps or 25.0
    clip, audio_source = _speech(audio, path, info)
    network = ArcFace(arcface) if arcface is not None else None
    truth_path, truth_info = _ground_truth(ground_truth)
    reference_image = load_image(reference) if reference is not None else None
    reference_face = _face_of(reference_image) if reference_image is not None else None
    if i3d is not None and truth_path is None:
        raise InputError("FVD compares with a ground-truth video: give --ground-truth with --i3d")

    # 2. One pass over the frames.
    total = round(info.duration * fps) if info.duration else None
    obs, first = observe(read_frames(path), total=total, identity_every=identity_every, arcface=network, progress=progress)
    frame_count = len(obs.points)
    if frame_count == 0:
        raise InputError(f"{path.name} holds no frames")
    if first is None:
        raise FaceError(f"no face found in {path.name}: the measures need a face seen from the front")

    # 3. Against the ground truth, and 4. the neural metrics: each reads the video again.
    truth = None
    if truth_path is not None:
        truth = compare_to_ground_truth(
            path, truth_path, frame_count=frame_count, truth_size=(truth_info.width, truth_info.height),
            fid_frames=fid_frames, progress=progress,
        )
    sync_net = syncnet_scores(path, obs.points, clip, fps, syncnet, progress=progress) if syncnet is not None and clip is not None else None
    video_distance = fvd(path, truth_path, i3d, progress=progress) if i3d is not None else None

    # 5. Every measure from the records.
    aperture = mouth_aperture(obs.points)
    loudness = frame_loudness(clip, fps, frame_count) if clip is not None else None
    ref = _reference(reference_image, reference_face, first, network)
    return Report(
        video=str(video),
        frames=frame_count,
        fps=fps,
        width=info.width,
        height=info.height,
        face_share=float(np.isfinite(obs.points[:, 0, 0]).mean()),
        audio=audio_source,
        sync=measure_sync(aperture, clip, fps, loudness) if clip is not None else None,
        identity=measure_identity(obs.descriptors, obs.sampled, ref.descriptor, fps, reference_kind=ref.kind),
        stability=StabilityResult(landmark_jitter(obs.points), *obs.background),
        motion=measure_motion(obs.points, (info.width, info.height), fps, loudness=loudness, aperture=aperture),
        ground_truth=truth,
        syncnet=sync_net,
        fvd=video_distance,
        csim=csim(obs.arcface, ref.arcface) if ref.arcface is not None else None,
        aperture=aperture,
        loudness=loudness,
    )


def _video_info(path: Path) -> MediaInfo:
    if not path.is_file():
        raise InputError(f"{path} does not exist: give a talking-head video")
    try:
        info = probe_media(path)
    except TalkingHeadError:
        raise InputError(f"{path.name} is damaged or not a video ffmpeg can read: give an MP4, MOV, MKV or WebM video") from None
    if not info.has_video or not info.width or not info.height:
        raise InputError(f"{path.name} has no video stream: give a talking-head video")
    return info


def _speech(audio, video: Path, info: MediaInfo) -> tuple[AudioClip | None, str | None]:
    """The speech and where it came from; (None, None) when neither `audio` nor the video has any."""
    if isinstance(audio, AudioClip):
        return audio, "audio array"
    if audio is not None:
        return load_audio(audio, max_duration=None), str(audio)
    if info.has_audio:  # on the player's clock: a stream that starts late is measured late
        return from_first_frame(load_audio(video, max_duration=None), info), "the video's own sound"
    log.warning("%s has no sound and no --audio was given: lip sync is not measured", video.name)
    return None, None


def _ground_truth(path) -> tuple[Path | None, MediaInfo | None]:
    if path is None:
        return None, None
    path = Path(path)
    return path, _video_info(path)


def _face_of(image: np.ndarray) -> Landmarks:
    face = face_in_image(image)
    if face is None:
        raise FaceError("no face found in the reference photo: give a photo where the face is clearly visible")
    return face


def _reference(image, face, first, network: ArcFace | None) -> ReferenceFace:
    """The reference photo's face, or else the video's first face."""
    if image is None:
        image, face = first
        kind = "first frame"
    else:
        kind = "image"
    embedding = network.embed(image, face.points) if network is not None else None
    return ReferenceFace(kind, face_descriptor(image, face), embedding)
