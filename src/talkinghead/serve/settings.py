"""What `talkinghead serve` is started with: one frozen object, checked before anything binds."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def default_workers() -> int:
    """One render at a time per two cores (a render keeps about two busy: renderer and ffmpeg)."""
    return max(1, (os.cpu_count() or 2) // 2)


@dataclass(frozen=True)
class ServeSettings:
    host: str = "127.0.0.1"
    port: int = 7860
    data_dir: Path = Path("talkinghead-data")  # SQLite job state in jobs.sqlite, files in jobs/<id>/
    workers: int = field(default_factory=default_workers)  # renders at once
    max_queue: int = 32  # jobs waiting (not counting those rendering); then 429
    max_upload_mb: float = 50.0  # bytes of one request's body (image + audio + options)
    max_pixels: float = 40.0  # megapixels of the photo, read from its header
    max_duration: float = 120.0  # seconds of speech, read from its header
    max_jobs_per_client: int = 4  # unfinished jobs of one client address at once; 0: no limit
    keep_hours: float = 24.0  # finished jobs (and their files) are deleted this long after they end
    token: str | None = None  # bearer token every route asks for
    insecure_no_token: bool = False  # allow binding beyond localhost without a token
    cors_origins: tuple[str, ...] = ()  # origins allowed by CORS; none: CORS off
    resume: bool = False  # after a restart, run again the jobs that were rendering (else: failed)
    web: bool = True  # the Gradio web app at /

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def keep_seconds(self) -> float:
        return self.keep_hours * 3600.0

    def check(self) -> ServeSettings:
        """Itself, or InputError saying which setting cannot be used and what to do."""
        if not is_local(self.host) and not self.token and not self.insecure_no_token:
            raise InputError(
                f"--host {self.host} is reachable from other machines: give --token SECRET (every route then asks "
                "for 'Authorization: Bearer SECRET'), or --insecure-no-token to serve without one"
            )
        for name, value, low in (("--workers", self.workers, 1), ("--max-queue", self.max_queue, 0), ("--max-jobs-per-client", self.max_jobs_per_client, 0)):
            if value < low:
                raise InputError(f"{name} {value} must be at least {low}")
        for name, value in (("--max-upload-mb", self.max_upload_mb), ("--max-pixels", self.max_pixels), ("--max-duration", self.max_duration), ("--keep-hours", self.keep_hours)):
            if not value > 0:
                raise InputError(f"{name} {value:g} must be more than 0")
        if not 0 <= self.port <= 65535:
            raise InputError(f"--port {self.port} is not a port number (0-65535; 0 picks a free one)")
        if self.token is not None and len(self.token) < 8:
            raise InputError("--token must be at least 8 characters long")
        return self


def is_local(host: str) -> bool:
    """True for names and addresses only this machine reaches (loopback)."""
    if host in LOCAL_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
