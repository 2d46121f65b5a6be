"""Audio-visual sync without a neural network: mouth opening against the speech loudness envelope.

For every offset of -15..15 frames the correlation between the mouth aperture (from dlib
landmarks) and the loudness envelope (`audio.loudness`, the one the animation also hears) is
computed. The best offset says how far the lips are out of sync, the peak correlation how
closely they follow the speech, and peak - median over offsets how clearly one offset stands
out: a confidence in the form of SyncNet's Sync-C, on a different scale (correlations, 0..2).
Lips moving at random reach up to ~0.3 against a 10 s clip (95th percentile; less on longer
clips), a face that does not move 0; our renders score 0.45-0.75 (benchmarks/quality.py).

Sign convention, as SyncNet's: a positive offset means the video is late relative to the
audio (the mouth moves `offset` frames after the sound).
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..audio.decode import from_first_frame, load_audio
from ..audio.loudness import loudness_envelope
from ..audio.vad import voice_per_frame
from ..errors import InputError
from ..types import AudioClip
from ..video.ffmpeg import probe_media
from ..video.reader import read_frames
from .landmarks import EYE_OUTER_CORNERS, INNER_LIP_PAIRS, FaceTracker
from ..audio.activity import runs
from .signals import fill_gaps, lagged_correlations

MAX_OFFSET = 15  # frames each way, SyncNet's published search range
# Below this spread (in eye-corner distances) the mouth does not move more than the landmark
# fit wobbles on a still picture: there is no lip motion to be in sync or out of it.
MIN_APERTURE_SPREAD = 0.004
SCORE_SIDE = 320  # px: a video file is decoded at this longer side for the cheap score
SCORE_EVERY = 3  # the cheap score measures the mouth on every 3rd frame
SCORE_REDETECT_EVERY = 84  # measured frames between the cheap score's checks with the detector (10 s at 25 fps)
CHANCE_CONFIDENCE = 0.3  # lips moving at random reach this against a 10 s clip (95th percentile)
VOICED = 0.5  # voice-activity probability above which a frame holds speech
PAUSE_MARGIN_S = 0.12  # frames this close to speech belong to the word's onset or release, not the pause


@dataclass(frozen=True)
class SyncScore:
    """How well the lips follow the speech; the cheap score printed after every render."""

    offset_frames: int  # + = video late relative to audio; the best of -15..15
    peak_correlation: float  # mouth aperture vs loudness at that offset, -1..1
    confidence: float  # peak - median correlation over offsets: 0 without lip motion, < ~0.3 for lips moving at random (10 s clip)

    def summary(self, fps: float) -> str:
        """One line for people, e.g. "lip sync: offset +0 frames (in sync), confidence 0.68, peak correlation 0.96"."""
        numbers = f"confidence {self.confidence:.2f}, peak correlation {self.peak_correlation:.2f}"
        if self.confidence < CHANCE_CONFIDENCE:
            return f"lip sync: offset {self.offset_frames:+d} frames, {numbers}: the lips do not clearly follow the speech"
        ms = abs(self.offset_frames) * 1000 / fps
        verdict = "in sync" if self.offset_frames == 0 else f"video {ms:.0f} ms {'late' if self.offset_frames > 0 else 'early'}"
        return f"lip sync: offset {self.offset_frames:+d} frames ({verdict}), {numbers}"


@dataclass(frozen=True)
class SyncResult:
    """The full audio-visual sync measures of one video."""

    score: SyncScore
    correlations: np.ndarray  # (2 * MAX_OFFSET + 1,) float32, correlation at offsets -15..15
    mouth_moves: bool  # False: the aperture varies no more than landmark noise; score is 0
    speech_opening: float  # mean aperture above the closed level (5th percentile) while speech is heard, eye-corner distances
    pause_opening: float  # the same in pauses (a photo's parted lips at rest count too); NaN when the audio has no pause
    speech_motion: float  # standard deviation of the aperture while speech is heard
    pause_motion: float  # the same in pauses: a mouth that keeps moving in silence; NaN without pauses


def mouth_aperture(points: np.ndarray) -> np.ndarray:
    """Inner-lip gap over outer eye-corner distance, for (68, 2) or (T, 68, 2) landmarks.

    Dividing by the eye-corner distance makes it independent of the face's size in the frame.
    """
    gaps = [np.linalg.norm(points[..., a, :] - points[..., b, :], axis=-1) for a, b in INNER_LIP_PAIRS]
    eyes = np.linalg.norm(points[..., EYE_OUTER_CORNERS[1], :] - points[..., EYE_OUTER_CORNERS[0], :], axis=-1)
    return (np.mean(gaps, axis=0) / np.maximum(eyes, 1e-6)).astype(np.float32)


def score_aperture(aperture: np.ndarray, loudness: np.ndarray) -> tuple[SyncScore, np.ndarray, bool]:
    """(score, correlations over offsets, whether the mouth moves) for per-frame series."""
    moves = bool(np.nanstd(aperture) >= MIN_APERTURE_SPREAD) if np.isfinite(aperture).any() else False
    if not moves:
        return SyncScore(0, 0.0, 0.0), np.zeros(2 * MAX_OFFSET + 1, np.float32), False
    curve = lagged_correlations(aperture, loudness, MAX_OFFSET)
    best = int(np.argmax(curve))
    peak = float(curve[best])
    return SyncScore(best - MAX_OFFSET, peak, peak - float(np.median(curve))), curve, True


def frame_loudness(audio: AudioClip, fps: float, frame_count: int) -> np.ndarray:
    """(T,) float32 loudness envelope of the audio at the video's frames."""
    return loudness_envelope(audio.samples, audio.rate, fps, frame_count)


