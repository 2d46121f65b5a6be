"""A live server for tests: uvicorn on 127.0.0.1 (a free port), on a thread, stopped on exit."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import uvicorn


@contextlib.contextmanager
def running(app, *, within: float = 60.0) -> Iterator[str]:
    """Serve `app` on 127.0.0.1 while the block runs; yields its base URL. The server stops at
    the block's end, or by itself after `within` seconds."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the live server did not start")
        time.sleep(0.05)
    timer = threading.Timer(within, lambda: setattr(server, "should_exit", True))
    timer.daemon = True
    timer.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        timer.cancel()
        server.should_exit = True
        thread.join(15)
