"""`talkinghead batch`: many videos from a table, one row per video.

    image,audio,output,pose_weight,seed
    alice.jpg,hello.wav,alice-hello.mp4,0.5,1
    bob.png,hello.wav,bob-hello.mp4,,

(or the same as JSON lines: {"image": "alice.jpg", "audio": "hello.wav", "output": "alice-hello.mp4", "seed": 1}).
A row with a `video` instead of an `image` dubs that video (`talkinghead dub`'s options only).
Paths in a row are relative to the table's folder; outputs are written under OUT_DIR. Rows run
on a local process pool (each worker loads the engine once and renders many rows) or on a Ray
cluster. A finished row is skipped when the batch runs again; a failed row does not stop the
others; OUT_DIR/summary.csv lists every row with its status and error.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path, PurePath
from typing import Any

from .config import AnimateConfig, option_fields
from .errors import InputError, TalkingHeadError

log = logging.getLogger("talkinghead")

FILE_COLUMNS = ("image", "video", "audio", "output")
PATH_OPTIONS = frozenset({"motion_file", "frames_dir", "weights", "transcript"})  # relative to the table's folder
STAMPS = ".talkinghead-batch"  # OUT_DIR/STAMPS/<output>.json: what made each finished video
SUMMARY_COLUMNS = ("row", "output", "status", "seconds", "frames", "confidence", "error")
_FIELDS = {f.name: f for f in option_fields()}


@dataclass(frozen=True)
class Row:
    """One video to make: `number` counts data rows from 1; `error` set when the row is unusable."""

    number: int
    image: Path | None  # the photo to animate, or with `dub` the video to dub
    audio: Path | None
    output: Path | None  # under OUT_DIR
    options: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    dub: bool = False

    def key(self) -> str:
        """What the video depends on: the inputs (path, size, mtime) and the options."""
        def stamp(path: Path) -> list:
            stat = path.stat()
            return [str(path.resolve()), stat.st_size, stat.st_mtime_ns]

        document = {"video" if self.dub else "image": stamp(self.image), "audio": stamp(self.audio), "options": {k: str(v) for k, v in sorted(self.options.items())}}
        return hashlib.sha256(json.dumps(document).encode()).hexdigest()


@dataclass(frozen=True)
class RowResult:
    number: int
    output: str  # relative to OUT_DIR
    status: str  # done | skipped (done by an earlier run) | failed
    seconds: float = 0.0
    frames: int = 0
    confidence: float | None = None
    error: str = ""


# --- reading the table --------------------------------------------------------------------------


def read_rows(table: Path, out_dir: Path, defaults: dict[str, Any] | None = None) -> list[Row]:
    """The rows of a .csv (header row) or .jsonl table; unusable rows carry their error."""
    if not table.is_file():
        raise InputError(f"{table} does not exist: give a .csv or .jsonl table of image, audio, output and options")
    suffix = table.suffix.lower()
    if suffix == ".csv":
        with table.open(newline="", encoding="utf-8-sig") as file:
            records: list[Any] = list(csv.DictReader(file))
    elif suffix in (".jsonl", ".ndjson"):
        records = []
        for number, line in enumerate(table.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except ValueError as error:
                records.append(f"line {number} is not JSON ({error})")
    else:
        raise InputError(f"{table.name}: a batch table is a .csv (with a header row) or a .jsonl file")
    if not records:
        raise InputError(f"{table.name} has no rows: one row per video (image, audio, output, any option)")
    rows = [_row(k, record, table.parent, out_dir, defaults or {}) for k, record in enumerate(records, 1)]
    _refuse_shared_outputs(rows)
    return rows


def _row(number: int, record: Any, base: Path, out_dir: Path, defaults: dict[str, Any]) -> Row:
    if not isinstance(record, dict):
        return Row(number, None, None, None, error=record if isinstance(record, str) else "a row must be a JSON object")
    from .serve.options import option_name

    try:
        values = {str(k).strip(): v for k, v in record.items() if k is not None and v is not None and v != ""}
        dub = "video" in values
        if dub and "image" in values:
            raise InputError("a row takes an image (to animate) or a video (to dub), not both")
        image, audio = (_input(values.pop(name, None), base, name) for name in ("video" if dub else "image", "audio"))
        output = _output(values.pop("output", None), out_dir, number)
        options = dict(defaults)
        for key, value in values.items():
            name = option_name(key)
            if name not in _FIELDS:
                raise InputError(f"{key!r} is not an option: use the names of `talkinghead animate`'s options")
            options[name] = _typed(name, value, base)
        config = AnimateConfig.from_options(**options)
        if dub:
            from .engine import refuse_unhonoured_dub

            refuse_unhonoured_dub(config)
    except (InputError, TypeError) as error:
        return Row(number, None, None, None, error=str(error))
    return Row(number, image, audio, output, options, dub=dub)


def _input(value: Any, base: Path, name: str) -> Path:
    if not value:
        raise InputError(f"no {name}: every row needs an image (or a video, to dub) and an audio file")
    path = Path(str(value)).expanduser()
    return path if path.is_absolute() else base / path


def _output(value: Any, out_dir: Path, number: int) -> Path:
    name = PurePath(str(value)) if value else PurePath(f"row-{number:04d}.mp4")
    if name.is_absolute() or ".." in name.parts or str(name).startswith(STAMPS):
        raise InputError(f"output {str(value)!r} must be a file name inside the output folder")
    if name.suffix.lower() != ".mp4":
        name = name.with_name(name.name + ".mp4")
    return out_dir / name


def _typed(name: str, value: Any, base: Path) -> Any:
    """A table cell as the option's type: JSON values as they are, CSV text parsed."""
    kind = str(_FIELDS[name].type).split(" |")[0]
    if kind == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise InputError(f"{name} {value!r} must be true or false")
    if kind in ("int", "float"):
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise InputError(f"{name} {value!r} is not a number") from None
        if kind == "int":
            if not number.is_integer():
                raise InputError(f"{name} {value!r} must be a whole number")
            return int(number)
        return number
    if name in PATH_OPTIONS and name != "transcript":
        path = Path(str(value)).expanduser()
        return path if path.is_absolute() else base / path
    if name == "transcript" and (base / str(value)).is_file():
        return str(base / str(value))
    return str(value)


