"""The evaluation report: dataclasses -> JSON, a Markdown summary and PNG plots."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..output import atomic_output
from .identity import SAME_PERSON, IdentityResult
from .motion import MotionResult
from .neural.csim import CsimResult
from .neural.fvd import FvdResult
from .neural.syncnet import SyncNetResult
from .reference_metrics import FeatureStats, ReferenceResult, frechet_distance
from .stability import StabilityResult
from .sync import MAX_OFFSET, SyncResult

CONVENTIONS = {
    "offset": "frames; + = video late relative to audio (the mouth moves after the sound), as SyncNet",
    "aperture": "inner-lip gap divided by the outer eye-corner distance (dlib 68 landmarks)",
    "pose": "degrees; yaw + = face turns to the image's right, pitch + = looks down, roll + = clockwise",
    "identity": "dlib 128-d descriptor distance; below 0.6 = same person",
    "jitter": "% of the eye-corner distance per frame^2",
    "flicker": "grey levels (0-255) per frame",
}


@dataclass(frozen=True)
class Report:
    """Every measure of one video; None where a measure needs an input that was not given."""

    video: str
    frames: int
    fps: float
    width: int
    height: int
    face_share: float  # share of frames where a face was found
    audio: str | None  # where the speech came from; None: no speech, no sync measures
    sync: SyncResult | None
    identity: IdentityResult | None
    stability: StabilityResult
    motion: MotionResult
    ground_truth: ReferenceResult | None = None
    syncnet: SyncNetResult | None = None
    fvd: FvdResult | None = None
    csim: CsimResult | None = None
    aperture: np.ndarray | None = None  # (T,) float32 mouth aperture per frame; NaN without a face
    loudness: np.ndarray | None = None  # (T,) float32 loudness envelope per frame

    @property
    def name(self) -> str:
        return Path(self.video).name

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: arrays as lists, NaN as null, pooling statistics left out."""
        return _plain({f.name: getattr(self, f.name) for f in dataclasses.fields(self)})


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return {k: _plain(v) for k, v in fields.items() if not isinstance(v, FeatureStats)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist()) if value.dtype.kind != "f" else [_plain(v) for v in np.round(value.astype(np.float64), 4).tolist()]
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(value) else round(float(value), 6)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


# --- pooled over a set of videos ---------------------------------------------------------------


def pooled(reports: Sequence[Report]) -> dict[str, float]:
    """FID and FVD over all the videos' frames and clips together: the dataset-level numbers papers report."""
    out = {}
    for key, get in (("fid", lambda r: r.ground_truth), ("fvd", lambda r: r.fvd)):
        results = [get(r) for r in reports if get(r) is not None]
        if len(results) > 1:
            gen, real = results[0].generated_stats, results[0].truth_stats
            for result in results[1:]:
                gen, real = gen.merged(result.generated_stats), real.merged(result.truth_stats)
            out[key] = frechet_distance(gen, real)
    return out


def write_json(reports: Sequence[Report], path: Path, totals: dict[str, float] | None = None) -> None:
    """`totals`: `pooled(reports)` when the caller has it already (it costs 2048² eigendecompositions)."""
    document = {
        "talkinghead": __version__,
        "conventions": CONVENTIONS,
        "videos": [r.to_dict() for r in reports],
        "pooled": _plain(pooled(reports) if totals is None else totals),
    }
    with atomic_output(path) as file:  # complete or not at all
        file.write(json.dumps(document, indent=1) + "\n")


# --- Markdown ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    label: str  # the measure, as a table heading
    value: Callable[[Report], Any]  # None when the measure was not taken
    form: str  # format of the value
    meaning: str


def _get(*names: str) -> Callable[[Report], Any]:
    def get(report: Report) -> Any:
        value: Any = report
        for name in names:
            value = getattr(value, name, None) if value is not None else None
        return value

    return get


