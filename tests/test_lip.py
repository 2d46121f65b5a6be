"""Lip curves as a viewer sees them: lips closed on p/b/m at the right frame, wide on "ee",
round on "oo", open on "ah", at rest in silence, no popping, louder speech opens wider."""

from __future__ import annotations

import numpy as np
import pytest
from speech_fixtures import frame_of, load

from talkinghead.audio.loudness import loudness_envelope
from talkinghead.audio.features import analyze_audio
from talkinghead.audio.phones import SILENCE, align_transcript
from talkinghead.motion.lip import MAX_SPEED, lip_curves
from talkinghead.types import LIP_CHANNELS, PhoneSegment

FPS = 25.0
JAW, WIDE, ROUND, PRESS, TUCK = (
    LIP_CHANNELS.index(name)
    for name in ("jaw_open", "lips_wide", "lips_round", "lips_press", "lower_lip_tuck")
)
BILABIAL_ONSETS = ("map", "bob", "me", "pop")


@pytest.fixture(scope="module")
def words():
    return load("words")


@pytest.fixture(scope="module")
def aligned(words):
    """Curves of the words fixture from its force-aligned phones."""
    frames = words.clip.frame_count(FPS)
    loudness = loudness_envelope(words.clip.samples, words.clip.rate, FPS, frames)
    return lip_curves(align_transcript(words.clip, words.transcript), loudness, FPS, "photo")


@pytest.fixture(scope="module")
def recognized(words):
    """Curves of the words fixture from recognised phones (no transcript)."""
    return lip_of(words.clip, FPS)


def lip_of(clip, fps, transcript=None):
    features = analyze_audio(clip, fps, transcript=transcript)
    return lip_curves(list(features.phones), features.loudness, fps, "photo")


def closed(curves: np.ndarray) -> np.ndarray:
    """(T,) bool: lips pressed shut, jaw up."""
    return (curves[:, PRESS] >= 0.95) & (curves[:, JAW] <= 0.05)


def word_frames(curves, word) -> np.ndarray:
    return curves[frame_of(word.start, FPS) : frame_of(word.end, FPS) + 1]


def phones(*spec: tuple[str, float, float]) -> list[PhoneSegment]:
    return [PhoneSegment(phone, start, end) for phone, start, end in spec]


def test_bilabials_close_the_lips_within_two_frames_of_the_word_onset(aligned, words):
    for word in words.words:
        if word.word in BILABIAL_ONSETS:
            onset = frame_of(word.start, FPS)
            near = closed(aligned)[onset - 2 : onset + 3]
            assert near.any(), f"lips not closed near the start of {word.word!r}"


def test_lips_stay_closed_only_on_bilabials(aligned, words):
    shut = closed(aligned)
    for word in words.words:
        if not set(word.word) & set("pbm"):
            assert not word_frames(shut, word).any(), word.word


def test_silence_between_words_is_the_photos_own_mouth(aligned, words):
    for before, after in zip(words.words, words.words[1:]):
        # Rest comes within 3 frames of a word's end. The next word may be prepared up to
        # 5 frames before its sound: "b" and "p" close the lips before their silent closure.
        rest = aligned[frame_of(before.end, FPS) + 3 : frame_of(after.start, FPS) - 5]
        assert len(rest) > 0 and np.abs(rest).max() < 0.02, f"{before.word} → {after.word}"
    assert np.abs(aligned[: frame_of(words.words[0].start, FPS) - 5]).max() < 0.02
    assert np.abs(aligned[frame_of(words.words[-1].end, FPS) + 3 :]).max() < 0.02


@pytest.mark.parametrize("source", ["aligned", "recognized"])
def test_vowels_shape_the_mouth(source, words, request):
    curves = request.getfixturevalue(source)
    by_word = {word.word: word_frames(curves, word) for word in words.words}
    for word in ("see", "me"):
        assert by_word[word][:, WIDE].max() > 0.6, f"{word!r} not wide"
    for word in ("who", "zoo"):
        assert by_word[word][:, ROUND].max() > 0.7, f"{word!r} not round"
        assert by_word[word][:, ROUND].max() > 2 * by_word[word][:, WIDE].max()
    for word in ("bob", "father", "pop"):
        assert by_word[word][:, JAW].max() > 0.6, f"{word!r} not open"
    for word in ("see", "me", "who", "zoo"):
        assert by_word[word][:, JAW].max() < 0.4, f"{word!r} too open"


def test_no_popping_except_at_lip_contacts(aligned, words):
    contact = (aligned[:, PRESS] >= 0.999) | (aligned[:, TUCK] >= 0.999)
    steps = np.abs(np.diff(aligned, axis=0))
    calm = ~(contact[1:] | contact[:-1])
    assert steps[calm].max() <= MAX_SPEED / FPS + 1e-5


