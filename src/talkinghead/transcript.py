"""--transcript: the words themselves, or a text file holding them.

A value that names an existing file is read as that file. A value that looks like a path (it
has a path separator, or ends in .txt, .srt, ...) but names no file is an error rather than
a few odd words to align: a typo in the file name must not become the transcript.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .errors import TranscriptError

TEXT_SUFFIXES = (".txt", ".text", ".md", ".srt", ".vtt", ".sbv", ".lrc", ".ass", ".ssa", ".rtf", ".doc", ".docx", ".odt", ".pdf")
SUBTITLE_SUFFIXES = (".srt", ".vtt")  # their cue numbers and timings are not words
MAX_FILE_BYTES = 10_000_000  # a transcript of hours of speech is ~100 kB; more is not a transcript


def read_transcript(value: str | None) -> str | None:
    """The words of `value` (the words themselves or a UTF-8 text file), or None for none.

    Raises TranscriptError when a file cannot be read or decoded, when `value` looks like a
    path that does not exist, and when the transcript holds no words.
    """
    if value is None:
        return None
    value = str(value)
    path = _existing_file(value)
    if path is not None:
        return _read_file(path, value)
    if _looks_like_a_path(value):
        if Path(value).expanduser().is_dir():
            raise TranscriptError(f"--transcript {value} is a folder: give the words themselves or a text file")
        raise TranscriptError(f"--transcript {value} looks like a file name but there is no such file: check the path, or give the words themselves")
    if not value.strip():
        raise TranscriptError("--transcript is empty: give the words that are said, or leave the option out")
    return value


def _existing_file(value: str) -> Path | None:
    """The file `value` names, None when it names none (or cannot be a name at all)."""
    if not value or "\0" in value or len(value) > 4096:
        return None
    try:
        path = Path(value).expanduser()
        return path if path.is_file() else None
    except (OSError, ValueError):  # e.g. a name too long for the file system
        return None


def _looks_like_a_path(value: str) -> bool:
    """"script.txt", "notes/take 2.txt", "./speech", "~/speech": yes; "I read notes.txt": no."""
    stripped = value.strip()
    if not stripped or "\n" in stripped or len(stripped) > 4096:
        return False
    separated = any(sep in stripped for sep in {os.sep, os.altsep or os.sep})
    if stripped.startswith(("/", "./", "../", "~/")) or (separated and " " not in stripped):
        return True
    return stripped.lower().endswith(TEXT_SUFFIXES) and (separated or len(stripped.split()) == 1)


def _read_file(path: Path, value: str) -> str:
    name = path.name
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise TranscriptError(f"--transcript {name} is {size / 1e6:.0f} MB, more than a transcript holds: give the text of what is said")
        text = path.read_bytes().decode("utf-8-sig")  # -sig: a byte-order mark is not a word
    except UnicodeDecodeError as error:
        raise TranscriptError(
            f"--transcript {name} is not UTF-8 text (byte {error.start}): save it as UTF-8 plain text"
        ) from None
    except OSError as error:
        raise TranscriptError(f"--transcript {name} cannot be read ({error.strerror}): check the file's permissions") from None
    if path.suffix.lower() in SUBTITLE_SUFFIXES:
        text = _subtitle_words(text)
    if not text.strip():
        raise TranscriptError(f"--transcript {name} is empty: write the words that are said into it")
    return text


def _subtitle_words(text: str) -> str:
    """The spoken lines of an SRT or WebVTT file: cue numbers, timings and tags left out."""
    lines = []
    for line in text.splitlines():
        line = re.sub(r"<[^>]*>", "", line).strip()
        if line.isdigit() or "-->" in line or line.startswith(("WEBVTT", "NOTE")):
            continue
        lines.append(line)
    return "\n".join(lines)