def _refuse_shared_outputs(rows: list[Row]) -> None:
    seen: dict[Path, int] = {}
    for k, row in enumerate(rows):
        if row.output is None:
            continue
        if row.output in seen:
            rows[k] = Row(row.number, None, None, None, error=f"writes {row.output.name}, as row {seen[row.output]} does: give each row its own output")
        else:
            seen[row.output] = row.number


# --- running it ---------------------------------------------------------------------------------


def run_batch(
    table: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    workers: int = 1,
    ray_address: str | None = None,
    defaults: dict[str, Any] | None = None,
    progress: Callable[[RowResult], None] | None = None,
) -> list[RowResult]:
    """Render every row of `table` into `out_dir`; returns one result per row (also in summary.csv).

    workers: processes (1: in this process); ray_address: a Ray cluster ('auto': the one this
    machine runs, or a new local one), whose nodes must see the same files.
    """
    table, out_dir = Path(table).expanduser(), Path(out_dir).expanduser()
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = read_rows(table, out_dir, defaults)
    results: dict[int, RowResult] = {}
    todo: list[Row] = []
    for row in rows:
        if row.error is not None:
            results[row.number] = RowResult(row.number, "", "failed", error=row.error)
        elif _finished(row, out_dir):
            results[row.number] = RowResult(row.number, _relative(row.output, out_dir), "skipped", **_stamped_numbers(row, out_dir))
        else:
            todo.append(row)
    for result in results.values():
        if progress is not None:
            progress(result)
    if todo:
        if ray_address:
            stream = _on_ray(ray_address, todo, out_dir, workers)
        elif workers > 1:
            stream = _in_processes(todo, out_dir, workers)
        else:
            stream = _here(todo, out_dir)
        for result in stream:
            results[result.number] = result
            write_summary(out_dir, results)
            if progress is not None:
                progress(result)
    write_summary(out_dir, results)
    return [results[n] for n in sorted(results)]


def write_summary(out_dir: Path, results: dict[int, RowResult]) -> Path:
    path = out_dir / "summary.csv"
    partial = out_dir / ".summary.csv.partial"
    with partial.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(SUMMARY_COLUMNS)
        for n in sorted(results):
            r = results[n]
            writer.writerow([r.number, r.output, r.status, f"{r.seconds:.2f}", r.frames, "" if r.confidence is None else f"{r.confidence:.3f}", r.error])
    partial.replace(path)
    return path


def _relative(path: Path, out_dir: Path) -> str:
    return str(path.relative_to(out_dir))


