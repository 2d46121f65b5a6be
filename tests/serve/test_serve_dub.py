"""Dubbing through the REST API on a real server: a video and new speech in, the video with its
lips re-synced out (progress, result with its lip-sync score, download, cancel), and bad
videos or dub options refused with the right status while the server keeps serving."""

from __future__ import annotations

import io
import json

import httpx
import numpy as np
import pytest
from conftest import Server, wait_for
from PIL import Image
from video_media import known_motion, rendered_frames, tone, write_clip

from talkinghead.video.source import open_video

LIMITS = ["--workers", "1", "--max-queue", "4", "--max-upload-mb", "4", "--max-duration", "10", "--max-jobs-per-client", "0"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = Server(tmp_path_factory.mktemp("dub") / "data", *LIMITS)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, bytes]:
    """A 1 s talking clip (the bundled portrait at 256², its jaw moving), and one 11 s long (a still face)."""
    folder = tmp_path_factory.mktemp("videos")
    frames = rendered_frames(known_motion(25, jaw_period_s=0.48))
    short = write_clip(folder / "short.mp4", frames, audio=tone(1.0), crf=18)
    long = write_clip(folder / "long.mp4", [frames[0]] * 275, crf=30)
    return {"short": short.read_bytes(), "long": long.read_bytes()}


@pytest.fixture
def client(server):
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def submit_dub(client, video: bytes, audio: bytes, options=None, extra=None):
    files = {"video": ("clip.mp4", video, "video/mp4"), "audio": ("speech.wav", audio, "audio/wav"), **(extra or {})}
    return client.post("/v1/jobs", files=files, data={"options": json.dumps(options or {})})


def finished(client, job_id: str, timeout: float = 120) -> dict:
    return wait_for(lambda: (lambda v: v if v["state"] in ("done", "failed", "cancelled") else None)(client.get(f"/v1/jobs/{job_id}").json()), timeout, 0.1)


def test_a_dub_job_runs_to_the_end_with_its_score_and_video(server, client, videos, clips, tmp_path):
    answer = submit_dub(client, videos["short"], clips["short"].read_bytes(), {"lip_weight": 1.2})
    assert answer.status_code == 202, answer.text
    job = answer.json()
    assert job["kind"] == "dub" and job["state"] in ("queued", "running")
    seen = []
    with client.stream("GET", job["urls"]["events"], timeout=120) as stream:
        for line in stream.iter_lines():
            if line.startswith("data: "):
                seen.append(json.loads(line[6:]))
    end = seen[-1]
    assert end["state"] == "done", end["error"]
    progress = [view["progress"] for view in seen]
    assert progress == sorted(progress) and progress[-1] == 1.0 and any(0 < p < 1 for p in progress)
    result = end["result"]
    assert (result["renderer"], result["frames"], result["size"], result["output"]) == ("dub", 25, [256, 256], "video.mp4")
    assert result["score"] is not None and result["score_note"].startswith("lip sync")
    assert result["meta"]["frames_without_face"] == 0
    out = tmp_path / "dubbed.mp4"
    out.write_bytes(client.get(job["urls"]["video"]).content)
    info = open_video(out).info
    assert (info.width, info.height, info.fps, info.has_audio) == (256, 256, 25, True)
    assert client.get(job["urls"]["motion"]).json()["frames"] == 25
    assert sorted(p.name for p in (server.data_dir / "jobs" / job["id"]).iterdir()) == ["audio", "motion.json", "plot.png", "video", "video.mp4"]


def test_cancelling_a_running_dub_stops_it_and_deletes_its_files(server, client, videos, clips):
    answer = submit_dub(client, videos["short"], clips["long"].read_bytes(), {"score": False})  # 8 s of speech: the clip plays to and fro
    assert answer.status_code == 202, answer.text
    job_id = answer.json()["id"]
    wait_for(lambda: client.get(f"/v1/jobs/{job_id}").json()["progress"] > 0.1, 120)
    cancelled = client.delete(f"/v1/jobs/{job_id}")
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    assert not (server.data_dir / "jobs" / job_id).exists()


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    "case, status, field, words",
    [
        ("photo", 422, "video", "a photo, not a video"),
        ("audio", 422, "video", "audio, not a video"),
        ("garbage", 422, "video", "not a video"),
        ("long", 413, "video", "the limit is 10 s"),
        ("both", 422, "image", "not both"),  # the second of the two is the one refused
        ("pose_weight", 422, "pose_weight", "not used by dub"),
        ("loop", 422, "loop", "not one of pingpong, hold"),
    ],
)
def test_bad_dubs_are_refused_and_the_server_keeps_serving(client, videos, clips, case, status, field, words):
    speech = clips["short"].read_bytes()
    video, options, extra = videos["short"], None, None
    if case == "photo":
        video = _png()
    elif case == "audio":
        video = speech
    elif case == "garbage":
        video = bytes(np.random.default_rng(0).integers(0, 256, 20_000, dtype=np.uint8))
    elif case == "long":
        video = videos["long"]
    elif case == "both":
        extra = {"image": ("p.png", _png(), "image/png")}
    elif case == "pose_weight":
        options = {"pose_weight": 0.5}
    elif case == "loop":
        options = {"loop": "backwards"}
    answer = submit_dub(client, video, speech, options, extra)
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["field"] == field and words in body["error"] and "\n" not in body["error"], body
    assert client.get("/v1/health").json()["status"] == "ok"
