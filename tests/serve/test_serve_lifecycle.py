"""What outlives a server and what does not: a restart after a crash, --resume, expiry after
--keep-hours; and who may talk to it: the token, and the refusal to bind beyond localhost
without one."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest
from conftest import SRC, Server, wait_for

from talkinghead.errors import InputError
from talkinghead.serve.settings import ServeSettings, is_local


def submit(client, portrait_bytes, audio: bytes, options=None):
    files = {"image": ("p.png", portrait_bytes), "audio": ("s.wav", audio)}
    return client.post("/v1/jobs", files=files, data={"options": json.dumps(options or {"size": 128, "score": False})})


def test_a_restart_keeps_finished_jobs_and_reports_interrupted_ones(tmp_path, clips, portrait_bytes):
    data = tmp_path / "data"
    server = Server(data, "--workers", "1")
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            done = submit(client, portrait_bytes, clips["short"].read_bytes()).json()
            wait_for(lambda: client.get(f"/v1/jobs/{done['id']}").json()["state"] == "done", 90)
            video = client.get(f"/v1/jobs/{done['id']}/video").content
            running = submit(client, portrait_bytes, clips["long"].read_bytes(), {"score": False}).json()
            wait_for(lambda: client.get(f"/v1/jobs/{running['id']}").json()["progress"] > 0.1, 60, 0.02)
            waiting = submit(client, portrait_bytes, clips["short"].read_bytes()).json()
    finally:
        assert server.stop(kill=True) == -9  # a crash: nothing is tidied up
    server = Server(data, "--workers", "1")
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            jobs = {j["id"]: j for j in client.get("/v1/jobs").json()["jobs"]}
            assert jobs[done["id"]]["state"] == "done" and jobs[done["id"]]["result"]["frames"] == 25
            assert client.get(f"/v1/jobs/{done['id']}/video").content == video
            assert (jobs[running["id"]]["state"], jobs[running["id"]]["error"]) == ("failed", "interrupted by a restart")
            # The one that was waiting still is, and runs.
            assert wait_for(lambda: client.get(f"/v1/jobs/{waiting['id']}").json()["state"] == "done", 90)
            again = submit(client, portrait_bytes, clips["long"].read_bytes(), {"score": False}).json()
            wait_for(lambda: client.get(f"/v1/jobs/{again['id']}").json()["progress"] > 0.1, 60, 0.02)
    finally:
        server.stop(kill=True)
    server = Server(data, "--workers", "1", "--resume")  # --resume: what was rendering renders again
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            view = wait_for(lambda: (lambda v: v if v["state"] in ("done", "failed") else None)(client.get(f"/v1/jobs/{again['id']}").json()), 90)
            assert view["state"] == "done" and view["result"]["frames"] == 200
            assert client.get(f"/v1/jobs/{running['id']}").json()["state"] == "failed"  # already finished: stays so
    finally:
        server.stop()


def test_the_token_guards_every_route_cors_allows_only_the_origin_given_and_results_expire(tmp_path, clips, portrait_bytes):
    token = "s3cret-token-for-tests"
    server = Server(tmp_path / "data", "--workers", "1", "--token", token, "--keep-hours", "0.001",  # 3.6 s
                    "--cors-origin", "http://app.example", web=True)
    try:
        with httpx.Client(base_url=server.url, timeout=30) as anonymous:
            for path in ("/v1/health", "/v1/jobs", "/", "/docs", "/openapi.json", "/gradio_api/info", "/config"):
                answer = anonymous.get(path)
                assert answer.status_code == 401, path
                assert answer.headers["www-authenticate"] == "Bearer"
            assert anonymous.get("/v1/health", headers={"Authorization": "Bearer wrong-token-wrong"}).status_code == 401
            assert submit(anonymous, portrait_bytes, clips["short"].read_bytes()).status_code == 401
            # A browser opens /?token=... once: a cookie, and the same page without the token in its address.
            answer = anonymous.get(f"/?token={token}")
            assert answer.status_code == 303 and answer.headers["location"] == "/"
            assert "httponly" in answer.headers["set-cookie"].lower()
            assert anonymous.get("/").status_code == 200 and "gradio" in anonymous.get("/").text.lower()
        with httpx.Client(base_url=server.url, timeout=30, headers={"Authorization": f"Bearer {token}"}) as client:
            assert client.get("/v1/health").status_code == 200
            # CORS: the origin given is allowed, no other.
            allowed = client.get("/v1/health", headers={"Origin": "http://app.example"})
            assert allowed.headers["access-control-allow-origin"] == "http://app.example"
            assert "access-control-allow-origin" not in client.get("/v1/health", headers={"Origin": "http://elsewhere.example"}).headers
            job = submit(client, portrait_bytes, clips["short"].read_bytes()).json()
            wait_for(lambda: client.get(f"/v1/jobs/{job['id']}").json()["state"] == "done", 90)
            folder = server.data_dir / "jobs" / job["id"]
            assert (folder / "video.mp4").exists()
            # --keep-hours 0.001: gone within a few seconds of its end, row and files.
            wait_for(lambda: client.get(f"/v1/jobs/{job['id']}").status_code == 404, 15, 0.2)
            assert not folder.exists() and list((server.data_dir / "jobs").iterdir()) == []
    finally:
        server.stop()


def test_binding_beyond_localhost_needs_a_token():
    command = [sys.executable, "-m", "talkinghead.cli", "serve", "--host", "0.0.0.0", "--port", "0", "--no-web"]
    done = subprocess.run(command, env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "--host 0.0.0.0 is reachable from other machines: give --token" in done.stderr
    assert done.stderr.count("\n") == 1
    # Checked before anything binds; a token, or saying so explicitly, lets it through.
    ServeSettings(host="0.0.0.0", token="long-enough-token").check()
    ServeSettings(host="192.0.2.7", insecure_no_token=True).check()
    with pytest.raises(InputError, match="--token must be at least 8"):
        ServeSettings(host="0.0.0.0", token="short").check()
    assert is_local("127.0.0.2") and is_local("::1") and is_local("localhost") and not is_local("0.0.0.0") and not is_local("::")