def _stamp_path(row: Row, out_dir: Path) -> Path:
    return out_dir / STAMPS / (_relative(row.output, out_dir) + ".json")


def _finished(row: Row, out_dir: Path) -> bool:
    try:
        stamp = json.loads(_stamp_path(row, out_dir).read_text())
        return row.output.is_file() and stamp.get("key") == row.key()
    except (OSError, ValueError):
        return False


def _stamped_numbers(row: Row, out_dir: Path) -> dict[str, Any]:
    stamp = json.loads(_stamp_path(row, out_dir).read_text())
    return {"frames": stamp.get("frames", 0), "confidence": stamp.get("confidence")}


class RowRenderer:
    """What each worker holds: one engine (models loaded once), rendering row after row."""

    def __init__(self) -> None:
        from .engine import Engine

        self.engine = Engine()

    def render(self, row: Row, out_dir: Path) -> RowResult:
        started = time.perf_counter()
        relative = _relative(row.output, out_dir)
        try:
            key = row.key() if row.image.exists() and row.audio.exists() else ""
            config = AnimateConfig.from_options(**row.options)
            row.output.parent.mkdir(parents=True, exist_ok=True)
            if row.dub:
                result = self.engine.dub(row.image, row.audio, row.output, config)
            else:
                subject = self.engine.prepare(row.image, config)
                result = self.engine.render(subject, row.audio, row.output, config, inputs=(row.image,))
        except TalkingHeadError as error:
            return RowResult(row.number, relative, "failed", time.perf_counter() - started, error=str(error))
        except Exception as error:  # a bug, reported on its row; the other rows go on
            return RowResult(row.number, relative, "failed", time.perf_counter() - started, error=f"internal error: {type(error).__name__}: {error}")
        confidence = result.score["confidence"] if result.score else None
        stamp = _stamp_path(row, out_dir)
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(json.dumps({"key": key, "frames": result.frames, "confidence": confidence, "result": result.to_dict()}))
        return RowResult(row.number, relative, "done", time.perf_counter() - started, result.frames, confidence)


def _here(rows: list[Row], out_dir: Path) -> Iterator[RowResult]:
    renderer = RowRenderer()
    for row in rows:
        yield renderer.render(row, out_dir)


_WORKER: RowRenderer | None = None


def _init_worker() -> None:
    global _WORKER
    _WORKER = RowRenderer()


def _render_in_worker(row: Row, out_dir: Path) -> RowResult:
    return _WORKER.render(row, out_dir)


def _in_processes(rows: list[Row], out_dir: Path, workers: int) -> Iterator[RowResult]:
    # spawn: MediaPipe, onnxruntime and ffmpeg pipes do not survive a fork.
    with ProcessPoolExecutor(min(workers, len(rows)), mp_context=get_context("spawn"), initializer=_init_worker) as pool:
        futures = {pool.submit(_render_in_worker, row, out_dir): row for row in rows}
        try:
            for future in as_completed(futures):
                row = futures[future]
                try:
                    yield future.result()
                except BrokenProcessPool:
                    yield RowResult(row.number, _relative(row.output, out_dir), "failed", error="its worker process died (out of memory?)")
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def _on_ray(address: str, rows: list[Row], out_dir: Path, workers: int) -> Iterable[RowResult]:
    try:
        import ray
        from ray.util import ActorPool
    except ImportError:
        raise InputError("--ray-address needs Ray: pip install 'ray[default]'") from None
    if not ray.is_initialized():
        if address == "auto":
            try:
                ray.init(address="auto", log_to_driver=False)
            except ConnectionError:  # no cluster on this machine: start a local one
                ray.init(log_to_driver=False, include_dashboard=False)
        else:
            ray.init(address=address, log_to_driver=False)
    count = workers if workers > 1 else max(1, int(ray.cluster_resources().get("CPU", 1)))
    actor = ray.remote(num_cpus=1)(RowRenderer)
    pool = ActorPool([actor.remote() for _ in range(min(count, len(rows)))])
    return pool.map_unordered(lambda renderer, row: renderer.render.remote(row, out_dir), rows)


def summary_line(results: list[RowResult]) -> str:
    counts = {status: sum(r.status == status for r in results) for status in ("done", "skipped", "failed")}
    return f"{counts['done']} rendered, {counts['skipped']} already done, {counts['failed']} failed"


__all__ = ["Row", "RowResult", "read_rows", "run_batch"]
