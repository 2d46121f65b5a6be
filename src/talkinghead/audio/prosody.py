"""Prosody per video frame: pitch, voicing, emphasis, pauses.

The expression and pose levels read it: brows rise and the head nods on emphasised
syllables, blinks come more often in pauses, the head settles in long pauses.

- Pitch: YIN (de Cheveigné & Kawahara, 2002) on a window centred on each frame, all frames at
  once with FFT correlations; 60-400 Hz covers low male to high child voices.
- Emphasis: syllable nuclei are the peaks of the loudness envelope; a nucleus is emphasised
  when it is louder and/or higher pitched than the nuclei around it (within CONTEXT_S). Only
  clear cases count, so a sentence gets a handful, not one per syllable.
- Pauses: runs of non-speech (audio.activity) of at least MIN_PAUSE_S.

Language-independent: nothing here depends on English.
"""

from __future__ import annotations

from math import gcd

import numpy as np
import scipy.fft
from scipy.ndimage import median_filter, uniform_filter1d
from scipy.signal import find_peaks, resample_poly

from ..types import AudioClip, Prosody
from .activity import pause_mask, speech_activity
from .loudness import loudness_envelope

F0_MIN = 60.0  # Hz
F0_MAX = 400.0  # Hz
PITCH_RATE = 8000  # Hz: the voice's period shows below 4 kHz, and half the samples halve the cost
YIN_WINDOW_S = 0.025  # integration window; longer than the longest period (1/F0_MIN)
YIN_THRESHOLD = 0.15  # first dip of the normalised difference below this is the period
# Frames whose best dip stays above VOICED_MAX are unvoiced: noise stays near 0.8, while the
# fast spectral change between two voiced sounds can lift a voiced frame to 0.4.
VOICED_MAX = 0.45

SYLLABLE_S = 0.15  # syllable nuclei are at least this far apart
MIN_PROMINENCE = 0.08  # a nucleus stands this far (loudness units) above its surroundings
CONTEXT_S = 1.0  # a nucleus is compared with the nuclei this close on either side
LOUD_SCALE = 0.2  # loudness above the neighbours' mean that makes full emphasis...
PITCH_SCALE = 3.0  # ...and semitones above their median pitch that do the same
EMPHASIS_MIN = 0.3  # weaker prominence is ordinary stress, not emphasis
EMPHASIS_HALF_WIDTH_S = 0.12  # an emphasis bump rises and falls over this on each side

PITCH_REACH_S = 0.05  # a nucleus's pitch is the highest within this of its loudness peak

MIN_PAUSE_S = 0.25  # shorter gaps are stop closures and breaths inside a phrase
BLOCK_FRAMES = 1500  # frames whose pitch is computed at a time (a minute at 25 fps)


def analyze_prosody(
    clip: AudioClip, fps: float, frame_count: int, *, voice_windows: np.ndarray | None = None, loudness: np.ndarray | None = None
) -> Prosody:
    """Prosody of a clip on `frame_count` video frames; frame t is centred at (t + 0.5)/fps."""
    speech = speech_activity(clip.samples, clip.rate, fps, frame_count, voice_windows=voice_windows)
    f0, periodic = pitch_track(clip.samples, clip.rate, fps, frame_count)
    voiced = periodic & speech
    f0 = np.where(voiced, f0, 0.0).astype(np.float32)
    if loudness is None:
        loudness = loudness_envelope(clip.samples, clip.rate, fps, frame_count)
    return Prosody(
        fps=fps,
        f0=f0,
        voiced=voiced,
        emphasis=_emphasis(loudness, f0, speech, fps),
        pauses=pause_mask(speech, fps, MIN_PAUSE_S),
    )


