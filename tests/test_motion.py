"""Speech-aware motion: natural rates and ranges, levels that freeze exactly, motion as data."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from media import PORTRAIT, SPEECH
from measure import face_points
from speech_fixtures import load

from talkinghead.api import Animator
from talkinghead.audio.decode import load_audio
from talkinghead.audio.features import analyze_audio
from talkinghead.cli import main
from talkinghead.errors import MotionError
from talkinghead.face import landmarks as lm
from talkinghead.config import MotionConfig
from talkinghead.motion.generate import generate_motion
from talkinghead.motion.track_io import ARKIT, HEAD_ROTATION, load_motion, save_motion
from talkinghead.types import AudioClip

FPS = 25.0


@pytest.fixture(scope="module")
def minute_of_speech():
    """The bundled speech six times over: 64 s with pauses, analysed once."""
    clip = load_audio(SPEECH, max_duration=None)
    long = AudioClip(np.tile(clip.samples, 6))
    return analyze_audio(long, FPS)


def _onsets(curve: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    return np.flatnonzero(np.diff((curve > threshold).astype(int)) == 1)


def test_a_minute_of_speech_blinks_naturally(minute_of_speech):
    for seed in range(3):
        track = generate_motion(minute_of_speech, MotionConfig(seed=seed))
        minutes = track.frame_count / FPS / 60
        blinks = _onsets(track.channel("blink_left"))
        assert 10 <= len(blinks) / minutes <= 20
        # Each blink lasts 100-250 ms (counted in frames where the lid is more than half shut).
        closed = track.channel("blink_left") > 0.5
        lengths = [np.argmin(closed[s + 1 :]) for s in blinks]
        assert all(1 <= n <= 0.25 * FPS for n in lengths)
        assert np.array_equal(track.channel("blink_left"), track.channel("blink_right"))


def test_blinks_prefer_pauses(minute_of_speech):
    pauses = minute_of_speech.prosody.pauses
    in_pause = [pauses[s] for seed in range(5) for s in _onsets(generate_motion(minute_of_speech, MotionConfig(seed=seed)).channel("blink_left"))]
    assert np.mean(in_pause) > 1.5 * pauses.mean()


def test_a_minute_of_speech_keeps_the_head_in_natural_ranges(minute_of_speech):
    for seed in range(3):
        track = generate_motion(minute_of_speech, MotionConfig(seed=seed))
        yaw, pitch, roll = (np.abs(track.channel(c)).max() for c in ("yaw", "pitch", "roll"))
        assert yaw <= 15 and pitch <= 10 and roll <= 6
        assert yaw > 1.5 and pitch > 1.0  # and it does move


def test_head_moves_with_speech_and_settles_in_long_pauses():
    speech = load_audio(SPEECH, max_duration=None).samples
    silence = np.zeros(int(4.0 * 16000), np.float32)
    features = analyze_audio(AudioClip(np.concatenate([speech, silence, speech])), FPS)
    pause = slice(int((len(speech) / 16000 + 1.5) * FPS), int((len(speech) / 16000 + 3.5) * FPS))
    talking = slice(int(1.0 * FPS), int(len(speech) / 16000 * FPS) - 10)
    for seed in range(3):
        track = generate_motion(features, MotionConfig(seed=seed))
        turn = np.abs(track.pose[:, :3])  # yaw, pitch, roll
        speed = np.abs(np.diff(track.pose[:, :3], axis=0)).sum(1)
        assert speed[talking].mean() > 2 * speed[pause].mean()
        assert turn[pause].mean() < 0.5 * turn[talking].mean()  # back towards the photo's pose


def test_brows_rise_and_head_nods_on_emphasis():
    phrase = load("emphasis")
    features = analyze_audio(phrase.clip, FPS)
    track = generate_motion(features, MotionConfig(seed=0))
    peaks = features.prosody.emphasis > 0.5
    assert peaks.any()
    brow = track.channel("brow_up")
    assert brow[peaks].mean() > brow[~peaks].mean() + 0.2
    # The nod: the head dips (pitch down) on the emphasised syllables, whatever the drift does.
    for seed in range(3):
        pitch = generate_motion(features, MotionConfig(seed=seed)).channel("pitch")
        assert pitch[peaks].mean() > pitch[~peaks].mean() + 1.0


@pytest.fixture(scope="module")
def words_features():
    """The single-words fixture, analysed once."""
    return analyze_audio(load("words").clip, FPS)


def test_gaze_modes(words_features):
    features = words_features
    fixed = generate_motion(features, MotionConfig(gaze="fixed"))
    assert not fixed.channel("gaze_x").any() and not fixed.channel("gaze_y").any()
    camera = generate_motion(features, MotionConfig(gaze="camera"))
    assert 0 < np.abs(camera.channel("gaze_x")).max() < 0.2
    natural = generate_motion(features, MotionConfig(gaze="natural", seed=3))
    assert np.abs(natural.channel("gaze_x")).max() > 0.35  # glances away in some pause


@pytest.mark.parametrize("emotion, channel", [("happy", "smile"), ("sad", "brow_inner_up"), ("surprised", "eyes_wide"), ("angry", "brow_down")])
def test_emotions_hold_their_expression_scaled_by_intensity(emotion, channel, words_features):
    features = words_features
    half = generate_motion(features, MotionConfig(emotion=emotion, emotion_intensity=0.5)).channel(channel)
    full = generate_motion(features, MotionConfig(emotion=emotion, emotion_intensity=1.0)).channel(channel)
    assert full.min() > 0 and np.allclose(full - half, full.min() - half.min(), atol=1e-6)
    assert not generate_motion(features, MotionConfig(emotion="neutral")).channel(channel).any()


@pytest.fixture(scope="module")
def animator():
    return Animator(PORTRAIT)


def _changed(frame: np.ndarray, photo: np.ndarray) -> np.ndarray:
    return np.abs(frame.astype(int) - photo).max(2) > 10


def test_each_level_alone_moves_only_its_part(animator, photo, portrait):
    points = portrait.face.landmarks
    eyes_bottom = int(points[list(lm.RIGHT_EYE_LOWER + lm.LEFT_EYE_LOWER), 1].max()) + 3
    nose_tip = int(points[lm.NOSE_TIP, 1])
    lip_only = animator.motion(SPEECH, expression_weight=0, pose_weight=0)
    expression_only = animator.motion(SPEECH, lip_weight=0, pose_weight=0)
    lip_moves = np.zeros(photo.shape[:2], bool)
    expression_moves = np.zeros(photo.shape[:2], bool)
    for frame in animator.frames(lip_only):
        lip_moves |= _changed(frame, photo)
    for frame in animator.frames(expression_only):
        expression_moves |= _changed(frame, photo)
    assert lip_moves.any() and not lip_moves[:eyes_bottom].any()  # the mouth and jaw, nothing above the eyes' lower lids
    assert expression_moves.any() and not expression_moves[nose_tip:].any()  # eyes and brows only


def test_pose_alone_moves_the_head_rigidly(animator, portrait):
    pose_only = animator.motion(SPEECH, lip_weight=0, expression_weight=0)
    frames = animator.frames(pose_only)
    rest = np.ascontiguousarray(portrait.face.landmarks[:468, :2], np.float32)
    worst_moved, residuals = 0.0, []
    for t, frame in enumerate(frames):
        if t % 20:
            continue
        points = np.ascontiguousarray(face_points(frame)[:468, :2], np.float32)
        matrix, _ = cv2.estimateAffinePartial2D(rest, points)  # rotation, scale, shift
        fitted = rest @ matrix[:, :2].T + matrix[:, 2]
        residuals.append(np.sqrt(((fitted - points) ** 2).sum(1)).mean())
        worst_moved = max(worst_moved, np.abs(points - rest).max())
    assert worst_moved > 2  # the head does move...
    assert max(residuals) < 1.0  # ...as one piece (landmark noise is ~0.5 px)


def test_motion_track_round_trips_through_json_and_csv(tmp_path, minute_of_speech):
    track = generate_motion(minute_of_speech, MotionConfig(seed=4))
    back = load_motion(save_motion(track, tmp_path / "t.json"))
    assert back.fps == track.fps and np.abs(back.pose - track.pose).max() < 1e-4
    assert np.abs(back.lip - track.lip).max() < 1e-4 and np.abs(back.expression - track.expression).max() < 1e-4
    csv_back = load_motion(save_motion(track, tmp_path / "t.csv"))
    assert csv_back.fps == track.fps and np.abs(csv_back.expression - track.expression).max() < 1e-4
    document = json.loads((tmp_path / "t.json").read_text())
    assert set(ARKIT) | set(HEAD_ROTATION) <= set(document["arkit"])
    assert np.allclose(document["arkit"]["jawOpen"], track.channel("jaw_open"), atol=1e-4)
    header = (tmp_path / "t.csv").read_text().splitlines()[0].split(",")
    assert {"jawOpen", "eyeBlinkLeft", "browInnerUp", "headYaw"} <= set(header)


def test_an_edited_track_is_rendered_as_edited(tmp_path, animator, capsys):
    track_path = tmp_path / "track.json"
    assert main(["motion", str(SPEECH), "-o", str(track_path), "--quiet"]) == 0
    document = json.loads(track_path.read_text())
    jaw = document["channels"]["lip"].index("jaw_open")
    for row in document["lip"]:
        row[jaw] = 0.0  # the user keeps the mouth shut...
    blink = document["channels"]["expression"].index("blink_left")
    for row in document["expression"][100:110]:
        row[blink] = 1.0  # ...and winks at frame 100
    track_path.write_text(json.dumps(document))
    motion = animator.motion(SPEECH, motion_file=track_path)
    assert not motion.channel("jaw_open").any() and motion.channel("blink_left")[100:110].min() == 1


def test_a_track_that_does_not_fit_the_audio_is_refused(tmp_path, animator, minute_of_speech):
    short = generate_motion(minute_of_speech, MotionConfig())
    short_path = save_motion(type(short)(short.fps, short.lip[:50], short.expression[:50], short.pose[:50]), tmp_path / "short.json")
    with pytest.raises(MotionError, match="make the track from the same audio"):
        animator.motion(SPEECH, motion_file=short_path)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(MotionError, match="not a usable motion track"):
        animator.motion(SPEECH, motion_file=tmp_path / "bad.json")
