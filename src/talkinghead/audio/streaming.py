"""Causal audio analysis: the measures of the whole-clip analysis, computed as audio arrives.

Live sessions (talkinghead.live) hear speech in chunks and must move the face before the
speech is over, so nothing here looks at a whole clip:

    chunks at any rate ─► StreamResampler ─► 16 kHz ─┬─► VoiceStream     Silero VAD, window by window
                                                     ├─► PhoneStream     pocketsphinx phone loop, one utterance per stretch of speech
                                                     └─► LoudLevel       the loud-speech level, adapted as the session goes

The loudness envelope (audio.loudness), pitch (audio.prosody.pitch_track) and emphasis are
computed by the whole-clip functions themselves on short windows of this stream.
"""

from __future__ import annotations

from collections import deque
from math import gcd

import numpy as np

from ..types import ANALYSIS_RATE, PhoneSegment
from . import phones as _phones
from . import vad as _vad
from .loudness import FLOOR_DB, RANGE_DB


class StreamResampler:
    """Band-limited resampling of a stream pushed in chunks of any size.

    A Kaiser-windowed sinc filter; output sample n is the input at time n / rate_out, so
    pushing a signal in pieces gives the same samples as pushing it whole. The filter's reach
    (HALF_TAPS input samples, more when down-sampling: ~0.3 ms at 48 kHz) is held back until
    the next chunk arrives; `flush` lets it out at the end of a stream.
    """

    HALF_TAPS = 16
    BETA = 8.0  # Kaiser window shape: ~80 dB stop-band

    def __init__(self, rate_in: int, rate_out: int):
        g = gcd(int(rate_in), int(rate_out))
        self.rate_in, self.rate_out = int(rate_in), int(rate_out)
        self.up, self.down = self.rate_out // g, self.rate_in // g
        self.cutoff = min(1.0, self.rate_out / self.rate_in)  # of the input's Nyquist frequency
        self.half = int(np.ceil(self.HALF_TAPS / self.cutoff))
        self._buffer = np.zeros(self.half, np.float64)  # leading zeros: output 0 sits on input 0
        self._base = -self.half  # input index of _buffer[0]
        self._next = 0  # index of the next output sample
        # Output n falls at phase (n * down) % up between input samples: one row of weights per phase.
        self._weights = self._filter(np.arange(self.up) / self.up) if self.up <= 4096 else None

    @property
    def passthrough(self) -> bool:
        return self.up == self.down

    def push(self, samples: np.ndarray) -> np.ndarray:
        """(M,) float32 output samples that the input so far fully determines."""
        if self.passthrough:
            return np.asarray(samples, np.float32)
        self._buffer = np.concatenate([self._buffer, np.asarray(samples, np.float64)])
        end = self._base + len(self._buffer)  # one past the last input index held
        # Output n needs inputs up to floor(n * down / up) + half.
        last = ((end - self.half) * self.up - 1) // self.down  # the last output that can be made
        out = self._make(self._next, last + 1)
        self._next = max(self._next, last + 1)
        keep_from = self._next * self.down // self.up - self.half + 1
        if keep_from > self._base:
            self._buffer = self._buffer[keep_from - self._base :]
            self._base = keep_from
        return out

    def flush(self) -> np.ndarray:
        """The held-back output, as if the stream ended with silence; the stream then restarts."""
        if self.passthrough:
            return np.zeros(0, np.float32)
        out = self.push(np.zeros(self.half, np.float64))
        self.__init__(self.rate_in, self.rate_out)
        return out

    def _make(self, first: int, stop: int) -> np.ndarray:
        if stop <= first:
            return np.zeros(0, np.float32)
        n = np.arange(first, stop, dtype=np.int64)
        position = n * self.down
        centre, frac = position // self.up, (position % self.up) / self.up
        offsets = np.arange(-self.half + 1, self.half + 1)
        weights = self._weights[position % self.up] if self._weights is not None else self._filter(frac)
        taps = self._buffer[centre[:, None] + offsets[None, :] - self._base]
        return np.einsum("ij,ij->i", taps, weights).astype(np.float32)

    def _filter(self, frac: np.ndarray) -> np.ndarray:
        """(M, taps) weights for outputs `frac` input samples past their centre sample."""
        distance = np.arange(-self.half + 1, self.half + 1)[None, :] - frac[:, None]
        window = np.i0(self.BETA * np.sqrt(np.clip(1 - (distance / self.half) ** 2, 0, 1))) / np.i0(self.BETA)
        return self.cutoff * np.sinc(self.cutoff * distance) * window