def measure_sync(aperture: np.ndarray, audio: AudioClip, fps: float, loudness: np.ndarray | None = None) -> SyncResult:
    """Sync, and how open the mouth is in pauses, from per-frame apertures (NaN: no face);
    `loudness`: `frame_loudness(audio, fps, len(aperture))` when the caller has it already."""
    loudness = frame_loudness(audio, fps, len(aperture)) if loudness is None else loudness
    score, curve, moves = score_aperture(aperture, loudness)
    voiced = voice_per_frame(audio.samples, fps, len(aperture)) > VOICED
    pause = _pauses(voiced, fps)
    closed = float(np.nanpercentile(aperture, 5)) if np.isfinite(aperture).any() else np.nan
    opening = aperture - closed
    return SyncResult(
        score=score,
        correlations=curve,
        mouth_moves=moves,
        speech_opening=_mean(opening[voiced]),
        pause_opening=_mean(opening[pause]),
        speech_motion=_spread(opening[voiced]),
        pause_motion=_spread(opening[pause]),
    )


def _pauses(voiced: np.ndarray, fps: float) -> np.ndarray:
    """Frames without speech that are more than PAUSE_MARGIN_S from any speech."""
    margin = int(round(PAUSE_MARGIN_S * fps))
    near_speech = voiced.copy()
    for start, stop in runs(voiced):
        near_speech[max(0, start - margin) : stop + margin] = True
    return ~near_speech


def _mean(values: np.ndarray) -> float:
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else float("nan")


def _spread(values: np.ndarray) -> float:
    values = values[np.isfinite(values)]
    return float(values.std()) if values.size > 1 else float("nan")


