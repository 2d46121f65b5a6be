"""Motion from a recorded performance: a face tracked through a video, as a MotionTrack.

    track = video_motion("performer.mp4")           # jaw, lips, blinks, brows, gaze, head pose

Retargeting is person-independent: each measure is taken in the face's own frame (face widths,
the head's rotation removed), relative to the performer's own neutral (the median over the
video: the resting pose, the relaxed brows, eyes as open as they usually are; for the mouth,
its most closed frames), and scaled by how far the warp rig's shapes move the same features
at 1, so a track made from one face drives any other by the same amounts. What landmarks
cannot tell apart is left at 0: lips_press, upper_lip_up, lower_lip_tuck and eyes_squint.
"""

from __future__ import annotations

import os

import numpy as np

from ..face import landmarks as lm
from ..face.analysis import head_pose
from ..face.tracking import FaceTrack, track_video
from ..render.warp.rig import LOWER_INTERIOR_SOURCE
from ..render.warp.shapes import GAZE_RANGE, FaceFrame, build_shapes
from ..types import EXPRESSION_CHANNELS, LIP_CHANNELS, POSE_CHANNELS, MotionTrack
from ..dubbing.mouth import mouth_state, neutral_mouth, rig_rates
from ..render.warp.shapes import MOUTH_SHAPES

BROW_UP, BROW_DOWN, BROW_INNER = 0.07, 0.035, 0.06  # face widths the rig's brow shapes move at 1
WIDEN = 0.55  # the rig's eyes_wide opens an eye by about this share of its opening
SMILE_RISE, FROWN_DROP = 0.045, 0.035  # face widths the mouth corners move at smile / mouth_frown 1
INNER_BROWS = (107, 55, 336, 285)
EYE_INNER_CORNERS = (133, 362)


def _measures(points: np.ndarray) -> dict[str, float]:
    """Per-frame measures of one face, in its own frame and face widths."""
    frame = FaceFrame.from_landmarks(points)
    q = frame.to_face(points.astype(np.float64))
    out = {}
    for side, upper, lower, iris, outer, inner in (
        ("right", lm.RIGHT_EYE_UPPER, lm.RIGHT_EYE_LOWER, lm.RIGHT_IRIS_CENTRE, lm.EYE_OUTER_CORNERS[0], EYE_INNER_CORNERS[0]),
        ("left", lm.LEFT_EYE_UPPER, lm.LEFT_EYE_LOWER, lm.LEFT_IRIS_CENTRE, lm.EYE_OUTER_CORNERS[1], EYE_INNER_CORNERS[1]),
    ):
        width = float(np.linalg.norm(q[upper[-1], :2] - q[upper[0], :2])) or 1e-6
        out[f"open_{side}"] = float((q[list(lower[2:-2]), 1] - q[list(upper[2:-2]), 1]).mean()) / width
        centre = (q[outer, :2] + q[inner, :2]) / 2
        out[f"iris_x_{side}"] = float(q[iris, 0] - centre[0]) / width
        out[f"iris_y_{side}"] = float(q[iris, 1] - centre[1]) / width
    corners_y = q[list(lm.EYE_OUTER_CORNERS + EYE_INNER_CORNERS), 1].mean()
    out["brow"] = float(corners_y - q[list(lm.RIGHT_BROW + lm.LEFT_BROW), 1].mean())
    out["inner_brow"] = float(corners_y - q[list(INNER_BROWS), 1].mean()) - out["brow"]
    out["corners"] = float(q[list(lm.INNER_LIP_CENTRE), 1].mean() - q[list(lm.MOUTH_CORNERS), 1].mean())
    yaw, pitch, roll = head_pose(points)
    out.update(yaw=yaw, pitch=pitch, roll=roll, x=float(frame.origin[0]), y=float(frame.origin[1]), unit=frame.unit)
    return out


def _rates(points: np.ndarray):
    """How the warp rig built on this face opens and widens its mouth per unit of each lip channel."""
    frame = FaceFrame.from_landmarks(points)
    rest = np.concatenate([points, points[list(LOWER_INTERIOR_SOURCE)]]).astype(np.float64)
    lip, _ = build_shapes(frame.to_face(rest), list(lm.LANDMARK_COUNT + np.arange(len(LOWER_INTERIOR_SOURCE))), expression=False)
    return rig_rates(points, frame.displacement_to_image(lip))


