"""Prosody: pitch of known tones, voicing in speech, emphasis on the stressed word, pauses
where the speaker stops."""

from __future__ import annotations

import numpy as np
import pytest
from speech_fixtures import frame_of, load

from talkinghead.audio.prosody import analyze_prosody, pitch_track
from talkinghead.types import AudioClip

FPS = 25.0


def harmonic_tone(f0: float, seconds: float = 2.0, rate: int = 16_000) -> AudioClip:
    """A buzzy voice-like tone: the first eight harmonics of f0, falling 6 dB per octave."""
    t = np.arange(int(seconds * rate)) / rate
    tone = sum(np.sin(2 * np.pi * f0 * k * t + k) / k for k in range(1, 9))
    return AudioClip((0.2 * tone).astype(np.float32), rate)


@pytest.mark.parametrize("f0", [80.0, 150.0, 220.0, 350.0])
@pytest.mark.parametrize("fps", [25.0, 30.0])
def test_pitch_of_a_harmonic_tone_within_3_percent(f0, fps):
    # The pitch tracker alone: a steady tone is periodic, though it is no speech.
    clip = harmonic_tone(f0)
    pitch, periodic = pitch_track(clip.samples, clip.rate, fps, clip.frame_count(fps))
    inner = slice(2, -2)  # the outer frames' windows run off the clip
    assert periodic[inner].all()
    assert np.abs(pitch[inner] / f0 - 1).max() < 0.03


def test_silence_and_noise_are_unvoiced():
    rng = np.random.default_rng(0)
    for samples in (np.zeros(16_000), 0.1 * rng.standard_normal(16_000)):
        prosody = analyze_prosody(AudioClip(samples.astype(np.float32)), FPS, 25)
        assert prosody.voiced.mean() < 0.1 and (prosody.f0[~prosody.voiced] == 0).all()


def test_words_are_voiced_at_a_speaking_pitch():
    fixture = load("words")
    prosody = analyze_prosody(fixture.clip, FPS, fixture.clip.frame_count(FPS))
    for word in fixture.words:
        span = slice(frame_of(word.start, FPS), frame_of(word.end, FPS) + 1)
        assert prosody.voiced[span].mean() > 0.5, word.word
        assert 60 < np.median(prosody.f0[span][prosody.voiced[span]]) < 200, word.word


def test_emphasis_peaks_on_the_louder_higher_word():
    fixture = load("emphasis")
    prosody = analyze_prosody(fixture.clip, FPS, fixture.clip.frame_count(FPS))
    peaks = {
        word.word: prosody.emphasis[frame_of(word.start, FPS) : frame_of(word.end, FPS) + 1].max()
        for word in fixture.words
    }
    assert max(peaks, key=peaks.get) == "never"
    assert peaks["never"] > 0.7
    assert all(peak < 0.5 * peaks["never"] for word, peak in peaks.items() if word != "never")


def test_emphasis_is_a_handful_of_bumps_in_speech_only():
    fixture = load("sentence")
    prosody = analyze_prosody(fixture.clip, FPS, fixture.clip.frame_count(FPS))
    rising = np.flatnonzero(np.diff((prosody.emphasis > 0.05).astype(int)) == 1)
    assert 1 <= len(rising) <= 4  # eight words, a couple of stressed syllables
    assert (prosody.emphasis[prosody.pauses] == 0).all()
    assert 0.0 <= prosody.emphasis.min() and prosody.emphasis.max() <= 1.0


def test_pauses_between_words_but_not_inside_a_phrase():
    words = load("words")
    prosody = analyze_prosody(words.clip, FPS, words.clip.frame_count(FPS))
    for before, after in zip(words.words, words.words[1:]):
        gap = prosody.pauses[frame_of(before.end, FPS) + 2 : frame_of(after.start, FPS) - 1]
        assert gap.all(), f"no pause between {before.word} and {after.word}"
    for word in words.words:
        assert not prosody.pauses[frame_of(word.start, FPS) + 1 : frame_of(word.end, FPS)].any()
    phrase = load("emphasis")  # 60 ms gaps between its words: too short to be pauses
    prosody = analyze_prosody(phrase.clip, FPS, phrase.clip.frame_count(FPS))
    inside = slice(frame_of(phrase.words[0].start, FPS) + 1, frame_of(phrase.words[-1].end, FPS))
    assert not prosody.pauses[inside].any()


def test_shapes_follow_the_requested_frames():
    clip = load("sentence").clip
    prosody = analyze_prosody(clip, 30.0, 100)
    assert prosody.fps == 30.0
    for values, dtype in ((prosody.f0, np.float32), (prosody.emphasis, np.float32),
                          (prosody.voiced, np.bool_), (prosody.pauses, np.bool_)):
        assert values.shape == (100,) and values.dtype == dtype
