"""The hallo backend's public surface, and the boundary that keeps torch inside it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import talkinghead.render.hallo as hallo

SRC = Path(__file__).resolve().parents[2] / "src"


def run_isolated(code: str) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter where torch, diffusers and transformers cannot be imported
    (as if the `hallo` extra were not installed)."""
    blocker = textwrap.dedent(
        """
        import sys

        class Absent:
            def find_spec(self, name, path=None, target=None):
                if name.partition(".")[0] in ("torch", "diffusers", "transformers"):
                    raise ModuleNotFoundError(f"No module named {name!r}", name=name)

        sys.meta_path.insert(0, Absent())
        """
    )
    return subprocess.run(
        [sys.executable, "-c", blocker + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(SRC)},
    )


def test_public_names():
    assert hallo.__all__ == ["HalloPipeline"]


def test_the_rest_of_the_package_imports_without_torch():
    result = run_isolated("import talkinghead, talkinghead.types, talkinghead.errors, talkinghead.render")
    assert result.returncode == 0, result.stderr


def test_missing_extra_is_a_model_error_with_the_install_command():
    result = run_isolated(
        """
        from talkinghead.errors import ModelError
        try:
            import talkinghead.render.hallo
        except ModelError as error:
            print(error)
        """
    )
    assert "pip install 'talkinghead[hallo]'" in result.stdout, result.stderr
