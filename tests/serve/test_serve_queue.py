"""The queue on a real server: cancelling running and waiting jobs, and 429 when the queue or a
client's share of it is full. Clients are told apart by their loopback source address."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from conftest import Server, wait_for


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # One renders, two may wait; one client may have two unfinished jobs.
    server = Server(tmp_path_factory.mktemp("queue") / "data", "--workers", "1", "--max-queue", "2", "--max-jobs-per-client", "2")
    yield server
    server.stop()


def client_at(server, address: str) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=30, transport=httpx.HTTPTransport(local_address=address))


def submit(client, portrait_bytes, audio: bytes, options=None):
    files = {"image": ("p.png", portrait_bytes), "audio": ("s.wav", audio)}
    return client.post("/v1/jobs", files=files, data={"options": json.dumps(options or {"score": False})})


def state(client, job_id):
    return client.get(f"/v1/jobs/{job_id}").json()


def test_cancel_stops_a_running_job_within_a_second_and_deletes_its_files(server, clips, portrait_bytes):
    with client_at(server, "127.0.0.1") as client:
        warm = submit(client, portrait_bytes, clips["short"].read_bytes(), {"size": 128, "score": False}).json()
        wait_for(lambda: state(client, warm["id"])["state"] == "done", 90)  # the engine is loaded
        job = submit(client, portrait_bytes, clips["long"].read_bytes()).json()  # 8 s at 512 x 512: a few seconds' work
        waiting = submit(client, portrait_bytes, clips["short"].read_bytes()).json()
        folder = server.data_dir / "jobs" / job["id"]
        wait_for(lambda: state(client, job["id"])["progress"] > 0.1, 60, 0.02)
        assert state(client, waiting["id"])["position"] == 1
        started = time.monotonic()
        answer = client.delete(f"/v1/jobs/{job['id']}")
        took = time.monotonic() - started
        assert answer.status_code == 200 and answer.json()["state"] == "cancelled" and answer.json()["deleted"]
        assert took < 1.0, took
        assert not folder.exists()
        after = state(client, job["id"])
        assert after["state"] == "cancelled" and after["progress"] < 1
        assert client.get(f"/v1/jobs/{job['id']}/video").status_code == 409
        # The waiting one can be cancelled too, before it starts (or soon after).
        answer = client.delete(f"/v1/jobs/{waiting['id']}")
        assert answer.status_code == 200 and answer.json()["state"] == "cancelled"
        assert not (server.data_dir / "jobs" / waiting["id"]).exists()
        # A finished job is deleted outright.
        assert client.delete(f"/v1/jobs/{warm['id']}").json() == {"id": warm["id"], "state": "done", "deleted": True}
        assert client.get(f"/v1/jobs/{warm['id']}").status_code == 404
        assert not (server.data_dir / "jobs" / warm["id"]).exists()


def test_a_full_queue_and_a_busy_client_get_429_with_retry_after(server, clips, portrait_bytes):
    long = clips["long"].read_bytes()
    a, b, c = (client_at(server, f"127.0.0.{k}") for k in (1, 2, 3))
    with a, b, c:
        mine = [submit(a, portrait_bytes, long) for _ in range(2)]
        assert [r.status_code for r in mine] == [202, 202]
        third = submit(a, portrait_bytes, long)  # a third unfinished job of this client
        assert third.status_code == 429 and "--max-jobs-per-client" in third.json()["error"]
        assert int(third.headers["retry-after"]) >= 1
        other = submit(b, portrait_bytes, long)  # another client: 1 rendering + 2 waiting fill it
        assert other.status_code == 202
        full = submit(c, portrait_bytes, long)
        assert full.status_code == 429 and "--max-queue" in full.json()["error"]
        assert int(full.headers["retry-after"]) >= 1
        listed = {j["id"]: j for j in a.get("/v1/jobs").json()["jobs"]}
        ids = [r.json()["id"] for r in (*mine, other)]
        assert sorted(listed[i]["position"] for i in ids) == [0, 1, 2]
        for job_id in ids:
            assert a.delete(f"/v1/jobs/{job_id}").status_code == 200
        assert a.get("/v1/health").json()["queued"] == 0
        wait_for(lambda: a.get("/v1/health").json()["running"] == 0, 10)
        assert submit(c, portrait_bytes, clips["short"].read_bytes(), {"size": 128, "score": False}).status_code == 202
