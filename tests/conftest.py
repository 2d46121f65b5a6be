"""Shared fixtures: short media files generated with ffmpeg into the test's tmp_path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from media import PORTRAIT, SPEECH, make_media


@pytest.fixture
def media(tmp_path: Path) -> Callable[..., Path]:
    """make(name, *ffmpeg_args) -> tmp_path / name, made by `ffmpeg -y ARGS tmp_path/name`."""
    return lambda name, *args: make_media(tmp_path / name, *args)




@pytest.fixture(scope="session")
def photo():
    """The bundled sample portrait as (512, 512, 3) uint8 RGB."""
    from talkinghead.image import load_image

    return load_image(PORTRAIT)


@pytest.fixture(scope="session")
def portrait(photo):
    from talkinghead.face.analysis import analyze_face

    return analyze_face(photo)


@pytest.fixture(scope="session")
def demo_video(tmp_path_factory) -> Path:
    """The bundled portrait animated with the bundled speech, rendered once per session."""
    from talkinghead.api import animate

    return animate(PORTRAIT, SPEECH, tmp_path_factory.mktemp("demo") / "demo.mp4", progress=False).output