ROWS = (
    Row("sync offset", _get("sync", "score", "offset_frames"), "{:+d}", "frames; + = video late, 0 = in sync"),
    Row("sync peak r", _get("sync", "score", "peak_correlation"), "{:.2f}", "mouth opening vs loudness at the best offset"),
    Row("sync r at 0", lambda r: float(r.sync.correlations[MAX_OFFSET]) if r.sync else None, "{:.2f}", "the same with the video as it is"),
    Row("sync confidence", _get("sync", "score", "confidence"), "{:.2f}", "peak - median over ±15 frames; random lips reach ~0.3 in 10 s"),
    Row("mouth in speech", _get("sync", "speech_opening"), "{:.3f}", "mean opening above closed, eye-corner distances"),
    Row("mouth in pauses", _get("sync", "pause_opening"), "{:.3f}", "the same in pauses (parted lips at rest count)"),
    Row("mouth motion, speech", _get("sync", "speech_motion"), "{:.3f}", "standard deviation of the opening while speaking"),
    Row("mouth motion, pauses", _get("sync", "pause_motion"), "{:.3f}", "the same in pauses: should be near 0"),
    Row("identity distance", _get("identity", "distance_mean"), "{:.3f}", "dlib descriptor, mean; < 0.6 = same person"),
    Row("identity max", _get("identity", "distance_max"), "{:.3f}", "worst frame"),
    Row("identity drift", _get("identity", "drift"), "{:+.3f}", "last 2 s - first 2 s"),
    Row("jitter", _get("stability", "landmark_jitter"), "{:.2f}", "rigid face points, % eye-corner distance / frame²"),
    Row("flicker", _get("stability", "background_flicker"), "{:.2f}", "background change, grey levels / frame"),
    Row("blinks/min", _get("motion", "blink_rate"), "{:.1f}", "people blink 10-20 times a minute when talking"),
    Row("yaw range", _get("motion", "pose_range", "yaw"), "{:.1f}", "degrees, 5th-95th percentile"),
    Row("pitch range", _get("motion", "pose_range", "pitch"), "{:.1f}", "degrees"),
    Row("head speed", lambda r: float(np.nansum([r.motion.pose_speed.yaw, r.motion.pose_speed.pitch, r.motion.pose_speed.roll])), "{:.1f}", "degrees / s, yaw + pitch + roll"),
    Row("head-speech 1 s", lambda r: _synchrony(r, 1.0, "head"), "{:.2f}", "head speed vs loudness, 1 s windows"),
    Row("head-speech 4 s", lambda r: _synchrony(r, 4.0, "head"), "{:.2f}", "the same over 4 s windows"),
    Row("PSNR", _get("ground_truth", "psnr"), "{:.2f}", "dB against the ground truth"),
    Row("SSIM", _get("ground_truth", "ssim"), "{:.3f}", "against the ground truth"),
    Row("LMD mouth", _get("ground_truth", "lmd_mouth"), "{:.2f}", "mouth landmark distance, ground-truth pixels"),
    Row("FID", _get("ground_truth", "fid"), "{:.2f}", "frames vs ground truth (this video only)"),
    Row("KID", _get("ground_truth", "kid"), "{:.4f}", "frames vs ground truth"),
    Row("Sync-C", _get("syncnet", "sync_c"), "{:.3f}", "SyncNet confidence; higher is better"),
    Row("Sync-D", _get("syncnet", "sync_d"), "{:.3f}", "SyncNet distance; lower is better"),
    Row("FVD", _get("fvd", "fvd"), "{:.1f}", "I3D, 16-frame clips vs ground truth"),
    Row("CSIM", _get("csim", "csim"), "{:.3f}", "ArcFace cosine to the reference"),
)


def _synchrony(report: Report, window: float, part: str) -> float | None:
    rows = [s for s in report.motion.synchrony if s.window_s == window]
    return getattr(rows[0], part) if rows else None


def _cell(row: Row, report: Report) -> str:
    value = row.value(report)
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return row.form.format(value)


def markdown(reports: Sequence[Report], plots: dict[str, str], totals: dict[str, float] | None = None) -> str:
    """One video: its measures with their meaning. Several: one table, a row per video.
    `totals`: `pooled(reports)`, when the caller has it already."""
    if len(reports) == 1:
        return _markdown_one(reports[0], plots.get(reports[0].video))
    rows = [row for row in ROWS if any(row.value(r) is not None for r in reports)]
    lines = ["# talkinghead eval", "", f"{len(reports)} videos. Offsets: + = video late relative to audio.", ""]
    lines += ["| video | " + " | ".join(r.label for r in rows) + " |", "|---" * (len(rows) + 1) + "|"]
    lines += [f"| {rep.name} | " + " | ".join(_cell(row, rep) for row in rows) + " |" for rep in reports]
    totals = pooled(reports) if totals is None else totals
    if totals:
        lines += ["", "Pooled over all videos: " + ", ".join(f"{k.upper()} {v:.2f}" for k, v in totals.items())]
    lines += [""] + [f"![{Path(v).stem}]({p})" for v, p in plots.items()]
    return "\n".join(lines) + "\n"


