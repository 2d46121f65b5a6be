"""Video frames as a video holds them: 8-bit YUV 4:2:0 planes and the colour tags that say how
to read them.

A dub changes only the lower face of each frame. Working on the decoded planes, rather than
on RGB made from them, leaves every other pixel bit for bit as it was (no conversion back and
forth, no guess of the colour matrix) and spares two full-frame conversions per frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class ColourTags:
    """How a video's YUV samples are to be read, in ffmpeg's names; None: not stated."""

    matrix: str | None = None  # "bt709", "smpte170m", "bt470bg", "bt2020nc", ...
    primaries: str | None = None  # "bt709", "smpte170m", "bt2020", ...
    transfer: str | None = None  # "bt709", "smpte170m", "iec61966-2-1", "arib-std-b67", ...
    range: str | None = None  # "tv" (limited, 16-235) or "pc" (full)

    def ffmpeg_args(self) -> list[str]:
        """The encoder options that tag an H.264 output with these values (none for those not
        stated): ffmpeg's, and libx264's own, which ffmpeg passes on whatever the frames say."""
        named = (("-colorspace", self.matrix), ("-color_primaries", self.primaries), ("-color_trc", self.transfer), ("-color_range", self.range))
        x264 = (("colormatrix", self.matrix), ("colorprim", self.primaries), ("transfer", self.transfer), ("range", self.range))
        params = ":".join(f"{key}={value}" for key, value in x264 if value is not None)
        return [arg for flag, value in named if value is not None for arg in (flag, value)] + (["-x264-params", params] if params else [])

    def describe(self) -> str:
        return ", ".join(f"{k} {v}" for k, v in (("matrix", self.matrix), ("primaries", self.primaries), ("transfer", self.transfer), ("range", self.range)) if v) or "untagged"


BT601 = ColourTags(matrix="smpte170m", range="tv")
"""What `VideoWriter` makes of RGB frames: cv2's BT.601 video-range conversion."""


@dataclass
class I420Frame:
    """One frame as 8-bit YUV 4:2:0: the (H·3/2, W) uint8 buffer cv2 calls I420 (Y rows, then
    the U and the V plane, each (H/2, W/2), stored as rows of W), H and W even."""

    data: np.ndarray  # (H * 3 // 2, W) uint8, C-contiguous

    @property
    def height(self) -> int:
        return self.data.shape[0] * 2 // 3

    @property
    def width(self) -> int:
        return self.data.shape[1]

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) pixels."""
        return self.width, self.height

    @property
    def y(self) -> np.ndarray:
        """(H, W) uint8 luma, a view: also the grey picture the lip-sync judge reads."""
        return self.data[: self.height]

    @property
    def u(self) -> np.ndarray:
        """(H/2, W/2) uint8, a view."""
        h, w = self.height, self.width
        return self.data.reshape(-1)[h * w : h * w * 5 // 4].reshape(h // 2, w // 2)

    @property
    def v(self) -> np.ndarray:
        """(H/2, W/2) uint8, a view."""
        h, w = self.height, self.width
        return self.data.reshape(-1)[h * w * 5 // 4 :].reshape(h // 2, w // 2)

    def copy(self) -> I420Frame:
        return I420Frame(self.data.copy())

    def rgb(self) -> np.ndarray:
        """(H, W, 3) uint8 RGB by cv2's BT.601 video-range conversion (what `crop_rgb` uses too)."""
        return cv2.cvtColor(self.data, cv2.COLOR_YUV2RGB_I420)

    def crop_rgb(self, box: tuple[int, int, int, int]) -> np.ndarray:
        """(y1 - y0, x1 - x0, 3) uint8 RGB of an even-aligned box (x0, y0, x1, y1) inside the frame.

        The same conversion both ways (`paste_rgb`), so what is read and written back keeps its
        colour whatever matrix the video was made with."""
        x0, y0, x1, y1 = box
        return cv2.cvtColor(pack_i420(self.y[y0:y1, x0:x1], self.u[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2], self.v[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2]), cv2.COLOR_YUV2RGB_I420)

    @classmethod
    def from_rgb(cls, rgb: np.ndarray) -> I420Frame:
        return cls(cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2YUV_I420))


def even_box(box: tuple[float, float, float, float], size: tuple[int, int]) -> tuple[int, int, int, int]:
    """An integer box with even corners covering `box`, clipped to an even-sized frame of `size` (w, h)."""
    w, h = size
    x0, y0 = (max(0, int(np.floor(v)) // 2 * 2) for v in box[:2])
    x1 = min(w, -(-int(np.ceil(box[2])) // 2) * 2)
    y1 = min(h, -(-int(np.ceil(box[3])) // 2) * 2)
    return x0, y0, max(x0, x1), max(y0, y1)


def pack_i420(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """(H·3/2, W) uint8 I420 buffer of (H, W) luma and (H/2, W/2) chroma planes, H and W even."""
    h, w = y.shape
    out = np.empty(h * w * 3 // 2, np.uint8)
    out[: h * w] = y.ravel()
    out[h * w : h * w * 5 // 4] = u.ravel()
    out[h * w * 5 // 4 :] = v.ravel()
    return out.reshape(h * 3 // 2, w)
