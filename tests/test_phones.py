"""Phones with timings: forced alignment lands on the known word boundaries, recognition
finds speech where speech is and silence elsewhere, long audio is split and still aligned,
and failures fall back to recognition and say so."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from speech_fixtures import load

from talkinghead.audio.phones import (
    ALIGN_CHUNK_S,
    SILENCE,
    _chunks,
    _pcm,
    _speech,
    align_transcript,
    recognize_phones,
)
from talkinghead.audio.pronounce import number_words, spelled_phones, transcript_words
from talkinghead.types import AudioClip

FPS = 25.0
WORD_PHONES = "M AE P  S IY  B AA B  HH UW  M IY  F AA DH ER  P AA P  Z UW".split()


@pytest.fixture(scope="module")
def words():
    return load("words")


@pytest.fixture(scope="module")
def aligned(words):
    return align_transcript(words.clip, words.transcript)


@pytest.fixture(scope="module")
def recognized(words):
    return recognize_phones(words.clip)


def spoken_runs(phones):
    """(start, end) of each run of non-silence: one per word in the words fixture."""
    runs, current = [], None
    for seg in phones:
        if seg.phone == SILENCE:
            current = None
        elif current is None:
            current = [seg.start, seg.end]
            runs.append(current)
        else:
            current[1] = seg.end
    return [tuple(run) for run in runs]


def labels_per_frame(phones, duration, rate=100):
    labels = np.full(int(duration * rate), SILENCE, dtype=object)
    for seg in phones:
        labels[round(seg.start * rate) : round(seg.end * rate)] = seg.phone
    return labels


def test_segments_cover_the_clip_in_order(aligned, recognized, words):
    for phones in (aligned, recognized):
        assert phones[0].start == 0.0
        assert phones[-1].end == pytest.approx(words.clip.duration, abs=0.01)
        for before, after in zip(phones, phones[1:]):
            assert before.end == pytest.approx(after.start) and before.start < before.end


def test_alignment_says_the_dictionary_phones(aligned):
    assert [seg.phone for seg in aligned if seg.phone != SILENCE] == WORD_PHONES


def test_aligned_word_boundaries_within_two_frames(aligned, words):
    runs = spoken_runs(aligned)
    assert len(runs) == len(words.words)
    for (start, end), word in zip(runs, words.words):
        assert abs(start - word.start) * FPS <= 2, f"{word.word} starts at {start:.3f}"
        assert abs(end - word.end) * FPS <= 2, f"{word.word} ends at {end:.3f}"


def test_recognition_finds_speech_in_words_and_silence_between(recognized, words):
    labels = labels_per_frame(recognized, words.clip.duration)
    inside = np.zeros(len(labels), bool)
    for word in words.words:
        inside[round(word.start * 100) : round(word.end * 100)] = True
    # Silence counts from 50 ms away from any word: boundaries are for the alignment test.
    near = np.convolve(inside, np.ones(11), mode="same") > 0
    assert (labels[inside] != SILENCE).mean() > 0.9
    assert (labels[~near] == SILENCE).mean() > 0.95


def test_recognition_hears_the_vowels(recognized, words):
    """Each word's vowel is among the phones recognised within it (or its close cousin)."""
    vowels = {"map": {"AE", "EH", "AA"}, "see": {"IY", "IH"}, "bob": {"AA", "AO", "AH"},
              "who": {"UW", "UH"}, "me": {"IY", "IH"}, "father": {"AA", "AO", "AH"},
              "pop": {"AA", "AO", "AH"}, "zoo": {"UW", "UH"}}
    for word in words.words:
        heard = {seg.phone for seg in recognized if word.start <= seg.start < word.end}
        assert heard & vowels[word.word], f"{word.word}: heard {sorted(heard)}"


def test_long_audio_is_split_at_pauses_and_the_text_spread_over_the_parts(caplog):
    names = ("words", "sentence", "emphasis", "words", "emphasis", "sentence", "words")
    parts = [load(name) for name in names]
    clip = AudioClip(np.concatenate([part.clip.samples for part in parts]))
    speech = _speech(clip)
    assert len(_chunks(_pcm(clip), speech, merge_up_to_s=ALIGN_CHUNK_S)) > 1
    with caplog.at_level(logging.WARNING, logger="talkinghead"):
        phones = align_transcript(clip, " ".join(part.transcript for part in parts))
    assert not caplog.records
    # The same phones as each part aligned on its own...
    expected = [
        seg.phone
        for part in parts
        for seg in align_transcript(part.clip, part.transcript)
        if seg.phone != SILENCE
    ]
    assert [seg.phone for seg in phones if seg.phone != SILENCE] == expected
    # ...and every copy of the words fixture lands where it was put.
    offset = 0.0
    for part in parts:
        if part.words[0].word == "map":
            runs = [run for run in spoken_runs(phones) if run[0] >= offset - 0.1]
            for (start, end), word in zip(runs, part.words):
                assert abs(start - (offset + word.start)) * FPS <= 2, word.word
                assert abs(end - (offset + word.end)) * FPS <= 2, word.word
        offset += part.clip.duration


def test_a_transcript_that_does_not_match_falls_back_to_recognition(words, caplog):
    with caplog.at_level(logging.WARNING, logger="talkinghead"):
        phones = align_transcript(words.clip, "hello")
    assert any("using phone recognition" in r.getMessage() for r in caplog.records)
    labels = labels_per_frame(phones, words.clip.duration)
    spoken = [labels[round(w.start * 100) : round(w.end * 100)] for w in words.words]
    assert all((part != SILENCE).mean() > 0.8 for part in spoken)


def test_unknown_words_are_named_and_pronounced_from_spelling(words, caplog):
    text = words.transcript.replace("zoo", "zooh")
    with caplog.at_level(logging.WARNING, logger="talkinghead"):
        phones = align_transcript(words.clip, text)
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1 and "zooh" in messages[0] and "spelling" in messages[0]
    assert [seg.phone for seg in phones if seg.phone != SILENCE][-3:] == ["Z", "UW", "HH"]


def test_silence_is_all_silence():
    clip = AudioClip(np.zeros(16_000, np.float32))
    assert [seg.phone for seg in recognize_phones(clip)] == [SILENCE]
    assert [seg.phone for seg in align_transcript(clip, "")] == [SILENCE]


def test_transcripts_are_normalised_for_the_dictionary():
    text = "Hello, world! It's 1984 – “42” well-known"
    assert transcript_words(text) == [
        "hello", "world", "it's", "nineteen", "eighty", "four", "forty", "two", "well", "known"
    ]
    assert number_words(2000) == ["two", "thousand"]
    assert number_words(2024) == ["twenty", "twenty", "four"]
    assert number_words(305) == ["three", "hundred", "five"]


def test_spelling_gives_the_mouth_the_right_hints():
    assert spelled_phones("moop").split() == ["M", "UW", "P"]
    assert spelled_phones("sheeb").split() == ["SH", "IY", "B"]
    assert spelled_phones("ffff") == "F"
