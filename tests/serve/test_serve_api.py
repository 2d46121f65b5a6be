"""The REST API on a real server: submit, poll, events, the video with range requests, the
motion track, listing, and bad input refused with the right status while the server keeps serving."""

from __future__ import annotations

import io
import json
import socket

import httpx
import pytest
from conftest import Server, wait_for
from PIL import Image

LIMITS = ["--workers", "1", "--max-queue", "4", "--max-upload-mb", "2", "--max-pixels", "1", "--max-duration", "10",
          "--max-jobs-per-client", "0"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = Server(tmp_path_factory.mktemp("api") / "data", *LIMITS)
    yield server
    server.stop()


@pytest.fixture
def client(server):
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def submit(client, audio: bytes, options=None, image: bytes | None = None, *, image_name="portrait.png", extra=None):
    files = {"image": (image_name, image, "image/png"), "audio": ("speech.wav", audio, "audio/wav")}
    data = {"options": json.dumps(options if options is not None else {"size": 128, "score": False})}
    return client.post("/v1/jobs", files={**files, **(extra or {})}, data=data)


def finished(client, job_id: str, timeout: float = 90) -> dict:
    return wait_for(lambda: (lambda v: v if v["state"] in ("done", "failed", "cancelled") else None)(client.get(f"/v1/jobs/{job_id}").json()), timeout, 0.1)


@pytest.fixture(scope="module")
def done_job(server, clips, portrait_bytes):
    """One scored job rendered to the end, watched through its event stream."""
    with httpx.Client(base_url=server.url, timeout=60) as client:
        answer = submit(client, clips["short"].read_bytes(), {"size": 128, "seed": 3}, portrait_bytes)
        assert answer.status_code == 202, answer.text
        job = answer.json()
        events = []
        with client.stream("GET", job["urls"]["events"], timeout=90) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            kind = None
            for line in stream.iter_lines():
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    events.append((kind, json.loads(line[6:])))
        return answer, events


def test_a_job_is_accepted_then_streams_its_progress_to_the_end(done_job):
    answer, events = done_job
    job = answer.json()
    assert answer.headers["location"] == f"/v1/jobs/{job['id']}" == job["urls"]["self"]
    assert job["state"] in ("queued", "running") and len(job["id"]) == 32
    assert set(job) >= {"progress", "eta_seconds", "position", "error", "result", "urls"}
    kinds = [kind for kind, _ in events]
    assert kinds[-1] == "end" and set(kinds[:-1]) == {"progress"} and len(kinds) > 3
    progress = [view["progress"] for _, view in events]
    assert progress == sorted(progress) and progress[-1] == 1.0 and 0 < progress[len(progress) // 2] < 1
    assert any(view["state"] == "running" and view["eta_seconds"] is not None for _, view in events)
    end = events[-1][1]
    assert end["state"] == "done" and end["error"] is None
    result = end["result"]
    assert (result["frames"], result["size"], result["output"]) == (25, [128, 128], "video.mp4")
    assert result["score"] is not None and result["score_note"].startswith("lip sync")
    assert end["options"]["seed"] == 3


def test_the_video_downloads_whole_and_by_ranges(client, done_job):
    url = done_job[0].json()["urls"]["video"]
    whole = client.get(url)
    assert whole.status_code == 200 and whole.headers["content-type"] == "video/mp4"
    assert whole.content[4:8] == b"ftyp" and whole.headers["accept-ranges"] == "bytes"
    part = client.get(url, headers={"Range": "bytes=100-1099"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 100-1099/{len(whole.content)}"
    assert part.content == whole.content[100:1100]
    tail = client.get(url, headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == whole.content[-10:]


def test_the_motion_track_and_plot_of_a_done_job(client, done_job):
    urls = done_job[0].json()["urls"]
    motion = client.get(urls["motion"])
    assert motion.status_code == 200
    track = motion.json()
    assert track["format"] == "talkinghead.motion" and track["frames"] == 25 and len(track["lip"]) == 25
    assert client.get(urls["motion"]).content == motion.content  # made once, then served
    plot = client.get(urls["plot"])
    assert plot.status_code == 200 and plot.content[:8] == b"\x89PNG\r\n\x1a\n"


def test_listing_and_health(client, done_job):
    job_id = done_job[0].json()["id"]
    listed = client.get("/v1/jobs").json()["jobs"]
    assert job_id in [j["id"] for j in listed]
    health = client.get("/v1/health").json()
    assert health["status"] == "ok" and health["workers"] == 1 and health["max_queue"] == 4


@pytest.mark.parametrize("job_id", ["0" * 32, "not-a-job", "..%2F..%2Fjobs.sqlite", "%2e%2e"])
def test_unknown_jobs_are_404(client, job_id):
    for path in ("", "/video", "/motion", "/events"):
        answer = client.get(f"/v1/jobs/{job_id}{path}")
        assert answer.status_code == 404, (path, answer.text)
    assert client.delete(f"/v1/jobs/{job_id}").status_code == 404


def test_path_like_file_names_are_only_names(server, client, clips, portrait_bytes, tmp_path):
    """A client's file name never becomes a path: the files are stored as `image` and `audio`."""
    target = tmp_path / "planted.png"
    names = [f"../../../../{target}", str(target), "..\\..\\..\\evil.png", "jobs.sqlite", "../" * 20 + "etc/passwd", "\x00.png"]
    for name in names:
        answer = submit(client, clips["short"].read_bytes(), None, portrait_bytes, image_name=name)
        assert answer.status_code == 202, answer.text
        job_id = answer.json()["id"]
        assert finished(client, job_id)["state"] == "done"
        assert sorted(p.name for p in (server.data_dir / "jobs" / job_id).iterdir()) == ["audio", "image", "video.mp4"]
    assert not target.exists()
    assert sorted(p.name for p in server.data_dir.iterdir()) == ["jobs", "jobs.sqlite", "jobs.sqlite-shm", "jobs.sqlite-wal"]


def _png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("1", (width, height)).save(buffer, "PNG")  # compresses to almost nothing
    return buffer.getvalue()


def test_limits_are_enforced_as_the_upload_streams(client, clips, portrait_bytes):
    short = clips["short"].read_bytes()
    # Bytes: refused once 2 MB have arrived; the rest is drained so the client reads the answer.
    answer = submit(client, short, None, portrait_bytes + b"\0" * (3 * 2**20))
    assert answer.status_code == 413 and "--max-upload-mb" in answer.json()["error"]
    # Pixels, from the header: a 5000 x 5000 PNG of a few kilobytes.
    big = _png(5000, 5000)
    assert len(big) < 200_000
    answer = submit(client, short, None, big)
    assert answer.status_code == 413 and answer.json()["field"] == "image" and "25.0 megapixels" in answer.json()["error"]
    # Duration: a 12 s recording against --max-duration 10.
    answer = submit(client, clips["too_long"].read_bytes(), None, portrait_bytes)
    assert answer.status_code == 413 and answer.json()["field"] == "audio" and "12.0 s" in answer.json()["error"]
    # Content, not names: text called .png, an image called .wav.
    answer = submit(client, short, None, b"hello, I am not a photo" * 10)
    assert answer.status_code == 422 and answer.json()["field"] == "image"
    answer = submit(client, portrait_bytes, None, portrait_bytes)
    assert answer.status_code == 422 and answer.json()["field"] == "audio"
    answer = client.post("/v1/jobs", files={"image": ("a.png", portrait_bytes)})
    assert answer.status_code == 422 and answer.json()["field"] == "audio" and "missing" in answer.json()["error"]
    answer = client.post("/v1/jobs", json={"image": "x"})
    assert answer.status_code == 415
    assert client.get("/v1/health").json()["status"] == "ok"  # still serving


def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_read(server):
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                     b"Content-Length: 10000000000\r\n\r\n--b\r\n")
        reply = b""
        while b"}" not in reply:  # the headers, then the JSON body
            data = sock.recv(65536)
            if not data:
                break
            reply += data
        reply = reply.decode()
    assert reply.startswith("HTTP/1.1 413") and "--max-upload-mb" in reply


@pytest.mark.parametrize(
    ("options", "field", "words"),
    [
        ({"lip_weight": 3}, "lip_weight", "out of range: use a value from 0 to 2"),
        ({"--pose-weight": "a lot"}, "pose_weight", "must be a number"),
        ({"size": 127}, "size", "must be even"),
        ({"emotion": "smug"}, "emotion", "is not one of"),
        ({"colour": "red"}, "colour", "is not an option"),
        ({"motion": "/etc/passwd"}, "motion_file", "names a file on the server"),
        ({"frames-dir": "/tmp/x"}, "frames_dir", "names a file on the server"),
        ({"max_duration": 60}, "max_duration", "above this server's limit"),
        ({"video": "x.mp4"}, "video", "send it as the multipart field 'video'"),
        ({"backend": "hallo"}, "backend", "--weights"),
        ([1, 2], "options", "JSON object"),
    ],
)
def test_bad_options_are_422_naming_the_field(client, clips, portrait_bytes, options, field, words):
    answer = submit(client, clips["short"].read_bytes(), options, portrait_bytes)
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["field"] == field and words in body["error"] and "\n" not in body["error"]


def test_a_job_that_fails_says_why(client, clips):
    grey = io.BytesIO()
    Image.new("RGB", (256, 256), (128, 128, 128)).save(grey, "PNG")  # a picture without a face
    answer = submit(client, clips["short"].read_bytes(), None, grey.getvalue())
    assert answer.status_code == 202
    job = finished(client, answer.json()["id"])
    assert job["state"] == "failed" and "face" in job["error"] and "\n" not in job["error"]
    assert client.get(answer.json()["urls"]["video"]).status_code == 409
