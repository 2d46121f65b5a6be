"""The options of a job: the CLI's option names (`lip_weight`, `lip-weight` or `--lip-weight`),
checked one by one against the config tree before anything is queued.

Options that name files on the server (`--motion`, `--frames-dir`, `--weights`) are not taken
from clients: a client string never becomes a path. `transcript` is always the words themselves.
A dub job takes the options `talkinghead dub` takes with its warp backend (DUB_JOB_OPTIONS), no
others: a server holds no model weights that a client could choose.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

from ..config import DUB_COMMON_OPTIONS, AnimateConfig, flag_of, option_fields
from ..dubbing.backend import WarpDub
from ..errors import InputError

SERVER_PATH_OPTIONS = frozenset({"motion_file", "frames_dir", "weights"})
DUB_JOB_OPTIONS = (DUB_COMMON_OPTIONS - {"backend"} - SERVER_PATH_OPTIONS) | WarpDub.options
MAX_TRANSCRIPT = 20_000  # characters
MAX_OPTIONS_BYTES = 64 * 1024


class OptionError(InputError):
    """A job option that cannot be used; `field` names it (None: the options as a whole)."""

    def __init__(self, field: str | None, reason: str):
        super().__init__(f"{field}: {reason}" if field else reason)
        self.field = field
        self.reason = reason


FIELDS = {f.name: f for f in option_fields()}
CLIENT_FIELDS = {name: f for name, f in FIELDS.items() if name not in SERVER_PATH_OPTIONS}


def option_name(key: str) -> str:
    """`--lip-weight`, `lip-weight`, `lip_weight` -> `lip_weight`; `motion` (the flag of motion_file) too."""
    name = key.lstrip("-").replace("-", "_")
    for f in FIELDS.values():
        if flag_of(f).lstrip("-").replace("-", "_") == name:
            return f.name
    return name


def parse_options(text: str | bytes | dict | None, *, max_duration: float, kind: str = "animate") -> tuple[dict[str, Any], AnimateConfig]:
    """(the options by field name, the config they make); OptionError naming the field otherwise.

    `max_duration` is the server's limit: a client may ask for less, not more. `kind`: the
    job's (store.KINDS); a dub refuses the options dub does not use.
    """
    if text is None or text == "" or text == b"":
        raw: Any = {}
    elif isinstance(text, dict):
        raw = text
    else:
        if len(text) > MAX_OPTIONS_BYTES:
            raise OptionError("options", f"is longer than {MAX_OPTIONS_BYTES // 1024} KiB")
        try:
            raw = json.loads(text)
        except ValueError as error:
            raise OptionError("options", f"is not JSON ({error})") from None
    if not isinstance(raw, dict):
        raise OptionError("options", "must be a JSON object of option names and values, e.g. {\"lip_weight\": 0.5}")
    options: dict[str, Any] = {}
    for key, value in raw.items():
        name = option_name(str(key))
        if name in ("image", "video", "audio"):
            raise OptionError(name, f"is a file, not an option: send it as the multipart field '{name}'")
        if name in SERVER_PATH_OPTIONS:
            raise OptionError(name, f"{flag_of(FIELDS[name])} names a file on the server, which clients cannot choose")
        if name not in FIELDS:
            raise OptionError(name, f"is not an option; known: {', '.join(sorted(CLIENT_FIELDS))}")
        if kind == "dub" and name not in DUB_JOB_OPTIONS:
            raise OptionError(name, f"{flag_of(FIELDS[name])} is not used by dub (the video gives the frame rate, size, head and face); "
                                    f"a dub takes {', '.join(sorted(DUB_JOB_OPTIONS))}")
        options[name] = _coerce(FIELDS[name], value)
        try:
            AnimateConfig.from_options(**{name: options[name]})
        except InputError as error:
            raise OptionError(name, str(error)) from None
    if options.get("max_duration", max_duration) > max_duration:
        raise OptionError("max_duration", f"{options['max_duration']:g} is above this server's limit of {max_duration:g} s")
    options.setdefault("max_duration", max_duration)
    try:
        config = AnimateConfig.from_options(**options)
    except InputError as error:  # a combination (e.g. a backend without its weights)
        raise OptionError(None, str(error)) from None
    return options, config


def _coerce(f: dataclasses.Field, value: Any) -> Any:
    """The JSON value as the field's type; OptionError saying what is expected."""
    kind = str(f.type).split(" |")[0]
    optional = "None" in str(f.type)
    if value is None:
        if optional:
            return None
        raise OptionError(f.name, "cannot be null")
    if kind == "bool":
        if isinstance(value, bool):
            return value
        raise OptionError(f.name, f"must be true or false, not {json.dumps(value)}")
    if kind in ("int", "float"):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise OptionError(f.name, f"must be a number, not {json.dumps(value)}")
        if kind == "int":
            if float(value) != int(value):
                raise OptionError(f.name, f"must be a whole number, not {value}")
            return int(value)
        return float(value)
    if not isinstance(value, str):
        raise OptionError(f.name, f"must be a string, not {json.dumps(value)}")
    if f.name == "transcript" and len(value) > MAX_TRANSCRIPT:
        raise OptionError(f.name, f"is longer than {MAX_TRANSCRIPT} characters")
    return value
