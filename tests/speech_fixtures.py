"""The speech fixtures of tests/fixtures/speech: WAVs made by espeak-ng with known word times
(see make_fixtures.sh there), read with the stdlib so these tests need no audio decoder."""

from __future__ import annotations

import json
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from talkinghead.types import AudioClip

FOLDER = Path(__file__).resolve().parent / "fixtures" / "speech"


@dataclass(frozen=True)
class Word:
    word: str
    start: float  # seconds, first non-silent sample
    end: float  # seconds, last non-silent sample


@dataclass(frozen=True)
class Fixture:
    clip: AudioClip
    transcript: str
    words: list[Word]


def load(name: str) -> Fixture:
    """tests/fixtures/speech/NAME.wav with its transcript and word times."""
    with wave.open(str(FOLDER / f"{name}.wav")) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16_000, 1, 2)
        samples = np.frombuffer(w.readframes(w.getnframes()), np.int16)
    meta = json.loads((FOLDER / f"{name}.json").read_text())
    words = [Word(w["word"], w["start"], w["end"]) for w in meta["words"]]
    clip = AudioClip(samples=samples.astype(np.float32) / 32768)
    return Fixture(clip, meta["transcript"], words)


def frame_of(seconds: float, fps: float) -> int:
    """The video frame on screen at `seconds` (frame t spans t/fps to (t+1)/fps)."""
    return int(np.floor(seconds * fps))
