"""The engine every front end drives: the CLI, the Python API, and servers to come.

    engine = Engine()                                        # models load on first use, once
    subject = engine.prepare(image, config)                  # once per portrait
    result = engine.render(subject, audio, "out.mp4", config, progress=..., cancel=...)

An Engine holds what is expensive to load (renderers and their models) and serves any number
of portraits and requests, from any number of threads: two requests rendered at once give the
same bytes as the same requests one after the other.

    image ─► face ─► Portrait ─► renderer.prepare ─► Subject ──────────────┐
    audio ─► AudioClip ─► analysis ─► AudioFeatures ─► motion ─► MotionTrack ─┴─► renderer.frames ─► VideoWriter (ffmpeg)
                                                                                         └─► lip-sync scorer ─► AnimateResult
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import queue
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from threadpoolctl import threadpool_limits

from .audio.decode import load_audio
from .audio.features import analyze_audio
from .config import DUB_COMMON_OPTIONS, DUB_OPTIONS, AnimateConfig, BackendConfig, FaceConfig, MotionConfig, OutputConfig, flag_of, option_fields
from .errors import Cancelled, InputError, ModelError
from .face.analysis import analyze_face
from .face.crop import crop_portrait, face_crop
from .image import portrait_photo
from .motion.generate import generate_motion
from .motion.track_io import fitted_track
from .render.base import CroppedRenderer, Progress, Renderer, RenderRequest, renderer_class
from .transcript import read_transcript
from .types import AudioClip, Face, MotionTrack, Portrait
from .video.frames import BT601, ColourTags, I420Frame
from .video.writer import VideoWriter, check_output_path

log = logging.getLogger("talkinghead")

ImageInput = str | os.PathLike | np.ndarray
AudioInput = str | os.PathLike | tuple[np.ndarray, int] | AudioClip

_names = lambda group: frozenset(f.name for f in dataclasses.fields(group))  # noqa: E731
ENGINE_OPTIONS = _names(FaceConfig) | _names(OutputConfig) | {"backend"}
"""Options the engine applies whatever the renderer: framing, output, the choice of renderer."""
MOTION_OPTIONS = _names(MotionConfig)
"""Options of the motion made from speech: they apply to renderers that read motion tracks."""
PORTRAIT_OPTIONS = _names(FaceConfig) | _names(BackendConfig) | {"size"}
"""Options that change the prepared portrait itself: fixed once it is prepared."""


DRIVING_LEVELS = {"lips": "lip", "expression": "expression", "pose": "pose"}
"""--driving-parts names and the MotionTrack levels they take from the video."""


class CancelToken:
    """Cancels a request from any thread: the render stops within one frame (or one denoising
    step) and leaves no file behind.

        token = CancelToken()
        threading.Timer(5, token.cancel).start()
        engine.render(subject, audio, "out.mp4", config, cancel=token)   # raises Cancelled
    """

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise Cancelled("cancelled; no output was written")


@dataclass(frozen=True)
class Subject:
    """A portrait prepared for one renderer: what every request on it starts from."""

    portrait: Portrait  # as rendered: the photo, or the --size crop of it
    renderer: Renderer
    prepared: Any  # the renderer's own per-portrait data
    config: AnimateConfig  # the options it was prepared with; PORTRAIT_OPTIONS are fixed by it
    seconds: float  # time taken to load the image, find the face and prepare


@dataclass(frozen=True)
class Speech:
    """A request's audio, decoded, and the motion it calls for."""

    clip: AudioClip
    motion: MotionTrack | None  # weighted; None for renderers that make their own motion
    source: str  # where the motion came from (see AnimateResult.motion)
    stages: dict[str, float]  # seconds: audio, motion


