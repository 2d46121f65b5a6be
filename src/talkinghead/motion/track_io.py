"""Motion as data: save a MotionTrack as JSON or CSV, edit it, load it back to render it.

Both formats carry every channel of the three levels by name, and ARKit-style blendshape
values derived from them (jawOpen, eyeBlinkLeft, browInnerUp, ...) plus head rotation in
degrees, so 3D-avatar rigs can be driven from the same speech: lip channels describe the
mouth in absolute terms (as ARKit does), so the export needs no photo. `articulate` has no
ARKit counterpart (an avatar has no photo's own mouth to return to); the mouth shapes it
returns from are exported as they are. Loading reads the channels only: the ARKit columns
are an export.
"""

from __future__ import annotations

import csv
import difflib
import json
from pathlib import Path
from typing import IO

import numpy as np

from ..errors import MotionError
from ..output import atomic_output, is_stream
from ..types import EXPRESSION_CHANNELS, LIP_CHANNELS, POSE_CHANNELS, MotionTrack

FORMAT = "talkinghead.motion"
VERSION = 2  # 2: lip channels are absolute shapes, with tongue and articulate channels
LEVEL_CHANNELS = {"lip": LIP_CHANNELS, "expression": EXPRESSION_CHANNELS, "pose": POSE_CHANNELS}

# ARKit blendshape -> how it is made from our channels (subject's left = "Left").
ARKIT = {
    "jawOpen": lambda c: c["jaw_open"],
    "mouthClose": lambda c: c["lips_press"] * c["jaw_open"],
    "mouthPucker": lambda c: c["lips_round"],
    "mouthFunnel": lambda c: c["lips_round"] * np.clip(2 * c["jaw_open"], 0, 1),
    "mouthStretchLeft": lambda c: c["lips_wide"],
    "mouthStretchRight": lambda c: c["lips_wide"],
    "mouthPressLeft": lambda c: c["lips_press"],
    "mouthPressRight": lambda c: c["lips_press"],
    "mouthUpperUpLeft": lambda c: c["upper_lip_up"],
    "mouthUpperUpRight": lambda c: c["upper_lip_up"],
    "mouthRollLower": lambda c: c["lower_lip_tuck"],
    "tongueOut": lambda c: c["tongue_out"],
    "mouthSmileLeft": lambda c: c["smile"],
    "mouthSmileRight": lambda c: c["smile"],
    "mouthFrownLeft": lambda c: c["mouth_frown"],
    "mouthFrownRight": lambda c: c["mouth_frown"],
    "cheekSquintLeft": lambda c: 0.5 * c["smile"],
    "cheekSquintRight": lambda c: 0.5 * c["smile"],
    "eyeBlinkLeft": lambda c: c["blink_left"],
    "eyeBlinkRight": lambda c: c["blink_right"],
    "eyeWideLeft": lambda c: c["eyes_wide"],
    "eyeWideRight": lambda c: c["eyes_wide"],
    "eyeSquintLeft": lambda c: c["eyes_squint"],
    "eyeSquintRight": lambda c: c["eyes_squint"],
    # gaze_x > 0 looks towards the image's right: the subject's left eye looks out.
    "eyeLookOutLeft": lambda c: np.clip(c["gaze_x"], 0, 1),
    "eyeLookInLeft": lambda c: np.clip(-c["gaze_x"], 0, 1),
    "eyeLookInRight": lambda c: np.clip(c["gaze_x"], 0, 1),
    "eyeLookOutRight": lambda c: np.clip(-c["gaze_x"], 0, 1),
    "eyeLookUpLeft": lambda c: np.clip(-c["gaze_y"], 0, 1),
    "eyeLookUpRight": lambda c: np.clip(-c["gaze_y"], 0, 1),
    "eyeLookDownLeft": lambda c: np.clip(c["gaze_y"], 0, 1),
    "eyeLookDownRight": lambda c: np.clip(c["gaze_y"], 0, 1),
    "browInnerUp": lambda c: np.maximum(c["brow_inner_up"], c["brow_up"]),
    "browOuterUpLeft": lambda c: c["brow_up"],
    "browOuterUpRight": lambda c: c["brow_up"],
    "browDownLeft": lambda c: c["brow_down"],
    "browDownRight": lambda c: c["brow_down"],
}
HEAD_ROTATION = ("headYaw", "headPitch", "headRoll")  # degrees, from yaw, pitch, roll


