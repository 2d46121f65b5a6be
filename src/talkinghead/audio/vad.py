"""Voice activity: the probability that speech is heard, from the Silero VAD model.

The model (MIT licence, `models/LICENSE.silero-vad`) ships inside this package and runs with
onnxruntime: no torch, no download. It reads 32 ms windows of 16 kHz audio in order, keeping
a recurrent state and the last 4 ms of the previous window as context.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from ..types import ANALYSIS_RATE

MODEL = Path(__file__).with_name("models") / "silero_vad_16k.onnx"
WINDOW = 512  # samples per model step at 16 kHz (32 ms)
CONTEXT = 64  # samples of the previous window prepended to each step


@lru_cache(maxsize=1)
def _session():
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1  # tiny sequential model: threads only add overhead
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(str(MODEL), options, providers=["CPUExecutionProvider"])


def speech_probability(samples: np.ndarray) -> np.ndarray:
    """(ceil(N / 512),) float32 in [0, 1]: speech probability of each 32 ms window of 16 kHz audio."""
    session = _session()
    steps = max(1, -(-len(samples) // WINDOW))
    state = np.zeros((2, 1, 128), np.float32)
    rate = np.array(ANALYSIS_RATE, np.int64)
    out = np.empty(steps, np.float32)
    chunk = np.zeros((1, CONTEXT + WINDOW), np.float32)  # zeros before the clip and after it
    for i in range(steps):
        chunk[0, :CONTEXT] = chunk[0, WINDOW:]  # the previous window's end is the context
        piece = samples[i * WINDOW : (i + 1) * WINDOW]
        chunk[0, CONTEXT : CONTEXT + len(piece)] = piece
        chunk[0, CONTEXT + len(piece) :] = 0.0
        prob, state = session.run(None, {"input": chunk, "state": state, "sr": rate})
        out[i] = prob[0, 0]
    return out


def voice_per_frame(samples: np.ndarray, fps: float, frame_count: int, *, windows: np.ndarray | None = None) -> np.ndarray:
    """(T,) float32: speech probability at each video frame's centre time.

    `windows`: `speech_probability(samples)` when the caller has it already.
    """
    windows = speech_probability(samples) if windows is None else windows
    centres = (np.arange(windows.size) + 0.5) * WINDOW / ANALYSIS_RATE
    times = (np.arange(frame_count) + 0.5) / fps
    return np.interp(times, centres, windows).astype(np.float32)