class VoiceStream:
    """Speech probability of each 32 ms window of a 16 kHz stream, by the bundled Silero VAD,
    window by window as `vad.speech_probability` computes them for a whole clip."""

    KEEP_S = 10.0  # windows older than this before the newest are forgotten

    def __init__(self, start: float = 0.0):
        self.reset(start)

    def reset(self, start: float) -> None:
        """Start again (a fresh model state) with the stream's next sample at `start` seconds."""
        self._session = _vad._session()
        self._state = np.zeros((2, 1, 128), np.float32)
        self._pending = np.zeros(_vad.CONTEXT, np.float32)  # context of the first window: zeros
        self._start, self._windows = start, 0
        self._centres: deque[float] = deque()
        self._probs: deque[float] = deque()

    def push(self, samples: np.ndarray) -> None:
        self._pending = np.concatenate([self._pending, samples.astype(np.float32)])
        rate = np.array(ANALYSIS_RATE, np.int64)
        size = _vad.CONTEXT + _vad.WINDOW
        while len(self._pending) >= size:
            prob, self._state = self._session.run(None, {"input": self._pending[None, :size], "state": self._state, "sr": rate})
            self._centres.append(self._start + (self._windows + 0.5) * _vad.WINDOW / ANALYSIS_RATE)
            self._probs.append(float(prob[0, 0]))
            self._windows += 1
            self._pending = self._pending[_vad.WINDOW :]
        while self._centres and self._centres[0] < self._centres[-1] - self.KEEP_S:
            self._centres.popleft()
            self._probs.popleft()

    @property
    def latest(self) -> float:
        """The newest window's probability (0 before the first)."""
        return self._probs[-1] if self._probs else 0.0

    def at(self, times: np.ndarray) -> np.ndarray:
        """(T,) float32 probabilities at `times` (seconds), interpolated between window centres;
        beyond the newest window, the newest (no window yet: 0)."""
        if not self._probs:
            return np.zeros(len(times), np.float32)
        return np.interp(times, np.fromiter(self._centres, float), np.fromiter(self._probs, float)).astype(np.float32)


