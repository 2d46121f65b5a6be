"""A face followed through a video: MediaPipe's 478 landmarks on every frame, steadied.

    track = track_video(video, face_index=None, progress=...)    # one pass over the frames
    track.landmarks[t]                                          # (478, 3), NaN where no face
    track.found[t], track.cuts[t]

Per frame (`FaceFollower`):
- Detection only when the track is lost: while a face is followed, Face Mesh runs on a crop
  around where it was on the frame before (`analysis.mesh_in_box`, the same crop and scale as
  for photos), and the face nearest the crop's centre is the one followed, so a second person
  walking past does not take over. The detectors run again on the whole frame when the mesh
  finds no face there, or after a shot cut.
- Shot cuts: a frame unlike the one before (its 32×32 thumbnail changes far more than motion
  within a shot makes it) starts the track anew.
- Several faces: the largest, or the `face_index`-th from the left, when the track starts
  (and at every cut); then the same face, by place, for as long as it is followed. A face lost
  within a shot is taken up again where it was last seen, when a face is found near there.

Then, for each run of frames with a face between cuts (`steady`), jitter is removed without lag:
each frame's landmarks are split into the head's rigid motion (a 3D similarity fit on points the
face does not move itself: forehead, nose, eye corners, cheek line) and what the face does
(the residual, in the head's own frame); both are filtered by a One-Euro filter (strong on
slow changes, light on fast ones: blinks and lips keep their speed) run forwards and
backwards, whose two lags cancel in their mean.

Memory is flat in the video's length: the landmarks of every frame go to a temporary file.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import FaceError
from ..video.frames import I420Frame, even_box
from . import landmarks as lm
from .analysis import CROP_SCALE, choose_face, detect_faces, mesh_in_box
from .geometry import box_iou

log = logging.getLogger("talkinghead")

MIN_TRACK_SIZE = 32  # px across: smaller faces are not followed
CUT_LEVEL = 22.0  # grey levels of mean thumbnail change that mark a shot cut...
CUT_OVER_MOTION = 4.0  # ...when also this many times the recent change between frames
SAME_PLACE = 0.25  # IoU with the last box for a face found again to be the one that was lost
STABLE_POINTS = tuple(sorted(set(
    (10, 151, 9, 8, 168, 6, 197, 195, 5, 4, 1, 19, 94)  # forehead and nose ridge
    + lm.EYE_OUTER_CORNERS + (133, 362)  # eye corners
    + lm.CHEEK_EXTREMES + (127, 356, 93, 323, 162, 389, 21, 251, 54, 284, 103, 332, 67, 297, 109, 338)  # upper face oval
)))
"""Landmarks the face does not move by itself: the head's rigid motion is fitted on them."""


@dataclass(frozen=True)
class OneEuro:
    """One-Euro filter settings (Casiez et al. 2012), in face widths and seconds."""

    min_cutoff: float  # Hz: the cutoff when still (less jitter)
    beta: float  # cutoff rise per face width per second of speed (less lag when moving)
    d_cutoff: float = 1.0  # Hz: the cutoff of the speed estimate


RIGID_FILTER = OneEuro(min_cutoff=1.0, beta=2.0)
SHAPE_FILTER = OneEuro(min_cutoff=2.0, beta=10.0)


