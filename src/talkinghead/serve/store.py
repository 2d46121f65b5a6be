"""Job state on disk: one SQLite file, written on every change of state (not on every frame).

    data_dir/jobs.sqlite     one row per job
    data_dir/jobs/<id>/      its files: image (animate) or video (dub), audio, transcript.txt,
                             video.mp4, motion.json, plot.png

Ids are made here (random hex); no name a client sends ever becomes part of a path.
"""

from __future__ import annotations

import json
import secrets
import shutil
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATES = ("queued", "running", "done", "failed", "cancelled")
KINDS = ("animate", "dub")  # a photo made to speak, or a video's lips re-synced
FINISHED = frozenset({"done", "failed", "cancelled"})
ID_LENGTH = 32  # hex digits

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    client TEXT NOT NULL,
    options TEXT NOT NULL,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    error TEXT,
    result TEXT,
    kind TEXT NOT NULL DEFAULT 'animate'
)
"""
_COLUMNS = "id, state, client, options, created, started, finished, error, result, kind"


def new_id() -> str:
    return secrets.token_hex(ID_LENGTH // 2)


def is_job_id(text: str) -> bool:
    """True for strings of the form new_id() makes: nothing else is looked up or joined to a path."""
    return len(text) == ID_LENGTH and all(c in "0123456789abcdef" for c in text)


@dataclass
class JobRecord:
    id: str
    state: str
    client: str
    options: dict[str, Any]  # the validated options, by CLI name
    created: float  # Unix time
    started: float | None = None
    finished: float | None = None
    error: str | None = None
    result: dict[str, Any] | None = None  # AnimateResult.to_dict(), paths made relative
    kind: str = "animate"  # one of KINDS


class JobStore:
    """Thread-safe: one connection, one lock."""

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.files_root = data_dir / "jobs"
        self.files_root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(data_dir / "jobs.sqlite", check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(_SCHEMA)
        if "kind" not in {row[1] for row in self._db.execute("PRAGMA table_info(jobs)")}:  # a data dir from before dubbing
            self._db.execute("ALTER TABLE jobs ADD COLUMN kind TEXT NOT NULL DEFAULT 'animate'")

    def files(self, job_id: str) -> Path:
        """The folder of a job's files (a server-made id only)."""
        if not is_job_id(job_id):
            raise ValueError(f"not a job id: {job_id!r}")
        return self.files_root / job_id

    def put(self, job: JobRecord) -> None:
        row = (job.id, job.state, job.client, json.dumps(job.options), job.created, job.started, job.finished, job.error,
               None if job.result is None else json.dumps(job.result), job.kind)
        with self._lock:
            self._db.execute(f"INSERT OR REPLACE INTO jobs ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)

    def get(self, job_id: str) -> JobRecord | None:
        with self._lock:
            row = self._db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else _record(row)

    def all(self, limit: int | None = None) -> list[JobRecord]:
        query = f"SELECT {_COLUMNS} FROM jobs ORDER BY created DESC" + (" LIMIT ?" if limit else "")
        with self._lock:
            rows = self._db.execute(query, (limit,) if limit else ()).fetchall()
        return [_record(row) for row in rows]

    def delete(self, job_id: str) -> None:
        """The job's row and its files."""
        with self._lock:
            self._db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
        self.delete_files(job_id)

    def delete_files(self, job_id: str) -> None:
        shutil.rmtree(self.files(job_id), ignore_errors=True)

    def expired(self, before: float) -> list[str]:
        """Ids of finished jobs that ended before `before` (Unix time)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id FROM jobs WHERE state IN ('done', 'failed', 'cancelled') AND finished < ?", (before,)
            ).fetchall()
        return [r[0] for r in rows]

    def orphan_folders(self) -> list[Path]:
        """Folders under jobs/ that no row names (a crash between making a folder and its row)."""
        with self._lock:
            known = {r[0] for r in self._db.execute("SELECT id FROM jobs")}
        return [p for p in self.files_root.iterdir() if p.name not in known]

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _record(row: tuple) -> JobRecord:
    id_, state, client, options, created, started, finished, error, result, kind = row
    return JobRecord(id_, state, client, json.loads(options), created, started, finished, error, None if result is None else json.loads(result), kind)
