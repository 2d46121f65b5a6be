"""`talkinghead eval`: measure one video or a folder of videos; write JSON, Markdown and plots."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ..errors import InputError
from ..output import atomic_output
from ..video.writer import check_output_path
from .pipeline import evaluate
from .report import Report, markdown, plot, pooled, write_json

log = logging.getLogger("talkinghead")

VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v"}


def run_eval(args: argparse.Namespace) -> int:
    videos = _videos(args.video)
    inputs = [*videos, *(p for p in (args.audio, args.reference, args.ground_truth) if p is not None)]
    # REPORT.md and REPORT.plots/ go beside the report: it must be a file, not a stream.
    output = check_output_path(args.output, inputs=inputs, streams=False)
    summary, plots_dir = output.with_suffix(".md"), output.with_name(output.stem + ".plots")
    check_output_path(summary, inputs=inputs, streams=False)

    reports: list[Report] = []
    for video in videos:
        report = evaluate(
            video,
            audio=_match(args.audio, video, "--audio"),
            reference=_match(args.reference, video, "--reference"),
            ground_truth=_match(args.ground_truth, video, "--ground-truth"),
            syncnet=args.syncnet,
            i3d=args.i3d,
            arcface=args.arcface,
            progress=not args.quiet,
        )
        reports.append(report)
        if report.sync is not None:
            log.info("%s: %s", video.name, report.sync.score.summary(report.fps))

    plots_dir.mkdir(exist_ok=True)
    plots = {}
    for report in reports:
        png = plots_dir / f"{Path(report.video).stem}.png"
        plot(report, png)
        plots[report.video] = f"{plots_dir.name}/{png.name}"
    totals = pooled(reports)
    write_json(reports, output, totals)
    with atomic_output(summary) as file:
        file.write(markdown(reports, plots, totals))
    log.info("wrote %s, %s and %d plot(s) in %s", output.name, summary.name, len(plots), plots_dir.name)
    return 0


def _videos(path: Path) -> list[Path]:
    if path.is_dir():
        videos = sorted(p for p in path.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES and not p.name.startswith("."))
        if not videos:
            raise InputError(f"{path} holds no videos ({', '.join(sorted(VIDEO_SUFFIXES))})")
        return videos
    if not path.exists():
        raise InputError(f"{path} does not exist: give a video or a folder of videos")
    return [path]


def _match(option: Path | None, video: Path, flag: str) -> Path | None:
    """A folder gives each video the file of the same name (any extension); a file serves every video."""
    if option is None or not option.is_dir():
        return option
    matches = sorted(p for p in option.iterdir() if p.stem == video.stem and not p.name.startswith("."))
    if not matches:
        raise InputError(f"{flag} {option} holds no file named {video.stem}.* for {video.name}")
    return matches[0]