def _markdown_one(report: Report, plot: str | None) -> str:
    seconds = report.frames / report.fps
    lines = [
        f"# talkinghead eval: {report.name}",
        "",
        f"{report.width}x{report.height}, {report.frames} frames at {report.fps:g} fps ({seconds:.1f} s); "
        f"face found in {report.face_share:.0%} of frames; speech: {report.audio or 'none'}; "
        f"identity reference: {report.identity.reference if report.identity else 'none'}.",
        "",
        "| measure | value | meaning |",
        "|---|---|---|",
    ]
    lines += [f"| {row.label} | {_cell(row, report)} | {row.meaning} |" for row in ROWS if row.value(report) is not None]
    if plot:
        lines += ["", f"![plots]({plot})"]
    return "\n".join(lines) + "\n"


# --- plots -------------------------------------------------------------------------------------


def plot(report: Report, path: Path) -> None:
    """One PNG: mouth vs loudness over time, sync over offsets, head pose, eyes and identity."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    time = np.arange(report.frames) / report.fps
    fig = plt.figure(figsize=(12, 9), layout="constrained")
    grid = fig.add_gridspec(3, 2)
    fig.suptitle(report.name)
    _mouth_panel(fig.add_subplot(grid[0, :]), report, time)
    _sync_panel(fig.add_subplot(grid[1, 0]), report)
    _pose_panel(fig.add_subplot(grid[1, 1]), report, time)
    _eyes_panel(fig.add_subplot(grid[2, 0]), report, time)
    _identity_panel(fig.add_subplot(grid[2, 1]), report)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _mouth_panel(ax, report: Report, time: np.ndarray) -> None:
    ax.plot(time, report.aperture, color="tab:red", lw=1, label="mouth opening")
    ax.set(title="mouth opening vs speech loudness", xlabel="seconds", ylabel="inner-lip gap / eye-corner distance")
    if report.loudness is not None:
        twin = ax.twinx()
        twin.fill_between(time, report.loudness, color="tab:blue", alpha=0.25, lw=0, label="speech loudness")
        twin.set_ylabel("loudness (0..1)")
        twin.legend(loc="upper right")
    ax.legend(loc="upper left")


def _sync_panel(ax, report: Report) -> None:
    offsets = np.arange(-MAX_OFFSET, MAX_OFFSET + 1)
    if report.sync is not None:
        ax.plot(offsets, report.sync.correlations, marker=".", label="correlation (offline)")
        ax.axvline(report.sync.score.offset_frames, color="grey", ls=":")
    if report.syncnet is not None:
        twin = ax.twinx()
        twin.plot(offsets, report.syncnet.distances, color="tab:green", marker=".", label="SyncNet distance")
        twin.set_ylabel("SyncNet distance")
        twin.legend(loc="lower right")
    ax.set(title="sync score over offsets", xlabel="offset, frames (+ = video late)", ylabel="correlation")
    ax.legend(loc="upper left")


def _pose_panel(ax, report: Report, time: np.ndarray) -> None:
    for i, name in enumerate(("yaw", "pitch", "roll")):
        ax.plot(time, report.motion.pose[:, i], lw=1, label=name)
    ax.set(title="head pose", xlabel="seconds", ylabel="degrees")
    ax.legend()


def _eyes_panel(ax, report: Report, time: np.ndarray) -> None:
    ax.plot(time, report.motion.eye_openness, color="tab:purple", lw=1)
    for frame in report.motion.blink_frames:
        ax.axvline(frame / report.fps, color="grey", ls=":", lw=1)
    ax.set(title=f"eyes: {report.motion.blinks} blinks", xlabel="seconds", ylabel="eye aspect ratio")


def _identity_panel(ax, report: Report) -> None:
    identity = report.identity
    if identity is not None:
        ax.plot(identity.frames / report.fps, identity.distances, marker=".", lw=1)
        ax.axhline(SAME_PERSON, color="tab:red", ls=":", label="same-person threshold")
        ax.legend()
    reference = identity.reference if identity is not None else "none"
    ax.set(title=f"identity vs the reference ({reference})", xlabel="seconds", ylabel="descriptor distance")