class PhoneStream:
    """Phones recognised as speech arrives: pocketsphinx's phone loop (audio.phones' decoder
    and settings), one utterance per stretch of speech.

    An utterance starts when the voice model hears speech, with CONTEXT_S of the audio before
    it as the lead-in the models expect, and ends after a pause of MIN_PAUSE_S (or at
    MAX_CHUNK_S). While it runs, the decoder's best path so far gives partial phones, which
    settle as more audio comes; the newest ~50 ms are the least certain. The whole-clip
    recognition's second pass, which lets missed p/b/m closures in, needs the utterance's end:
    its answer would come after the frames it concerns were shown, so live phones are the
    phone loop's alone.
    """

    START_PROBABILITY = 0.5  # voice probability that starts an utterance
    KEEP_S = 10.0  # phones that ended this long before the newest audio are forgotten

    def __init__(self) -> None:
        self._decoder = _phones._phone_loop()
        self._noise = np.random.default_rng(_phones.NOISE_SEED)
        self._recent = np.zeros(0, np.float32)  # the last CONTEXT_S of audio: the next lead-in
        self.final: list[PhoneSegment] = []
        self.partial: list[PhoneSegment] = []
        self._utterance: float | None = None  # start time of the running utterance
        self._heard = 0.0  # seconds of audio in it
        self._quiet = 0.0  # seconds since the voice model last heard speech
        self._end = 0.0  # time of the next sample

    def push(self, samples: np.ndarray, start: float, voice: float) -> None:
        """Feed 16 kHz `samples` beginning at `start` seconds; `voice`: the voice model's newest
        probability."""
        duration = len(samples) / ANALYSIS_RATE
        if abs(start - self._end) > 1e-6:  # a jump in the stream: what came before is over
            self.end_utterance()
            self._recent = np.zeros(0, np.float32)
        self._end = start + duration
        speech = voice >= self.START_PROBABILITY
        self._quiet = 0.0 if speech else self._quiet + duration
        if self._utterance is None and speech:
            lead = self._recent
            self._decoder.start_utt()
            self._utterance = start - len(lead) / ANALYSIS_RATE
            self._heard = 0.0
            self._feed(lead)
        if self._utterance is not None:
            self._feed(samples)
            self._heard += duration
            if self._quiet >= _phones.MIN_PAUSE_S or self._heard >= _phones.MAX_CHUNK_S:
                self.end_utterance()
        keep = round(_phones.CONTEXT_S * ANALYSIS_RATE)
        self._recent = np.concatenate([self._recent, samples])[-keep:]

    def _feed(self, samples: np.ndarray) -> None:
        if not len(samples):
            return
        noisy = samples + self._noise.normal(0.0, _phones.NOISE_FLOOR, len(samples))
        self._decoder.process_raw((np.clip(noisy, -1.0, 1.0) * 32767).astype(np.int16).tobytes(), False, False)

    def update(self) -> None:
        """Read the running utterance's partial phones (a backtrace: call once per frame)."""
        self.partial = self._segments() if self._utterance is not None else []

    def end_utterance(self) -> None:
        if self._utterance is None:
            return
        self._decoder.end_utt()
        self.final += self._segments()
        self.partial, self._utterance = [], None
        self._forget()

    def drop_after(self, time: float) -> None:
        """Forget what was heard from `time` on (the speech there was withdrawn)."""
        if self._utterance is not None:
            self._decoder.end_utt()
            self._utterance = None
        self.partial = []
        self.final = [s for s in self.final if s.start < time]
        if self.final and self.final[-1].end > time:
            last = self.final[-1]
            self.final[-1] = PhoneSegment(last.phone, last.start, time)
        self._end, self._recent, self._quiet = time, np.zeros(0, np.float32), 0.0

    def segments(self, start: float, end: float) -> list[PhoneSegment]:
        """The phones heard between `start` and `end` seconds, final and partial, in order."""
        return [s for s in self.final + self.partial if s.end > start and s.start < end]

    def _segments(self) -> list[PhoneSegment]:
        offset = self._utterance or 0.0
        out = []
        for seg in self._decoder.seg() or ():
            phone = _phones._segment(seg.word, seg.start_frame, seg.end_frame + 1)
            out.append(PhoneSegment(phone.phone, offset + phone.start, offset + phone.end))
        return out

    def _forget(self) -> None:
        self.final = [s for s in self.final if s.end > self._end - self.KEEP_S]

    def close(self) -> None:
        if self._utterance is not None:
            self._decoder.end_utt()
            self._utterance = None


class LoudLevel:
    """The loud-speech level the loudness envelope is relative to, learnt as the session goes.

    The whole-clip envelope (audio.loudness) takes the 95th percentile of the clip's levels;
    here it is the 95th percentile of the levels of frames heard as speech in the last
    HISTORY_S, blended with PRIOR_DB until MIN_FRAMES of speech are heard.
    """

    PRIOR_DB = -20.0  # dBFS: a usual loud-speech level of a recording or a TTS voice
    HISTORY_S = 30.0
    MIN_S = 1.0

    def __init__(self, fps: float):
        self._levels: deque[float] = deque(maxlen=max(1, round(self.HISTORY_S * fps)))
        self._min = max(1, round(self.MIN_S * fps))
        self._loud = self.PRIOR_DB

    def add(self, level_db: float) -> None:
        """The level of one more frame heard as speech."""
        if level_db <= FLOOR_DB:
            return
        self._levels.append(level_db)
        share = min(1.0, len(self._levels) / self._min)
        self._loud = share * float(np.percentile(self._levels, 95)) + (1 - share) * self.PRIOR_DB

    @property
    def loud(self) -> float:
        return self._loud

    def envelope(self, level_db: np.ndarray) -> np.ndarray:
        """(T,) float32 in [0, 1], as audio.loudness.loudness_envelope with the level so far."""
        floor = max(FLOOR_DB, self._loud - RANGE_DB)
        return np.clip((level_db - floor) / (self._loud - floor + 1e-6), 0.0, 1.0).astype(np.float32)
