"""Load test of `talkinghead serve` on loopback: N clients submit a short job at the same moment.

    PYTHONPATH=src python benchmarks/serve_load.py            # 50 clients, --workers 2 --max-queue 20

Each client has its own loopback source address (127.0.0.2, 127.0.0.3, ...), submits one job
(the bundled portrait, 1 s of the bundled speech, --size 128, no score) and, when accepted,
follows its event stream to the end. Checked: every request is answered with 202 or 429,
every accepted job finishes done, and after --keep-hours nothing is left in the data folder.
Reported: counts, latencies, and the server's peak memory (its own peak RSS, and the peak PSS of
the server with its ffmpeg children, sampled every 0.1 s). Traffic goes to 127.0.0.0/8 only;
the server stops by itself after --stop-after.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from scipy.io import wavfile

ROOT = Path(__file__).resolve().parents[1]
KEEP_HOURS = 0.005  # 18 s: results expire soon after the run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--max-queue", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=1.0, help="speech per job")
    parser.add_argument("--timeout", type=float, default=600, help="give up after this long")
    args = parser.parse_args()

    data = Path(tempfile.mkdtemp(prefix="serve-load-"))
    speech = io.BytesIO()
    rate, samples = wavfile.read(ROOT / "assets" / "speech.wav")
    wavfile.write(speech, rate, samples[: int(args.seconds * rate)])
    files = {"image": (ROOT / "assets" / "portrait.png").read_bytes(), "audio": speech.getvalue()}

    server, url = start_server(data, args)
    memory = MemorySampler(server.pid)
    memory.start()
    try:
        warm_up(url, files)  # the engine's first load is not what this measures
        results = run_clients(url, files, args)
        finished = [r for r in results if r.get("final")]
        expiry = wait_for_expiry(url, data, timeout=KEEP_HOURS * 3600 * 3 + 30)
    finally:
        memory.stop()
        peak_self = peak_rss_kib(server.pid)
        server.terminate()
        server.wait(30)

    codes = [r["status"] for r in results]
    accepted = [r for r in results if r["status"] == 202]
    done = [r for r in finished if r["final"] == "done"]
    print(f"{args.clients} clients at once, --workers {args.workers} --max-queue {args.max_queue}, "
          f"{args.seconds:g} s of speech at 128x128 per job, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    print(f"answers: {codes.count(202)} x 202, {codes.count(429)} x 429, {len(codes) - codes.count(202) - codes.count(429)} other "
          f"({sorted(set(c for c in codes if c not in (202, 429)))})")
    print(f"accepted jobs finished: {len(done)} done of {len(accepted)} "
          f"({sum(1 for r in finished if r['final'] != 'done')} not done)")
    for code in (202, 429):
        latency = [r["submit_s"] for r in results if r["status"] == code]
        if latency:
            print(f"time to the {code} answer: median {_ms(statistics.median(latency))}, max {_ms(max(latency))}")
    if done:
        total = [r["total_s"] for r in done]
        print(f"submit to done: median {statistics.median(total):.1f} s, max {max(total):.1f} s; "
              f"throughput {len(done) / max(total):.2f} jobs/s")
    retry = [r["retry_after"] for r in results if r["status"] == 429]
    if retry:
        print(f"Retry-After on 429: {min(retry)}-{max(retry)} s")
    print(f"after expiry ({KEEP_HOURS * 3600:.0f} s): {expiry['files']} files left in jobs/, {expiry['listed']} jobs listed "
          f"(waited {expiry['waited']:.1f} s)")
    print(f"peak memory: server process {peak_self / 1024:.0f} MiB (VmHWM); server + ffmpeg children {memory.peak_kib / 1024:.0f} MiB (PSS, sampled every 0.1 s)")
    ok = (set(codes) <= {202, 429} and len(done) == len(accepted) and expiry["files"] == 0 and expiry["listed"] == 0)
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


def start_server(data: Path, args) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "talkinghead.cli", "serve", "--host", "127.0.0.1", "--port", "0", "--no-web",
               "--data-dir", str(data), "--workers", str(args.workers), "--max-queue", str(args.max_queue),
               "--keep-hours", str(KEEP_HOURS), "--stop-after", str(args.timeout + 120)]
    server = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    for line in server.stderr:
        found = re.search(r"serving (http://\S+?)/ ", line)
        if found:
            threading.Thread(target=lambda: [None for _ in server.stderr], daemon=True).start()  # keep the pipe drained
            return server, found[1]
    raise SystemExit("the server did not start")


def warm_up(url: str, files: dict) -> None:
    with httpx.Client(base_url=url, timeout=120) as client:
        job = submit(client, files).json()
        follow(client, job["urls"]["events"])
        client.delete(f"/v1/jobs/{job['id']}")


def submit(client: httpx.Client, files: dict) -> httpx.Response:
    return client.post("/v1/jobs", files={"image": ("p.png", files["image"]), "audio": ("s.wav", files["audio"])},
                       data={"options": json.dumps({"size": 128, "score": False})})


def follow(client: httpx.Client, events_url: str) -> str:
    """Read the job's event stream to its end; the final state."""
    state = None
    with client.stream("GET", events_url, timeout=600) as stream:
        for line in stream.iter_lines():
            if line.startswith("data: "):
                state = json.loads(line[6:])["state"]
    return state


