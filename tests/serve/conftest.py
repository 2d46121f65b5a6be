"""A real `talkinghead serve` on a loopback port, started and stopped by the tests.

Every server binds 127.0.0.1 (port 0: the kernel picks a free one), gives up by itself after
--stop-after seconds, and is stopped at the end of its test; clients talk to it only.
"""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from scipy.io import wavfile

from media import PORTRAIT, SPEECH

SERVE_EXTRA = all(importlib.util.find_spec(n) for n in ("fastapi", "uvicorn", "httpx", "python_multipart"))
collect_ignore_glob = [] if SERVE_EXTRA else ["test_*.py"]

SRC = Path(__file__).resolve().parents[2] / "src"
STARTUP_S = 120  # a cold start imports mediapipe, onnxruntime (and Gradio for the web app)
LIFETIME_S = 300  # a server a test forgot stops by itself after this


class Server:
    """`talkinghead serve ARGS` in a child process; `.url` once it listens."""

    def __init__(self, data_dir: Path, *args: str, web: bool = False, lifetime: float = LIFETIME_S):
        env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "OMP_NUM_THREADS": "1",
               "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"}
        command = [sys.executable, "-m", "talkinghead.cli", "serve", "--host", "127.0.0.1", "--port", "0",
                   "--data-dir", str(data_dir), "--stop-after", str(lifetime), *([] if web else ["--no-web"]), *args]
        self.data_dir = data_dir
        self.process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.log: list[str] = []
        self.url: str | None = None
        listening = threading.Event()

        def read() -> None:
            for line in self.process.stderr:
                self.log.append(line.rstrip())
                found = re.search(r"serving (http://\S+?)/ ", line)
                if found:
                    self.url = found[1]
                    listening.set()
            listening.set()

        threading.Thread(target=read, daemon=True).start()
        if not listening.wait(STARTUP_S) or self.url is None:
            self.stop()
            raise AssertionError("the server did not start:\n" + "\n".join(self.log[-30:]))

    def stop(self, *, kill: bool = False) -> int:
        """SIGINT (uvicorn's graceful stop) or SIGKILL (a crash); the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL if kill else signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode


@pytest.fixture
def start_server(tmp_path) -> Iterator:
    """start_server(*args, data_dir=None, web=False) -> a running Server; all stopped afterwards."""
    servers: list[Server] = []

    def start(*args: str, data_dir: Path | None = None, web: bool = False) -> Server:
        server = Server(data_dir or tmp_path / "data", *args, web=web)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def speech_clip(path: Path, seconds: float) -> Path:
    """The first `seconds` of the bundled speech (repeated when longer), as a 16 kHz WAV."""
    rate, samples = wavfile.read(SPEECH)
    count = int(seconds * rate)
    samples = np.resize(samples, count) if count > len(samples) else samples[:count]
    wavfile.write(path, rate, samples)
    return path


@pytest.fixture(scope="session")
def clips(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("clips")
    return {name: speech_clip(folder / f"{name}.wav", seconds) for name, seconds in (("short", 1.0), ("long", 8.0), ("too_long", 12.0))}


@pytest.fixture(scope="session")
def portrait_bytes() -> bytes:
    return PORTRAIT.read_bytes()


def wait_for(predicate, timeout: float, every: float = 0.05):
    """Poll `predicate` until it returns something true; that value, or AssertionError."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"not within {timeout} s")
