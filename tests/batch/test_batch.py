"""`talkinghead batch`: a table of rows rendered on a process pool, in this process, and on a
real local Ray cluster; resumable; failed rows reported in summary.csv without stopping the rest."""

from __future__ import annotations

import csv
import json
import logging
import shutil
from pathlib import Path

import pytest
from media import PORTRAIT, SPEECH
from scipy.io import wavfile

from talkinghead.batch import run_batch
from talkinghead.cli import main
from talkinghead.video.ffmpeg import probe_media


@pytest.fixture(autouse=True)
def cli_logging_reset():
    yield
    logging.getLogger("talkinghead").handlers.clear()


@pytest.fixture
def inputs(tmp_path) -> Path:
    """A folder with the portrait and a second of speech, where the tables live."""
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(PORTRAIT, folder / "face.png")
    rate, samples = wavfile.read(SPEECH)
    wavfile.write(folder / "one.wav", rate, samples[: int(0.8 * rate)])
    return folder


def summary(out: Path) -> dict[int, dict[str, str]]:
    with (out / "summary.csv").open() as file:
        return {int(r["row"]): r for r in csv.DictReader(file)}


def write_csv(path: Path, rows: list[dict]) -> Path:
    columns = sorted({k for row in rows for k in row}, key=lambda k: (k not in ("image", "audio", "output"), k))
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_a_csv_batch_on_a_process_pool_is_resumable_and_reports_failures(inputs, tmp_path, capsys):
    table = write_csv(inputs / "jobs.csv", [
        {"image": "face.png", "audio": "one.wav", "output": "a.mp4", "seed": "1"},
        {"image": "face.png", "audio": "missing.wav", "output": "b.mp4"},
        {"image": "face.png", "audio": "one.wav", "output": "c", "lip-weight": "5"},
        {"image": "face.png", "audio": "one.wav", "output": "sub/d.mp4", "pose_weight": "0", "score": "false"},
    ])
    out = tmp_path / "out"
    args = ["batch", str(table), "-o", str(out), "--workers", "2", "--size", "128", "--no-score"]
    assert main(args) == 1  # a row failed
    rows = summary(out)
    assert [rows[n]["status"] for n in (1, 2, 3, 4)] == ["done", "failed", "failed", "done"]
    assert "missing.wav does not exist" in rows[2]["error"]
    assert "--lip-weight 5.0 is out of range" in rows[3]["error"]
    assert rows[1]["frames"] == "20" and rows[4]["output"] == "sub/d.mp4"
    for name in ("a.mp4", "sub/d.mp4"):
        info = probe_media(out / name)
        assert (info.width, info.height) == (128, 128)
    assert "row 2 failed" in capsys.readouterr().err
    # Again: the finished rows are skipped; the missing file is there now, so row 2 renders.
    shutil.copy(inputs / "one.wav", inputs / "missing.wav")
    before = (out / "a.mp4").stat().st_mtime_ns
    assert main(args) == 1  # row 3 still fails
    rows = summary(out)
    assert [rows[n]["status"] for n in (1, 2, 3, 4)] == ["skipped", "done", "failed", "skipped"]
    assert (out / "a.mp4").stat().st_mtime_ns == before
    # A changed option is a new video, not a finished one.
    table.write_text(table.read_text().replace(",a.mp4,,,,1", ",a.mp4,,,,2"))
    assert ",a.mp4,,,,2" in table.read_text()
    results = run_batch(table, out, workers=1, defaults={"size": 128, "score": False})
    assert [r.status for r in results] == ["done", "skipped", "failed", "skipped"]


def test_a_jsonl_batch_in_this_process(inputs, tmp_path):
    lines = [
        {"image": str(inputs / "face.png"), "audio": "one.wav", "output": "x.mp4", "size": 128, "score": False,
         "transcript": "hello there", "emotion": "happy"},
        {"image": "face.png", "audio": "one.wav", "output": "../escape.mp4"},
        {"image": "face.png", "audio": "one.wav", "output": "x.mp4"},
        {"image": "face.png", "audio": "one.wav", "colour": "red"},
    ]
    table = inputs / "jobs.jsonl"
    table.write_text("\n".join(json.dumps(line) for line in lines) + "\nnot json\n")
    out = tmp_path / "out"
    results = run_batch(table, out, workers=1)
    assert [r.status for r in results] == ["done", "failed", "failed", "failed", "failed"]
    assert "inside the output folder" in results[1].error
    assert "as row 1 does" in results[2].error
    assert "'colour' is not an option" in results[3].error
    assert "line 5 is not JSON" in results[4].error
    stamp = json.loads((out / ".talkinghead-batch" / "x.mp4.json").read_text())
    assert stamp["result"]["motion"] == "aligned"  # the transcript was used
    assert not (tmp_path / "escape.mp4").exists()


def test_unusable_tables_are_refused_at_once(tmp_path, capsys):
    (tmp_path / "jobs.txt").write_text("image,audio\n")
    assert main(["batch", str(tmp_path / "jobs.txt"), "-o", str(tmp_path / "o")]) == 2
    assert "is a .csv" in capsys.readouterr().err
    (tmp_path / "empty.csv").write_text("image,audio,output\n")
    assert main(["batch", str(tmp_path / "empty.csv"), "-o", str(tmp_path / "o")]) == 2
    assert "has no rows" in capsys.readouterr().err


def test_a_batch_on_a_real_local_ray_cluster(inputs, tmp_path):
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        rows = [{"image": "face.png", "audio": "one.wav", "output": f"r{k}.mp4", "seed": str(k)} for k in range(3)]
        rows.append({"image": "face.png", "audio": "none.wav", "output": "bad.mp4"})
        table = write_csv(inputs / "ray.csv", rows)
        out = tmp_path / "out"
        results = run_batch(table, out, ray_address="auto", workers=2, defaults={"size": 128, "score": False})
        assert [r.status for r in results] == ["done", "done", "done", "failed"]
        assert all((out / f"r{k}.mp4").is_file() for k in range(3))
        assert summary(out)[4]["status"] == "failed" and "none.wav" in summary(out)[4]["error"]
        again = run_batch(table, out, ray_address="auto", workers=2, defaults={"size": 128, "score": False})
        assert [r.status for r in again] == ["skipped", "skipped", "skipped", "failed"]
    finally:
        ray.shutdown()


def test_rows_with_a_video_are_dubbed(inputs, tmp_path):
    from video_media import known_motion, rendered_frames, tone, write_clip

    write_clip(inputs / "clip.mp4", rendered_frames(known_motion(20)), audio=tone(0.8), crf=18)
    lines = [
        {"video": "clip.mp4", "audio": "one.wav", "output": "dubbed.mp4", "lip_weight": 1.2, "score": False},
        {"video": "clip.mp4", "image": "face.png", "audio": "one.wav", "output": "both.mp4"},
        {"video": "clip.mp4", "audio": "one.wav", "output": "posed.mp4", "pose_weight": 0.5},
    ]
    table = inputs / "jobs.jsonl"
    table.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    out = tmp_path / "out"
    results = run_batch(table, out, workers=1)
    assert [r.status for r in results] == ["done", "failed", "failed"]
    assert "not both" in results[1].error and "--pose-weight is not used by dub" in results[2].error
    info = probe_media(out / "dubbed.mp4")
    assert (info.width, info.height, results[0].frames) == (256, 256, 20)
    assert json.loads((out / ".talkinghead-batch" / "dubbed.mp4.json").read_text())["result"]["renderer"] == "dub"
    assert [r.status for r in run_batch(table, out, workers=1)] == ["skipped", "failed", "failed"]
