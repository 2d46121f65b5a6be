"""A growing window of samples addressed by their index in the session's timeline."""

from __future__ import annotations

import numpy as np


class SampleRing:
    """Samples [base, end) of a timeline; what lies outside reads as silence.

    Writing appends (a write past the end leaves silence between); `trim` forgets the past,
    so memory stays flat however long the session runs.
    """

    def __init__(self, capacity: int = 1 << 16):
        self._data = np.zeros(capacity, np.float32)
        self._start = 0  # offset of `base` in _data
        self._length = 0
        self.base = 0

    @property
    def end(self) -> int:
        return self.base + self._length

    def write(self, at: int, samples: np.ndarray) -> None:
        """Put `samples` at timeline index `at` (>= base); the ring grows to hold them."""
        if at < self.base:
            samples, at = samples[self.base - at :], self.base
        stop = at + len(samples)
        if stop > self.end:
            self._reserve(stop - self.base)
            self._data[self._start + self._length : self._start + stop - self.base] = 0.0
            self._length = stop - self.base
        self._data[self._start + at - self.base : self._start + stop - self.base] = samples

    def read(self, start: int, stop: int) -> np.ndarray:
        """(stop - start,) float32 copy; silence outside [base, end)."""
        out = np.zeros(max(0, stop - start), np.float32)
        lo, hi = max(start, self.base), min(stop, self.end)
        if hi > lo:
            out[lo - start : hi - start] = self._data[self._start + lo - self.base : self._start + hi - self.base]
        return out

    def truncate(self, at: int) -> None:
        """Forget everything from `at` on."""
        self._length = max(0, min(self._length, at - self.base))

    def trim(self, before: int) -> None:
        """Forget everything before `before`."""
        drop = min(max(0, before - self.base), self._length)
        self._start += drop
        self._length -= drop
        self.base += drop
        if self._length == 0:
            self.base, self._start = max(self.base, before), 0

    def _reserve(self, length: int) -> None:
        if self._start + length <= len(self._data):
            return
        if length <= len(self._data) // 2:  # room enough once the past is moved out of the way
            self._data[: self._length] = self._data[self._start : self._start + self._length]
        else:
            grown = np.zeros(max(2 * len(self._data), 2 * length), np.float32)
            grown[: self._length] = self._data[self._start : self._start + self._length]
            self._data = grown
        self._start = 0
