"""`animate` end to end on the bundled sample and on generated inputs: what a user would notice."""

from __future__ import annotations

import numpy as np
import pytest
from media import PORTRAIT, SPEECH
from measure import best_lag, mouth_opening, face_points

from talkinghead.api import Animator, animate
from talkinghead.audio.decode import load_audio
from talkinghead.audio.loudness import loudness_envelope
from talkinghead.audio.vad import voice_per_frame
from talkinghead.render.warp.rig import face_region
from talkinghead.video.ffmpeg import probe_media
from talkinghead.video.reader import read_frames
from talkinghead.video.writer import VideoWriter

FPS = 25


def test_video_lasts_as_long_as_the_audio_with_audio_muxed(demo_video):
    info = probe_media(demo_video)
    audio = load_audio(SPEECH, max_duration=None)
    assert (info.video_codec, info.audio_codec, info.pix_fmt) == ("h264", "aac", "yuv420p")
    assert (info.width, info.height, info.fps) == (512, 512, FPS)
    frames = sum(1 for _ in read_frames(demo_video))
    assert abs(frames / FPS - audio.duration) <= 1 / FPS
    assert abs(info.duration - audio.duration) <= 1 / FPS


@pytest.fixture(scope="module")
def demo_mouth(demo_video):
    """Per frame: mouth opening re-detected on the video, and the speech's loudness and voice."""
    opening = np.array([mouth_opening(face_points(f)) for f in read_frames(demo_video)])
    clip = load_audio(SPEECH, max_duration=None)
    loudness = loudness_envelope(clip.samples, clip.rate, FPS, len(opening))
    voice = voice_per_frame(clip.samples, FPS, len(opening))
    return opening, loudness, voice


@pytest.fixture(scope="module")
def closed_rest_mouth(tmp_path_factory):
    """Per frame: mouth opening and loudness of the sample animated with --rest closed.

    The sample smiles with its teeth: with the default rest (the photo's own mouth) its pauses
    are as open as its vowels and its consonants close, so the opening says little about the
    loudness; with closed lips at rest it must follow the voice.
    """
    video = animate(PORTRAIT, SPEECH, tmp_path_factory.mktemp("closed") / "closed.mp4", progress=False, rest="closed", score=False).output
    opening = np.array([mouth_opening(face_points(f)) for f in read_frames(video)])
    clip = load_audio(SPEECH, max_duration=None)
    return opening, loudness_envelope(clip.samples, clip.rate, FPS, len(opening))


def test_mouth_opening_follows_loudness_without_delay(closed_rest_mouth):
    opening, loudness = closed_rest_mouth
    lag, correlation = best_lag(opening, loudness, max_lag=6)
    assert abs(lag) <= 1, f"mouth is {lag} frames off the sound"
    assert correlation > 0.4  # lips shut across every p/b/m span, loud as the speech around them is


def test_mouth_returns_to_the_photo_in_silence(demo_mouth, portrait):
    opening, _, voice = demo_mouth
    rest = mouth_opening(portrait.face.landmarks)
    # Frames well inside silences: at least 3 frames away from any voiced frame.
    voiced = voice > 0.5
    near_voice = np.convolve(voiced, np.ones(7), mode="same") > 0
    silent = ~near_voice
    assert silent.sum() >= 10
    assert np.abs(opening[silent] - rest).max() < 0.012
    assert opening[voiced].max() > rest + 0.04  # and it does open when speaking


def test_all_weights_zero_gives_the_photo(tmp_path, photo):
    speech = (np.random.default_rng(0).normal(0, 0.1, 16000).astype(np.float32), 16000)
    frozen = dict(lip_weight=0, expression_weight=0, pose_weight=0)
    animator = Animator(PORTRAIT, **frozen)
    for frame in animator.frames(animator.motion(speech)):
        assert np.abs(frame.astype(int) - photo.astype(int)).max() <= 1
    # Encoded, the frames differ from the photo by the encoder's own noise only.
    with VideoWriter(tmp_path / "photo.mp4", size=(512, 512), fps=FPS, crf=18) as video:
        video.write(photo)
    noise = np.abs(next(read_frames(tmp_path / "photo.mp4")).astype(int) - photo).mean()
    out = animate(PORTRAIT, speech, tmp_path / "still.mp4", progress=False, **frozen).output
    for frame in read_frames(out):
        assert np.abs(frame.astype(int) - photo).mean() < noise + 0.3


