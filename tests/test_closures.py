"""Lip closures without a transcript, judged against forced alignment: recognition closes the
lips on p, b and m of three speakers (two espeak-ng voices and a LibriVox reader), also over
the telephone, without closing them inside open vowels."""

from __future__ import annotations

import json

import numpy as np
import pytest
from speech_fixtures import FOLDER, load

from talkinghead.audio.decode import load_audio
from talkinghead.audio.loudness import loudness_envelope
from talkinghead.audio.phones import align_transcript, recognize_phones
from talkinghead.motion.lip import lip_curves
from talkinghead.types import LIP_CHANNELS, AudioClip, PhoneSegment

FPS = 25.0
JAW, PRESS = LIP_CHANNELS.index("jaw_open"), LIP_CHANNELS.index("lips_press")
BILABIALS = ("P", "B", "M")
OPEN_VOWELS = ("AA", "AE", "AY", "AW", "EH", "AH", "EY", "AO", "OW", "OY")  # jaw half open or more


@pytest.fixture(scope="module")
def reference() -> list[PhoneSegment]:
    """The fixture's phones force-aligned to its transcript, on the wide-band recording."""
    wide = load("closures")
    return align_transcript(wide.clip, wide.transcript)


@pytest.fixture(scope="module", params=["closures.wav", "closures_phone.wav"])
def recognized(request) -> np.ndarray:
    """(T,) bool lips shut, from phones recognised without the transcript (the 8 kHz file
    decoded as any recording is)."""
    return shut(load_audio(FOLDER / request.param, max_duration=None), recognize_phones)


def shut(clip: AudioClip, phones_of) -> np.ndarray:
    frames = clip.frame_count(FPS)
    curves = lip_curves(phones_of(clip), loudness_envelope(clip.samples, clip.rate, FPS, frames), FPS, "photo")
    return (curves[:, PRESS] >= 0.95) & (curves[:, JAW] <= 0.05)


def frames_of(seg: PhoneSegment, count: int, margin: float) -> np.ndarray:
    """The frames whose centres lie within the segment widened by `margin` seconds."""
    centres = (np.arange(count) + 0.5) / FPS
    return (centres >= seg.start - margin) & (centres <= seg.end + margin)


def test_the_reference_is_a_full_alignment(reference):
    words = json.loads((FOLDER / "closures.json").read_text())["transcript"]
    assert sum(seg.phone in BILABIALS for seg in reference) == 22, words


def test_recognition_closes_the_lips_on_most_bilabials(reference, recognized):
    hits = [recognized[frames_of(seg, len(recognized), 1 / FPS)].any()
            for seg in reference if seg.phone in BILABIALS]
    assert np.mean(hits) >= 0.85, f"{sum(hits)} of {len(hits)}"


def test_recognition_does_not_close_the_lips_inside_open_vowels(reference, recognized):
    vowels = [seg for seg in reference if seg.phone in OPEN_VOWELS]
    closed_inside = [seg for seg in vowels if recognized[frames_of(seg, len(recognized), -1 / FPS)].any()]
    assert len(vowels) > 15 and not closed_inside
