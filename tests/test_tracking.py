"""Videos in: decoding (codecs, rotation, variable rate, bit depth, colour tags), the face
followed through a clip with known motion, and the motion track recovered from it."""

from __future__ import annotations

import numpy as np
import pytest
from media import make_media
from video_media import FPS, decoded, known_motion, rendered_frames, tone, write_clip

from talkinghead.face.tracking import FaceFollower, steady, track_video
from talkinghead.motion.from_video import track_motion
from talkinghead.video.frames import I420Frame
from talkinghead.video.source import open_video


@pytest.fixture(scope="module")
def motion():
    return known_motion()


@pytest.fixture(scope="module")
def clip(tmp_path_factory, motion):
    """2 s, 256², the portrait with known jaw, blinks and yaw; a tone for its sound."""
    return write_clip(tmp_path_factory.mktemp("clip") / "known.mp4", rendered_frames(motion), audio=tone(2.0))


@pytest.fixture(scope="module")
def tracked(clip):
    video = open_video(clip)
    track = track_video(video.frames(), fps=video.fps, size=video.info.size, expected=video.info.frame_count)
    yield track
    track.close()


def test_every_frame_of_a_clip_is_tracked(tracked, clip):
    assert tracked.frames == 50
    assert tracked.found.all() and not tracked.cuts.any()
    assert np.isfinite(tracked.landmarks).all()


def test_motion_recovered_from_a_rendered_clip(tracked, motion):
    got = track_motion(tracked)
    assert got.frame_count == motion.frame_count and got.fps == FPS
    for name in ("jaw_open", "blink_left", "blink_right", "yaw"):
        r = np.corrcoef(motion.channel(name), got.channel(name))[0, 1]
        assert r >= 0.9, f"{name}: correlation {r:.2f}"
    # Person-independent: about the amplitudes it was rendered with.
    assert 0.3 < got.channel("jaw_open").max() < 0.9
    assert 0.5 < got.channel("blink_left").max() <= 1.0
    assert 5 < np.ptp(got.channel("yaw")) / 2 < 11


def test_steadying_removes_jitter_without_lag(clip, tracked):
    """Landmarks with noise added are steadied back towards the clean ones, and the jaw's
    motion keeps its timing (the best lag against the clean track is 0)."""
    clean = np.array(tracked.landmarks)
    rng = np.random.default_rng(0)
    video = open_video(clip)
    noisy = track_video(video.frames(), fps=video.fps, size=video.info.size, expected=50)
    try:
        jitter = rng.normal(0, 0.8, clean.shape).astype(np.float32)
        noisy.landmarks[:] = clean + jitter
        steady(noisy)
        error_before = np.abs(jitter).mean()
        error_after = np.abs(np.array(noisy.landmarks) - clean).mean()
        assert error_after < 0.6 * error_before
        gap = lambda pts: pts[:, 14, 1] - pts[:, 13, 1]  # noqa: E731
        a, b = gap(clean), gap(np.array(noisy.landmarks))
        lags = {lag: np.corrcoef(a[5 + lag : 45 + lag], b[5:45])[0, 1] for lag in range(-2, 3)}
        assert max(lags, key=lags.get) == 0
    finally:
        noisy.close()


def test_lost_faces_and_a_shot_cut(tmp_path, motion):
    frames = rendered_frames(motion)[:30]
    grey = np.full_like(frames[0], 128)
    shifted = [np.ascontiguousarray(np.roll(f[:, ::-1], 40, axis=1)) for f in frames[:10]]  # another "shot"
    video = [*frames[:10], grey, grey, grey, *frames[13:20], *shifted]
    path = write_clip(tmp_path / "lost.mp4", video)
    source = open_video(path)
    with track_video(source.frames(), fps=FPS, size=(256, 256), expected=30) as track:
        assert list(np.flatnonzero(~track.found)) == [10, 11, 12]
        assert 20 in np.flatnonzero(track.cuts)  # grey frames are a change of picture too: 10 and 13 may count
        assert track.segments() == [(0, 10), (13, 20), (20, 30)]


