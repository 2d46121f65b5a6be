"""`talkinghead eval` and `evaluate()`: reports on disk, folders as one table, one-line errors."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from eval_media import FPS, PORTRAIT, SPEECH, other_person, write_video
from tiny_models import tiny_arcface, tiny_i3d, tiny_syncnet

import talkinghead.eval
from talkinghead.cli import main
from talkinghead.eval import evaluate
from talkinghead.eval.sync import CHANCE_CONFIDENCE
from talkinghead.video.reader import read_frames

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _beginning(folder, rendered, speech, frames: int):
    """The first `frames` frames of the render, with their speech."""
    clip = type(speech)(speech.samples[: frames * speech.rate // FPS], speech.rate)
    return write_video(folder / "short.mp4", [f for _, f in zip(range(frames), read_frames(rendered))], clip)


@pytest.fixture(scope="module")
def short(tmp_path_factory, rendered, speech):
    """The first 3 s of the render."""
    return _beginning(tmp_path_factory.mktemp("short"), rendered, speech, 75)


def test_public_names():
    assert sorted(talkinghead.eval.__all__) == ["Report", "SyncScore", "SyncScorer", "evaluate", "sync_score"]


def test_cli_writes_json_markdown_and_plots(tmp_path, rendered, capsys):
    models = tmp_path / "models"
    models.mkdir()
    out = tmp_path / "report.json"
    code = main([
        "eval", str(rendered), "-o", str(out), "--reference", str(PORTRAIT),
        "--syncnet", str(tiny_syncnet(models / "syncnet_v2.model")), "--arcface", str(tiny_arcface(models / "arcface.onnx")),
    ])
    assert code == 0
    video = json.loads(out.read_text())["videos"][0]
    assert abs(video["sync"]["score"]["offset_frames"]) <= 1 and video["sync"]["score"]["confidence"] > CHANCE_CONFIDENCE
    assert video["identity"]["same_person"] and video["identity"]["reference"] == "image"
    assert len(video["sync"]["correlations"]) == 31 and len(video["aperture"]) == video["frames"] == 267
    assert video["syncnet"]["distances"] and video["csim"]["frames"] > 0
    assert video["ground_truth"] is None and video["fvd"] is None
    summary = (tmp_path / "report.md").read_text()
    assert "| sync offset | +0 |" in summary or "| sync offset | +1 |" in summary or "| sync offset | -1 |" in summary
    assert "Sync-C" in summary and "![plots](report.plots/talking.png)" in summary
    assert (tmp_path / "report.plots" / "talking.png").stat().st_size > 10_000
    assert "lip sync: offset" in capsys.readouterr().err


def test_evaluate_without_sound_or_reference(tmp_path, rendered):
    silent = write_video(tmp_path / "silent.mp4", read_frames(rendered), None)
    report = evaluate(silent, identity_every=50)
    assert report.sync is None and report.loudness is None and report.motion.synchrony == ()
    assert report.identity.reference == "first frame" and report.identity.distances[0] == pytest.approx(0.0, abs=1e-5)
    json.dumps(report.to_dict(), allow_nan=False)  # NaN written as null


def test_evaluate_with_another_persons_photo(short):
    report = evaluate(short, reference=other_person(), identity_every=25)
    assert not report.identity.same_person


@pytest.mark.parametrize(
    "args, message",
    [
        (["missing.mp4"], "does not exist"),
        (["{short}", "--i3d", "i3d.pt"], "needs --ground-truth|give --ground-truth"),
        (["{short}", "--syncnet", "missing.model"], "SyncNet file"),
        (["{short}", "--reference", str(SPEECH)], "not an image"),
        (["{folder}"], "holds no videos"),
        (["{blank}"], "no face found in blank.mp4"),
    ],
)
def test_cli_errors_are_one_line(tmp_path, short, capsys, args, message):
    (tmp_path / "empty").mkdir()
    blank = write_video(tmp_path / "blank.mp4", [np.full((64, 64, 3), 128, np.uint8)] * 5, None)
    args = [a.format(short=short, folder=tmp_path / "empty", blank=blank) for a in args]
    code = main(["-q", "eval", *args, "-o", str(tmp_path / "r.json")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("talkinghead: error:") and len(err.splitlines()) == 1
    assert __import__("re").search(message, err)


@pytest.mark.slow
def test_a_folder_gives_one_table_and_pooled_scores(tmp_path, rendered, speech):
    videos, truths = tmp_path / "videos", tmp_path / "truth"
    videos.mkdir()
    truths.mkdir()
    clip = _beginning(tmp_path, rendered, speech, 2 * 16)  # two FVD clips
    for name in ("a", "b"):
        shutil.copy(clip, videos / f"{name}.mp4")
        shutil.copy(clip, truths / f"{name}.mp4")
    out = tmp_path / "table.json"
    code = main(["-q", "eval", str(videos), "--ground-truth", str(truths), "--i3d", str(tiny_i3d(tmp_path / "i3d.pt")), "-o", str(out)])
    assert code == 0
    document = json.loads(out.read_text())
    assert [v["video"].split("/")[-1] for v in document["videos"]] == ["a.mp4", "b.mp4"]
    assert document["videos"][0]["ground_truth"]["psnr"] == 100.0
    assert document["pooled"]["fid"] == pytest.approx(0.0, abs=1e-3) and document["pooled"]["fvd"] == pytest.approx(0.0, abs=1e-6)
    table = (tmp_path / "table.md").read_text()
    assert "| a.mp4 |" in table and "| b.mp4 |" in table and "Pooled over all videos: FID" in table
