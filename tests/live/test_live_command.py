"""`talkinghead live` on the command line, and its options in the README."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from media import PORTRAIT

from talkinghead.cli import main
from talkinghead.config import LiveConfig, LiveServerConfig, flag_of

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


@pytest.mark.parametrize("args, says", [
    (["--host", "0.0.0.0"], "--token"),
    (["--host", "0.0.0.0", "--token", "short"], "at least 8"),
    (["--lookahead-ms", "5000"], "--lookahead-ms 5000.0 is out of range"),
    (["--max-sessions", "0"], "--max-sessions 0 is out of range"),
    (["--backend", "hallo"], "--backend hallo needs --weights"),
])
def test_refused_before_anything_listens(capsys, args, says):
    assert main(["live", str(PORTRAIT), *args]) == 2
    assert says in capsys.readouterr().err


def test_a_missing_photo_is_named(capsys, tmp_path):
    assert main(["live", str(tmp_path / "nobody.jpg")]) == 2
    assert "nobody.jpg" in capsys.readouterr().err


def test_readme_documents_every_live_option_with_its_default():
    section = README.split("### Options of `talkinghead live`")[1].split("\n### ")[0]
    for f in dataclasses.fields(LiveConfig) + dataclasses.fields(LiveServerConfig):
        flag = flag_of(f)
        row = next((line for line in section.splitlines() if line.startswith(f"| `{flag} ") or line.startswith(f"| `{flag}`")), None)
        assert row is not None, f"README has no row for {flag}"
        default = "off" if f.default in (None, False) else f.default if isinstance(f.default, str) else f"{f.default:g}"
        assert f"| {default} |" in row, f"README gives another default for {flag}: {row}"