def pitch_track(
    samples: np.ndarray, rate: int, fps: float, frame_count: int
) -> tuple[np.ndarray, np.ndarray]:
    """((T,) float32 f0 in Hz, (T,) bool periodic) by YIN, one window per video frame."""
    f0, periodic = np.zeros(frame_count), np.zeros(frame_count, bool)
    # A block of frames at a time: the windows and their spectra of a whole clip would take
    # ~0.3 GB per 10 minutes. Every frame's window is its own, so the result is the same.
    for first in range(0, frame_count, BLOCK_FRAMES):
        stop = min(frame_count, first + BLOCK_FRAMES)
        f0[first:stop], periodic[first:stop] = _pitch_block(samples, rate, fps, first, stop)
    # A lone octave error in a voiced run is replaced by its neighbours' median.
    smoothed = median_filter(np.where(periodic, f0, 0.0), size=3, mode="nearest")
    f0 = np.where(periodic & (smoothed > 0), smoothed, f0)
    return np.where(periodic, f0, 0.0).astype(np.float32), periodic


def _pitch_block(samples: np.ndarray, rate: int, fps: float, first: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
    """((n,) f0 in Hz, (n,) bool periodic) of frames [first, stop), before the median filter."""
    window = int(YIN_WINDOW_S * PITCH_RATE)
    lag_min, lag_max = int(PITCH_RATE / F0_MAX), int(np.ceil(PITCH_RATE / F0_MIN))
    span = window + lag_max
    # Each frame's window: `span` samples centred on the frame's centre, zero beyond the clip.
    starts = ((np.arange(first, stop) + 0.5) * PITCH_RATE / fps).astype(np.int64) - span // 2
    lo = int(starts[0])
    piece = _at_pitch_rate(samples, rate, lo, int(starts[-1]) + span)
    cmnd = _cmnd(piece[starts[:, None] - lo + np.arange(span)[None, :]], window, lag_max)
    lag = _first_dip(cmnd, lag_min)
    rows = np.arange(stop - first)
    best = cmnd[rows, lag]
    # Parabolic interpolation through the dip and its neighbours: sub-sample period.
    left, right = cmnd[rows, lag - 1], cmnd[rows, np.minimum(lag + 1, lag_max)]
    curvature = left - 2 * best + right
    shift = np.where(curvature > 0, 0.5 * (left - right) / np.where(curvature > 0, curvature, 1), 0)
    f0 = PITCH_RATE / (lag + np.clip(shift, -0.5, 0.5))
    # A dip at either end of the lag range is no period, just the edge of the search.
    periodic = (best < VOICED_MAX) & (lag > lag_min) & (lag < lag_max)
    return f0, periodic


def _at_pitch_rate(samples: np.ndarray, rate: int, start: int, stop: int) -> np.ndarray:
    """(stop - start,) float32: samples [start, stop) of the clip resampled to PITCH_RATE, zero
    beyond the clip; the same values as resampling the whole clip (a margin wider than the
    filter's reach is resampled with them and dropped)."""
    g = gcd(PITCH_RATE, int(rate))
    up, down = PITCH_RATE // g, int(rate) // g
    total = -(-len(samples) * up // down)  # samples of the whole clip at PITCH_RATE
    margin = 10 * max(up, down) + 64
    # Pieces start on a sample of both rates, so their filter phases are the whole clip's.
    out_start = max(0, (start - margin) // up * up)
    out_stop = min(total, -(-(stop + margin) // up) * up)
    out = np.zeros(stop - start, np.float32)
    if out_stop <= out_start:
        return out
    resampled = resample_poly(samples[out_start // up * down : out_stop // up * down].astype(np.float32), up, down)
    a, b = max(start, out_start), min(stop, out_start + len(resampled))
    if b > a:
        out[a - start : b - start] = resampled[a - out_start : b - out_start]
    return out


def _cmnd(frames: np.ndarray, window: int, lag_max: int) -> np.ndarray:
    """(T, lag_max + 1) YIN's cumulative-mean-normalised difference d'(lag) per frame."""
    size = scipy.fft.next_fast_len(frames.shape[1], real=True)
    head = scipy.fft.rfft(frames[:, :window], size)
    whole = scipy.fft.rfft(frames, size)
    correlation = scipy.fft.irfft(np.conj(head) * whole, size)[:, : lag_max + 1]
    squares = np.cumsum(frames.astype(np.float64) ** 2, axis=1)
    energy = np.concatenate([np.zeros((len(frames), 1)), squares], axis=1)
    lags = np.arange(lag_max + 1)
    shifted = energy[:, lags + window] - energy[:, lags]  # energy of the window moved by lag
    difference = np.maximum(shifted[:, :1] + shifted - 2 * correlation, 0.0)
    running = np.cumsum(difference[:, 1:], axis=1) / lags[1:]
    normalised = np.ones_like(difference)
    normalised[:, 1:] = difference[:, 1:] / np.maximum(running, 1e-12)
    return normalised


def _first_dip(cmnd: np.ndarray, lag_min: int) -> np.ndarray:
    """(T,) int lag per frame: the bottom of the first dip below YIN_THRESHOLD at or after
    lag_min, or the global minimum where none goes that low."""
    search = cmnd[:, lag_min:]
    below = search < YIN_THRESHOLD
    first = np.argmax(below, axis=1)
    # Walk down from the first crossing to the bottom of that dip: the dip ends where the
    # curve leaves the region below threshold.
    after = np.arange(search.shape[1])[None, :] >= first[:, None]
    leaves = after & ~below
    end = np.where(leaves.any(axis=1), np.argmax(leaves, axis=1), search.shape[1])
    inside = after & (np.arange(search.shape[1])[None, :] < end[:, None])
    dip = np.argmin(np.where(inside, search, np.inf), axis=1)
    lag = np.where(below.any(axis=1), dip, np.argmin(search, axis=1))
    return (lag + lag_min).astype(np.int64)


def _emphasis(loudness: np.ndarray, f0: np.ndarray, speech: np.ndarray, fps: float) -> np.ndarray:
    """(T,) float32 in [0, 1]: a bump on each clearly prominent syllable nucleus."""
    frames = len(loudness)
    emphasis = np.zeros(frames, np.float32)
    smooth = uniform_filter1d(np.where(speech, loudness, 0.0), size=3, mode="nearest")
    nuclei, _ = find_peaks(
        smooth, distance=max(1, round(SYLLABLE_S * fps)), prominence=MIN_PROMINENCE
    )
    bump = _bump(fps)
    half = len(bump) // 2
    for nucleus, score in zip(nuclei, _prominence(nuclei, smooth, f0, fps)):
        if score < EMPHASIS_MIN:
            continue
        lo, hi = max(0, nucleus - half), min(frames, nucleus + half + 1)
        piece = bump[lo - nucleus + half : hi - nucleus + half]
        emphasis[lo:hi] = np.maximum(emphasis[lo:hi], min(1.0, score) * piece)
    return emphasis


def _prominence(nuclei: np.ndarray, loudness: np.ndarray, f0: np.ndarray, fps: float) -> np.ndarray:
    """(N,) how much each nucleus stands out from the nuclei within CONTEXT_S: its loudness
    above their mean in LOUD_SCALEs plus its pitch above their median in PITCH_SCALEs."""
    semitones = np.where(f0 > 0, 12 * np.log2(np.maximum(f0, 1.0) / F0_MIN), np.nan)
    reach = max(1, round(PITCH_REACH_S * fps))
    pitch = np.array([_nanmax(semitones[max(0, n - reach) : n + reach + 1]) for n in nuclei])
    scores = np.zeros(len(nuclei))
    for i, nucleus in enumerate(nuclei):
        around = (np.abs(nuclei - nucleus) <= CONTEXT_S * fps) & (nuclei != nucleus)
        if not around.any():
            continue  # a lone syllable has nothing to stand out from
        louder = loudness[nucleus] - loudness[nuclei[around]].mean()
        neighbours = pitch[around][np.isfinite(pitch[around])]
        higher = pitch[i] - np.median(neighbours) if neighbours.size else 0.0
        scores[i] = max(0.0, louder) / LOUD_SCALE + max(0.0, np.nan_to_num(higher)) / PITCH_SCALE
    return scores


def _nanmax(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.max()) if finite.size else np.nan


def _bump(fps: float) -> np.ndarray:
    """(2h + 1,) raised cosine, 1 at its centre, h = EMPHASIS_HALF_WIDTH_S in frames."""
    half = max(1, round(EMPHASIS_HALF_WIDTH_S * fps))
    return (0.5 + 0.5 * np.cos(np.pi * np.arange(-half, half + 1) / (half + 1))).astype(np.float32)