@dataclass(frozen=True)
class AnimateResult:
    """What one `animate` made, for the CLI to print and servers to return."""

    output: Path
    frames: int
    fps: float
    duration: float  # seconds of video
    size: tuple[int, int]  # (width, height) pixels
    renderer: str
    device: str
    motion: str  # where the motion came from: "aligned" / "recognized" phones, "track", or "model"
    stages: dict[str, float]  # seconds per stage: portrait, audio, motion, render (waiting for frames made on their own thread), encode, score, total
    score: dict[str, float] | None = None  # lip sync: offset_frames, peak_correlation, confidence (see eval.sync.SyncScore)
    score_note: str = ""  # the score in words, or why there is none
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values."""
        out = dataclasses.asdict(self)
        out["output"] = str(self.output)
        out["size"] = list(self.size)
        return out


@lru_cache(maxsize=1)
def configure_threads() -> None:
    """One thread for OpenCV and BLAS, once per process, before the first render.

    The renderer's work per frame is small: their threads would only contend with the encoder
    (ffmpeg runs beside the renderer, on the other core) and with the lip-sync scorer, and BLAS
    threads spin between calls. Set once here rather than around each render, because these
    are process-wide settings and renders may run on several threads at once.
    """
    cv2.setNumThreads(1)
    threadpool_limits(limits=1, user_api="blas")


class Engine:
    """Loads renderers once and renders any number of portraits and requests with them."""

    def __init__(self) -> None:
        configure_threads()
        self._renderers: dict[tuple, Renderer] = {}
        self._loading = threading.Lock()

    # 1. Renderers: loaded once per backend and its loading options
    def renderer(self, config: AnimateConfig) -> Renderer:
        """The renderer `config.backend` asks for, loaded on first use; unhonoured options refused first."""
        b = config.backend
        refuse_unhonoured(renderer_class(b.backend), config)
        key = (b.backend, b.weights, b.device, b.render_size)
        with self._loading:  # one load per key, however many threads ask at once
            if key not in self._renderers:
                self._renderers[key] = renderer_class(b.backend).load(flat_options(config))
        return self._renderers[key]

    def dub_backend(self, config: AnimateConfig):
        """The dub backend `config` asks for, loaded on first use (once per weights and device)."""
        from .dubbing.backend import dub_backend_class

        b = config.backend
        key = ("dub", b.backend, b.weights, b.device, config.dub.resolution)
        with self._loading:
            if key not in self._renderers:
                self._renderers[key] = dub_backend_class(b.backend).load(flat_options(config))
        return self._renderers[key]

    # 2. Portraits
    def prepare(self, image: ImageInput | Portrait, config: AnimateConfig) -> Subject:
        """Find the face in `image`, frame it (--size), and prepare it for the configured renderer."""
        started = time.perf_counter()
        renderer = self.renderer(config)
        portrait = image if isinstance(image, Portrait) else load_portrait(image, config)
        if renderer.square_side is not None:
            renderer = CroppedRenderer(renderer, face_expand_ratio=config.face.face_expand_ratio, square_output=config.output.size is not None)
        prepared = renderer.prepare(portrait)
        return Subject(portrait, renderer, prepared, config, time.perf_counter() - started)

    # 3. Requests
    def render(
        self,
        subject: Subject,
        audio: AudioInput,
        output: str | os.PathLike,
        config: AnimateConfig | None = None,
        *,
        progress: Progress | None = None,
        cancel: CancelToken | None = None,
        inputs: tuple[str | os.PathLike, ...] = (),
    ) -> AnimateResult:
        """Write the talking-head video of `audio` to `output` (MP4). `config` may change any
        option but those fixed when the subject was prepared; `inputs` are paths the output must
        not overwrite."""
        config = self.request_config(subject, config)
        path = check_output_path(output, inputs=[p for p in (*inputs, _path_of(audio)) if p is not None] + config.input_files())
        speech = self.speech(audio, config, reads_motion=subject.renderer.reads_motion)
        return self._render(subject, speech, path, config, progress, cancel or CancelToken())

    def animate(
        self,
        image: ImageInput,
        audio: AudioInput,
        output: str | os.PathLike,
        config: AnimateConfig,
        *,
        progress: Progress | None = None,
        cancel: CancelToken | None = None,
    ) -> AnimateResult:
        """prepare + render in one go, the speech analysed on a thread while the portrait is
        prepared (and the face and lip-sync models load): those use the other core."""
        path = check_output_path(output, inputs=[p for p in (_path_of(image), _path_of(audio)) if p is not None] + config.input_files())
        reads_motion = renderer_class(config.backend.backend).reads_motion
        with ThreadPoolExecutor(1, thread_name_prefix="talkinghead-speech") as pool:
            speech = pool.submit(self.speech, audio, config, reads_motion=reads_motion)
            subject = self.prepare(image, config)
            if config.output.score:
                _load_scorer_models()
            speech = speech.result()
        return self._render(subject, speech, path, config, progress, cancel or CancelToken())

    def speech(self, audio: AudioInput, config: AnimateConfig, *, reads_motion: bool) -> Speech:
        """The audio decoded, and its motion track when the renderer reads one."""
        stages: dict[str, float] = {}
        with _timed(stages, "audio"):
            clip = self.load_audio(audio, config)
        with _timed(stages, "motion"):
            motion, source = self.motion_for(clip, config) if reads_motion else (None, "model")
        return Speech(clip, motion, source, stages)

    def _render(self, subject: Subject, speech: Speech, path: Path, config: AnimateConfig, progress: Progress | None, cancel: CancelToken) -> AnimateResult:
        cancel.check()
        fps, clip = config.output.fps, speech.clip
        stages = {"portrait": subject.seconds, **speech.stages}
        request = RenderRequest(clip=clip, fps=fps, frame_count=clip.frame_count(fps), motion=speech.motion, options=flat_options(config))
        width, height = subject.portrait.size
        log.info(
            "%s renderer on %s: %dx%d, %d frames at %g fps (%.1f s of audio)",
            subject.renderer.name, subject.renderer.device, width, height, request.frame_count, fps, clip.duration,
        )
        frames = subject.renderer.frames(subject.prepared, request, _checked(progress, cancel))
        score, note = self._write(frames, size=subject.portrait.size, fps=fps, clip=clip, face=subject.portrait.face, path=path, out=config.output, stages=stages)
        stages["total"] = sum(stages.values())
        return AnimateResult(
            output=path, frames=request.frame_count, fps=fps, duration=request.frame_count / fps, size=(width, height),
            renderer=subject.renderer.name, device=subject.renderer.device, motion=speech.source, stages=stages,
            score=score, score_note=note,
        )

    def request_config(self, subject: Subject, config: AnimateConfig | None) -> AnimateConfig:
        """`config` (default: the subject's), refused where it changes what the subject fixed."""
        if config is None:
            return subject.config
        changed = sorted(n for n in PORTRAIT_OPTIONS if flat_options(config)[n] != flat_options(subject.config)[n])
        if changed:
            raise TypeError(f"{', '.join(changed)} change the portrait itself: prepare it with them, not per request")
        refuse_unhonoured(type(subject.renderer.inner if isinstance(subject.renderer, CroppedRenderer) else subject.renderer), config)
        return config

    def load_audio(self, audio: AudioInput, config: AnimateConfig) -> AudioClip:
        return audio if isinstance(audio, AudioClip) else load_audio(audio, max_duration=config.output.max_duration)

    def motion_for(self, clip: AudioClip, config: AnimateConfig) -> tuple[MotionTrack, str]:
        """The weighted motion track to render, and where it came from: read from --motion, or
        made from the speech (phones aligned to --transcript, or recognised)."""
        m, fps = config.motion, config.output.fps
        parts = {p.strip() for p in m.driving_parts.split(",")} if m.driving is not None else set()
        if m.motion_file is not None:
            track, source = fitted_track(m.motion_file, clip.frame_count(fps), fps), "track"
        elif parts >= {"lips", "expression", "pose"}:
            track, source = self.driving_motion(m.driving, clip.frame_count(fps), config), "video"
        else:
            features = analyze_audio(clip, fps, transcript=read_transcript(m.transcript))
            track, source = generate_motion(features, m), features.phone_source
            if parts:  # some levels from the video, the others from the speech
                driven = self.driving_motion(m.driving, track.frame_count, config)
                track = dataclasses.replace(track, **{level: getattr(driven, level) for part, level in DRIVING_LEVELS.items() if part in parts})
                source = f"video ({', '.join(sorted(parts))}) and {source} phones"
        return track.weighted(lip=m.lip_weight, expression=m.expression_weight, pose=m.pose_weight), source

    def driving_motion(self, video: str | os.PathLike, frames: int, config: AnimateConfig) -> MotionTrack:
        """The tracked performance in `video`, at the output's frame rate over `frames` frames."""
        from .motion.from_video import resampled, video_motion

        track = video_motion(video, face_index=config.face.face_index, max_duration=config.output.max_duration)
        if track.frame_count / track.fps < frames / config.output.fps - 0.5:
            log.warning("the driving video lasts %.1f s, the speech %.1f s: its last frame is held", track.frame_count / track.fps, frames / config.output.fps)
        return resampled(track, config.output.fps, frames)

    def dub(
        self,
        video: str | os.PathLike,
        audio: AudioInput,
        output: str | os.PathLike,
        config: AnimateConfig | None = None,
        *,
        progress: Progress | None = None,
        cancel: CancelToken | None = None,
    ) -> AnimateResult:
        """Write `video` with its person saying `audio` to `output` (MP4): only the mouth and jaw
        re-driven by the lip level, everything else the video's own (see talkinghead.dubbing)."""
        from .dubbing.pipeline import mixed_audio, track_for_dub
        from .face.analysis import face_from_landmarks
        from .video.source import open_video

        config = (config or AnimateConfig()).validate()
        refuse_unhonoured_dub(config)
        cancel = cancel or CancelToken()
        report = _checked(progress, cancel)
        stages: dict[str, float] = {}
        path = check_output_path(output, inputs=[p for p in (video, _path_of(audio)) if p is not None] + config.input_files())
        with _timed(stages, "load"):
            backend = self.dub_backend(config)
        with _timed(stages, "video"):
            source = open_video(video, max_duration=config.output.max_duration)
        info = source.info
        with _timed(stages, "audio"):
            clip = self.load_audio(audio, config)
        config = config.replace(fps=info.fps)
        frames_out = clip.frame_count(info.fps)
        total = min(info.frame_count, frames_out) + frames_out
        # The speech is analysed on the other core while the face is followed.
        pool = ThreadPoolExecutor(1, thread_name_prefix="talkinghead-speech")
        heard = pool.submit(backend.speech, self, clip, config)
        pool.shutdown(wait=False)  # its thread ends with the analysis
        with _timed(stages, "track"):
            tracked = track_for_dub(source, face_index=config.face.face_index, needed=frames_out, progress=lambda t: report(t, max(total, t), "frame"))
        mix = None
        try:
            frames_in = min(tracked.source.info.frame_count, frames_out) if tracked.live.finished else frames_out
            total = frames_in + frames_out
            with _timed(stages, "motion"):  # what the speech analysis took beyond the tracking
                speech = heard.result()
            if config.dub.keep_original_audio > 0:
                if info.has_audio and clip.source is not None:
                    mix = mixed_audio(clip.source, info.path, config.dub.keep_original_audio)
                else:
                    log.warning("--keep-original-audio: %s", "the video has no sound" if not info.has_audio else "the speech is an array, not a file: not mixed")
            log.info(
                "dubbing %s: %dx%d, %d frames at %g fps for %.1f s of speech (%d frames of video%s)",
                info.path.name, info.width, info.height, frames_out, info.fps, clip.duration, frames_in,
                "" if frames_out <= frames_in else f", {config.dub.loop} beyond",
            )
            face = face_from_landmarks(tracked.first_face())
            options, work = flat_options(config), backend.work(frames_out, flat_options(config))
            done_before = frames_in if work.unit == "frame" else 0  # tracking counts frames too
            frames = backend.frames(tracked, speech, frames_out, options, lambda k: report(done_before + k, done_before + work.total, work.unit))
            muxed = dataclasses.replace(clip, source=mix) if mix is not None else clip
            score, note = self._write(
                frames, size=info.size, fps=info.fps, clip=clip, face=face, path=path, out=config.output,
                stages=stages, mux=muxed, colour=info.colour,
            )
            video_frames, lost = tracked.live.frames, int((~tracked.track.found[: tracked.live.frames]).sum())
        finally:
            tracked.close()
            if mix is not None:
                mix.unlink(missing_ok=True)
        if lost:
            log.warning("%d of %d frames show no face we can follow: they are kept as they are", lost, video_frames)
        stages["total"] = sum(stages.values())
        return AnimateResult(
            output=path, frames=frames_out, fps=info.fps, duration=frames_out / info.fps, size=info.size,
            renderer="dub", device=backend.device, motion=speech.source, stages=stages, score=score, score_note=note,
            meta={
                "backend": backend.name,
                "video_frames": video_frames, "frames_without_face": lost,
                "loop": config.dub.loop if frames_out > video_frames else None,
                "interior_frame": tracked.context.interior.frame if tracked.context.interior is not None else None,
                "colour": info.colour.describe(), "rotation": info.rotation,
            },
        )

    def _write(self, frames: Iterator, *, size: tuple[int, int], fps: float, clip: AudioClip, face: Face, path: Path,
               out: OutputConfig, stages: dict[str, float], mux: AudioClip | None = None, colour: ColourTags = BT601):
        """Encode `frames` (RGB arrays or I420Frames) as they are made, ffmpeg in its own
        process, scoring the lips against `clip` on a thread beside; `mux`: the sound to put in
        the file when it is not `clip`'s, `colour`: the tags of I420Frames' YUV.

        Returns the lip-sync score's values (or None) and the score in words (or why there is none).
        """
        scorer, note = _sync_scorer(face) if out.score else (None, "not scored (--no-score)")
        clock = _Clock(stages)
        video = VideoWriter(path, size=size, fps=fps, audio=mux or clip, crf=out.crf, frames_dir=out.frames_dir, colour=colour)
        made = _made_ahead(frames)
        try:
            if scorer is not None:
                scorer.start()
            for frame in clock.iterate("render", made):
                with clock.stage("encode"):
                    video.write(frame)
                if scorer is not None:
                    with clock.stage("score"):
                        scorer.add(frame.y if isinstance(frame, I420Frame) else frame)
            with clock.stage("score"):
                result = scorer.finish(clip, fps) if scorer is not None else None
            with clock.stage("encode"):
                video.close()
        except BaseException:
            made.close()  # the renderer stops before the file is dropped
            video.abort()
            if scorer is not None:
                scorer.stop()
            raise
        if result is None:
            return None, note
        return dataclasses.asdict(result), result.summary(fps)


class _Clock:
    """Adds the seconds spent in each stage to `stages`."""

    def __init__(self, stages: dict[str, float]):
        self.stages = stages

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.stages[name] = self.stages.get(name, 0.0) + time.perf_counter() - started

    def iterate(self, name: str, items: Iterator) -> Iterator:
        """The items of `items`, the time spent making each counted to `name`."""
        items = iter(items)
        while True:
            with self.stage(name):
                item = next(items, _END)
            if item is _END:
                return
            yield item


_END = object()
AHEAD = 4  # frames the renderer may run ahead of the encoder


def _made_ahead(frames: Iterator, depth: int = AHEAD) -> Iterator:
    """The items of `frames`, made on a thread of their own up to `depth` ahead of the caller.

    The caller's own work per frame (converting it to YUV, writing it to ffmpeg, which blocks
    while ffmpeg is busy, queuing it for the scorer) then overlaps making the next frames,
    which would otherwise wait for it. The renderer's errors (Cancelled included) are raised
    here, in order; when the caller stops early, the renderer stops at its next frame.
    """
    made: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                made.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for frame in frames:
                if not put((frame, None)):
                    break
            else:
                put((_END, None))
        except BaseException as error:  # handed to the caller
            put((_END, error))
        finally:
            close = getattr(frames, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=work, name="talkinghead-render", daemon=True)
    thread.start()
    try:
        while True:
            frame, error = made.get()
            if error is not None:
                raise error
            if frame is _END:
                return
            yield frame
    finally:
        stop.set()
        thread.join()


def _timed(stages: dict[str, float], name: str):
    return _Clock(stages).stage(name)


def _checked(progress: Progress | None, cancel: CancelToken) -> Progress:
    """The caller's progress callback, with a cancellation check at every frame or step."""

    def report(done: int, total: int, unit: str) -> None:
        cancel.check()
        if progress is not None:
            progress(done, total, unit)

    return report


def _load_scorer_models() -> None:
    """Load the lip-sync scorer's landmark model now (~0.7 s), where it overlaps other work."""
    try:
        from .eval.landmarks import load_landmark_model

        load_landmark_model()
    except (ImportError, ModelError):
        pass  # the render says why there is no score


def _sync_scorer(face: Face):
    """(the cheap lip-sync scorer of talkinghead.eval, ""), or (None, why not) without the eval extra.

    It starts from the face box we already know, in the box convention of dlib's detector
    (brows to chin: a little lower at the top, a little higher at the bottom than ours); the
    landmarks it judges the video by are still dlib's own.
    """
    try:
        from .eval.landmarks import check_models
        from .eval.sync import BackgroundScorer, SyncScorer

        check_models()
    except (ImportError, ModelError) as error:
        return None, f"no lip-sync score ({error})"
    x0, y0, x1, y1 = face.box
    return BackgroundScorer(SyncScorer(face_box=np.array([x0, y0 + 0.08 * face.height, x1, y1 - 0.04 * face.height]))), ""


def load_portrait(image: ImageInput, config: AnimateConfig) -> Portrait:
    """The photo (scaled to --max-side, even-sized), its face found, framed to --size when asked."""
    face, out = config.face, config.output
    photo = portrait_photo(image, max_pixels=face.max_pixels, max_side=face.max_side)
    portrait = analyze_face(photo, face_index=face.face_index)
    if out.size is not None:
        crop = face_crop(portrait.face, portrait.size, size=out.size, face_expand_ratio=face.face_expand_ratio)
        portrait = crop_portrait(portrait, crop)
    return portrait


def refuse_unhonoured(renderer: type[Renderer], config: AnimateConfig) -> None:
    """InputError naming the first option set away from its default that `renderer` ignores."""
    honoured = ENGINE_OPTIONS | renderer.options | (MOTION_OPTIONS if renderer.reads_motion else frozenset())
    values = flat_options(config)
    for f in option_fields():
        if f.name not in honoured and values[f.name] != f.default:
            raise InputError(f"{flag_of(f)} is not used by the {renderer.name} renderer: remove it, or use a --backend that honours it")


def dub_motion_config(config: AnimateConfig) -> AnimateConfig:
    """The config a dub's lips are made with: resting closed, for in pauses the video's own
    mouth would go on speaking."""
    return config.replace(rest="closed")


def refuse_unhonoured_dub(config: AnimateConfig) -> None:
    """InputError naming the first option set away from its default that a dub does not use,
    or that its backend (--backend) does not honour."""
    from .dubbing.backend import dub_backend_class

    backend = dub_backend_class(config.backend.backend)
    values = flat_options(config)
    for f in option_fields():
        if values[f.name] == f.default or f.name in DUB_COMMON_OPTIONS | backend.options:
            continue
        if f.name in DUB_OPTIONS:
            raise InputError(f"{flag_of(f)} is not used by dub --backend {backend.name}: remove it, or use a --backend that honours it")
        raise InputError(f"{flag_of(f)} is not used by dub (the video gives the frame rate, size, head and face): remove it")


def flat_options(config: AnimateConfig) -> dict[str, Any]:
    """Every option's value by its name (`lip_weight`, `steps`, ...), as renderers read them."""
    return {f.name: getattr(getattr(config, g.name), f.name) for g in dataclasses.fields(config) for f in dataclasses.fields(getattr(config, g.name))}


def _path_of(source: Any) -> Path | None:
    return Path(source) if isinstance(source, (str, os.PathLike)) else None
