"""Where the speech is: a speech/pause decision per frame.

Used to cut long audio at pauses before phone decoding and to mark pauses for prosody. The
boundaries come from the clip's energy, relative to its own noise floor and loud speech (so
recording gain does not matter, and timing is sharp); the Silero voice-activity model then
vetoes stretches that are loud but not speech (music, a door, a steady tone).
"""

from __future__ import annotations

import numpy as np

from .loudness import FLOOR_DB, frame_rms_db
from .vad import voice_per_frame

NOISE_PERCENTILE = 10  # the quietest 10 % of frames estimate the background level
LOUD_PERCENTILE = 95  # the loud speech level, as in the loudness envelope
MIN_MARGIN_DB = 6.0  # speech is at least this far above the background...
MARGIN_FRACTION = 0.25  # ...and a quarter of the way from the background to loud speech,
# but never more than MIN_MARGIN_DB below the loud level: audio without quiet stretches
# (continuous speech, a test tone) is all speech, not all background
BRIDGE_S = 0.12  # quiet gaps shorter than this are inside speech (stop closures, "p" in "apple")
VOICE_VETO = 0.15  # a loud stretch whose voice probability never reaches this is not speech


def speech_activity(
    samples: np.ndarray, rate: int, fps: float, frame_count: int, *, voice_windows: np.ndarray | None = None
) -> np.ndarray:
    """(T,) bool: True where the frame centred at (t + 0.5)/fps holds speech.

    `voice_windows`: the clip's `vad.speech_probability` when the caller has it already.
    """
    if frame_count == 0:
        return np.zeros(0, bool)
    level = frame_rms_db(samples, rate, fps, frame_count)
    noise = float(np.percentile(level, NOISE_PERCENTILE))
    loud = float(np.percentile(level, LOUD_PERCENTILE))
    margin = max(MIN_MARGIN_DB, MARGIN_FRACTION * (loud - noise))
    threshold = max(FLOOR_DB, min(noise + margin, loud - MIN_MARGIN_DB))
    speech = level > threshold
    for start, end in runs(~speech):
        if end - start < BRIDGE_S * fps and 0 < start and end < frame_count:
            speech[start:end] = True
    voice = voice_per_frame(samples, fps, frame_count, windows=voice_windows)
    for start, end in runs(speech):
        if voice[start:end].max() < VOICE_VETO:
            speech[start:end] = False
    return speech


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index pairs of the runs of True in a (T,) bool mask."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def pause_mask(speech: np.ndarray, fps: float, min_pause_s: float) -> np.ndarray:
    """(T,) bool: True on runs of non-speech lasting at least `min_pause_s` seconds.

    Leading and trailing silence count as pauses too: the speaker is not talking there.
    """
    pauses = np.zeros(len(speech), bool)
    for start, end in runs(~speech):
        if end - start >= min_pause_s * fps:
            pauses[start:end] = True
    return pauses