def run_clients(url: str, files: dict, args) -> list[dict]:
    results: list[dict] = [{} for _ in range(args.clients)]
    go = threading.Barrier(args.clients)

    def client_run(k: int) -> None:
        address = f"127.0.0.{2 + k % 250}"
        with httpx.Client(base_url=url, timeout=120, transport=httpx.HTTPTransport(local_address=address)) as client:
            go.wait()
            started = time.perf_counter()
            try:
                answer = submit(client, files)
            except httpx.HTTPError as error:
                results[k] = {"status": f"error: {type(error).__name__}", "submit_s": time.perf_counter() - started}
                return
            results[k] = {"status": answer.status_code, "submit_s": time.perf_counter() - started}
            if answer.status_code == 429:
                results[k]["retry_after"] = int(answer.headers.get("retry-after", "0"))
            if answer.status_code == 202:
                results[k]["final"] = follow(client, answer.json()["urls"]["events"])
                results[k]["total_s"] = time.perf_counter() - started

    threads = [threading.Thread(target=client_run, args=(k,), daemon=True) for k in range(args.clients)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + args.timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return [r or {"status": "no answer", "submit_s": args.timeout} for r in results]


def wait_for_expiry(url: str, data: Path, timeout: float) -> dict:
    started = time.monotonic()
    with httpx.Client(base_url=url, timeout=30) as client:
        while True:
            files = [p for p in (data / "jobs").rglob("*") if p.is_file()]
            listed = len(client.get("/v1/jobs").json()["jobs"])
            if (not files and not listed) or time.monotonic() - started > timeout:
                return {"files": len(files), "listed": listed, "waited": time.monotonic() - started}
            time.sleep(0.5)


def peak_rss_kib(pid: int) -> int:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    found = re.search(r"VmHWM:\s+(\d+) kB", text)
    return int(found[1]) if found else 0


class MemorySampler(threading.Thread):
    """The largest memory (PSS) of a process and its children together, sampled every 0.1 s (Linux /proc)."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak_kib, self._done = pid, 0, threading.Event()

    def run(self) -> None:
        while not self._done.wait(0.1):
            self.peak_kib = max(self.peak_kib, sum(_rss_kib(p) for p in _tree(self.pid)))

    def stop(self) -> None:
        self._done.set()
        self.join(2)


def _tree(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        try:
            todo += [int(c) for t in Path(f"/proc/{p}/task").iterdir() for c in (t / "children").read_text().split()]
        except OSError:
            pass
    return found


def _rss_kib(pid: int) -> int:
    """Proportional set size: pages shared by several processes (ffmpeg's binary) counted once in all."""
    try:
        found = re.search(r"^Pss:\s+(\d+) kB", Path(f"/proc/{pid}/smaps_rollup").read_text(), re.M)
        return int(found[1]) if found else 0
    except OSError:
        return 0


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


if __name__ == "__main__":
    sys.exit(main())
