"""`talkinghead prepare` and `talkinghead train`: argument parsers and handlers.

Registered by `talkinghead.cli`; nothing here imports torch until a command runs, so `--help`
works without the `train` extra.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from pathlib import Path

log = logging.getLogger("talkinghead")


def add_prepare_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "prepare",
        help="turn a folder of talking-head videos into a Hallo training set",
        description=(
            "Prepare every video under VIDEOS_DIR for `talkinghead train`: 25 fps face crops, 16 kHz "
            "audio, region masks, face embedding, wav2vec2 features. Videos with no face, several "
            "faces, mismatched audio or too short are left out; DATASET_DIR/summary.txt says why. "
            "Run it again to resume: finished videos are skipped."
        ),
    )
    p.add_argument("videos", type=Path, metavar="VIDEOS_DIR", help="folder of videos (searched recursively)")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="DATASET_DIR", help="where the training set goes")
    p.add_argument("--weights", type=Path, metavar="DIR", help="Hallo's pretrained_models folder (wav2vec2, face models, separator)")
    p.add_argument("--size", type=int, default=512, metavar="PX", help="side of the square face crops (default: 512)")
    p.add_argument("--no-crop", action="store_true", help="the videos are square face crops already: do not re-frame them")
    p.add_argument("--min-seconds", type=float, default=1.0, help="shorter videos are left out (default: 1.0)")
    p.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) // 2), metavar="N", help="parallel processes (default: half the cores)")
    p.add_argument("--ray-address", metavar="ADDR", help="run on this Ray cluster instead (e.g. auto, or ray://host:10001); DATASET_DIR must be shared storage")
    p.set_defaults(run=run_prepare)


def run_prepare(args: argparse.Namespace) -> int:
    from ..errors import InputError
    from .prepare import PrepareOptions, prepare_dataset

    if args.size < 64 or args.size % 8:
        raise InputError(f"--size {args.size} must be a multiple of 8, at least 64")
    if args.workers < 1:
        raise InputError(f"--workers {args.workers} must be at least 1")
    options = PrepareOptions(size=args.size, crop=not args.no_crop, min_seconds=args.min_seconds)
    report = (lambda r: log.info("%-8s %s%s", r.status, r.video, f": {r.detail}" if r.detail else "")) if not args.quiet else None
    summary = prepare_dataset(args.videos, args.output, weights=args.weights, options=options, workers=args.workers, ray_address=args.ray_address, progress=report)
    kept = len(summary.kept)
    log.info("%d of %d videos kept in %s (%.1f s); see %s", kept, len(summary.results), args.output, summary.elapsed, args.output / "summary.txt")
    return 0


def add_train_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train Hallo (stage 1 or 2) or personalise it, with accelerate",
        description=(
            "Train on a set made by `talkinghead prepare`. CONFIG is a YAML file or a preset "
            "(stage1, stage2, personalise); it states what differs from the stage's published "
            "defaults. On several GPUs or machines: accelerate launch -m talkinghead.cli train ... "
            "Writes checkpoints, validation videos, TensorBoard logs, and OUTPUT/net.pth with a "
            "pretrained_models folder around it for `animate --backend hallo --weights`."
        ),
    )
    p.add_argument("--stage", type=int, choices=(1, 2), help="1: image model, 2: audio and motion (default: the config's)")
    p.add_argument("--config", default=None, metavar="CONFIG", help="YAML file, or stage1 | stage2 | personalise")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="change one setting, e.g. --set solver.max_steps=1000 (repeatable)")
    p.add_argument("--weights", type=Path, metavar="DIR", help="Hallo's pretrained_models folder (overrides the config's)")
    p.add_argument("--data", type=Path, metavar="DATASET_DIR", help="the prepared set (overrides data.dataset)")
    p.add_argument("--output-dir", type=Path, metavar="DIR", help="where checkpoints and net.pth go (overrides output_dir)")
    p.set_defaults(run=run_train)


def run_train(args: argparse.Namespace) -> int:
    from .config import TrainConfig

    overrides = list(args.overrides)
    for flag, key in ((args.weights, "weights"), (args.data, "data.dataset"), (args.output_dir, "output_dir")):
        if flag is not None:
            overrides.append(f"{key}={flag}")
    config = TrainConfig.load(args.config, stage=args.stage, overrides=overrides)
    from .trainer import Trainer  # torch and friends only once the config is valid

    started = time.perf_counter()
    result = Trainer(config).train()
    if result.net is not None:
        log.info(
            "stage %d: %d steps in %.0f s; wrote %s (use --weights %s)",
            config.stage, result.steps, time.perf_counter() - started, result.net, result.weights_dir,
        )
    return 0
