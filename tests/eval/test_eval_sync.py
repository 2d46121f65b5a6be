"""Lip sync without a neural network: the offset of shifted audio is found, a still face has no confidence."""

from __future__ import annotations

import numpy as np
import pytest
from eval_media import FPS, shifted

from talkinghead.eval import SyncScore, SyncScorer, sync_score
from talkinghead.eval.signals import lagged_correlations
from talkinghead.eval.sync import CHANCE_CONFIDENCE, frame_loudness, measure_sync, mouth_aperture, score_aperture
from talkinghead.video.reader import read_frames


def test_our_render_is_in_sync(rendered, speech):
    score = sync_score(rendered)  # the video's own sound
    assert abs(score.offset_frames) <= 1
    assert score.confidence > CHANCE_CONFIDENCE and score.peak_correlation > 0.35


@pytest.mark.parametrize("delay", [-12, -5, 3, 8])
def test_shifted_audio_gives_the_shift(rendered, speech, delay):
    """Speech delayed by k frames: the mouth now moves k frames before the sound, offset -k."""
    score = sync_score(rendered, shifted(speech, delay))
    assert abs(score.offset_frames - (-delay)) <= 1
    assert score.confidence > CHANCE_CONFIDENCE


def test_offset_sign_is_video_late(rendered_points, speech):
    """Frames dropped at the start make the video run ahead; repeated frames make it late."""
    aperture = mouth_aperture(rendered_points)
    late = np.concatenate([np.repeat(aperture[:1], 6), aperture[:-6]])  # the picture shows each mouth 6 frames late
    score, _, _ = score_aperture(late, frame_loudness(speech, FPS, len(late)))
    assert score.offset_frames == 6


def test_frames_in_memory_score_like_the_file(rendered, speech):
    from_file = sync_score(rendered, speech)
    in_memory = sync_score(read_frames(rendered), speech, fps=FPS)
    assert in_memory.offset_frames == from_file.offset_frames
    assert in_memory.confidence == pytest.approx(from_file.confidence, abs=0.1)


def test_scorer_fed_frame_by_frame(rendered, speech):
    scorer = SyncScorer()
    for frame in read_frames(rendered):
        scorer.add(frame)
    assert scorer.aperture.shape == (speech.frame_count(FPS),)
    assert abs(scorer.score(speech, FPS).offset_frames) <= 1


def test_still_face_has_no_sync_confidence(still, speech):
    score = sync_score(still)
    assert score.confidence == pytest.approx(0.0, abs=0.05)
    assert score.peak_correlation == pytest.approx(0.0, abs=0.2)


def test_noise_on_a_still_face_gives_little_confidence(rendered, speech):
    """A still photo whose pixels tremble (camera noise): landmarks wobble, the sync stays at chance
    level (random lip motion against this 10 s clip scores below ~0.3 in 95 % of cases)."""
    first = next(read_frames(rendered))
    rng = np.random.default_rng(0)
    frames = (np.clip(first + rng.normal(0, 4, first.shape), 0, 255).astype(np.uint8) for _ in range(speech.frame_count(FPS)))
    score = sync_score(frames, speech, fps=FPS)
    assert score.confidence < CHANCE_CONFIDENCE and score.peak_correlation < 0.3


def test_mouth_rests_in_pauses(rendered_points, speech):
    result = measure_sync(mouth_aperture(rendered_points), speech, FPS)
    assert result.mouth_moves and result.correlations.shape == (31,)
    assert result.pause_motion < 0.4 * result.speech_motion
    assert result.pause_opening < result.speech_opening


def test_summary_line():
    assert SyncScore(0, 0.96, 0.68).summary(25) == "lip sync: offset +0 frames (in sync), confidence 0.68, peak correlation 0.96"
    assert "(video 400 ms late)" in SyncScore(10, 0.9, 0.7).summary(25)
    assert "(video 120 ms early)" in SyncScore(-3, 0.9, 0.7).summary(25)
    assert SyncScore(8, 0.37, 0.09).summary(25).endswith("the lips do not clearly follow the speech")


def test_lagged_correlations_convention():
    rng = np.random.default_rng(1)
    audio = rng.standard_normal(200)
    video = np.roll(audio, 4)  # video[t] = audio[t - 4]: late by 4
    curve = lagged_correlations(video, audio, 15)
    assert int(np.argmax(curve)) - 15 == 4


def test_a_clip_shorter_than_the_lag_range_scores_without_error():
    short = np.arange(6, dtype=np.float32)
    assert lagged_correlations(short, short, max_lag=15).shape == (31,)


def _remuxed(rendered, path, *, late: str, seconds: float):
    """`rendered` with its video or its audio stream starting `seconds` late (-itsoffset, no re-encoding)."""
    from media import make_media

    first = ["-itsoffset", str(seconds)] if late == "video" else []
    second = ["-itsoffset", str(seconds)] if late == "audio" else []
    return make_media(path, *first, "-i", str(rendered), *second, "-i", str(rendered), "-map", "0:v", "-map", "1:a", "-c", "copy")


@pytest.mark.parametrize("late, offset", [("audio", -6), ("video", 6)])
def test_a_stream_that_starts_late_is_measured_as_a_player_plays_it(rendered, tmp_path, late, offset):
    """Our in-sync render with one stream 0.24 s (6 frames) late: + = video late."""
    score = sync_score(_remuxed(rendered, tmp_path / "shifted.mp4", late=late, seconds=6 / FPS))
    assert abs(score.offset_frames - offset) <= 1


def test_eval_measures_a_late_audio_stream(rendered, tmp_path):
    from talkinghead.eval import evaluate

    report = evaluate(_remuxed(rendered, tmp_path / "shifted.mp4", late="audio", seconds=6 / FPS))
    assert abs(report.sync.score.offset_frames - (-6)) <= 1