def test_pixels_away_from_the_head_are_the_photo(portrait, photo):
    animator = Animator(PORTRAIT)
    motion = animator.motion(SPEECH, pose_weight=2.0)
    x0, y0, x1, y1 = face_region(portrait.face, portrait.size)
    outside = np.ones(photo.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    moved = 0
    for t, frame in enumerate(animator.frames(motion)):
        assert np.array_equal(frame[outside], photo[outside])
        moved += not np.array_equal(frame, photo)
        if t == 60:
            break
    assert moved > 30


def test_same_seed_same_frames_other_seed_other_frames():
    animator = Animator(PORTRAIT)

    def digest(seed: int) -> list[bytes]:
        motion = animator.motion(SPEECH, seed=seed)
        return [f.tobytes() for _, f in zip(range(40), animator.frames(motion))]

    first = digest(7)
    assert digest(7) == first
    assert digest(8) != first


def test_any_photo_size_keeps_its_framing(tmp_path, photo):
    # A tall, odd-sized photo: the face somewhere in a 601 x 803 picture.
    tall = np.full((803, 601, 3), 200, np.uint8)
    tall[150:662, 40:552] = photo
    clip = (np.zeros(8000, np.float32), 16000)
    out = animate(tall, clip, tmp_path / "tall.mp4", progress=False).output
    info = probe_media(out)
    assert (info.width, info.height) == (600, 802)


def test_size_option_gives_a_square_face_crop(tmp_path):
    out = animate(PORTRAIT, (np.zeros(8000, np.float32), 16000), tmp_path / "crop.mp4", size=256, progress=False).output
    info = probe_media(out)
    assert (info.width, info.height) == (256, 256)
    frame = next(read_frames(out))
    points = face_points(frame)
    assert 0.3 < (points[:, 0].max() - points[:, 0].min()) / 256 < 0.6  # the face fills the crop as in Hallo


def test_frames_dir_holds_every_frame(tmp_path):
    out = animate(PORTRAIT, (np.zeros(12000, np.float32), 16000), tmp_path / "f.mp4", frames_dir=tmp_path / "png", progress=False).output
    pngs = sorted((tmp_path / "png").glob("frame_*.png"))
    assert len(pngs) == sum(1 for _ in read_frames(out)) == round(0.75 * FPS)


def test_silence_gives_a_still_blinking_breathing_portrait(photo):
    animator = Animator(PORTRAIT)
    motion = animator.motion((np.zeros(16000 * 8, np.float32), 16000))
    assert np.abs(motion.lip).max() == 0  # the mouth never moves in silence
    assert motion.channel("blink_left").max() == 1  # at least one full blink in 8 s
    pitch = motion.channel("pitch")
    assert 0.1 < pitch.max() - pitch.min() < 3  # breathing, not nodding
    frames = [f for _, f in zip(range(60), animator.frames(motion))]
    assert not all(np.array_equal(f, photo) for f in frames)


def test_array_image_and_audio_inputs(tmp_path, photo):
    rng = np.random.default_rng(1)
    stereo_44k = (rng.normal(0, 0.05, (44100, 2)) * 32767).astype(np.int16)
    out = animate(photo.copy(), (stereo_44k, 44100), tmp_path / "arrays.mp4", progress=False).output
    info = probe_media(out)
    assert info.has_audio and abs(info.duration - 1.0) <= 1 / FPS
    assert info.audio_rate == 44100  # the caller's own samples are muxed, not the 16 kHz analysis copy


def test_inputs_are_never_modified(tmp_path, photo):
    image = photo.copy()
    samples = np.random.default_rng(2).normal(0, 0.1, 8000).astype(np.float32)
    kept = samples.copy()
    animate(image, (samples, 16000), tmp_path / "x.mp4", progress=False)
    assert np.array_equal(image, photo) and np.array_equal(samples, kept)


def test_audio_from_a_video_file(tmp_path, demo_video):
    # Another video's sound track drives the portrait; that sound is muxed in as it is.
    out = animate(PORTRAIT, demo_video, tmp_path / "dub.mp4", size=128, progress=False).output
    info, source = probe_media(out), probe_media(demo_video)
    assert info.has_audio and abs(info.duration - source.duration) <= 1 / FPS
    assert (info.width, info.height) == (128, 128)
