"""Shared fixtures: short media files generated with ffmpeg into the test's tmp_path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from media import make_media


@pytest.fixture
def media(tmp_path: Path) -> Callable[..., Path]:
    """make(name, *ffmpeg_args) -> tmp_path / name, made by `ffmpeg -y ARGS tmp_path/name`."""
    return lambda name, *args: make_media(tmp_path / name, *args)