class SyncScorer:
    """The cheap lip-sync score, fed one frame at a time (e.g. while a video is being rendered).

        scorer = SyncScorer()
        for frame in frames:
            video.write(frame)
            scorer.add(frame)
        print(scorer.score(clip, fps).summary(fps))

    The mouth is measured on every SCORE_EVERY-th frame and interpolated in between: a landmark
    fit costs ~0.8 ms, about a tenth of rendering and encoding a 512 x 512 frame, and the
    mouth's opening and closing with syllables is followed well enough at 8 measures a second
    (on our renders of English and German speech the offsets equal every-frame scoring's and
    the confidences are within ~0.05, once 0.15). The face detector runs once, then every 10 s.
    dlib releases Python's lock while fitting, so `add` may also run on a thread beside the
    renderer. `talkinghead eval` measures every frame; `every=1` does here too.
    """

    def __init__(self, *, every: int = SCORE_EVERY, face_box: np.ndarray | None = None) -> None:
        """face_box: (4,) detector-style box of the face in the first frame, when the caller knows
        it (a renderer does): the detector is then neither loaded nor run (~0.5 s saved)."""
        self.every = every
        redetect = None if face_box is not None else SCORE_REDETECT_EVERY
        self._tracker = FaceTracker(redetect_every=redetect, box=face_box)
        self._aperture: list[float] = []

    def add(self, frame: np.ndarray) -> None:
        """Take the next (H, W, 3) RGB or (H, W) grey uint8 frame."""
        face = self._tracker.update(frame) if len(self._aperture) % self.every == 0 else None
        self._aperture.append(float(mouth_aperture(face.points)) if face is not None else np.nan)

    @property
    def aperture(self) -> np.ndarray:
        """(T,) float32 mouth aperture of every frame so far, interpolated between measured frames;
        NaN only when no frame showed a face."""
        return fill_gaps(np.array(self._aperture, np.float32)).astype(np.float32)

    def score(self, audio: AudioClip, fps: float) -> SyncScore:
        aperture = self.aperture
        return score_aperture(aperture, frame_loudness(audio, fps, len(aperture)))[0]


class BackgroundScorer:
    """A SyncScorer fed on a thread of its own, so the scoring overlaps rendering and encoding.

        with BackgroundScorer(SyncScorer()) as scorer:
            for frame in frames:
                video.write(frame)
                scorer.add(frame)      # queued; the fit runs beside the renderer
        print(scorer.score(clip, fps).summary(fps))

    dlib releases Python's lock while it fits, so on two cores the fits use the time the
    renderer and the encoder leave. Frames must not change after `add` (rendered frames don't).
    """

    def __init__(self, scorer: SyncScorer, *, backlog: int = 32) -> None:
        self.scorer = scorer
        self._frames: queue.Queue = queue.Queue(maxsize=backlog)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="talkinghead-sync-score", daemon=True)

    def __enter__(self) -> BackgroundScorer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Let the thread fit what is queued, then end it."""
        if self._thread.is_alive():
            self._frames.put(None)
            self._thread.join()

    def add(self, frame: np.ndarray) -> None:
        if self._error is None:
            self._frames.put(frame)

    def score(self, audio: AudioClip, fps: float) -> SyncScore:
        if self._error is not None:
            raise self._error
        return self.scorer.score(audio, fps)

    def finish(self, audio: AudioClip, fps: float) -> SyncScore:
        """Stop, then score every frame added."""
        self.stop()
        return self.score(audio, fps)

    def _work(self) -> None:
        while (frame := self._frames.get()) is not None:
            if self._error is None:
                try:
                    self.scorer.add(frame)
                except BaseException as error:  # handed to the caller by score()
                    self._error = error


def sync_score(
    video: str | os.PathLike | Iterable[np.ndarray],
    audio: AudioClip | str | os.PathLike | None = None,
    *,
    fps: float | None = None,
) -> SyncScore:
    """The cheap lip-sync score (see SyncScorer) of a video file or of frames already in memory.

    `audio`: the speech (an AudioClip or any file ffmpeg reads); by default the video file's
    own sound. `fps` is required for frames in memory; a file states its own.
    """
    if isinstance(video, (str, os.PathLike)):
        path = Path(video)
        info = probe_media(path)
        if not info.has_video or not info.width or not info.height:
            raise InputError(f"{path.name} has no video stream: give a talking-head video")
        fps = fps or info.fps or 25.0
        scale = min(1.0, SCORE_SIDE / max(info.width, info.height))
        size = (max(2, round(info.width * scale / 2) * 2), max(2, round(info.height * scale / 2) * 2))
        frames: Iterable[np.ndarray] = read_frames(path, size=size)
        own_sound, audio = audio is None, path if audio is None else audio
    else:
        frames, own_sound = video, False
        if fps is None or audio is None:
            raise ValueError("frames in memory need fps= and audio=")
    clip = audio if isinstance(audio, AudioClip) else load_audio(audio, max_duration=None)
    if own_sound:  # on the player's clock: a stream that starts late is measured late
        clip = from_first_frame(clip, info)
    scorer = SyncScorer()
    for frame in frames:
        scorer.add(frame)
    return scorer.score(clip, fps)
