"""The job queue behind the API and the web app: admission, workers that drive one Engine,
progress and ETA, cancellation, restart recovery and expiry. A job animates a photo
(`Engine.prepare` + `Engine.render`) or dubs a video (`Engine.dub`), by its kind.

    submit ─► queued ─► running ─► done | failed
                 └─────────┴─► cancelled (DELETE, or the web app's cancel button)

`workers` threads render at once on one shared Engine (thread-safe; the warp renderer spends
most of its time in NumPy, OpenCV and ffmpeg, outside Python's lock). Waiting jobs are bounded:
with `workers` rendering and `max_queue` waiting, the next submission is refused (429).
"""

from __future__ import annotations

import logging
import math
import shutil
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import AnimateConfig
from ..engine import CancelToken, Engine, dub_motion_config
from ..errors import Cancelled, TalkingHeadError
from .settings import ServeSettings
from .store import FINISHED, JobRecord, JobStore, new_id
from .uploads import Intake, Limits

log = logging.getLogger("talkinghead.serve")

RESTART_ERROR = "interrupted by a restart"
OUTPUTS = ("video.mp4", "motion.json", "plot.png")
DEFAULT_JOB_SECONDS = 10.0  # the ETA's guess before any job has finished
PREPARED = 0.05  # progress once the face is found; rendering takes it to RENDERED
RENDERED = 0.95


class Refused(Exception):
    """A submission not taken now: `status` 429 (503 while shutting down); try again after `retry_after` seconds."""

    def __init__(self, reason: str, retry_after: int, status: int = 429):
        super().__init__(reason)
        self.status, self.reason, self.retry_after = status, reason, retry_after


@dataclass
class Job:
    """A job's live state; `record` is what the store keeps."""

    record: JobRecord
    cancel: CancelToken = field(default_factory=CancelToken)
    progress: float = 0.0
    started_clock: float | None = None  # time.monotonic() when it started rendering
    version: int = 0  # bumped on every change, for event streams
    ended: threading.Event = field(default_factory=threading.Event)
    motion_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def state(self) -> str:
        return self.record.state


