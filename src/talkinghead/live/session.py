"""A live talking head: speech pushed in chunks, frames out at a steady rate, in real time.

    session = LiveSession("photo.jpg", lookahead_ms=150)
    threading.Thread(target=feed, args=(session,)).start()      # session.push_audio(chunk, 16000) ...
    for timestamp, frame in session.frames():                     # 25 frames a second, forever
        show(frame.image); play(frame.audio)                      # the sound that goes with it
    session.interrupt()                                           # drop queued speech, back to rest
    session.close()

Timeline. Frame k shows the session's time k / fps and is due k / fps after the first call
to frames(). Pushed audio is placed on that timeline: right after the speech still queued,
or, when the queue has run dry, as soon as its look-ahead can be heard
(arrival + lookahead - the chunk's own length, never in the past), so a source pushing in
real time plays `lookahead` after it speaks and a faster one (a TTS engine) at once. Each
frame carries the timeline's sound from its timestamp to the next frame's: picture and sound
come from one clock and cannot drift apart.

    push_audio ─► inbox ─► timeline (session rate) ─► frame's audio
                                  └─► 16 kHz ─► voice, phones, loudness, pitch (audio.streaming)
                                                   └─► causal motion (motion.streaming) ─► renderer ─► frame

Frame k is drawn once the timeline has been heard `lookahead` past its end, or when its
deadline comes (then with what has been heard: a source that falls behind makes the mouth
less sure, never the video late). Frames late by a hiccup of the machine are sent back to
back until on time again; a reader more than MAX_LATE_FRAMES behind skips frames, their sound
going with the next frame sent.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from math import gcd
from typing import Any

import numpy as np

from ..audio.decode import float_samples
from ..audio.loudness import frame_rms_db
from ..audio.phones import SILENCE, _cover
from ..audio.prosody import MIN_PAUSE_S, _emphasis, pitch_track
from ..audio.streaming import LoudLevel, PhoneStream, StreamResampler, VoiceStream
from ..config import LIVE_MOTION_OPTIONS, LIVE_PORTRAIT_OPTIONS, AnimateConfig, LiveConfig
from ..engine import Engine, ImageInput, flat_options
from ..errors import AudioError, InputError
from ..motion.lip import LEAD_S
from ..motion.signals import smooth, speaking
from ..motion.streaming import StreamingExpression, StreamingLip, StreamingPose
from ..motion.visemes import phone_to_viseme
from ..render.base import RenderRequest
from ..types import ANALYSIS_RATE, AudioClip, AudioFeatures, MotionTrack, PhoneSegment, Prosody
from .buffers import SampleRing

VOICED = 0.5  # voice probability above which a frame is heard as speech
PAST_FRAMES = 30  # frames of the past the motion reads: the emphasis compares syllables over ~1 s
LIP_PAST_FRAMES = 6  # ...and the lips: a viseme's carry-over and the speed limit's reach
KEEP_S = 3.0  # audio kept behind the newest frame
MAX_LATE_FRAMES = 3  # frames may run this late (then catch up, sent back to back) before some are skipped
FADE_S = 0.005  # withdrawn speech fades out over this, not a click
MAX_RATE = 384_000
PITCH_REACH_S = 0.03  # a frame's pitch window reaches this far past its centre (prosody.YIN_WINDOW_S and the longest period)
PITCH_BATCH_FRAMES = 4  # pitch is computed for this many new frames at once (the emphasis can wait for it)
PITCH_MARGIN_FRAMES = 2  # frames computed on either side of those kept: the resampler's edges


@dataclass(frozen=True)
class LiveFrame:
    """One frame of a live session and the sound that plays with it."""

    index: int  # frame number; its timestamp is index / fps seconds of the session
    image: np.ndarray  # (H, W, 3) uint8 RGB, the portrait's size
    audio: np.ndarray  # (N,) float32 mono in [-1, 1] at `rate`: from this frame's timestamp to the next frame sent
    rate: int
    speaking: bool  # pushed speech plays during this frame
    arrivals: tuple[float, ...]  # time.monotonic() at which each pushed chunk starting in this frame arrived
    lip: np.ndarray = field(repr=False)  # (len(LIP_CHANNELS),) float32, as rendered (weights applied)
    expression: np.ndarray = field(repr=False)  # (len(EXPRESSION_CHANNELS),) float32
    pose: np.ndarray = field(repr=False)  # (len(POSE_CHANNELS),) float32


@dataclass
class _Chunk:
    samples: np.ndarray  # (N,) float32 at the session's rate
    arrival: float  # time.monotonic()
    phones: tuple[PhoneSegment, ...] | None  # seconds from the chunk's first sample


class LiveSession:
    """Speech in chunks → frames in real time, on one portrait. Thread-safe: push, interrupt
    and close from any thread while one thread reads frames()."""

    def __init__(self, photo: ImageInput, *, engine: Engine | None = None, **options: Any):
        live = {k: options.pop(k) for k in list(options) if k in {f for f in LiveConfig.__dataclass_fields__}}
        refused = sorted(set(options) - set(LIVE_MOTION_OPTIONS) - set(LIVE_PORTRAIT_OPTIONS))
        if refused:
            raise TypeError(f"not options of a live session: {', '.join(refused)}; it takes {', '.join(LIVE_MOTION_OPTIONS + LIVE_PORTRAIT_OPTIONS + tuple(LiveConfig.__dataclass_fields__))}")
        self.config = AnimateConfig.from_options(**options)
        self.live = LiveConfig(**live).validate()
        if engine is None:
            from ..api import default_engine

            engine = default_engine()
        self.subject = engine.prepare(photo, self.config)
        if not self.subject.renderer.reads_motion:
            raise InputError(f"the {self.subject.renderer.name} renderer does not render motion frame by frame: use --backend warp for live sessions")
        self.fps = float(self.config.output.fps)
        self.rate = int(self.live.audio_rate)
        self.lookahead = self.live.lookahead_ms / 1000.0
        m = self.config.motion
        rng = np.random.default_rng(m.seed)
        expression_rng, pose_rng = (np.random.default_rng(s) for s in rng.integers(2**32, size=2))
        self._lip = StreamingLip(self.fps, m.rest)
        self._expression = StreamingExpression(expression_rng, self.fps, gaze=m.gaze, emotion=m.emotion, intensity=m.emotion_intensity)
        self._pose = StreamingPose(pose_rng, self.fps, emotion=m.emotion, intensity=m.emotion_intensity)
        self._weights = dict(lip=m.lip_weight, expression=m.expression_weight, pose=m.pose_weight)
        self._silence = AudioClip(np.zeros(round(ANALYSIS_RATE / self.fps), np.float32))
        self._options = flat_options(self.config)

        self._lock = threading.Condition()
        self._inbox: deque[_Chunk] = deque()
        self._resamplers: dict[int, StreamResampler] = {}
        self._interrupted = False
        self._closed = False
        self._reading = False
        self._t0: float | None = None  # time.monotonic() of frame 0
        self._next = 0  # the next frame to send
        self._sent_audio = 0  # timeline samples sent with frames so far
        self._render_s = 0.01  # running estimate of a frame's drawing time
        self._release_until = -1  # frames up to this go to rest fast (speech withdrawn)
        self.dropped = 0  # frames skipped because the reader fell behind

        self._timeline = SampleRing()  # the session's sound at self.rate
        self._speech_end = 0  # timeline samples: the end of the speech placed so far
        self._arrivals: deque[tuple[int, float]] = deque()  # (timeline sample, arrival) of chunks to come
        self._pushed: list[PhoneSegment] = []  # timings pushed with the audio, timeline seconds
        self._pushed_spans: list[tuple[float, float]] = []
        self._hearing = _Hearing(self.rate, self.fps)
        self._silent_frames = 0
        self._pause_frames = round(MIN_PAUSE_S * self.fps)

    # 1. Input, from any thread
    def push_audio(self, samples: np.ndarray, rate: int, *, phones: Sequence[tuple[str, float, float]] | None = None) -> None:
        """Queue a chunk of speech of any length: (N,) or (N, channels) int16, int32, uint8 or
        float samples at `rate` Hz. `phones`: its phone timings [(ARPAbet phone or "SIL", start,
        end), ...] in seconds from the chunk's start, when the source knows them (a TTS
        engine): the mouth then follows them exactly and needs no look-ahead."""
        arrival = time.monotonic()
        mono = _mono(samples, rate)
        timings = _timings(phones, len(mono) / rate) if phones is not None else None
        with self._lock:
            if self._closed:
                raise InputError("this live session is closed: open a new one")
            queued = (self._speech_end - self._sent_audio) / self.rate + sum(len(c.samples) for c in self._inbox) / self.rate
            if queued + len(mono) / rate > self.live.max_queued:
                raise AudioError(f"more than {self.live.max_queued:g} s of speech would be queued (--max-queued): push it as it is needed")
            if rate not in self._resamplers:
                self._resamplers = {rate: StreamResampler(rate, self.rate)}  # one source rate at a time
            converted = self._resamplers[rate].push(mono)
            self._inbox.append(_Chunk(converted, arrival, timings))
            self._lock.notify_all()

    def interrupt(self) -> None:
        """Drop the speech queued and not yet played; the face is back at rest within ~2 frames."""
        with self._lock:
            self._interrupted = True
            self._inbox.clear()
            self._lock.notify_all()

    def close(self) -> None:
        """End the session: frames() returns, pushes are refused."""
        with self._lock:
            self._closed = True
            self._inbox.clear()
            self._lock.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def speaking(self) -> bool:
        """Speech is queued or playing."""
        with self._lock:
            return bool(self._inbox) or self._speech_end > self._sent_audio

    def __enter__(self) -> LiveSession:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # 2. Output, on one thread
    def frames(self) -> Iterator[tuple[float, LiveFrame]]:
        """Yields (timestamp in seconds, LiveFrame) at the session's fps, in real time, until
        close(). Timestamps are exactly index / fps."""
        with self._lock:
            if self._reading:
                raise RuntimeError("frames() is already being read on another thread")
            self._reading = True
            if self._t0 is None:
                self._t0 = time.monotonic()
        try:
            while True:
                frame = self._next_frame()
                if frame is None:
                    return
                yield frame.index / self.fps, frame
        finally:
            with self._lock:
                self._reading = False
            if self._closed:
                self._hearing.close()

    def _next_frame(self) -> LiveFrame | None:
        k = self._next
        now = time.monotonic()
        behind = int((now - self._t0) * self.fps) - k
        if behind > MAX_LATE_FRAMES:  # the reader fell behind: skip to the frame due now
            self.dropped += behind
            for skipped in range(k, k + behind):
                self._advance_motion(skipped)
            k = self._next = k + behind
        due = self._t0 + k / self.fps
        if not self._wait_until_ready(k, due):
            return None
        started = time.monotonic()
        frame = self._draw(k)
        self._render_s += 0.1 * (time.monotonic() - started - self._render_s)
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self._next = k + 1
        return frame

    def _wait_until_ready(self, k: int, due: float) -> bool:
        """Wait until frame k's look-ahead is heard, or its deadline. False once closed."""
        need = round(((k + 1) / self.fps + self.lookahead) * self.rate)
        while True:
            with self._lock:
                if self._closed:
                    return False
                if self._interrupted:
                    self._interrupted = False
                    self._withdraw(k)
                self._place(k)
                deadline = due - 1.2 * self._render_s - 0.002
                now = time.monotonic()
                if self._speech_end >= need or now >= deadline:
                    return True
                self._lock.wait(timeout=deadline - now)

    # 3. The timeline
    def _place(self, k: int) -> None:
        """Put the chunks that arrived on the timeline (frames before k are sealed)."""
        sealed = round(k / self.fps * self.rate)
        while self._inbox:
            chunk = self._inbox.popleft()
            if self._speech_end > sealed:  # speech still playing: this follows it
                start = self._speech_end
            else:  # the queue ran dry: start as soon as its look-ahead can be heard
                arrival = chunk.arrival - self._t0
                lead = max(0.0, self.lookahead - len(chunk.samples) / self.rate)
                start = max(sealed, round((arrival + lead) * self.rate))
            self._timeline.write(start, chunk.samples)
            self._speech_end = start + len(chunk.samples)
            self._arrivals.append((start, chunk.arrival))
            if chunk.phones is not None:
                at = start / self.rate
                self._pushed += [PhoneSegment(p.phone, at + p.start, at + p.end) for p in chunk.phones]
                self._pushed_spans.append((at, self._speech_end / self.rate))

    def _withdraw(self, k: int) -> None:
        """Drop the speech from frame k on (a short fade, no click), and what was heard of it."""
        cut = round(k / self.fps * self.rate)
        if self._speech_end > cut:
            fade = round(FADE_S * self.rate)
            tail = self._timeline.read(cut, cut + fade) * np.linspace(1.0, 0.0, fade, dtype=np.float32)
            self._timeline.truncate(cut)
            self._timeline.write(cut, tail)
            self._speech_end = cut + fade
        self._arrivals = deque(a for a in self._arrivals if a[0] < cut)
        at = cut / self.rate
        self._pushed = [p for p in self._pushed if p.start < at]
        self._pushed_spans = [(a, min(b, at)) for a, b in self._pushed_spans if a < at]
        self._hearing.rewind(cut)
        self._release_until = k + 2

    # 4. One frame
    def _draw(self, k: int) -> LiveFrame:
        fixed = max(self._speech_end, round((k + 1) / self.fps * self.rate))
        heard_to = min(fixed, round(((k + 1) / self.fps + self.lookahead) * self.rate))
        self._hearing.hear(self._timeline, heard_to, self._pushed_spans)
        lip, expression, pose, speech = self._motion(k)
        track = MotionTrack(self.fps, lip[None], expression[None], pose[None]).weighted(**self._weights)
        request = RenderRequest(clip=self._silence, fps=self.fps, frame_count=1, motion=track, options=self._options)
        image = next(iter(self.subject.renderer.frames(self.subject.prepared, request, _no_progress)))
        stop = round((k + 1) / self.fps * self.rate)
        audio = self._timeline.read(self._sent_audio, stop)
        arrivals = []
        while self._arrivals and self._arrivals[0][0] < stop:
            arrivals.append(self._arrivals.popleft()[1])
        playing = self._speech_end > self._sent_audio
        self._sent_audio = stop
        self._forget(k)
        return LiveFrame(k, image, audio, self.rate, bool(playing), tuple(arrivals), track.lip[0], track.expression[0], track.pose[0])

    def _motion(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
        hearing = self._hearing
        first = max(0, k - PAST_FRAMES)
        last = max(k + 1, int(hearing.heard_s * self.fps))  # frames with some audio heard
        window = hearing.features(first, last, self._phones_between(first / self.fps, last / self.fps))
        i = k - first
        voiced = window.voice[i] > VOICED
        if voiced:
            hearing.level.add(float(hearing.levels[i]))
        near = max(0, i - LIP_PAST_FRAMES)  # the lips need less of the past than the emphasis
        centre = (k + 0.5) / self.fps
        timed = any(a <= centre < b for a, b in self._pushed_spans)
        # The lips show each shape LEAD_S before its sound; with less heard than that ahead of
        # the frame (a look-ahead under LEAD_S), they lead by what is heard.
        known = self._speech_end / self.rate if timed else hearing.heard_s
        late = LEAD_S - float(np.clip(known - centre, 0.0, LEAD_S))
        lips = _later_frames(window, near, delay=late)
        contacts = _later_frames(window, near) if late > 0 else None  # contacts stay on the phones' own time
        lip = self._lip.frame(lips, i - near, release=k <= self._release_until, gate=not timed, contacts=contacts)
        pause_began = self._pause(voiced)
        emphasis = float(window.prosody.emphasis[i])
        nod = float(smooth(window.prosody.emphasis, 0.06 * self.fps)[i])
        gate = float(speaking(window.voice, self.fps)[i])
        expression = self._expression.frame(k, speaking=voiced, pause_began=pause_began, emphasis=emphasis)
        pose = self._pose.frame(k, speaking=gate, emphasis=nod)
        return lip, expression, pose, voiced

    def _advance_motion(self, k: int) -> None:
        """Keep blinks, gaze and head motion on time through a skipped frame."""
        self._expression.frame(k, speaking=False, pause_began=False, emphasis=0.0)
        self._pose.frame(k, speaking=0.0, emphasis=0.0)

    def _pause(self, voiced: bool) -> bool:
        """Whether a pause is heard to begin on this frame (no speech for MIN_PAUSE_S)."""
        self._silent_frames = 0 if voiced else self._silent_frames + 1
        return self._silent_frames == self._pause_frames

    def _phones_between(self, start: float, end: float) -> list[PhoneSegment]:
        """Phones over [start, end): the pushed timings where there are some, else those heard."""
        pushed = [p for p in self._pushed if p.end > start and p.start < end]
        heard = [
            p for p in self._hearing.phones.segments(start, end)
            if not any(a <= (p.start + p.end) / 2 < b for a, b in self._pushed_spans)
        ]
        return sorted(pushed + heard, key=lambda p: p.start)

    def _forget(self, k: int) -> None:
        keep = round((k / self.fps - KEEP_S) * self.rate)
        if keep > 0:
            self._timeline.trim(keep)
            at = keep / self.rate
            self._pushed = [p for p in self._pushed if p.end > at]
            self._pushed_spans = [s for s in self._pushed_spans if s[1] > at]
            self._hearing.forget(at)


class _Hearing:
    """What the session has heard of its timeline, at 16 kHz: voice, phones, loudness, pitch."""

    def __init__(self, rate: int, fps: float):
        self.rate, self.fps = rate, fps
        self.hop = ANALYSIS_RATE / fps  # 16 kHz samples per frame
        self.level = LoudLevel(fps)
        self.phones = PhoneStream()
        self.levels = np.zeros(0, np.float32)  # the last window's frame levels (dB)
        self.ring = SampleRing()  # the timeline at 16 kHz
        self.rewind(0)

    @property
    def heard_s(self) -> float:
        return self.ring.end / ANALYSIS_RATE

    def rewind(self, sample: int) -> None:
        """Hear the timeline again from `sample` (session rate) on; forget what came after."""
        step = self.rate // gcd(self.rate, ANALYSIS_RATE)  # timeline samples that make whole 16 kHz samples
        sample = sample // step * step
        at16 = sample * ANALYSIS_RATE // self.rate
        self.ring.truncate(at16)
        self.phones.drop_after(at16 / ANALYSIS_RATE)
        self.fed = sample
        self._pitched = int(np.ceil(at16 / self.hop))
        self._f0 = {j: v for j, v in getattr(self, "_f0", {}).items() if j < self._pitched}
        self.resampler = StreamResampler(self.rate, ANALYSIS_RATE)
        self.voice = VoiceStream(at16 / ANALYSIS_RATE)
        self._out16 = at16  # the 16 kHz index of the resampler's next output

    def hear(self, timeline: SampleRing, until: int, pushed_spans: list[tuple[float, float]]) -> None:
        """Hear the timeline up to sample `until` (session rate)."""
        if until <= self.fed:
            return
        samples = self.resampler.push(timeline.read(self.fed, until))
        self.fed = until
        if not len(samples):
            return
        start = self._out16
        self.ring.write(start, samples)
        self._out16 += len(samples)
        self.voice.push(samples)
        at = start / ANALYSIS_RATE
        if any(a <= at < b for a, b in pushed_spans):
            self.phones.end_utterance()  # timings came with this speech: no need to recognise it
        else:
            self.phones.push(samples, at, self.voice.latest)
        self.phones.update()
        self._pitch()

    def features(self, first: int, last: int, phones: list[PhoneSegment]) -> AudioFeatures:
        """AudioFeatures of frames [first, last), as far as they are heard, phones given."""
        frames, fps = last - first, self.fps
        a = round(first * self.hop)
        samples = self.ring.read(a, min(round(last * self.hop + self.hop), self.ring.end))
        self.levels = frame_rms_db(samples, ANALYSIS_RATE, fps, frames)
        loudness = self.level.envelope(self.levels)
        times = (np.arange(first, last) + 0.5) / fps
        voice = self.voice.at(times)
        t0 = first / fps
        shifted = [PhoneSegment(p.phone, max(0.0, p.start - t0), p.end - t0) for p in phones if p.end > t0]
        # Gaps between phones are silence; past the last phone heard nothing is known yet: not
        # silence, which would pull the mouth shut ahead of every phone still being recognised.
        known = min(frames / fps, max((p.end for p in shifted), default=0.0))
        covered = _cover(shifted, round(known * ANALYSIS_RATE)) if shifted else []
        f0 = np.array([self._f0.get(j, 0.0) for j in range(first, last)], np.float32)  # 0: unvoiced, or not heard yet
        speech = voice > VOICED
        voiced = (f0 > 0) & speech
        f0 = np.where(voiced, f0, 0.0).astype(np.float32)
        prosody = Prosody(fps, f0, voiced, _emphasis(loudness, f0, speech, fps), ~speech)
        return AudioFeatures(fps, loudness, voice, prosody, tuple(covered), "recognized")

    def _pitch(self) -> None:
        """Pitch (prosody.pitch_track) of the frames newly heard far enough past their centre."""
        reach = PITCH_MARGIN_FRAMES
        done = int((self.ring.end / self.hop - 0.5) - PITCH_REACH_S * self.fps)  # frames heard that far
        start = max(self._pitched, int(np.ceil(self.ring.base / self.hop)) + reach)
        if done - start < PITCH_BATCH_FRAMES:
            return
        first = start - reach
        samples = self.ring.read(round(first * self.hop), round((done + reach) * self.hop))
        f0, periodic = pitch_track(samples, ANALYSIS_RATE, self.fps, done + reach - first)
        for j in range(start, done):
            self._f0[j] = float(f0[j - first]) if periodic[j - first] else 0.0
        self._pitched = done

    def forget(self, before_s: float) -> None:
        self.ring.trim(round(before_s * ANALYSIS_RATE))
        old = int(before_s * self.fps)
        for j in [j for j in self._f0 if j < old]:
            del self._f0[j]

    def close(self) -> None:
        self.phones.close()


def _later_frames(features: AudioFeatures, first: int, *, delay: float = 0.0) -> AudioFeatures:
    """`features` from frame `first` of it on, its phones `delay` seconds later."""
    if first == 0 and delay == 0:
        return features
    t0 = first / features.fps - delay
    phones = tuple(PhoneSegment(p.phone, max(0.0, p.start - t0), p.end - t0) for p in features.phones if p.end > t0)
    return AudioFeatures(features.fps, features.loudness[first:], features.voice[first:], features.prosody, phones, features.phone_source)


def _no_progress(done: int, total: int, unit: str) -> None:
    pass


def _mono(samples: np.ndarray, rate: int) -> np.ndarray:
    """(N,) float32 in [-1, 1] from a pushed chunk, or AudioError saying what is wrong."""
    if isinstance(rate, bool) or not isinstance(rate, (int, np.integer, float)) or not float(rate).is_integer() or not 0 < rate <= MAX_RATE:
        raise AudioError(f"sample rate {rate!r} is not usable: give a whole number of samples per second up to {MAX_RATE}, e.g. 16000")
    samples = np.asarray(samples)
    if samples.ndim == 2 and samples.shape[1] <= 8:
        samples = samples.mean(axis=1) if np.issubdtype(samples.dtype, np.floating) else samples.astype(np.float64).mean(axis=1).astype(samples.dtype)
    if samples.ndim != 1:
        raise AudioError(f"audio chunk of shape {samples.shape}: give (samples,) or (samples, channels)")
    return np.clip(float_samples(samples, "the audio chunk"), -1.0, 1.0)


def _timings(phones: Sequence[tuple[str, float, float]], duration: float) -> tuple[PhoneSegment, ...]:
    """Pushed phone timings, checked: known phones, start <= end, within the chunk (±20 ms)."""
    out = []
    for item in phones:
        try:
            phone, start, end = item
            start, end = float(start), float(end)
            name = str(phone).strip().upper().rstrip("012")
            name = SILENCE if phone_to_viseme(name).name == "rest" else name
        except (TypeError, ValueError, KeyError):
            raise InputError(f"phone timing {item!r} is not (ARPAbet phone, start s, end s)") from None
        if not (np.isfinite(start) and np.isfinite(end)) or end < start or start < -0.02 or end > duration + 0.02:
            raise InputError(f"phone timing {item!r} does not lie within the chunk's {duration:.3f} s")
        out.append(PhoneSegment(name, max(0.0, start), min(duration, end)))
    return tuple(out)
