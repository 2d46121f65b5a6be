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
import json
from pathlib import Path

import numpy as np

from ..errors import MotionError
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
    """Write `track` to a .json or .csv file; returns the path."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        _save_json(track, path)
    elif path.suffix.lower() == ".csv":
        _save_csv(track, path)
    else:
        raise MotionError(f"cannot write motion as {path.suffix or 'a file without extension'}: name the file .json or .csv")
    return path


def _save_json(track: MotionTrack, path: Path) -> None:
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
    path.write_text(json.dumps(document))


def _save_csv(track: MotionTrack, path: Path) -> None:
    columns = {**_channels(track), **arkit_blendshapes(track)}
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["frame", "time", *columns])
        for t in range(track.frame_count):
            writer.writerow([t, f"{t / track.fps:.4f}", *(f"{v[t]:.5f}" for v in columns.values())])


def load_motion(path: str | Path) -> MotionTrack:
    """A MotionTrack from a file written by `save_motion` (possibly edited since)."""
    path = Path(path)
    if not path.is_file():
        raise MotionError(f"{path} does not exist: give a motion track made by `talkinghead motion`")
    try:
        if path.suffix.lower() == ".json":
            return _load_json(path)
        if path.suffix.lower() == ".csv":
            return _load_csv(path)
    except (ValueError, KeyError, TypeError) as error:
        raise MotionError(f"{path.name} is not a usable motion track ({error}): make one with `talkinghead motion`") from None
    raise MotionError(f"{path.name}: a motion track is a .json or .csv file made by `talkinghead motion`")


def _level(values, names: tuple[str, ...], frames: int) -> np.ndarray:
    array = np.asarray(values, np.float32)
    if array.shape != (frames, len(names)) or not np.isfinite(array).all():
        raise ValueError(f"expected {frames} rows of {len(names)} finite numbers")
    return array


def _load_json(path: Path) -> MotionTrack:
    document = json.loads(path.read_text())
    if document.get("format") != FORMAT:
        raise ValueError(f"its format is not {FORMAT!r}")
    frames = int(document["frames"])
    for level, names in LEVEL_CHANNELS.items():
        if tuple(document["channels"][level]) != names:
            raise ValueError(f"its {level} channels differ from this version's")
    levels = {level: _level(document[level], names, frames) for level, names in LEVEL_CHANNELS.items()}
    return MotionTrack(fps=float(document["fps"]), meta=document.get("meta", {}), **levels)


def _load_csv(path: Path) -> MotionTrack:
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError("it has no frames")
    times = [float(r["time"]) for r in rows]
    fps = round(1.0 / (times[1] - times[0]), 3) if len(times) > 1 else 25.0
    # Columns a user removed are held at rest; every channel column present is read.
    levels = {
        level: np.array([[float(r.get(name) or 0.0) for name in names] for r in rows], np.float32)
        for level, names in LEVEL_CHANNELS.items()
    }
    if not any(name in rows[0] for names in LEVEL_CHANNELS.values() for name in names):
        raise ValueError("none of its columns is a talkinghead channel")
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
