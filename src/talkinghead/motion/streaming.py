"""Causal motion: the three levels frame by frame, for speech that is still arriving.

The whole-clip generators (lip.py, expression.py, pose.py) see a clip from end to end; a live
session sees only what has been said so far and a bounded look-ahead. The same ideas and
numbers, with nothing computed over the whole clip:

- lip: `lip_frame` runs the whole-clip lip level (generate.lip_track: visemes, coarticulation,
  jaw × loudness, contacts, the voice gate) on a short window around the frame, ending where
  the audio heard so far ends, and keeps the frame-to-frame change within lip.MAX_SPEED;
- expression: blinks drawn from the same law and snapped to pauses as they begin, saccades,
  glances in pauses (gaze "natural"), brows on emphasis, emotion;
- pose: drift of unit spread generated ahead of time (it depends on no audio), settling in
  pauses with SETTLE_S, nods on emphasis, breathing, emotion, the same soft limits.
"""

from __future__ import annotations

import numpy as np

from ..types import EXPRESSION_CHANNELS, LIP_CHANNELS, POSE_CHANNELS, AudioFeatures
from . import expression as ex
from . import pose as po
from .generate import lip_track
from .lip import MAX_SPEED, lip_curves
from .visemes import rest_viseme

_EXPRESSION = {name: i for i, name in enumerate(EXPRESSION_CHANNELS)}
_POSE = {name: i for i, name in enumerate(POSE_CHANNELS)}
_PRESS = LIP_CHANNELS.index("lips_press")
RELEASE_STEP = 0.5  # per frame: how fast the mouth goes to rest when speech is withdrawn
REVISION_SPEED = 2.0  # times lip.MAX_SPEED: the most a frame may differ from the one before


class StreamingLip:
    """Lip shapes frame by frame from a window of audio features around each frame."""

    def __init__(self, fps: float, rest: str):
        self.fps = fps
        self.rest = rest  # visemes.REST_MODES: the shape of silence
        self._last = np.asarray(rest_viseme(rest).shape, np.float32)

    def frame(self, window: AudioFeatures, index: int, *, release: bool = False, gate: bool = True, contacts: AudioFeatures | None = None) -> np.ndarray:
        """(len(LIP_CHANNELS),) float32: the shape of frame `index` of `window`.

        `window`: features of a few frames before the frame and as many after it as have been
        heard. `release`: the speech was withdrawn; go to rest faster. `gate`: keep the mouth
        at rest where no voice is heard (generate.lip_track); off for phones the source
        timed itself, which say exactly where speech is. `contacts`: the same window with its
        phones on their own time, when `window`'s were moved (a look-ahead under lip.LEAD_S):
        the lips shut on the phone's own time, as in the whole-clip track.
        """
        shape = (lambda w: lip_track(w, self.rest)) if gate else (lambda w: lip_curves(list(w.phones), w.loudness, w.fps, self.rest))
        target = shape(window)[index]
        if contacts is not None:
            exact = shape(contacts)[index]
            target = exact if exact[_PRESS] >= 0.99 else np.where(target[_PRESS] >= 0.99, exact, target)
        # The window's own track is speed-limited already, centred on its frames; this bound
        # only keeps revisions (phones heard better a frame later) from jumping, and at
        # lip.MAX_SPEED itself it would make every opening a frame late.
        step = RELEASE_STEP if release else REVISION_SPEED * MAX_SPEED / self.fps
        shaped = np.clip(target, self._last - step, self._last + step)
        # A contact is exact, as in the whole-clip track: the lips shut on the frame it falls on.
        if target[_PRESS] >= 0.99:
            shaped = target
        self._last = shaped.astype(np.float32)
        return self._last


class StreamingWander:
    """ex.wander's smooth random motion of unit spread, one frame at a time: Gaussian-filtered
    white noise drawn ahead of the frame (the motion depends on no audio), its spread known
    from the filter rather than measured on a clip."""

    def __init__(self, rng: np.random.Generator, fps: float, period_s: float):
        sigma = max(1.0, period_s * fps / 4)
        reach = int(4 * sigma)
        kernel = np.exp(-0.5 * (np.arange(-reach, reach + 1) / sigma) ** 2)
        self._kernel = kernel / np.sqrt((kernel**2).sum())  # white noise of unit spread stays unit
        self._rng = rng
        self._noise = rng.standard_normal(len(kernel))

    def next(self) -> float:
        self._noise = np.roll(self._noise, -1)
        self._noise[-1] = self._rng.standard_normal()
        return float(self._noise @ self._kernel)


