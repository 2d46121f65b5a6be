"""The training package's public names, and the CLI without the `train` extra."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import talkinghead.training as training

SRC = Path(__file__).resolve().parents[2] / "src"
BLOCK_TORCH = """
import sys

class Absent:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("torch", "diffusers", "transformers", "accelerate"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, Absent())
"""


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK_TORCH + textwrap.dedent(code)], capture_output=True, text=True, env={"PYTHONPATH": str(SRC)})


def test_public_names():
    assert training.__all__ == sorted(
        ["PrepareOptions", "PrepareSummary", "TrainConfig", "TrainResult", "Trainer", "make_weights_folder", "prepare_dataset", "save_net"]
    )
    assert all(getattr(training, name) for name in training.__all__)


def test_the_cli_lists_train_and_prepare_without_the_extra():
    result = _run(
        """
        from talkinghead.cli import build_parser
        build_parser().parse_args(["train", "--stage", "1"])
        build_parser().parse_args(["prepare", "v", "-o", "d"])
        print("ok")
        """
    )
    assert result.stdout.strip() == "ok", result.stderr


def test_missing_extra_is_a_model_error_with_the_install_command():
    result = _run(
        """
        from talkinghead.errors import ModelError
        try:
            from talkinghead.training import Trainer
        except ModelError as error:
            print(error)
        """
    )
    assert "pip install 'talkinghead[train]'" in result.stdout, result.stderr