def test_the_largest_face_or_face_index_is_followed(tmp_path, motion):
    """Two faces side by side, the right one larger: it is followed, or the left one with --face-index 0."""
    from talkinghead.face.analysis import face_from_landmarks

    frames = rendered_frames(motion)[:6]
    import cv2

    pairs = [np.ascontiguousarray(np.hstack([cv2.resize(f, (192, 192))[:, :, :], np.zeros((192, 64, 3), np.uint8) + 90, cv2.resize(f, (256, 256))[32:224]])) for f in frames]
    pairs = [np.ascontiguousarray(np.pad(p, ((0, 0), (0, 0), (0, 0)))) for p in pairs]
    path = write_clip(tmp_path / "two.mp4", [p[:, : p.shape[1] // 2 * 2] for p in pairs])
    source = open_video(path)
    for index, side in ((None, "right"), (0, "left")):
        with track_video(source.frames(), fps=FPS, size=source.info.size, expected=6, face_index=index) as track:
            x = [face_from_landmarks(np.asarray(p)).box[0] for p in track.landmarks]
            assert all((v > 256) == (side == "right") for v in x), (index, x)


@pytest.mark.parametrize("codec", [["-c:v", "libx265", "-x265-params", "log-level=none"], ["-c:v", "libvpx-vp9", "-b:v", "1M"], ["-c:v", "prores_ks", "-profile:v", "2"]], ids=["hevc", "vp9", "prores-10bit"])
def test_codecs_decode(tmp_path, clip, codec):
    suffix = ".mov" if "prores_ks" in codec else ".mkv"
    path = make_media(tmp_path / f"clip{suffix}", "-i", str(clip), "-frames:v", "10", *codec, "-an")
    video = open_video(path)
    frames = list(video.frames())
    assert len(frames) == 10 and frames[0].size == (256, 256)
    reference = decoded(clip)[:10]
    assert np.abs(frames[5].y.astype(int) - reference[5].y).mean() < 4
    if "prores_ks" in codec:
        assert video.info.bit_depth == 10


def test_rotation_is_applied(tmp_path, clip):
    path = make_media(tmp_path / "rotated.mp4", "-display_rotation", "90", "-i", str(clip), "-c", "copy")
    video = open_video(path)
    assert video.info.rotation in (90, 270) and video.info.size == (256, 256)
    upright, stored = next(video.frames()), decoded(clip)[0]
    turn = np.rot90(stored.y, 1 if video.info.rotation == 270 else -1)
    assert np.array_equal(upright.y, turn)


def test_variable_frame_rate_is_made_constant(tmp_path, clip):
    """Frames 10-14 dropped with their times kept: the clock repeats frame 9 there."""
    path = make_media(tmp_path / "vfr.mp4", "-i", str(clip), "-vf", "select='not(between(n,10,14))'", "-fps_mode", "vfr", "-c:v", "libx264", "-crf", "0", "-an")
    video = open_video(path)
    frames = list(video.frames())
    assert video.fps == 25 and len(frames) == 50
    assert all(np.array_equal(frames[k].y, frames[9].y) for k in range(10, 15))
    assert not np.array_equal(frames[15].y, frames[9].y)


def test_colour_tags_are_read(tmp_path, clip):
    path = make_media(tmp_path / "709.mp4", "-i", str(clip), "-frames:v", "5", "-c:v", "libx264", "-x264-params", "colorprim=bt709:transfer=bt709:colormatrix=bt709", "-an")
    tags = open_video(path).info.colour
    assert (tags.matrix, tags.primaries, tags.transfer, tags.range) == ("bt709", "bt709", "bt709", "tv")


def test_frames_in_any_order(clip):
    video = open_video(clip)
    forward = [f.y.copy() for f in video.frames()]
    order = [*range(50), *range(48, -1, -1), 1, 2]
    got = list(video.frames_in(order))
    assert all(np.array_equal(g.y, forward[i]) for g, i in zip(got, order))


def test_i420_crop_is_cv2_conversion():
    rgb = np.random.default_rng(1).integers(0, 255, (64, 48, 3), np.uint8)
    frame = I420Frame.from_rgb(rgb)
    assert np.array_equal(frame.crop_rgb((8, 10, 40, 50)), frame.rgb()[10:50, 8:40])


def test_follower_counts_detections(clip):
    follower = FaceFollower()
    for frame in open_video(clip).frames(0, 10):
        follower.update(frame)
    assert follower.detections == 1  # detection once; then the crop follows the face