def test_a_short_bilabial_between_frames_still_closes_the_lips():
    # 30 ms of "b" lies between two frame centres at 25 fps (0.50 and 0.54 s).
    spec = phones(("SIL", 0, 0.2), ("AA", 0.2, 0.505), ("B", 0.505, 0.535), ("AA", 0.535, 0.9),
                  ("SIL", 0.9, 1.5))
    for fps in (25.0, 30.0, 60.0):
        curves = lip_curves(spec, np.ones(round(1.5 * fps), np.float32), fps, "photo")
        shut = np.flatnonzero(closed(curves))
        assert shut.size and all(0.4 <= (f + 0.5) / fps <= 0.6 for f in shut), fps


@pytest.mark.parametrize("fps", [25.0, 30.0, 60.0])
@pytest.mark.parametrize("phone, start, end", [("M", 0.5, 0.56), ("M", 0.51, 0.55), ("P", 0.5, 0.62)])
def test_a_closure_spans_its_phone_and_releases_at_its_end(fps, phone, start, end):
    # A short "m" (40-60 ms) and a "p" whose burst ends it: shut on the phone's middle frame
    # and on every frame shown inside it, not before it begins, open again once it ends.
    spec = phones(("SIL", 0, 0.2), ("AA", 0.2, start), (phone, start, end), ("AA", end, 0.9),
                  ("SIL", 0.9, 1.5))
    shut = closed(lip_curves(spec, np.ones(round(1.5 * fps), np.float32), fps, "photo"))
    centres = (np.arange(len(shut)) + 0.5) / fps
    assert shut[frame_of((start + end) / 2, fps)]
    assert shut[(centres >= start) & (centres < end)].all()
    assert not shut[centres < start - 0.5 / fps].any()
    assert not shut[centres >= end + 0.5 / fps].any()


def test_a_short_vowel_still_shows():
    spec = phones(("SIL", 0, 0.2), ("T", 0.2, 0.3), ("IY", 0.3, 0.34), ("T", 0.34, 0.45),
                  ("SIL", 0.45, 1.0))
    curves = lip_curves(spec, np.ones(25, np.float32), FPS, "photo")
    assert curves[:, WIDE].max() > 0.4


def test_rounding_is_anticipated_and_silence_returns_to_rest():
    spec = phones(("SIL", 0, 1.0), ("UW", 1.0, 1.4), ("SIL", 1.4, 2.0))
    curves = lip_curves(spec, np.ones(50, np.float32), FPS, "photo")
    start, end = frame_of(1.0, FPS), frame_of(1.4, FPS)
    assert curves[start - 1, ROUND] > 0.3  # the frame before the sound is already rounding
    assert curves[start - 5, ROUND] == 0.0
    assert np.abs(curves[end + 3 :]).max() == 0.0  # rest within 3 frames of the end


def test_louder_speech_opens_the_jaw_wider_but_closures_stay_closed():
    spec = phones(("SIL", 0, 0.2), ("M", 0.2, 0.3), ("AA", 0.3, 0.7), ("P", 0.7, 0.8),
                  ("SIL", 0.8, 1.2))
    whisper = lip_curves(spec, np.full(30, 0.2, np.float32), FPS, "photo")
    shout = lip_curves(spec, np.ones(30, np.float32), FPS, "photo")
    assert shout[:, JAW].max() > 1.5 * whisper[:, JAW].max()
    assert shout[:, JAW].max() <= 1.0
    for curves in (whisper, shout):
        assert closed(curves)[frame_of(0.2, FPS) : frame_of(0.3, FPS) + 1].any()
        assert closed(curves)[frame_of(0.7, FPS) : frame_of(0.8, FPS) + 1].any()


def test_audio_analysis_says_where_its_phones_came_from(words):
    with_text = analyze_audio(words.clip, FPS, transcript=words.transcript)
    assert with_text.phone_source == "aligned"
    assert [p.phone for p in with_text.phones if p.phone != SILENCE][:3] == ["M", "AE", "P"]
    without = analyze_audio(words.clip, 30.0)
    assert without.phone_source == "recognized"
    for features in (with_text, without):
        curves = lip_curves(list(features.phones), features.loudness, features.fps, "photo")
        assert curves.dtype == np.float32 and curves.shape == (features.frame_count, len(LIP_CHANNELS))
        assert 0.0 <= curves.min() and curves.max() <= 1.0


def test_non_english_speech_moves_the_mouth_and_rests_in_silence():
    spanish = load("spanish")
    curves = lip_of(spanish.clip, FPS)
    (sentence,) = spanish.words
    speaking = word_frames(curves, sentence)
    assert speaking[:, JAW].max() > 0.4  # it opens...
    assert closed(speaking).any()  # ...closes at least once ("me", "Pablo", "Madrid")...
    assert np.abs(np.diff(speaking, axis=0)).sum() > 10  # ...and keeps moving
    assert np.abs(curves[: frame_of(sentence.start, FPS) - 5]).max() < 0.02
    assert np.abs(curves[frame_of(sentence.end, FPS) + 3 :]).max() < 0.02
