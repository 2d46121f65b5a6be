"""The `talkinghead` command.

Exit codes: 0 success, 1 internal error (a bug: the traceback is printed), 2 bad input or
usage (a one-line message), 130 interrupted (no output file is left behind).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import json
import sys
from pathlib import Path

from . import __version__
from .config import DUB_OPTIONS, DubConfig, MotionConfig, flag_of, group_names, option_fields
from .errors import InputError, TalkingHeadError


class UsageError(InputError):
    """A command line that lacks what the command needs (exit code 2)."""

log = logging.getLogger("talkinghead")
_TYPES = {"float": float, "int": int, "str": str, "Path": Path}


def _add_config_options(parser: argparse.ArgumentParser, names: set[str] | None = None, fields: list | None = None) -> None:
    """One --flag per AnimateConfig field (or those in `names`, or the config `fields` given),
    help and default from the config."""
    for f in fields if fields is not None else option_fields():
        if names is not None and f.name not in names:
            continue
        if str(f.type) == "bool":  # a switch: its flag turns it off when it is on by default, else on
            on = f.default is True
            parser.add_argument(flag_of(f), dest=f.name, action="store_false" if on else "store_true", help=("do not " if on else "") + f.metadata["help"])
            continue
        kind = _TYPES[str(f.type).split(" |")[0]]
        extra = {k: v for k, v in f.metadata.items() if k in ("choices", "metavar")}
        default = f" (default: {f.default})" if f.default is not None else ""
        parser.add_argument(
            flag_of(f), dest=f.name, type=kind, default=f.default, help=f.metadata["help"] + default, **extra,
        )


def _animate_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "animate",
        help="animate a portrait photo with a speech recording",
        description="Animate the face in IMAGE so that it speaks AUDIO; writes an MP4 (H.264 + AAC).",
    )
    p.add_argument("image", type=Path, metavar="IMAGE", help="portrait photo: JPEG, PNG, WebP, BMP, TIFF, any size")
    p.add_argument("audio", type=Path, metavar="AUDIO", nargs="?", help="speech: wav, mp3, m4a, flac, ogg, or a video's audio track (default with --driving: the driving video's sound)")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.mp4", help="the video to write")
    p.add_argument("--json", action="store_true", help="print what was made (path, frames, stages, lip-sync score) as JSON on standard output")
    _add_config_options(p, ANIMATE_OPTIONS)
    p.set_defaults(run=_run_animate)


ANIMATE_OPTIONS = {f.name for f in option_fields()} - group_names(DubConfig)


def _run_animate(args: argparse.Namespace) -> int:
    from .api import animate

    options = {name: getattr(args, name) for name in ANIMATE_OPTIONS}
    audio = args.audio
    if audio is None:
        if args.driving is None:
            raise UsageError("animate needs AUDIO (or --driving VIDEO, whose sound is then the speech)")
        audio = args.driving
    result = animate(args.image, audio, args.output, progress=not args.quiet, **options)
    _report(result, args)
    return 0


def _report(result, args: argparse.Namespace) -> None:
    if result.score_note:
        log.info(result.score_note)
    log.info("wrote %s in %.1f s", result.output, result.stages["total"])
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))


def _dub_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "dub",
        help="make the person in a video say new speech (lips re-synced)",
        description="Re-drive the mouth and jaw of the person in VIDEO so that they say AUDIO; everything else "
        "(head motion, blinks, brows, gaze, background, size, frame rate, colour) stays the video's own. "
        "The new speech replaces the video's sound; the output lasts as long as AUDIO.",
    )
    p.add_argument("video", type=Path, metavar="VIDEO", help="the video to dub: MP4, MOV, MKV, WebM (H.264, HEVC, VP9, ProRes, ...)")
    p.add_argument("audio", type=Path, metavar="AUDIO", help="the new speech: wav, mp3, m4a, flac, ogg, or a video's audio track")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.mp4", help="the video to write")
    p.add_argument("--json", action="store_true", help="print what was made as JSON on standard output")
    _add_config_options(p, set(DUB_OPTIONS))
    p.set_defaults(run=_run_dub)


def _run_dub(args: argparse.Namespace) -> int:
    from .api import dub

    result = dub(args.video, args.audio, args.output, progress=not args.quiet, **{name: getattr(args, name) for name in DUB_OPTIONS})
    _report(result, args)
    return 0


MOTION_OPTIONS = {f.name for f in dataclasses.fields(MotionConfig)} - {"motion_file", "driving", "driving_parts"} | {"fps", "max_duration", "face_index"}


def _motion_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "motion",
        help="export the motion of a speech recording (JSON or CSV, with ARKit blendshapes)",
        description=(
            "Write the per-frame lip, expression and pose channels that AUDIO calls for, plus "
            "ARKit-style blendshapes and head rotation for 3D rigs. Edit the file and render "
            "it with `talkinghead animate IMAGE AUDIO --motion TRACK`."
        ),
    )
    p.add_argument("audio", type=Path, metavar="AUDIO", nargs="?", help="speech: wav, mp3, m4a, flac, ogg, or a video's audio track")
    p.add_argument("--from-video", type=Path, metavar="VIDEO", help="instead of speech: the performance of the face in VIDEO, tracked and retargeted (relative to the performer's own neutral face)")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="TRACK", help="the track to write: .json or .csv")
    _add_config_options(p, MOTION_OPTIONS)
    p.set_defaults(run=_run_motion)


def _run_motion(args: argparse.Namespace) -> int:
    from .config import AnimateConfig
    from .engine import Engine
    from .motion.track_io import save_motion, track_format
    from .video.writer import check_output_path

    if (args.audio is None) == (args.from_video is None):
        raise UsageError("motion takes AUDIO or --from-video VIDEO (one of them)")
    config = AnimateConfig.from_options(**{name: getattr(args, name) for name in MOTION_OPTIONS})
    source = args.from_video if args.from_video is not None else args.audio
    path = check_output_path(args.output, inputs=[source, *config.input_files()])
    track_format(path)  # a name that is neither .json nor .csv fails before the analysis
    if args.from_video is not None:
        from .motion.from_video import video_motion

        track = video_motion(args.from_video, face_index=config.face.face_index, max_duration=config.output.max_duration)
        save_motion(track, path)
        log.info("wrote %s: %d frames at %g fps, from the face in %s", path, track.frame_count, track.fps, args.from_video.name)
        return 0
    engine = Engine()
    track, _ = engine.motion_for(engine.load_audio(args.audio, config), config)
    save_motion(track, path)
    log.info("wrote %s: %d frames at %g fps, phones %s", path, track.frame_count, track.fps, track.meta["phones"])
    return 0


def _eval_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="measure a talking-head video: lip sync, identity, stability, motion",
        description="Measure a talking-head video (any method's) or every video in a folder; writes "
        "REPORT.json, REPORT.md and PNG plots in REPORT.plots/. With a folder, a folder given to --audio, "
        "--reference or --ground-truth gives each video its file of the same name. "
        "Offsets: + = video late relative to audio.",
    )
    p.add_argument("video", type=Path, metavar="VIDEO", help="a video, or a folder of videos for one table")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="REPORT.json", help="the JSON report to write")
    p.add_argument("--audio", type=Path, metavar="AUDIO", help="the speech it should follow (default: the video's own sound)")
    p.add_argument("--reference", type=Path, metavar="IMAGE", help="the portrait whose identity it should keep (default: its first frame)")
    p.add_argument("--ground-truth", type=Path, metavar="GT_VIDEO", help="a real video of the same speech: adds FID, KID, PSNR, SSIM, LMD")
    for flag, what in (("--syncnet", "SyncNet's syncnet_v2.model: adds Sync-C and Sync-D"),
                       ("--i3d", "an I3D TorchScript file: adds FVD (needs --ground-truth)"),
                       ("--arcface", "an ArcFace ONNX file: adds CSIM")):
        p.add_argument(flag, type=Path, metavar="FILE", help=what)
    p.set_defaults(run=_run_eval)


def _run_eval(args: argparse.Namespace) -> int:
    from .eval.command import run_eval  # heavy imports only once the command line is valid

    return run_eval(args)


def _batch_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "batch",
        help="render many videos from a table (CSV or JSON lines), on a process pool or a Ray cluster",
        description="Render one video per row of TABLE (.csv with a header row, or .jsonl): columns image, audio, "
        "output (a file name inside OUT_DIR) and any option of `animate` by its name (lip_weight or lip-weight). "
        "Paths are relative to the table's folder. Options given here apply to every row; a row's own value wins. "
        "Finished rows are skipped when run again; failed rows are listed with their error in OUT_DIR/summary.csv.",
    )
    p.add_argument("table", type=Path, metavar="TABLE", help="jobs.csv or jobs.jsonl")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="OUT_DIR", help="folder for the videos and summary.csv")
    p.add_argument("--workers", type=int, default=None, metavar="N", help="processes (or Ray actors), each loading the engine once (default: one per two cores; 1: in this process)")
    p.add_argument("--ray-address", metavar="ADDR", help="render on this Ray cluster (auto: the one on this machine, or a new local one; ray://host:10001); every node must see the files")
    _add_config_options(p)
    p.set_defaults(run=_run_batch)


def _run_batch(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .batch import read_rows, run_batch, summary_line
    from .serve.settings import default_workers

    defaults = {f.name: getattr(args, f.name) for f in option_fields() if getattr(args, f.name) != f.default}
    total = len(read_rows(args.table, args.output, defaults))  # a table that cannot be read fails here, before any worker starts
    workers = args.workers if args.workers is not None else default_workers()
    with tqdm(total=total, unit="video", desc="batch", disable=args.quiet) as bar:
        def report(result) -> None:
            bar.update(1)
            if result.status == "failed":
                bar.write(f"talkinghead: row {result.number} failed: {result.error}", file=sys.stderr)

        results = run_batch(args.table, args.output, workers=workers, ray_address=args.ray_address, defaults=defaults, progress=report)
    log.info("%s; summary in %s", summary_line(results), args.output / "summary.csv")
    return 1 if any(r.status == "failed" for r in results) else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="talkinghead",
        description="One portrait photo + one speech recording -> a talking-head video.",
    )
    parser.add_argument("--version", action="version", version=f"talkinghead {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="print errors only, no progress")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _animate_parser(sub)
    _dub_parser(sub)
    _motion_parser(sub)
    _eval_parser(sub)
    _batch_parser(sub)
    from .training.command import add_prepare_parser, add_train_parser

    add_prepare_parser(sub)
    add_train_parser(sub)
    from .serve.command import add_serve_parser

    add_serve_parser(sub)
    from .live.command import add_live_parser

    add_live_parser(sub, _add_config_options)
    return parser


class _StandardError(logging.StreamHandler):
    """Writes to whatever sys.stderr is when a line is logged (it may be replaced after set-up)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def _setup_logging(quiet: bool) -> None:
    handler = _StandardError()
    handler.setFormatter(logging.Formatter("talkinghead: %(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(logging.ERROR if quiet else logging.INFO)
    log.propagate = False


def main(argv: list[str] | None = None) -> int:
    # --quiet is accepted after the subcommand too: `talkinghead animate ... --quiet`.
    argv = list(sys.argv[1:] if argv is None else argv)
    quiet = "-q" in argv or "--quiet" in argv
    argv = [a for a in argv if a not in ("-q", "--quiet")]
    args = build_parser().parse_args(argv)
    args.quiet = quiet
    _setup_logging(quiet)
    try:
        return args.run(args)
    except TalkingHeadError as error:
        print(f"talkinghead: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("talkinghead: interrupted; no output was written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
