"""Driving a photo with a video: `motion --from-video` and `animate --driving`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from media import PORTRAIT, SPEECH
from video_media import FPS, known_motion, rendered_frames, tone, write_clip

from talkinghead.cli import main
from talkinghead.motion.track_io import load_motion


@pytest.fixture(scope="module")
def motion():
    return known_motion()


@pytest.fixture(scope="module")
def performance(tmp_path_factory, motion):
    return write_clip(tmp_path_factory.mktemp("drive") / "performer.mp4", rendered_frames(motion), audio=tone(2.0))


@pytest.mark.parametrize("suffix", [".json", ".csv"])
def test_motion_from_video(performance, motion, tmp_path, suffix):
    out = tmp_path / f"track{suffix}"
    assert main(["-q", "motion", "--from-video", str(performance), "-o", str(out)]) == 0
    track = load_motion(out)
    assert track.frame_count == 50 and track.fps == FPS
    assert np.corrcoef(track.channel("jaw_open"), motion.channel("jaw_open"))[0, 1] > 0.9
    if suffix == ".json":
        arkit = json.loads(out.read_text())["arkit"]
        assert np.corrcoef(arkit["eyeBlinkLeft"], motion.channel("blink_left"))[0, 1] > 0.9
        assert np.corrcoef(arkit["headYaw"], motion.channel("yaw"))[0, 1] > 0.9


def test_photo_performs_the_video(performance, motion, tmp_path):
    """The photo driven by the clip moves as the clip does: its own tracked motion correlates
    with the clip's, and the clip's sound is muxed."""
    from talkinghead.motion.from_video import video_motion
    from talkinghead.video.ffmpeg import probe_media

    out = tmp_path / "driven.mp4"
    assert main(["-q", "animate", str(PORTRAIT), "--driving", str(performance), "-o", str(out), "--size", "256", "--no-score"]) == 0
    info = probe_media(out)
    assert info.has_audio and abs(info.duration - 2.0) < 0.1
    again = video_motion(out)
    for name in ("jaw_open", "blink_left", "yaw"):
        assert np.corrcoef(again.channel(name), motion.channel(name))[0, 1] > 0.75, name  # tracked twice over, rendered once between


def test_driving_parts_take_only_some_levels(performance, tmp_path):
    from talkinghead import AnimateConfig, Engine

    engine = Engine()
    config = AnimateConfig().replace(driving=performance, driving_parts="pose")
    clip = engine.load_audio(SPEECH, config)
    track, source = engine.motion_for(clip, config)
    assert "video (pose)" in source
    assert track.frame_count == clip.frame_count(25)  # as long as the speech: the video's last frame held
    assert np.ptp(track.channel("yaw")[:50]) > 8  # the clip's head turn
    assert np.ptp(track.channel("yaw")[60:]) == 0
    assert track.channel("jaw_open").max() > 0.2  # lips from the speech


def test_driving_options_checked(capsys, performance, tmp_path):
    assert main(["-q", "animate", str(PORTRAIT), "--driving", str(performance), "--driving-parts", "hands", "-o", str(tmp_path / "x.mp4")]) == 2
    assert "--driving-parts" in capsys.readouterr().err
    assert main(["-q", "animate", str(PORTRAIT), "-o", str(tmp_path / "x.mp4")]) == 2
    assert "AUDIO" in capsys.readouterr().err
    assert main(["-q", "motion", "-o", str(tmp_path / "x.json")]) == 2
    assert not list(tmp_path.iterdir())
