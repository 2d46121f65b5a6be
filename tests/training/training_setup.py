"""Settings shared by the training tests (a module of its own: `conftest` is a name several test
folders share, so tests cannot import from it)."""

from __future__ import annotations

from pathlib import Path

# Overrides that make any preset tiny and CPU-friendly; paths are added per test.
TINY = [
    "data.size=64",
    "data.batch_size=2",
    "data.num_workers=0",
    "solver.mixed_precision=no",
    "solver.use_8bit_adam=false",
    "checkpoint.every=0",
    "validation.every=0",
    "validation.steps=2",
    "validation.seconds=0.4",
    "logging.report_to=none",
]


def stage2_overrides(weights_dir: Path, dataset: Path, net: Path, out: Path) -> list[str]:
    return [*TINY, f"weights={weights_dir}", f"data.dataset={dataset}", f"output_dir={out}", f"init.net={net}", "data.batch_size=1"]