class FaceTrack:
    """Landmarks of one face over a video, frame by frame, kept in a temporary file."""

    def __init__(self, frames: int, fps: float, size: tuple[int, int]):
        self.fps = fps
        self.size = size  # (width, height) of the frames
        handle, name = tempfile.mkstemp(prefix="talkinghead-track-", suffix=".f32")
        os.close(handle)
        self._path = Path(name)
        self._capacity = max(frames, 1)
        self._store = np.lib.format.open_memmap(self._path, mode="w+", dtype=np.float32, shape=(self._capacity, lm.LANDMARK_COUNT, 3))
        self.found = np.zeros(self._capacity, bool)
        self.cuts = np.zeros(self._capacity, bool)
        self.frames = 0

    @property
    def landmarks(self) -> np.ndarray:
        """(T, 478, 3) float32 frame pixels (a view of the file); NaN where no face was found."""
        return self._store[: self.frames]

    def append(self, points: np.ndarray | None, cut: bool) -> None:
        if self.frames == self._capacity:
            self._grow()
        if self.frames >= len(self.found):  # appending after `finish`
            self.found = np.concatenate([self.found, np.zeros(self._capacity - len(self.found), bool)])
            self.cuts = np.concatenate([self.cuts, np.zeros(self._capacity - len(self.cuts), bool)])
        self._store[self.frames] = np.nan if points is None else points
        self.found[self.frames] = points is not None
        self.cuts[self.frames] = cut
        self.frames += 1

    def _grow(self) -> None:
        old, capacity = self._store, self._capacity * 2
        self._store.flush()
        handle, name = tempfile.mkstemp(prefix="talkinghead-track-", suffix=".f32")
        os.close(handle)
        store = np.lib.format.open_memmap(name, mode="w+", dtype=np.float32, shape=(capacity, lm.LANDMARK_COUNT, 3))
        for start in range(0, self._capacity, 1024):
            stop = min(start + 1024, self._capacity)
            store[start:stop] = old[start:stop]
        del old
        self._path.unlink(missing_ok=True)
        self._store, self._path, self._capacity = store, Path(name), capacity
        self.found = np.concatenate([self.found, np.zeros(capacity - len(self.found), bool)])
        self.cuts = np.concatenate([self.cuts, np.zeros(capacity - len(self.cuts), bool)])

    def extend(self, other: FaceTrack) -> None:
        """Append `other`'s frames (the frames that follow this track's)."""
        for start in range(0, other.frames, 256):
            stop = min(other.frames, start + 256)
            for t in range(start, stop):
                self.append(None if not other.found[t] else np.asarray(other.landmarks[t]), bool(other.cuts[t]))

    def finish(self) -> FaceTrack:
        self.found, self.cuts = self.found[: self.frames], self.cuts[: self.frames]
        return self

    def segments(self) -> list[tuple[int, int]]:
        """(start, stop) of each run of frames with a face, split at cuts."""
        return _segments(self.found[: self.frames], self.cuts[: self.frames])

    def close(self) -> None:
        """Remove the temporary file (the track is unusable afterwards)."""
        store = getattr(self, "_store", None)
        if store is not None:
            del self._store
            del store
        self._path.unlink(missing_ok=True)

    def __enter__(self) -> FaceTrack:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self._path.unlink(missing_ok=True)
        except Exception:  # noqa: BLE001  interpreter shutting down
            pass


