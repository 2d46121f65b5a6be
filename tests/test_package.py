"""The package's public surface and the README's promises about it."""

from __future__ import annotations

import re
from types import ModuleType
from pathlib import Path

import talkinghead
from talkinghead.config import flag_of, option_fields

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_public_names_are_exactly_all():
    # Submodules become attributes once imported; the public surface is everything else.
    public = {name for name, value in vars(talkinghead).items() if not name.startswith("_") and not isinstance(value, ModuleType)}
    assert public == set(talkinghead.__all__) - {"__version__"}


def test_readme_documents_every_option_with_its_default():
    for f in option_fields():
        flag = flag_of(f)
        row = next((line for line in README.splitlines() if line.startswith(f"| `{flag} ") or line.startswith(f"| `{flag}`")), None)
        assert row is not None, f"README has no row for {flag}"
        if f.name == "face_index":
            default = "largest"
        elif isinstance(f.default, bool):
            default = "on" if f.default else "off"
        elif f.default is None:
            default = "off"
        elif isinstance(f.default, int) and f.default >= 100_000:
            default = f"{f.default:,}"  # 150,000,000, not 1.5e+08
        else:
            default = f.default if isinstance(f.default, str) else f"{f.default:g}"
        assert f"| {default} |" in row, f"README gives another default for {flag}: {row}"


def test_readme_shows_the_two_commands():
    assert re.search(r"^make demo", README, re.M) and re.search(r"^make test", README, re.M)