def _channels(track: MotionTrack) -> dict[str, np.ndarray]:
    return {name: track.channel(name) for names in LEVEL_CHANNELS.values() for name in names}


def arkit_blendshapes(track: MotionTrack) -> dict[str, np.ndarray]:
    """ARKit blendshape name -> (T,) float32 in [0, 1], then head rotation in degrees."""
    c = _channels(track)
    shapes = {name: np.clip(make(c), 0, 1).astype(np.float32) for name, make in ARKIT.items()}
    shapes.update(dict(zip(HEAD_ROTATION, (c["yaw"], c["pitch"], c["roll"]))))
    return shapes


def save_motion(track: MotionTrack, path: str | Path) -> Path:
    """Write `track` to a .json or .csv file; returns the path.

    The file appears complete or not at all (see talkinghead.output); `-`, a device or a FIFO
    is written into as a stream, as JSON unless its name ends in .csv.
    """
    path = Path(path)
    kind = track_format(path)
    with atomic_output(path, newline="" if kind == "csv" else None) as file:
        (_save_csv if kind == "csv" else _save_json)(track, file)
    return path


def track_format(path: str | Path) -> str:
    """"json" or "csv", from the name; MotionError for a file named otherwise."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".json", ".csv"):
        return suffix[1:]
    if is_stream(path):
        return "json"
    raise MotionError(f"cannot write motion as {suffix or 'a file without extension'}: name the file .json or .csv")


def _save_json(track: MotionTrack, file: IO[str]) -> None:
    document = {
        "format": FORMAT,
        "version": VERSION,
        "fps": track.fps,
        "frames": track.frame_count,
        "channels": {level: list(names) for level, names in LEVEL_CHANNELS.items()},
        **{level: np.round(getattr(track, level), 5).tolist() for level in LEVEL_CHANNELS},
        "arkit": {name: np.round(v, 5).tolist() for name, v in arkit_blendshapes(track).items()},
        "meta": track.meta,
    }
    file.write(json.dumps(document))


def _save_csv(track: MotionTrack, file: IO[str]) -> None:
    columns = {**_channels(track), **arkit_blendshapes(track)}
    writer = csv.writer(file)
    writer.writerow(["frame", "time", *columns])
    for t in range(track.frame_count):
        writer.writerow([t, f"{t / track.fps:.4f}", *(f"{v[t]:.5f}" for v in columns.values())])


def load_motion(path: str | Path) -> MotionTrack:
    """A MotionTrack from a file written by `save_motion` (possibly edited since).

    Anything unusable (not JSON or CSV, a channel or column this version does not know, a
    value that is not a finite number, a frame rate that is not positive) -> one-line MotionError.
    """
    path = Path(path)
    if path.is_dir():
        raise MotionError(f"{path} is a folder: give a motion track (.json or .csv) made by `talkinghead motion`")
    if not path.exists():
        raise MotionError(f"{path} does not exist: give a motion track made by `talkinghead motion`")
    suffix = path.suffix.lower()
    if suffix not in (".json", ".csv"):
        raise MotionError(f"{path.name}: a motion track is a .json or .csv file made by `talkinghead motion`")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise MotionError(f"{path.name} is not text (not UTF-8): give a motion track made by `talkinghead motion`") from None
    except OSError as error:
        raise MotionError(f"{path.name} cannot be read ({error.strerror}): check the file's permissions") from None
    try:
        track = _load_json(text) if suffix == ".json" else _load_csv(text)
    except RecursionError:
        reason = "it is nested too deeply"
    except (ValueError, csv.Error) as error:  # json.JSONDecodeError is a ValueError
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
    else:
        return track
    raise MotionError(f"{path.name} is not a usable motion track ({reason}): make one with `talkinghead motion`")


def _fps(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value <= 0:
        raise ValueError(f"its fps is {value!r}; a track runs at a positive frame rate, e.g. 25")
    return float(value)


def _level(values, names: tuple[str, ...], frames: int, level: str) -> np.ndarray:
    if not isinstance(values, list) or len(values) != frames:
        raise ValueError(f"its {level!r} level is not a list of {frames} frames")
    try:
        array = np.array(values, np.float32)
    except (ValueError, TypeError):
        array = None
    if array is None or array.shape != (frames, len(names)):
        raise ValueError(f"its {level!r} level needs {frames} rows of {len(names)} numbers")
    if not np.isfinite(array).all():
        raise ValueError(f"its {level!r} level holds NaN or infinite values")
    return array


def _load_json(text: str) -> MotionTrack:
    document = json.loads(text)
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ValueError(f"its format is not {FORMAT!r}")
    missing = [key for key in ("fps", "frames", "channels", *LEVEL_CHANNELS) if key not in document]
    if missing:
        raise ValueError(f"it has no {', '.join(map(repr, missing))}")
    frames = document["frames"]
    if isinstance(frames, bool) or not isinstance(frames, int) or frames < 1:
        raise ValueError(f"its frame count is {frames!r}; a track has at least one frame")
    channels = document["channels"]
    for level, names in LEVEL_CHANNELS.items():
        given = channels.get(level) if isinstance(channels, dict) else None
        if not isinstance(given, list) or tuple(given) != names:
            unknown = [name for name in given if name not in names] if isinstance(given, list) else []
            detail = f" (unknown: {', '.join(map(str, unknown[:3]))})" if unknown else ""
            raise ValueError(f"its {level} channels differ from this version's{detail}")
    levels = {level: _level(document[level], names, frames, level) for level, names in LEVEL_CHANNELS.items()}
    meta = document.get("meta")
    return MotionTrack(fps=_fps(document["fps"]), meta=meta if isinstance(meta, dict) else {}, **levels)


def _load_csv(text: str) -> MotionTrack:
    reader = csv.reader(text.splitlines())
    header = next(reader, None)
    rows = list(reader)
    if not header or not rows:
        raise ValueError("it has no frames")
    known = {"frame", "time", *(name for names in LEVEL_CHANNELS.values() for name in names), *ARKIT, *HEAD_ROTATION}
    unknown = [name for name in header if name not in known]
    if unknown:
        close = difflib.get_close_matches(unknown[0], sorted(known), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"column {unknown[0]!r} is not a talkinghead channel{hint}")
    if not any(name in header for names in LEVEL_CHANNELS.values() for name in names):
        raise ValueError("none of its columns is a talkinghead channel")
    if "time" not in header and len(rows) > 1:
        raise ValueError("it has no time column, which gives its frame rate")
    values = np.zeros((len(rows), len(header)), np.float64)
    for number, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise ValueError(f"line {number} has {len(row)} cells, the header {len(header)}")
        try:  # an empty cell is a channel held at rest
            values[number - 2] = [float(cell) if cell.strip() else 0.0 for cell in row]
        except ValueError:
            raise ValueError(f"line {number} holds a cell that is not a number") from None
    if not np.isfinite(values).all():
        raise ValueError(f"line {int(np.argwhere(~np.isfinite(values))[0, 0]) + 2} holds NaN or infinite values")
    column = {name: values[:, index] for index, name in enumerate(header)}
    fps = 25.0
    if len(rows) > 1:
        times = column["time"]
        steps = np.diff(times)
        if not (steps > 0).all():
            raise ValueError("its times do not increase from row to row")
        fps = _fps(round((len(times) - 1) / (times[-1] - times[0]), 3))
    # Columns a user removed are held at rest; every channel column present is read.
    zeros = np.zeros(len(rows))
    levels = {
        level: np.stack([column.get(name, zeros) for name in names], axis=1).astype(np.float32)
        for level, names in LEVEL_CHANNELS.items()
    }
    return MotionTrack(fps=fps, **levels)


def fitted_track(path: str | Path, frames: int, fps: float) -> MotionTrack:
    """A saved track, checked to cover the video's `frames` frames at `fps`; cut if longer."""
    track = load_motion(path)
    name = Path(path).name
    if abs(track.fps - fps) > 1e-3:
        raise MotionError(f"{name} runs at {track.fps:g} fps, the video at {fps:g}: pass --fps {track.fps:g} or remake the track")
    if track.frame_count < frames:
        raise MotionError(
            f"{name} has {track.frame_count} frames but the audio needs {frames} at {fps:g} fps: "
            "make the track from the same audio"
        )
    return MotionTrack(track.fps, track.lip[:frames], track.expression[:frames], track.pose[:frames], track.meta)
