"""`talkinghead prepare`: a folder of talking-head videos → a Hallo training set.

Each usable video becomes one clip folder:

    DATASET/clips/<clip>/
        frames/000000.jpg …      square face crops at `size`, 25 fps
        audio.wav                16 kHz mono, exactly frames × 640 samples
        audio_emb.safetensors    "audio_emb" (frames, layers, width) float16 wav2vec2 features
        face_embedding.npy       (512,) float32 ArcFace embedding (SCRFD + glintr100)
        masks.npz                face_region (S, S) uint8, face / lip (64, 64) uint8 (union over frames)
        landmarks.npz            index (K,), points (K, 478, 3) float32 in crop pixels, every n-th frame
        meta.json                written last: its presence means the clip is complete

A rejected video leaves `DATASET/rejected/<clip>.json` with the reason. Both are keyed by the
video's size and modification time, so a second run skips whatever is done and redoes what
changed; a clip cut short (Ctrl-C, a crash) is redone from scratch. `summary.json` and
`summary.txt` say what was kept and why the rest was not.

Steps per video, as the release's data preparation (`scripts/data_preprocess.py`) does them,
made robust: probe, decode audio, analyse faces on every n-th frame (MediaPipe; filters), crop one
fixed square around the moving head (framed as the inference crop), write frames, union masks,
identity embedding of the first frame SCRFD finds a face in, vocals (when the weights folder
has the separator) → wav2vec2 features.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path

import cv2
import numpy as np
from scipy.io import wavfile

from ..errors import InputError, ModelError, TalkingHeadError
from ..face.analysis import detect_faces, face_from_landmarks
from ..face.crop import CROP_FRAMING, Crop, crop_image, square_crop, transform_points
from ..types import ANALYSIS_RATE, AudioClip
from ..audio.decode import load_audio
from ..video.ffmpeg import probe_media
from ..video.reader import read_frames

log = logging.getLogger("talkinghead")

FORMAT = 1  # version of the clip layout; clips of another version are redone
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mpg", ".mpeg")
REASONS = {
    "unreadable": "unreadable video",
    "no_audio": "no audio track",
    "too_short": "too short",
    "av_mismatch": "audio and video lengths differ",
    "no_face": "no face",
    "several_faces": "several faces",
}


@dataclass(frozen=True)
class PrepareOptions:
    size: int = 512  # side of the square crops
    fps: float = 25.0
    crop: bool = True  # False: the videos are face crops already; take their centre square
    face_expand_ratio: float = 1.2  # face box → face region, as at inference
    analyse_every: int = 5  # face analysis on every n-th frame (0.2 s at 25 fps)
    min_seconds: float = 1.0  # shorter videos are rejected (stage 2 needs more than 20 frames)
    max_av_mismatch: float = 0.1  # seconds audio and video may differ by
    max_missing_face: float = 0.1  # share of analysed frames without a face
    max_several_faces: float = 0.05  # share of analysed frames with more than one face
    jpeg_quality: int = 95


@dataclass(frozen=True)
class ClipResult:
    clip: str  # folder name under clips/
    video: str  # path relative to the videos folder
    status: str  # kept | rejected | failed
    reason: str | None = None  # a REASONS key for rejected clips
    detail: str = ""
    frames: int = 0
    seconds: float = 0.0  # processing time; 0 when an earlier run did the work
    cached: bool = False


class ClipRejected(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass
class PrepareModels:
    """What one worker loads once: identity embedder, wav2vec2 encoder, optional separator."""

    face_embedder: object
    audio_encoder: object
    separator: object | None

    @classmethod
    def load(cls, weights: Path, threads: int | None = None) -> PrepareModels:
        import torch

        from ..render.hallo.loading import load_front_end

        if threads is not None:
            torch.set_num_threads(threads)
        audio_encoder, face_embedder, separator = load_front_end(weights)
        return cls(face_embedder, audio_encoder, separator)


def check_prepare_weights(weights: str | Path | None) -> Path:
    """The weights folder, or ModelError naming what `prepare` needs from it."""
    from ..render.hallo import loading

    if weights is None:
        raise ModelError("prepare needs --weights DIR: Hallo's pretrained_models folder (wav2vec2 and face models)")
    wav2vec = loading.WAV2VEC
    needed = (
        f"{wav2vec}/config.json",
        f"{wav2vec}/preprocessor_config.json",
        (f"{wav2vec}/model.safetensors", f"{wav2vec}/pytorch_model.bin"),
        loading.FACE_DETECTOR,
        loading.FACE_RECOGNIZER,
    )
    return loading.check_weights_dir(weights, needed)


def find_videos(videos_dir: Path, exclude: Path | None = None) -> list[Path]:
    """Video files under `videos_dir` (recursively, hidden names skipped), sorted."""
    if not videos_dir.is_dir():
        raise InputError(f"{videos_dir} is not a folder: give the folder that holds the videos")
    found = []
    for path in sorted(videos_dir.rglob("*")):
        relative = path.relative_to(videos_dir)
        if any(part.startswith(".") for part in relative.parts) or path.suffix.lower() not in VIDEO_SUFFIXES:
            continue
        if exclude is not None and path.resolve().is_relative_to(exclude.resolve()):
            continue
        if path.is_file():
            found.append(path)
    if not found:
        raise InputError(f"no videos ({', '.join(VIDEO_SUFFIXES)}) in {videos_dir}")
    return found


def clip_name(video: Path, videos_dir: Path) -> str:
    """A folder name unique within the set: the relative path, folders joined by "__"."""
    return "__".join(video.relative_to(videos_dir).with_suffix("").parts)


# ---------------------------------------------------------------------------------------------
# The whole set


@dataclass
class PrepareSummary:
    results: list[ClipResult] = field(default_factory=list)
    elapsed: float = 0.0
    fps: float = 25.0

    @property
    def kept(self) -> list[ClipResult]:
        return [r for r in self.results if r.status == "kept"]

    def write(self, dataset_dir: Path) -> None:
        """summary.json (every video's result) and summary.txt (for people)."""
        results = sorted(self.results, key=lambda r: r.clip)
        document = {
            "format": FORMAT,
            "videos": len(results),
            "kept": len(self.kept),
            "kept_frames": sum(r.frames for r in self.kept),
            "elapsed_seconds": round(self.elapsed, 2),
            "results": [asdict(r) for r in results],
        }
        _write_atomic(dataset_dir / "summary.json", json.dumps(document, indent=1))
        _write_atomic(dataset_dir / "summary.txt", self.text())

    def text(self) -> str:
        results = sorted(self.results, key=lambda r: r.clip)
        kept = [r for r in results if r.status == "kept"]
        rejected = [r for r in results if r.status == "rejected"]
        failed = [r for r in results if r.status == "failed"]
        seconds = sum(r.frames for r in kept) / self.fps
        lines = [
            f"{len(results)} videos: {len(kept)} kept ({seconds:.1f} s of video), "
            f"{len(rejected)} rejected, {len(failed)} failed",
            "",
            "kept:",
            *(f"  {r.video} -> clips/{r.clip} ({r.frames} frames)" for r in kept),
        ]
        for reason, label in REASONS.items():
            group = [r for r in rejected if r.reason == reason]
            if group:
                lines += ["", f"rejected, {label} ({len(group)}):", *(f"  {r.video}: {r.detail}" for r in group)]
        if failed:
            lines += ["", f"failed, retried on the next run ({len(failed)}):", *(f"  {r.video}: {r.detail}" for r in failed)]
        return "\n".join(lines) + "\n"


def prepare_dataset(
    videos_dir: str | Path,
    dataset_dir: str | Path,
    *,
    weights: str | Path | None,
    options: PrepareOptions = PrepareOptions(),
    workers: int = 1,
    ray_address: str | None = None,
    progress: Callable[[ClipResult], None] | None = None,
) -> PrepareSummary:
    """Prepare every video under `videos_dir` into `dataset_dir`; returns (and writes) the summary.

    workers: processes (1 = in this process); ray_address: run on a Ray cluster instead (the
    dataset folder must then be shared storage every node can write).
    """
    started = time.perf_counter()
    videos_dir, dataset_dir = Path(videos_dir).expanduser(), Path(dataset_dir).expanduser()
    weights = check_prepare_weights(weights)
    videos = find_videos(videos_dir, exclude=dataset_dir)
    (dataset_dir / "clips").mkdir(parents=True, exist_ok=True)
    (dataset_dir / "rejected").mkdir(exist_ok=True)
    jobs = [(video, videos_dir, dataset_dir, options) for video in videos]
    summary = PrepareSummary(fps=options.fps)
    if ray_address:
        results = _run_on_ray(ray_address, jobs, weights, workers)
    elif workers > 1:
        results = _run_in_processes(jobs, weights, workers)
    else:
        results = _run_here(jobs, weights)
    for result in results:
        summary.results.append(result)
        if progress is not None:
            progress(result)
    summary.elapsed = time.perf_counter() - started
    summary.write(dataset_dir)
    return summary


def _run_here(jobs: list[tuple], weights: Path) -> Iterator[ClipResult]:
    models = None
    for job in jobs:
        cached = cached_result(*job)
        if cached is not None:
            yield cached
            continue
        models = models or PrepareModels.load(weights)
        yield prepare_video(*job, models)


_WORKER_MODELS: PrepareModels | None = None


def _init_worker(weights: Path, threads: int) -> None:
    global _WORKER_MODELS
    _WORKER_MODELS = PrepareModels.load(weights, threads)


def _work(job: tuple) -> ClipResult:
    return cached_result(*job) or prepare_video(*job, _WORKER_MODELS)


def _run_in_processes(jobs: list[tuple], weights: Path, workers: int) -> Iterator[ClipResult]:
    # Finished clips are answered here; only the rest costs a worker (each loads the models once).
    todo = []
    for job in jobs:
        cached = cached_result(*job)
        if cached is not None:
            yield cached
        else:
            todo.append(job)
    if not todo:
        return
    workers = min(workers, len(todo))
    threads = max(1, (os.cpu_count() or 1) // workers)
    # spawn: MediaPipe, onnxruntime and torch hold threads that a forked child would inherit broken.
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_init_worker, initargs=(weights, threads)) as pool:
        futures = [pool.submit(_work, job) for job in todo]
        try:
            for future in as_completed(futures):
                yield future.result()
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


class _RayWorker:
    """A Ray actor: loads the models once, then prepares the videos it is handed."""

    def __init__(self, weights: str):
        self.models = PrepareModels.load(Path(weights))

    def run(self, job: tuple) -> ClipResult:
        return cached_result(*job) or prepare_video(*job, self.models)


def _run_on_ray(address: str, jobs: list[tuple], weights: Path, workers: int) -> Iterator[ClipResult]:
    try:
        import ray
        from ray.util import ActorPool
    except ImportError:
        raise InputError("--ray-address needs Ray: pip install 'ray[default]'") from None
    ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
    count = max(workers, 1) if workers > 1 else max(1, int(ray.cluster_resources().get("CPU", 1)))
    actor = ray.remote(num_cpus=1)(_RayWorker)
    pool = ActorPool([actor.remote(str(weights)) for _ in range(min(count, len(jobs)))])
    yield from pool.map_unordered(lambda worker, job: worker.run.remote(job), jobs)


# ---------------------------------------------------------------------------------------------
# One video


def _fingerprint(video: Path) -> dict:
    stat = video.stat()
    return {"bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def cached_result(video: Path, videos_dir: Path, dataset_dir: Path, options: PrepareOptions) -> ClipResult | None:
    """The result of an earlier run for this exact video file and options, if any."""
    clip = clip_name(video, videos_dir)
    relative = str(video.relative_to(videos_dir))
    stamp = {"format": FORMAT, "source": _fingerprint(video), "options": asdict(options)}
    for path, status in ((dataset_dir / "clips" / clip / "meta.json", "kept"), (dataset_dir / "rejected" / f"{clip}.json", "rejected")):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if all(record.get(k) == v for k, v in stamp.items()):
            return ClipResult(clip, relative, status, record.get("reason"), record.get("detail", ""), record.get("frames", 0), cached=True)
    return None


def prepare_video(video: Path, videos_dir: Path, dataset_dir: Path, options: PrepareOptions, models: PrepareModels) -> ClipResult:
    """Prepare one video; rejections are recorded, unexpected errors reported (and retried next run)."""
    clip = clip_name(video, videos_dir)
    relative = str(video.relative_to(videos_dir))
    stamp = {"format": FORMAT, "source": _fingerprint(video), "options": asdict(options)}
    partial = dataset_dir / "clips" / f".{clip}.partial"
    final = dataset_dir / "clips" / clip
    rejection = dataset_dir / "rejected" / f"{clip}.json"
    started = time.perf_counter()
    shutil.rmtree(partial, ignore_errors=True)
    try:
        frames = _write_clip(video, partial, options, models, {"video": relative, **stamp})
    except ClipRejected as rejected:
        shutil.rmtree(partial, ignore_errors=True)
        shutil.rmtree(final, ignore_errors=True)
        record = {**stamp, "video": relative, "reason": rejected.reason, "detail": rejected.detail}
        _write_atomic(rejection, json.dumps(record, indent=1))
        return ClipResult(clip, relative, "rejected", rejected.reason, rejected.detail, seconds=time.perf_counter() - started)
    except Exception as error:  # noqa: BLE001 - one bad file must not stop the set; reported, retried next run
        shutil.rmtree(partial, ignore_errors=True)
        detail = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        return ClipResult(clip, relative, "failed", None, detail, seconds=time.perf_counter() - started)
    shutil.rmtree(final, ignore_errors=True)
    rejection.unlink(missing_ok=True)
    os.replace(partial, final)
    return ClipResult(clip, relative, "kept", frames=frames, seconds=time.perf_counter() - started)


@dataclass
class _FaceTrack:
    """Faces seen on the analysed frames of a video."""

    frame_count: int = 0
    image_size: tuple[int, int] = (0, 0)  # (width, height)
    analysed: int = 0
    missing: int = 0
    several: int = 0
    landmarks: dict[int, np.ndarray] = field(default_factory=dict)  # frame → (478, 3) image pixels


def _write_clip(video: Path, out: Path, options: PrepareOptions, models: PrepareModels, stamp: dict) -> int:
    """Write the clip folder `out` (meta.json last); returns its frame count."""
    # 1. Probe and decode the audio
    try:
        info = probe_media(video)
    except TalkingHeadError as error:
        raise ClipRejected("unreadable", str(error)) from None
    if not info.has_video:
        raise ClipRejected("unreadable", "no video stream")
    if not info.has_audio:
        raise ClipRejected("no_audio", "the video has no audio track")
    if info.duration is not None and info.duration < options.min_seconds - 1 / options.fps:
        raise ClipRejected("too_short", f"lasts {info.duration:.2f} s, less than {options.min_seconds:g} s")
    try:
        audio = load_audio(video, max_duration=None)
    except TalkingHeadError as error:
        raise ClipRejected("no_audio", str(error)) from None
    # 2. Faces on every n-th frame: the filters, and the landmarks for crop and masks
    expected = math.ceil(info.duration * options.fps) if info.duration else None
    faces = _analyse_faces(video, options, expected, (info.width, info.height))
    _check_lengths(faces.frame_count, audio, options)
    frames = min(faces.frame_count, len(audio.samples) * int(options.fps) // ANALYSIS_RATE)
    # 3. One square crop for the whole clip; frames, identity embedding
    crop = _clip_crop(faces, options)
    (out / "frames").mkdir(parents=True)
    embedding, embedding_frame = _write_frames(video, out / "frames", crop, frames, faces, options, models)
    # 4. Landmarks in crop pixels, masks unioned over the clip
    from ..render.hallo.masks import base_masks

    index = np.array(sorted(i for i in faces.landmarks if i < frames), np.int64)
    points = np.stack([transform_points(faces.landmarks[i], crop.to_crop) for i in index]).astype(np.float32)
    np.savez_compressed(out / "landmarks.npz", index=index, points=points)
    masks = base_masks(points, (options.size, options.size), face_expand_ratio=options.face_expand_ratio)
    np.savez_compressed(out / "masks.npz", face_region=masks.face_region, face=masks.face, lip=masks.lip)
    np.save(out / "face_embedding.npy", embedding)
    # 5. Audio: the clip's samples, then wav2vec2 features of the vocals
    samples = audio.samples[: frames * ANALYSIS_RATE // int(options.fps)]
    wavfile.write(out / "audio.wav", ANALYSIS_RATE, (samples * 32767).astype(np.int16))
    features = _audio_features(samples, frames, options.fps, models)
    from safetensors.numpy import save_file

    save_file({"audio_emb": features}, str(out / "audio_emb.safetensors"))
    meta = {
        **stamp,
        "frames": frames,
        "fps": options.fps,
        "size": options.size,
        "sample_rate": ANALYSIS_RATE,
        "audio_features": list(features.shape),
        "vocals_separated": models.separator is not None,
        "face_embedding_frame": embedding_frame,
        "crop_to_clip": crop.to_crop.tolist(),
        "faces": {"analysed": faces.analysed, "missing": faces.missing, "several": faces.several},
    }
    _write_atomic(out / "meta.json", json.dumps(meta, indent=1))
    return frames


def _analyse_faces(video: Path, options: PrepareOptions, expected_frames: int | None, size: tuple[int, int]) -> _FaceTrack:
    """Decode at `fps`, find the faces on every n-th frame; when the length is known, rejects as
    soon as the outcome is sure (a plain picture costs a few frames, not the whole video)."""
    track = _FaceTrack()
    planned = math.ceil(expected_frames / options.analyse_every) if expected_frames else None
    try:
        for i, frame in enumerate(read_frames(video, fps=options.fps, size=size)):
            track.frame_count = i + 1
            track.image_size = (frame.shape[1], frame.shape[0])
            if i % options.analyse_every:
                continue
            faces = detect_faces(frame)
            track.analysed += 1
            if len(faces) == 1:
                track.landmarks[i] = faces[0].landmarks
            elif not faces:
                track.missing += 1
            else:
                track.several += 1
            if planned is not None:
                _check_faces(track, max(planned, track.analysed), options)
    except TalkingHeadError as error:
        raise ClipRejected("unreadable", str(error)) from None
    if track.frame_count == 0:
        raise ClipRejected("unreadable", "no frame could be decoded")
    _check_faces(track, track.analysed, options)
    return track


def _check_faces(track: _FaceTrack, total: int, options: PrepareOptions) -> None:
    """ClipRejected once the missing / several-face frames exceed their share of `total`."""
    if track.missing > options.max_missing_face * total:
        raise ClipRejected("no_face", f"no face on {track.missing} of {track.analysed} analysed frames")
    if track.several > options.max_several_faces * total:
        raise ClipRejected("several_faces", f"several faces on {track.several} of {track.analysed} analysed frames")


def _check_lengths(frame_count: int, audio: AudioClip, options: PrepareOptions) -> None:
    seconds = frame_count / options.fps
    if seconds < options.min_seconds:
        raise ClipRejected("too_short", f"{frame_count} frames ({seconds:.2f} s), less than {options.min_seconds:g} s")
    if abs(seconds - audio.duration) > options.max_av_mismatch:
        raise ClipRejected("av_mismatch", f"video {seconds:.2f} s, audio {audio.duration:.2f} s")


def _clip_crop(faces: _FaceTrack, options: PrepareOptions) -> Crop:
    """One square for the whole clip, framed like the inference crop (2 × the face region around
    the median face) and enlarged where the head moves further; kept inside the frame when it fits."""
    width, height = faces.image_size
    if not options.crop:
        return square_crop((width / 2, height / 2), min(width, height), faces.image_size, size=options.size)
    boxes = np.array([face_from_landmarks(points).box for points in faces.landmarks.values()], np.float64)
    face_side = np.median(np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]))
    low, high = boxes[:, :2].min(0), boxes[:, 2:].max(0)
    side = max(CROP_FRAMING * options.face_expand_ratio * face_side, 1.1 * (high - low).max())
    return square_crop(tuple((low + high) / 2), side, faces.image_size, size=options.size)


def _write_frames(video, folder: Path, crop: Crop, frames: int, faces: _FaceTrack, options, models) -> tuple[np.ndarray, int]:
    """Write the crops as JPEG; returns the identity embedding and the frame it comes from: the
    first analysed frame SCRFD finds a face in (the release takes the first frame that has one)."""
    embedding, source = None, -1
    for i, frame in enumerate(read_frames(video, fps=options.fps, size=faces.image_size)):
        if i >= frames:
            break
        image = crop_image(frame, crop)
        cv2.imwrite(str(folder / f"{i:06d}.jpg"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, options.jpeg_quality])
        if embedding is None and i in faces.landmarks:
            found = models.face_embedder(image)
            if np.any(found):
                embedding, source = found.astype(np.float32), i
    if embedding is None:
        raise ClipRejected("no_face", "the identity detector (SCRFD) found no face on any analysed frame")
    return embedding, source


def _audio_features(samples: np.ndarray, frames: int, fps: float, models: PrepareModels) -> np.ndarray:
    """(frames, layers, width) float16 wav2vec2 features, of the separated vocals when possible."""
    speech = models.separator(AudioClip(samples)) if models.separator is not None else samples
    features = models.audio_encoder(speech, fps, 1)
    return features[:frames].cpu().numpy().astype(np.float16)


def _write_atomic(path: Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text)
    os.replace(partial, path)
