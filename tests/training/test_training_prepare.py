"""`talkinghead prepare`: what is kept, what is rejected and why, the clip layout, resuming."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from safetensors.numpy import load_file

from talkinghead.cli import main
from talkinghead.training import PrepareOptions, prepare_dataset
from talkinghead.training import prepare as prepare_module


def test_good_clips_are_kept_and_bad_ones_rejected_with_their_reason(prepared):
    dataset, summary, seconds = prepared
    status = {r.clip: (r.status, r.reason) for r in summary.results}
    assert status == {
        "alice": ("kept", None),
        "carol": ("kept", None),
        "more__bob": ("kept", None),
        "short": ("rejected", "too_short"),
        "plain": ("rejected", "no_face"),
        "pair": ("rejected", "several_faces"),
        "mute_end": ("rejected", "av_mismatch"),
    }
    text = (dataset / "summary.txt").read_text()
    assert text.startswith("7 videos: 3 kept") and "several faces (1)" in text and "pair.mp4" in text
    document = json.loads((dataset / "summary.json").read_text())
    assert document["kept"] == 3 and document["kept_frames"] == 40 + 30 + 35
    assert sorted(p.name for p in (dataset / "rejected").iterdir()) == ["mute_end.json", "pair.json", "plain.json", "short.json"]
    print(f"\nprepare: 7 videos ({document['kept_frames']} frames kept) in {seconds:.1f} s with 2 processes")


def test_a_clip_folder_holds_aligned_frames_audio_features_masks_and_identity(prepared):
    clip = prepared[0] / "clips" / "alice"
    meta = json.loads((clip / "meta.json").read_text())
    frames = meta["frames"]
    assert frames == 40 and meta["fps"] == 25 and meta["size"] == 64 and meta["vocals_separated"]
    assert len(list((clip / "frames").glob("*.jpg"))) == frames
    rate, samples = __import__("scipy.io.wavfile", fromlist=["read"]).read(clip / "audio.wav")
    assert rate == 16000 and len(samples) == frames * 640
    features = load_file(str(clip / "audio_emb.safetensors"))["audio_emb"]
    assert features.shape == (frames, 2, 32) and features.dtype == np.float16  # the tiny wav2vec2: 2 layers × 32
    embedding = np.load(clip / "face_embedding.npy")
    assert embedding.shape == (512,) and np.any(embedding)
    masks = np.load(clip / "masks.npz")
    assert masks["face_region"].shape == (64, 64) and masks["face"].shape == masks["lip"].shape == (64, 64)
    region = masks["face_region"] > 0
    assert 0.05 < region.mean() < 0.9  # a face box, not the whole crop
    landmarks = np.load(clip / "landmarks.npz")
    assert list(landmarks["index"]) == list(range(0, frames, 5)) and landmarks["points"].shape[1:] == (478, 3)
    # The mouth lies inside the face region, in crop pixels.
    mouth = landmarks["points"][0][13, :2].round().astype(int)
    assert region[mouth[1], mouth[0]]


def test_a_second_run_skips_finished_and_rejected_videos(prepared, collection, weights_dir):
    dataset = prepared[0]
    started = time.perf_counter()
    summary = prepare_dataset(collection["alice"].parent, dataset, weights=weights_dir, options=PrepareOptions(size=64), workers=2)
    assert all(r.cached for r in summary.results) and len(summary.kept) == 3
    assert time.perf_counter() - started < 5  # no model loaded, no video decoded


def test_changed_videos_are_redone_and_an_interrupted_clip_starts_over(collection, weights_dir, tmp_path):
    from training_media import talking_clip

    videos = tmp_path / "videos"
    videos.mkdir()
    talking_clip(videos / "one.mp4", 1.2, seed=7, size=96)
    options = PrepareOptions(size=64)
    first = prepare_dataset(videos, tmp_path / "data", weights=weights_dir, options=options)
    assert [r.status for r in first.results] == ["kept"]
    # A leftover of an interrupted run, and a changed video: both redone from scratch.
    (tmp_path / "data/clips/.one.partial").mkdir()
    talking_clip(videos / "one.mp4", 1.6, seed=8, size=96)
    second = prepare_dataset(videos, tmp_path / "data", weights=weights_dir, options=options)
    assert [(r.status, r.cached, r.frames) for r in second.results] == [("kept", False, 40)]
    assert not (tmp_path / "data/clips/.one.partial").exists()


def test_an_unexpected_error_is_reported_and_retried_not_recorded(collection, weights_dir, tmp_path, monkeypatch):
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "a.mp4").write_bytes(collection["carol"].read_bytes())
    (videos / "broken.mov").write_bytes(b"not a video at all")

    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire\nsecond line")

    monkeypatch.setattr(prepare_module, "_audio_features", boom)
    summary = prepare_dataset(videos, tmp_path / "data", weights=weights_dir, options=PrepareOptions(size=64))
    results = {r.clip: r for r in summary.results}
    assert results["a"].status == "failed" and results["a"].detail == "RuntimeError: disk on fire"
    assert results["broken"].status == "rejected" and results["broken"].reason == "unreadable"
    assert not (tmp_path / "data/clips/a").exists() and not (tmp_path / "data/rejected/a.json").exists()
    assert "failed, retried on the next run (1)" in (tmp_path / "data/summary.txt").read_text()


def test_ray_cluster_prepares_the_videos(collection, weights_dir, tmp_path):
    """A real local Ray cluster: actors load the models once and prepare the videos."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        videos = tmp_path / "videos"
        videos.mkdir()
        (videos / "a.mp4").write_bytes(collection["bob"].read_bytes())
        (videos / "b.mp4").write_bytes(collection["plain"].read_bytes())
        summary = prepare_dataset(videos, tmp_path / "data", weights=weights_dir, options=PrepareOptions(size=64), ray_address="auto")
        assert sorted((r.clip, r.status) for r in summary.results) == [("a", "kept"), ("b", "rejected")]
        assert (tmp_path / "data/clips/a/meta.json").is_file()
    finally:
        ray.shutdown()


@pytest.mark.parametrize(
    "make_args, expected",
    [
        (lambda t, w: [str(t / "nowhere"), "-o", str(t / "d"), "--weights", str(w)], "is not a folder"),
        (lambda t, w: [str(t), "-o", str(t / "d"), "--weights", str(w)], "no videos"),
        (lambda t, w: [str(t), "-o", str(t / "d")], "--weights"),
        (lambda t, w: [str(t), "-o", str(t / "d"), "--weights", str(t)], "lacks wav2vec"),
    ],
)
def test_cli_errors_are_one_line(make_args, expected, weights_dir, tmp_path, capsys):
    code = main(["prepare", *make_args(tmp_path, weights_dir)])
    err = capsys.readouterr().err
    assert code == 2 and expected in err and err.count("\n") == 1, err