class JobService:
    def __init__(self, settings: ServeSettings, engine: Engine | None = None):
        self.settings = settings
        self.limits = Limits(settings.max_upload_bytes, settings.max_pixels * 1e6, settings.max_duration)
        self.store = JobStore(Path(settings.data_dir))
        self._engine = engine
        self._engine_lock = threading.Lock()
        self._jobs: dict[str, Job] = {}  # queued and running jobs, and finished ones seen since start
        self._pending: deque[str] = deque()
        self._running: set[str] = set()
        self._lock = threading.Condition()
        self._closing = False
        self._durations: deque[float] = deque(maxlen=20)
        self._threads: list[threading.Thread] = []
        self._recover()
        self._start_threads()

    # --- admission ---------------------------------------------------------------------------

    def admit(self, client: str) -> None:
        """Refused (429) when the queue is full or `client` has too many unfinished jobs; cheap,
        so that an upload is refused before it is read."""
        with self._lock:
            self._admit(client)

    def _admit(self, client: str) -> None:
        s = self.settings
        if self._closing:
            raise Refused("the server is shutting down", 5, 503)
        if len(self._pending) + len(self._running) >= s.workers + s.max_queue:
            raise Refused(f"the queue is full ({s.max_queue} jobs waiting, --max-queue): try again later", self._retry_after())
        if s.max_jobs_per_client:
            mine = sum(1 for i in (*self._pending, *self._running) if self._jobs[i].record.client == client)
            if mine >= s.max_jobs_per_client:
                raise Refused(f"this client has {mine} unfinished jobs, the most allowed (--max-jobs-per-client): "
                              "wait for one to finish", self._retry_after())

    def _retry_after(self) -> int:
        waiting = len(self._pending) + 1
        return max(1, math.ceil(self.mean_job_seconds() * waiting / self.settings.workers))

    def new_job_id(self) -> str:
        return new_id()

    def files(self, job_id: str) -> Path:
        return self.store.files(job_id)

    def submit(self, job_id: str, intake: Intake, options: dict[str, Any], client: str) -> Job:
        """Queue a job whose files are already in `files(job_id)` and whose options are valid."""
        folder = self.files(job_id)
        if options.get("transcript"):
            (folder / "transcript.txt").write_text(options["transcript"], encoding="utf-8")
        record = JobRecord(job_id, "queued", client, options, time.time(), kind=intake.kind)
        job = Job(record)
        with self._lock:
            self._admit(client)
            self.store.put(record)
            self._jobs[job_id] = job
            self._pending.append(job_id)
            self._lock.notify_all()  # the expiry thread waits on this condition too
        log.info("job %s queued (%s)", job_id, client)
        return job

    # --- looking jobs up ---------------------------------------------------------------------

    def job(self, job_id: str) -> Job | None:
        with self._lock:
            live = self._jobs.get(job_id)
        if live is not None:
            return live
        record = self.store.get(job_id)
        if record is None:
            return None
        job = Job(record, progress=1.0 if record.state == "done" else 0.0)
        job.ended.set()
        return job

    def view(self, job: Job) -> dict[str, Any]:
        """The job as the API shows it."""
        r = job.record
        with self._lock:
            position = self._pending.index(r.id) + 1 if r.id in self._pending else 0
        return {
            "id": r.id,
            "kind": r.kind,  # animate (a photo) or dub (a video)
            "state": r.state,
            "progress": round(job.progress, 4),
            "eta_seconds": self._eta(job, position),
            "position": position,  # 1 = next to start; 0 = not waiting
            "error": r.error,
            "created": r.created,
            "started": r.started,
            "finished": r.finished,
            "options": r.options,
            "result": r.result,
        }

    def list(self, limit: int = 100) -> list[Job]:
        return [self.job(r.id) or Job(r) for r in self.store.all(limit)]

    def mean_job_seconds(self) -> float:
        return sum(self._durations) / len(self._durations) if self._durations else DEFAULT_JOB_SECONDS

    def _eta(self, job: Job, position: int) -> float | None:
        if job.state in FINISHED:
            return 0.0 if job.state == "done" else None
        mean = self.mean_job_seconds()
        if job.state == "running" and job.started_clock is not None:
            elapsed = time.monotonic() - job.started_clock
            if job.progress > PREPARED + 0.02:  # from the rendering rate
                return round(elapsed * (1 - job.progress) / job.progress, 1)
            return round(max(mean - elapsed, 0.5), 1)
        return round(mean * (math.ceil(position / self.settings.workers) + 0.5), 1)

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {"queued": len(self._pending), "running": len(self._running)}

    # --- cancelling and deleting -------------------------------------------------------------

    def cancel(self, job_id: str, *, wait: float = 5.0) -> Job | None:
        """Cancel a queued or running job (a running one stops within a frame), delete its files,
        and return it: it stays listed as cancelled until it expires. A finished job is deleted
        outright, row and files (None is returned, as for an unknown id)."""
        with self._lock:
            job = self._jobs.get(job_id)
            active = job is not None and job.state in ("queued", "running")
            if active and job.state == "queued":
                self._pending.remove(job_id)
                self._finish(job, "cancelled", error="cancelled")
            elif active:
                job.cancel.cancel()
        if active:
            job.ended.wait(wait)
            if job.state == "cancelled":
                self.store.delete_files(job_id)
                return job
        self._forget(job_id)  # finished (perhaps just now, before the cancel was seen)
        return None

    def _forget(self, job_id: str) -> None:
        with self._lock:
            self._jobs.pop(job_id, None)
        self.store.delete(job_id)

    # --- the motion track, made on first request ---------------------------------------------

    def motion_file(self, job: Job) -> Path:
        """motion.json of a finished job: the track its video was rendered from (same options)."""
        folder = self.files(job.id)
        path = folder / "motion.json"
        with job.motion_lock:
            if not path.exists():
                from ..motion.track_io import save_motion

                engine = self.engine()
                config = self._config(job)
                config = dub_motion_config(config) if job.record.kind == "dub" else config
                track, _ = engine.motion_for(engine.load_audio(folder / "audio", config), config)
                tmp = folder / "motion.partial.json"
                save_motion(track, tmp)
                tmp.replace(path)
        return path

    # --- the workers -------------------------------------------------------------------------

    def engine(self) -> Engine:
        with self._engine_lock:
            if self._engine is None:
                self._engine = Engine()
            return self._engine

    def _start_threads(self) -> None:
        for k in range(self.settings.workers):
            thread = threading.Thread(target=self._work, name=f"talkinghead-worker-{k}", daemon=True)
            thread.start()
            self._threads.append(thread)
        sweeper = threading.Thread(target=self._sweep, name="talkinghead-expiry", daemon=True)
        sweeper.start()
        self._threads.append(sweeper)

    def _work(self) -> None:
        while True:
            with self._lock:
                while not self._pending and not self._closing:
                    self._lock.wait()
                if self._closing:
                    return
                job = self._jobs[self._pending.popleft()]
                self._running.add(job.id)
                job.record.state, job.record.started = "running", time.time()
                job.started_clock = time.monotonic()
                job.version += 1
                self.store.put(job.record)
            self._run(job)

    def _run(self, job: Job) -> None:
        folder = self.files(job.id)
        try:
            config = self._config(job)
            result = self._dub(job, config) if job.record.kind == "dub" else self._animate(job, config)
            summary = result.to_dict()
            summary["output"] = "video.mp4"
            summary["plot"] = self._plot(folder, result.fps) if config.output.score else None
            job.cancel.check()
            self._durations.append(time.monotonic() - job.started_clock)
            with self._lock:
                self._finish(job, "done", result=summary)
        except Cancelled:
            with self._lock:
                if not self._closing:  # at shutdown the job stays "running": the next start says it was interrupted
                    self._finish(job, "cancelled", error="cancelled")
                else:
                    self._running.discard(job.id)
                    job.ended.set()
            if not self._closing:
                self.store.delete_files(job.id)
        except TalkingHeadError as error:
            self._fail(job, str(error))
        except Exception as error:  # a bug: say so, keep serving
            log.exception("job %s failed", job.id)
            self._fail(job, f"internal error: {type(error).__name__}: {error}")

    def _animate(self, job: Job, config: AnimateConfig):
        folder, engine = self.files(job.id), self.engine()
        subject = engine.prepare(folder / "image", config)
        job.cancel.check()
        self._progress(job, PREPARED)

        def progress(done: int, total: int, unit: str) -> None:
            self._progress(job, PREPARED + (RENDERED - PREPARED) * done / max(total, 1))

        return engine.render(subject, folder / "audio", folder / "video.mp4", config, progress=progress,
                             cancel=job.cancel, inputs=(folder / "image",))

    def _dub(self, job: Job, config: AnimateConfig):
        """The dub's progress counts the frames tracked, then those redrawn (Engine.dub's total)."""
        folder = self.files(job.id)

        def progress(done: int, total: int, unit: str) -> None:
            self._progress(job, RENDERED * done / max(total, 1))

        return self.engine().dub(folder / "video", folder / "audio", folder / "video.mp4", config, progress=progress, cancel=job.cancel)

    def _fail(self, job: Job, message: str) -> None:
        for name in OUTPUTS:
            (self.files(job.id) / name).unlink(missing_ok=True)
        with self._lock:
            self._finish(job, "failed", error=message)

    def _finish(self, job: Job, state: str, *, error: str | None = None, result: dict | None = None) -> None:
        """(under the lock) A job's end: stored, and announced to whoever waits on it."""
        job.record.state, job.record.finished = state, time.time()
        job.record.error, job.record.result = error, result
        if state == "done":
            job.progress = 1.0
        self._running.discard(job.id)
        job.version += 1
        self.store.put(job.record)
        job.ended.set()
        log.info("job %s %s%s", job.id, state, f": {error}" if error and state == "failed" else "")

    def _progress(self, job: Job, value: float) -> None:
        job.progress = value
        job.version += 1

    def _config(self, job: Job) -> AnimateConfig:
        options = dict(job.record.options)
        if options.get("transcript"):  # the words, from the file this server wrote
            options["transcript"] = str(self.files(job.id) / "transcript.txt")
        return AnimateConfig.from_options(**options)

    def _plot(self, folder: Path, fps: float) -> str | None:
        try:
            from .plot import mouth_plot

            mouth_plot(folder / "video.mp4", folder / "plot.png", fps=fps)
            return "plot.png"
        except Exception as error:  # no eval extra, or no dlib model: the video is made all the same
            log.info("no lip-sync plot (%s)", error)
            (folder / "plot.png").unlink(missing_ok=True)
            return None

    # --- restart and expiry ------------------------------------------------------------------

    def _recover(self) -> None:
        """Jobs of an earlier run: finished ones stay listed; those that were rendering fail as
        interrupted (or run again with --resume); those that were waiting wait again."""
        for path in self.store.orphan_folders():
            shutil.rmtree(path, ignore_errors=True)
        for record in sorted(self.store.all(), key=lambda r: r.created):
            if record.state in FINISHED:
                continue
            if record.state == "running" and not self.settings.resume:
                record.state, record.finished, record.error = "failed", time.time(), RESTART_ERROR
                self.store.put(record)
                log.info("job %s failed: %s", record.id, RESTART_ERROR)
                continue
            for name in OUTPUTS:
                (self.files(record.id) / name).unlink(missing_ok=True)
            record.state, record.started = "queued", None
            self.store.put(record)
            self._jobs[record.id] = Job(record)
            self._pending.append(record.id)

    def _sweep(self) -> None:
        interval = min(60.0, max(0.5, self.settings.keep_seconds / 4))
        while True:
            with self._lock:
                if self._lock.wait_for(lambda: self._closing, timeout=interval):
                    return
            self.expire()

    def expire(self) -> int:
        """Delete the finished jobs (rows and files) older than --keep-hours; returns how many."""
        ids = self.store.expired(time.time() - self.settings.keep_seconds)
        for job_id in ids:
            self._forget(job_id)
        return len(ids)

    def close(self, wait: float = 10.0) -> None:
        """Stop: running renders are cancelled and left marked running (a restart reports them)."""
        with self._lock:
            self._closing = True
            for job_id in self._running:
                self._jobs[job_id].cancel.cancel()
            self._lock.notify_all()
        deadline = time.monotonic() + wait
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self.store.close()