class StreamingExpression:
    """Blinks, gaze, brows and emotion frame by frame (see motion/expression.py)."""

    def __init__(self, rng: np.random.Generator, fps: float, *, gaze: str, emotion: str, intensity: float):
        self.fps, self.gaze, self._rng = fps, gaze, rng
        self._mean_gap = 60.0 / ex.BLINKS_PER_MINUTE
        self._next_blink = rng.uniform(0.3, self._mean_gap)  # seconds, as blink_times begins
        self._last_blink = -np.inf
        self._blink: list[float] = []  # the rest of the running blink's curve, frame by frame
        self._hold_until, self._target = 0.0, (0.0, 0.0)
        self._glance_until = -1.0
        self._gaze = np.zeros(2, np.float32)
        self._emotion = np.zeros(len(EXPRESSION_CHANNELS), np.float32)
        for name, value in ex.EMOTIONS[emotion].items():
            self._emotion[_EXPRESSION[name]] += intensity * value
        self._spoken = False  # a pause counts once the speaker has said something

    def frame(self, index: int, *, speaking: bool, pause_began: bool, emphasis: float) -> np.ndarray:
        """(len(EXPRESSION_CHANNELS),) float32 for frame `index`.

        `pause_began`: a pause starts on this frame (the speaker stopped); `emphasis` in [0, 1].
        """
        t = index / self.fps
        self._spoken |= speaking
        out = self._emotion.copy()
        out[_EXPRESSION["blink_left"]] = out[_EXPRESSION["blink_right"]] = self._blink_value(t, pause_began)
        if self.gaze != "fixed":
            out[_EXPRESSION["gaze_x"]], out[_EXPRESSION["gaze_y"]] = self._gaze_value(t, speaking, pause_began)
        out[_EXPRESSION["brow_up"]] += ex.BROW_ON_EMPHASIS * emphasis
        return out

    def _blink_value(self, t: float, pause_began: bool) -> float:
        # A blink this close to a pause's start moves to it, as blink_times does.
        if pause_began and self._spoken and abs(self._next_blink - t) < ex.SNAP_TO_PAUSE_S:
            self._next_blink = t + self._rng.uniform(0.05, 0.2)
        if not self._blink and t >= self._next_blink and t - self._last_blink >= ex.MIN_BLINK_GAP_S:
            frames = int(np.ceil(0.5 * self.fps))
            # blink_curve draws the blink's close, hold and reopening times from the same ranges.
            self._blink = ex.blink_curve(self._rng, np.array([0.0]), frames, self.fps).tolist()
            self._last_blink = t
            gap = ex.MIN_BLINK_GAP_S + self._rng.gamma(2.0, (self._mean_gap - ex.MIN_BLINK_GAP_S) / 2.0)
            self._next_blink = t + gap
        return self._blink.pop(0) if self._blink else 0.0

    def _gaze_value(self, t: float, speaking: bool, pause_began: bool) -> tuple[float, float]:
        rng = self._rng
        if self.gaze == "natural" and pause_began and self._spoken and rng.uniform() <= ex.GLANCE_CHANCE:
            self._glance_until = t + rng.uniform(*ex.GLANCE_S)
            self._target = (rng.choice([-1, 1]) * rng.uniform(0.4, 0.7), -rng.uniform(0.1, 0.4))
        glancing = t < self._glance_until and not speaking
        if not glancing and (t >= self._hold_until or self._glance_until >= 0):
            self._glance_until = -1.0
            self._hold_until = t + rng.uniform(*ex.SACCADE_EVERY_S)
            self._target = (rng.uniform(-1, 1) * ex.SACCADE_RANGE[0], rng.uniform(-1, 1) * ex.SACCADE_RANGE[1])
        # A saccade takes about two frames, not zero.
        self._gaze += 0.6 * (np.asarray(self._target, np.float32) - self._gaze)
        return float(self._gaze[0]), float(self._gaze[1])


class StreamingPose:
    """Head motion frame by frame (see motion/pose.py)."""

    def __init__(self, rng: np.random.Generator, fps: float, *, emotion: str, intensity: float):
        self.fps = fps
        self._wander = {name: StreamingWander(rng, fps, period_s=2.5) for name in po.SPEAKING_SPREAD}
        self._nod_turn = (rng.choice([-1, 1]), rng.choice([-1, 1]))
        self._phase = rng.uniform(0, 2 * np.pi)
        self._activity = po.IDLE_SHARE
        self._settle = 1.0 - np.exp(-1.0 / (po.SETTLE_S * fps))
        self._emotion = np.zeros(len(POSE_CHANNELS), np.float32)
        for name, value in po.EMOTION_POSE.get(emotion, {}).items():
            self._emotion[_POSE[name]] += intensity * value

    def frame(self, index: int, *, speaking: float, emphasis: float) -> np.ndarray:
        """(len(POSE_CHANNELS),) float32 for frame `index`; `speaking` in [0, 1] (the soft voice gate)."""
        target = po.IDLE_SHARE + (1 - po.IDLE_SHARE) * speaking
        self._activity += self._settle * (target - self._activity)
        out = self._emotion.copy()
        for name, spread in po.SPEAKING_SPREAD.items():
            out[_POSE[name]] += spread * self._activity * self._wander[name].next()
        out[_POSE["pitch"]] += po.NOD_DEGREES * emphasis
        out[_POSE["yaw"]] += po.NOD_TURN * po.NOD_DEGREES * self._nod_turn[0] * emphasis
        out[_POSE["roll"]] += po.NOD_TURN * po.NOD_DEGREES * self._nod_turn[1] * emphasis
        breath = np.sin(2 * np.pi * index / (po.BREATH_PERIOD_S * self.fps) + self._phase)
        out[_POSE["pitch"]] += po.BREATH_PITCH * breath
        out[_POSE["shift_y"]] -= po.BREATH_RISE * breath
        for name, limit in po.LIMITS.items():
            out[_POSE[name]] = po._soft_limit(np.array([out[_POSE[name]]]), limit)[0]
        return out.astype(np.float32)