class FaceFollower:
    """Landmarks of one face, frame after frame (see the module's notes)."""

    def __init__(self, *, face_index: int | None = None, mesh=None):
        """`mesh`: a Face Mesh graph of this follower's own (analysis.private_mesh), so that
        followers on several threads run at once; None: the shared one."""
        self.face_index = face_index
        self.mesh = mesh
        self._points: np.ndarray | None = None  # (478, 3) of the last frame the face was found in
        self._last_box: np.ndarray | None = None  # where it was last seen, even when lost since
        self._thumb: np.ndarray | None = None
        self._changes: list[float] = []
        self.detections = 0

    def update(self, frame: I420Frame) -> tuple[np.ndarray | None, bool]:
        """((478, 3) float32 landmarks in frame pixels or None, whether this frame starts a shot)."""
        cut = self._is_cut(frame)
        if cut:
            self._points, self._last_box = None, None
        points = self._follow(frame) if self._points is not None else None
        if points is None:
            points = self._find(frame, first=self._last_box is None)
        self._points = points
        if points is not None:
            self._last_box = _box(points)
        return points, cut

    def _is_cut(self, frame: I420Frame) -> bool:
        step = max(1, min(frame.y.shape) // 128)  # a sparse grid is enough: the thumbnail is 32 px
        thumb = cv2.resize(frame.y[::step, ::step], (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32)
        previous, self._thumb = self._thumb, thumb
        if previous is None:
            return False
        change = float(np.abs(thumb - previous).mean())
        recent = float(np.median(self._changes[-25:])) if self._changes else 0.0
        self._changes.append(change)
        return change > CUT_LEVEL and change > CUT_OVER_MOTION * (recent + 1.0)

    def _follow(self, frame: I420Frame) -> np.ndarray | None:
        box = _box(self._points)
        points = _mesh_near(frame, box, self.mesh)
        if points is None or box_iou(_box(points), box) < SAME_PLACE or _side(points) < MIN_TRACK_SIZE:
            return None
        return points

    def _find(self, frame: I420Frame, *, first: bool) -> np.ndarray | None:
        """Detection over the whole frame: the face by the rule when the track starts, else the
        one where the lost face was last seen (none when no face is there)."""
        self.detections += 1
        faces = [f for f in detect_faces(frame.rgb()) if min(f.width, f.height) >= MIN_TRACK_SIZE]
        if not faces:
            return None
        if first:
            if self.face_index is not None and self.face_index >= len(faces):
                return None  # that face is not in this frame: look again on the next
            return faces[choose_face(faces, self.face_index) if self.face_index is not None else _largest(faces)].landmarks
        near = [f for f in faces if box_iou(np.array(f.box, np.float64), self._last_box) >= SAME_PLACE]
        return max(near, key=lambda f: box_iou(np.array(f.box, np.float64), self._last_box)).landmarks if near else None


def _largest(faces) -> int:
    return max(range(len(faces)), key=lambda i: faces[i].width * faces[i].height)


def _box(points: np.ndarray) -> np.ndarray:
    xy = points[: lm.MESH_POINTS, :2]
    return np.concatenate([xy.min(0), xy.max(0)]).astype(np.float64)


def _side(points: np.ndarray) -> float:
    x0, y0, x1, y1 = _box(points)
    return float(min(x1 - x0, y1 - y0))


def _mesh_near(frame: I420Frame, box: np.ndarray, mesh=None) -> np.ndarray | None:
    """Face Mesh on the crop around `box`, made RGB from the frame's planes only there."""
    centre, side = (box[:2] + box[2:]) / 2, CROP_SCALE * float(max(box[2] - box[0], box[3] - box[1]))
    region = even_box((*(centre - side / 2 - 2), *(centre + side / 2 + 2)), frame.size)
    x0, y0, x1, y1 = region
    if x1 - x0 < 8 or y1 - y0 < 8:
        return None
    crop = frame.crop_rgb(region)
    points = mesh_in_box(crop, box - np.array([x0, y0, x0, y0]), mesh=mesh)
    if points is None:
        return None
    points[:, 0] += x0
    points[:, 1] += y0
    return points


def track_video(
    frames: Iterable[I420Frame],
    *,
    fps: float,
    size: tuple[int, int],
    expected: int,
    face_index: int | None = None,
    observe: Callable[[int, I420Frame, np.ndarray | None], None] | None = None,
    name: str = "the video",
) -> FaceTrack:
    """Follow one face through `frames` and steady its landmarks; FaceError when no frame shows one.

    observe(t, frame, landmarks or None) is called after each frame, with the landmarks as
    found (before steadying); it may raise to stop.
    """
    follower = FaceFollower(face_index=face_index)
    track = FaceTrack(expected, fps, size)
    try:
        for frame in frames:
            points, cut = follower.update(frame)
            track.append(points, cut)
            if observe is not None:
                observe(track.frames - 1, frame, points)
        track.finish()
        if track.frames == 0:
            raise FaceError(f"{name} holds no frames")
        if not track.found.any():
            hint = f" (--face-index {face_index}: no frame shows that many faces)" if face_index is not None else ""
            raise FaceError(f"no face found in any frame of {name}{hint}: give a video where the face is clearly visible, facing the camera")
        steady(track)
        return track
    except BaseException:
        track.close()
        raise


PARALLEL_MIN_S = 4.0  # videos at least this long are tracked in two halves at once


def track_source(
    source,
    *,
    stop: int | None = None,
    face_index: int | None = None,
    observe: Callable[[int, I420Frame, np.ndarray | None], None] | None = None,
) -> FaceTrack:
    """`track_video` over a VideoSource's first `stop` frames (None: all of them).

    A long video with one face is tracked in two halves at once, each on a thread with a Face
    Mesh graph of its own (the graphs and the decoder leave Python's lock while they work, so
    the halves use both cores); the second half starts with a detection, which finds the same
    face as the only one there. With several faces the halves could start on different people,
    so such videos are tracked in one pass. `observe` is then called from both threads.
    """
    import threading

    from .analysis import close_mesh, private_mesh

    info = source.info
    frames = min(stop, info.frame_count) if stop is not None else info.frame_count
    single = frames >= PARALLEL_MIN_S * info.fps and len(detect_faces(next(source.frames(0, 1)).rgb())) == 1
    if not single:
        return track_video(source.frames(0, stop), fps=info.fps, size=info.size, expected=frames, face_index=face_index, observe=observe, name=info.path.name)
    middle = frames // 2
    halves: list[FaceTrack | None] = [None, None]
    errors: list[BaseException] = []
    halt = threading.Event()

    def run(k: int, start: int, end: int | None) -> None:
        mesh = private_mesh()
        try:
            follower = FaceFollower(face_index=face_index, mesh=mesh)
            track = FaceTrack(middle, info.fps, info.size)
            halves[k] = track
            for frame in source.frames(start, end):
                if halt.is_set():
                    return
                points, cut = follower.update(frame)
                track.append(points, cut)
                if observe is not None:
                    observe(start + track.frames - 1, frame, points)
            track.finish()
        except BaseException as error:  # noqa: BLE001  handed to the caller
            errors.append(error)
            halt.set()
        finally:
            close_mesh(mesh)

    workers = [threading.Thread(target=run, args=(0, 0, middle), daemon=True), threading.Thread(target=run, args=(1, middle, stop), daemon=True)]
    for w in workers:
        w.start()
    try:
        for w in workers:
            while w.is_alive():
                w.join(0.1)
    except BaseException:
        halt.set()
        for w in workers:
            w.join()
        raise
    finally:
        if errors or halt.is_set():
            for h in halves:
                if h is not None:
                    h.close()
    if errors:
        raise errors[0]
    first, second = halves
    try:
        first.extend(second)
    finally:
        second.close()
    first.finish()
    if not first.found.any():
        first.close()
        raise FaceError(f"no face found in any frame of {info.path.name}: give a video where the face is clearly visible, facing the camera")
    steady(first)
    return first


# Filtering -------------------------------------------------------------------------------


def rigid_fit(source: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """(scale, (3, 3) rotation, (3,) shift) with target ≈ scale · R @ source + shift (Umeyama),
    for (N, 3) point sets."""
    ms, mt = source.mean(0), target.mean(0)
    a, b = source - ms, target - mt
    u, s, vt = np.linalg.svd(b.T @ a)
    d = np.sign(np.linalg.det(u @ vt))
    fix = np.diag([1.0, 1.0, d])
    rotation = u @ fix @ vt
    scale = float((s * np.diag(fix)).sum() / max((a * a).sum(), 1e-12))
    return scale, rotation, mt - scale * rotation @ ms


def _rotvec(r: np.ndarray) -> np.ndarray:
    return cv2.Rodrigues(r)[0].ravel()


def _rotation(v: np.ndarray) -> np.ndarray:
    return cv2.Rodrigues(np.asarray(v, np.float64).reshape(3, 1))[0]


def _one_euro(values: np.ndarray, fps: float, settings: OneEuro, groups: int) -> np.ndarray:
    """(T, D) values filtered forwards; the speed that opens the cutoff is taken per group of
    D // groups columns (a landmark's x, y, z move together)."""
    out = np.empty_like(values)
    dt = 1.0 / fps

    def alpha(cutoff):
        tau = 1.0 / (2 * np.pi * cutoff)
        return 1.0 / (1.0 + tau / dt)

    a_d = alpha(settings.d_cutoff)
    x_hat = values[0].copy()
    dx_hat = np.zeros_like(x_hat)
    out[0] = x_hat
    width = values.shape[1] // groups
    for t in range(1, len(values)):
        dx = (values[t] - x_hat) / dt
        dx_hat = a_d * dx + (1 - a_d) * dx_hat
        speed = np.linalg.norm(dx_hat.reshape(groups, width), axis=1).repeat(width)
        a = alpha(settings.min_cutoff + settings.beta * speed)
        x_hat = a * values[t] + (1 - a) * x_hat
        out[t] = x_hat
    return out


def _zero_lag(values: np.ndarray, fps: float, settings: OneEuro, groups: int) -> np.ndarray:
    """The mean of the filter run forwards and backwards: their lags are opposite and cancel."""
    if len(values) < 3:
        return values
    forward = _one_euro(values, fps, settings, groups)
    backward = _one_euro(values[::-1].copy(), fps, settings, groups)[::-1]
    return (forward + backward) / 2


STEADY_CHUNK = 250  # frames steadied at a time: memory stays flat however long a run is
STEADY_OVERLAP = 25  # frames of context each side of a chunk: the filters settle well within it


def steady(track: FaceTrack) -> None:
    """Filter the track's landmarks in place, run by run (see the module's notes)."""
    Steadier(track).advance(track.frames, final=True)


class Steadier:
    """Steadies a track's landmarks in place as they arrive, chunk by chunk: a frame is final
    once STEADY_OVERLAP frames after it are known (or the track has ended)."""

    def __init__(self, track: FaceTrack):
        self.track = track
        self.done = 0  # frames before this are steadied
        self._raw: dict[int, np.ndarray] = {}  # raw landmarks of the last frames steadied: the next chunk's context

    def advance(self, available: int, *, final: bool) -> int:
        """Steady what `available` known frames allow; returns how many frames are final."""
        limit = available if final else available - STEADY_OVERLAP
        while self.done < limit:
            end = min(self.done + STEADY_CHUNK, limit)
            self._chunk(self.done, end, available)
            self.done = end
        return self.done

    def _chunk(self, a: int, e: int, available: int) -> None:
        track = self.track
        out = {}
        for start, stop in _segments(track.found[:available], track.cuts[:available]):
            if stop <= a or start >= e:
                continue
            lo, hi = max(start, a - STEADY_OVERLAP), min(stop, e + STEADY_OVERLAP)
            raw = np.stack([self._raw[t] if t < a else np.asarray(track.landmarks[t], np.float64) for t in range(lo, hi)])
            if len(raw) < 3:
                continue
            smooth = _steadied(raw, track.fps)
            for t in range(max(a, start), min(e, stop)):
                out[t] = smooth[t - lo]
        self._raw = {t: np.asarray(track.landmarks[t], np.float64) for t in range(max(a, e - STEADY_OVERLAP), e)}
        for t, points in out.items():
            track.landmarks[t] = points.astype(np.float32)


def _segments(found: np.ndarray, cuts: np.ndarray) -> list[tuple[int, int]]:
    out, start = [], None
    for t in range(len(found)):
        if start is not None and (not found[t] or cuts[t]):
            out.append((start, t))
            start = None
        if found[t] and start is None:
            start = t
    if start is not None:
        out.append((start, len(found)))
    return out


def _steadied(raw: np.ndarray, fps: float) -> np.ndarray:
    """(n, 478, 3) landmarks of one run of frames, filtered (see the module's notes)."""
    stable = list(STABLE_POINTS)
    reference = raw[len(raw) // 2]
    unit = float(np.linalg.norm(reference[lm.CHEEK_EXTREMES[1]] - reference[lm.CHEEK_EXTREMES[0]])) or 1.0
    centre = reference[stable].mean(0)
    rigid = np.empty((len(raw), 7))
    shapes = np.empty((len(raw), lm.LANDMARK_COUNT * 3))
    for t, points in enumerate(raw):
        # The reference's stable points onto this frame's: the head's pose relative to it.
        scale, rotation, shift = rigid_fit(reference[stable] - centre, points[stable])
        rigid[t] = np.concatenate([_rotvec(rotation), shift / unit, [np.log(scale)]])
        # What the face does, in the reference's frame: (points - shift) / scale, rotated back.
        shapes[t] = (((points - shift) @ rotation) / scale - (reference - centre)).ravel() / unit
    rigid = _zero_lag(rigid, fps, RIGID_FILTER, 1)
    shapes = _zero_lag(shapes, fps, SHAPE_FILTER, lm.LANDMARK_COUNT)
    out = np.empty_like(raw)
    for t in range(len(raw)):
        rotation, shift, scale = _rotation(rigid[t, :3]), rigid[t, 3:6] * unit, float(np.exp(rigid[t, 6]))
        local = shapes[t].reshape(-1, 3) * unit + (reference - centre)
        out[t] = scale * local @ rotation.T + shift
    return out


class LiveTrack:
    """A face followed on a thread of its own while the frames already steadied are used.

        live = LiveTrack(source, stop=250).start()
        live.wait(100)              # blocks until frames 0..99 are final
        live.points(42), live.found_at(42)

    The thread runs Face Mesh on a graph of its own, so it works beside the caller on the
    other core; `wait` raises what stopped the thread (a damaged frame, no face at all).
    """

    def __init__(self, source, *, stop: int | None = None, face_index: int | None = None,
                 observe: Callable[[int, I420Frame, np.ndarray | None], None] | None = None):
        import threading

        info = source.info
        self._source, self._stop, self._face_index, self._observe = source, stop, face_index, observe
        expected = min(stop, info.frame_count) if stop is not None else info.frame_count
        self.track = FaceTrack(expected + max(1, expected // 10), info.fps, info.size)
        self._steadier = Steadier(self.track)
        self._lock = threading.Condition()
        self._halt = threading.Event()
        self.finished = False
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="talkinghead-track", daemon=True)

    @classmethod
    def done(cls, track: FaceTrack) -> LiveTrack:
        """A track followed already (and steadied), behind the same interface."""
        live = cls.__new__(cls)
        import threading

        live.track, live._lock, live.finished, live.error = track, threading.Condition(), True, None
        live._steadier = Steadier(track)
        live._steadier.done = track.frames
        live._halt, live._thread = threading.Event(), None
        return live

    def start(self) -> LiveTrack:
        self._thread.start()
        return self

    def _run(self) -> None:
        from .analysis import close_mesh, private_mesh

        mesh = private_mesh()
        try:
            follower = FaceFollower(face_index=self._face_index, mesh=mesh)
            for frame in self._source.frames(0, self._stop):
                if self._halt.is_set():
                    return
                points, cut = follower.update(frame)
                with self._lock:
                    self.track.append(points, cut)
                    count = self.track.frames
                if self._observe is not None:
                    self._observe(count - 1, frame, points)
                if count % 25 == 0:
                    with self._lock:
                        self._steadier.advance(count, final=False)
                        self._lock.notify_all()
            with self._lock:
                self.track.finish()
                if self.track.frames and not self.track.found.any():
                    name = self._source.info.path.name
                    raise FaceError(f"no face found in any frame of {name}: give a video where the face is clearly visible, facing the camera")
                self._steadier.advance(self.track.frames, final=True)
        except BaseException as error:  # noqa: BLE001  handed to the caller by wait()
            self.error = error
        finally:
            close_mesh(mesh)
            with self._lock:
                self.finished = True
                self._lock.notify_all()

    def wait(self, frames: int) -> int:
        """Block until `frames` frames are final or the track has ended; how many are final."""
        with self._lock:
            while self._steadier.done < frames and not self.finished:
                self._lock.wait(0.25)
            if self.error is not None:
                raise self.error
            return self._steadier.done

    @property
    def frames(self) -> int:
        """Frames followed so far (all of them once finished)."""
        return self.track.frames

    def points(self, t: int) -> np.ndarray:
        with self._lock:
            return np.array(self.track.landmarks[t])

    def found_at(self, t: int) -> bool:
        with self._lock:
            return bool(t < self.track.frames and self.track.found[t])

    def close(self) -> None:
        self._halt.set()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join()
        self.track.close()
