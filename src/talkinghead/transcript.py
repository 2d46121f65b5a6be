"""--transcript: the words that are said, given as text or as a text file."""

from __future__ import annotations

from pathlib import Path


def read_transcript(value: str | None) -> str | None:
    """The words of --transcript: the file's text when `value` names a file, else `value` itself."""
    if value and len(value) < 4096 and Path(value).is_file():
        return Path(value).read_text(encoding="utf-8", errors="replace")
    return value