def track_motion(track: FaceTrack) -> MotionTrack:
    """The MotionTrack of a followed face (see the module's notes); frames without a face are
    filled from their neighbours."""
    found = np.flatnonzero(track.found)
    rows = [_measures(np.asarray(track.landmarks[t], np.float64)) for t in found]
    m = {k: np.array([r[k] for r in rows]) for k in rows[0]}
    states = [mouth_state(np.asarray(track.landmarks[t])) for t in found]
    neutral = neutral_mouth(states)
    middle = found[np.argmin(np.abs(np.array([s.gap for s in states]) - neutral.gap))]
    rates = _rates(np.asarray(track.landmarks[middle], np.float64))
    gap, width = np.array([s.gap for s in states]), np.array([s.width for s in states])
    median = {k: float(np.median(v)) for k, v in m.items()}
    c: dict[str, np.ndarray] = {"articulate": np.ones(len(found))}  # absolute shapes (types.LIP_CHANNELS)
    c["jaw_open"] = np.clip((gap - neutral.gap) / rates.gap[MOUTH_SHAPES.index("jaw_open")], 0, 1)
    spread = width - neutral.width
    c["lips_wide"] = np.clip(spread / rates.width[MOUTH_SHAPES.index("lips_wide")], 0, 1)
    c["lips_round"] = np.clip(spread / rates.width[MOUTH_SHAPES.index("lips_round")], 0, 1)
    for side, name in (("left", "blink_left"), ("right", "blink_right")):
        open_ = np.percentile(m[f"open_{side}"], 75) or 1e-6
        ratio = m[f"open_{side}"] / open_
        c[name] = np.clip(1 - ratio, 0, 1)
        c[f"wide_{side}"] = np.clip((ratio - 1) / WIDEN, 0, 1)
    c["eyes_wide"] = (c.pop("wide_left") + c.pop("wide_right")) / 2
    brow = m["brow"] - median["brow"]
    c["brow_up"] = np.clip(brow / BROW_UP, 0, 1)
    c["brow_down"] = np.clip(-brow / BROW_DOWN, 0, 1)
    c["brow_inner_up"] = np.clip((m["inner_brow"] - median["inner_brow"]) / BROW_INNER, 0, 1)
    for axis, span in (("x", GAZE_RANGE[0]), ("y", GAZE_RANGE[1])):
        iris = (m[f"iris_{axis}_left"] + m[f"iris_{axis}_right"]) / 2
        c[f"gaze_{axis}"] = np.clip((iris - np.median(iris)) / span, -1, 1)
    rise = m["corners"] - median["corners"]
    c["smile"] = np.clip(rise / SMILE_RISE, 0, 1)
    c["mouth_frown"] = np.clip(-rise / FROWN_DROP, 0, 1)
    unit = median["unit"] or 1.0
    for name in ("yaw", "pitch", "roll"):
        c[name] = m[name] - median[name]
    c["shift_x"], c["shift_y"] = (m["x"] - median["x"]) / unit, (m["y"] - median["y"]) / unit

    def level(names: tuple[str, ...]) -> np.ndarray:
        values = np.zeros((track.frames, len(names)), np.float32)
        for j, name in enumerate(names):
            if name in c:
                values[:, j] = np.interp(np.arange(track.frames), found, c[name])
        return values

    return MotionTrack(
        fps=track.fps, lip=level(LIP_CHANNELS), expression=level(EXPRESSION_CHANNELS), pose=level(POSE_CHANNELS),
        meta={"source": "video", "frames_without_face": int(track.frames - len(found))},
    )


def video_motion(path: str | os.PathLike, *, face_index: int | None = None, max_duration: float | None = None) -> MotionTrack:
    """The performance of the face in the video at `path`, at the video's frame rate."""
    from ..video.source import open_video

    source = open_video(path, max_duration=max_duration)
    info = source.info
    with track_video(source.frames(), fps=info.fps, size=info.size, expected=info.frame_count, face_index=face_index, name=info.path.name) as track:
        motion = track_motion(track)
    motion.meta["video"] = info.path.name
    return motion


def resampled(track: MotionTrack, fps: float, frames: int) -> MotionTrack:
    """`track` at `fps` over `frames` frames: linear between its frames, its last frame held beyond."""
    times = np.arange(frames) / fps * track.fps
    index = np.arange(track.frame_count)
    levels = [np.stack([np.interp(times, index, values[:, j]) for j in range(values.shape[1])], 1).astype(np.float32) for values in (track.lip, track.expression, track.pose)]
    return MotionTrack(fps, *levels, meta=dict(track.meta))
