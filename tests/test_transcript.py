"""--transcript: the words, or a file of them; a file name that names no file is an error."""

from __future__ import annotations

import pytest

from talkinghead.errors import InputError, TranscriptError
from talkinghead.transcript import read_transcript


def _error(value) -> str:
    with pytest.raises(TranscriptError) as caught:
        read_transcript(value)
    assert isinstance(caught.value, InputError) and caught.value.exit_code == 2
    message = str(caught.value)
    assert "\n" not in message and ": " in message
    return message


def test_none_is_no_transcript():
    assert read_transcript(None) is None


@pytest.mark.parametrize("words", ["Hello there", "I read notes.txt today", "and then, 3/4 of them left", "ok"])
def test_words_are_the_words(words, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert read_transcript(words) == words


def test_a_file_is_read(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "take 2.txt").write_bytes(b"\xef\xbb\xbf" + "Grüße aus Köln\n".encode())
    assert read_transcript("take 2.txt") == "Grüße aus Köln\n"  # a byte-order mark is not a word
    (tmp_path / "script").write_text("no suffix at all")
    assert read_transcript("script") == "no suffix at all"


@pytest.mark.parametrize("value", ["script.txt", "SPEECH.TXT", "subs/take.srt", "./speech", "~/no/such/words", "takes/take 2.txt", "/no/such/file"])
def test_a_path_that_names_no_file_is_an_error(value, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert f"--transcript {value} looks like a file name but there is no such file" in _error(value)


def test_empty_transcripts_are_errors(tmp_path):
    assert "is empty" in _error("")
    assert "is empty" in _error("  \n\t")
    (tmp_path / "words.txt").write_text("\n\n")
    assert "words.txt is empty" in _error(str(tmp_path / "words.txt"))


def test_a_file_that_is_not_utf8(tmp_path):
    (tmp_path / "words.txt").write_bytes("café".encode("latin-1"))
    assert "not UTF-8" in _error(str(tmp_path / "words.txt"))
    (tmp_path / "words.docx").write_bytes(b"PK\x03\x04\x14\x00\x06\x00\xd3\xff")
    assert "save it as UTF-8 plain text" in _error(str(tmp_path / "words.docx"))


def test_a_folder_is_an_error(tmp_path):
    (tmp_path / "takes").mkdir()
    assert "is a folder" in _error(str(tmp_path / "takes") + "/")


def test_subtitles_give_their_spoken_lines(tmp_path):
    (tmp_path / "speech.srt").write_text("1\n00:00:00,000 --> 00:00:01,500\n<i>Hello</i> there\n\n2\n00:00:01,600 --> 00:00:03,000\nGeneral Kenobi\n")
    assert read_transcript(str(tmp_path / "speech.srt")).split() == ["Hello", "there", "General", "Kenobi"]
    (tmp_path / "speech.vtt").write_text("WEBVTT\n\n00:00.000 --> 00:01.500\nHello there\n")
    assert read_transcript(str(tmp_path / "speech.vtt")).split() == ["Hello", "there"]
