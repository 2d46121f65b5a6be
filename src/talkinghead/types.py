"""The data contract between the pipeline's stages.

    image ─► engine.load_portrait ─► Portrait ─► Renderer.prepare ─► engine.Subject ──────┐
    audio ─► audio.load_audio ─► AudioClip ─► audio.analyze_audio ─► AudioFeatures         │
                                   motion.generate_motion (or a saved track) ─► MotionTrack ┴─► render.base.RenderRequest
                                   ─► Renderer.frames ─► frames ─► video.VideoWriter ─► engine.AnimateResult

The engine (engine.py) runs the stages; render/base.py defines the renderer contract.

Coordinates: image pixels, x to the right, y down, z away from the camera (MediaPipe's sign),
z in the same pixel units as x. Every array says its shape and dtype next to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

ANALYSIS_RATE = 16_000
"""Sample rate (Hz) of the mono audio every analysis stage reads."""


@dataclass(frozen=True)
class Face:
    """One face found in a photo."""

    landmarks: np.ndarray  # (478, 3) float32, image pixels; MediaPipe Face Mesh order with iris
    box: tuple[int, int, int, int]  # x0, y0, x1, y1: landmark bounding box, pixels
    yaw: float  # degrees, + = the face turns towards the image's right
    pitch: float  # degrees, + = the face looks down
    roll: float  # degrees, + = clockwise in the image

    @property
    def width(self) -> int:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> int:
        return self.box[3] - self.box[1]


@dataclass(frozen=True)
class Portrait:
    """A photo ready to animate: the image and the face chosen in it."""

    image: np.ndarray  # (H, W, 3) uint8 RGB, orientation applied, even H and W
    face: Face
    faces_found: int = 1
    face_index: int = 0  # index of `face` among the faces found, ordered left to right

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return self.image.shape[1], self.image.shape[0]


@dataclass(frozen=True)
class AudioClip:
    """Speech to animate: mono samples for analysis, and what to mux into the video."""

    samples: np.ndarray  # (N,) float32 in [-1, 1], mono, at `rate`
    rate: int = ANALYSIS_RATE
    source: Path | None = None  # file the audio came from; muxed as is when set
    original: np.ndarray | None = None  # (N0, C) float32, the caller's own samples when no file
    original_rate: int | None = None

    @property
    def duration(self) -> float:
        """Seconds."""
        return len(self.samples) / self.rate

    def frame_count(self, fps: float) -> int:
        """Video frames that cover this audio: the video lasts as long as the audio (±1 frame)."""
        return max(1, round(self.duration * fps))


@dataclass(frozen=True)
class PhoneSegment:
    """One phone, or silence, with its time span in the clip."""

    phone: str  # ARPAbet without stress ("AA", "P", ...) or "SIL"
    start: float  # seconds
    end: float  # seconds


@dataclass(frozen=True)
class Prosody:
    """Per-video-frame prosody: what brows, blinks and nods follow."""

    fps: float
    f0: np.ndarray  # (T,) float32 Hz, 0 where unvoiced
    voiced: np.ndarray  # (T,) bool
    emphasis: np.ndarray  # (T,) float32 in [0, 1]: bumps on emphasised syllables, else 0
    pauses: np.ndarray  # (T,) bool: non-speech lasting at least a quarter of a second


@dataclass(frozen=True)
class AudioFeatures:
    """Everything the motion levels read from the speech, per video frame."""

    fps: float
    loudness: np.ndarray  # (T,) float32 in [0, 1]: speech loudness envelope, 0 = silence floor
    voice: np.ndarray  # (T,) float32 in [0, 1]: probability that the frame holds speech
    prosody: Prosody
    phones: tuple[PhoneSegment, ...] = ()  # covering the clip, "SIL" where nothing is said
    phone_source: str = "recognized"  # "recognized" from the audio, or "aligned" to a transcript

    @property
    def frame_count(self) -> int:
        return len(self.loudness)


# Motion channels. Expression and pose channels are displacements from the photo's own face:
# 0 everywhere is the photo itself. Lip channels describe the mouth in absolute terms, as
# ARKit's blendshapes do: how far from a relaxed mouth with the lips together, whatever the
# photo's mouth is. A renderer reaches that shape from the photo's own mouth (the warp
# renderer measures it once per portrait: a smiling photo closes its lips over its teeth on
# "m", an open one closes its jaw). `articulate` says how fully the mouth takes that shape:
# 0 is the photo's own mouth, whatever the other lip channels say, so a track of zeros is
# the photo still; 1 is exactly the shape described; up to 2 exaggerates the way there.
# Ranges at weight 1 are given next to each name.
LIP_CHANNELS = (
    "jaw_open",  # 0..1   how open the mouth is: 0 = lips together, 1 = wide open ("ah" shouted)
    "lips_wide",  # 0..1   corners spread beyond a relaxed mouth ("ee"); 1 = a broad smile's width
    "lips_round",  # 0..1   lips rounded and pushed forward, the mouth narrower ("oo", "w")
    "lips_press",  # 0..1   lips pressed together ("p", "b", "m"), closed whatever the jaw says
    "upper_lip_up",  # 0..1   upper lip raised, upper teeth shown
    "lower_lip_tuck",  # 0..1   lower lip up against the upper teeth ("f", "v")
    "tongue_up",  # 0..1   tongue tip raised to the ridge behind the upper teeth ("l", "t", "n")
    "tongue_out",  # 0..1   tongue tip between the teeth ("th")
    "articulate",  # 0..2   0 = the photo's own mouth, 1 = the shape above, 2 = twice the way there
)
EXPRESSION_CHANNELS = (
    "blink_left",  # 0..1   subject's left eye (image right) closed
    "blink_right",  # 0..1
    "eyes_wide",  # 0..1   upper lids raised (surprise)
    "eyes_squint",  # 0..1   lower lids raised (smile, anger)
    "brow_up",  # 0..1   both brows raised (emphasis, surprise)
    "brow_inner_up",  # 0..1   inner brows raised (sadness)
    "brow_down",  # 0..1   brows lowered and drawn together (anger, focus)
    "gaze_x",  # -1..1  iris towards the image's left (-) or right (+)
    "gaze_y",  # -1..1  iris up (-) or down (+)
    "smile",  # 0..1   mouth corners up and out, cheeks raised
    "mouth_frown",  # 0..1   mouth corners down
)
POSE_CHANNELS = (
    "yaw",  # degrees, + = head turns towards the image's right
    "pitch",  # degrees, + = head nods down
    "roll",  # degrees, + = head tilts clockwise in the image
    "shift_x",  # face widths, + = right
    "shift_y",  # face widths, + = down
)
LEVELS = ("lip", "expression", "pose")
ARTICULATE = LIP_CHANNELS.index("articulate")


@dataclass(frozen=True)
class MotionTrack:
    """Per-frame motion on the three levels of Hallo's hierarchy: lip, expression, pose."""

    fps: float
    lip: np.ndarray  # (T, len(LIP_CHANNELS)) float32
    expression: np.ndarray  # (T, len(EXPRESSION_CHANNELS)) float32
    pose: np.ndarray  # (T, len(POSE_CHANNELS)) float32
    meta: dict = field(default_factory=dict, compare=False)  # provenance: seed, source, ...

    def __post_init__(self) -> None:
        counts = {len(self.lip), len(self.expression), len(self.pose)}
        if len(counts) != 1:
            raise ValueError(f"motion levels have different frame counts: {sorted(counts)}")

    @property
    def frame_count(self) -> int:
        return len(self.lip)

    @classmethod
    def still(cls, frames: int, fps: float) -> MotionTrack:
        """A track that holds the photo's own face for `frames` frames (`articulate` 0)."""
        zeros = lambda n: np.zeros((frames, n), np.float32)  # noqa: E731
        return cls(fps, zeros(len(LIP_CHANNELS)), zeros(len(EXPRESSION_CHANNELS)), zeros(len(POSE_CHANNELS)))

    def weighted(self, *, lip: float = 1.0, expression: float = 1.0, pose: float = 1.0) -> MotionTrack:
        """Each level's amplitude scaled by its weight; 0 freezes that level exactly.

        The lip level's shapes are absolute: its weight scales `articulate`, how far the mouth
        goes from the photo's own towards them.
        """
        lips = self.lip.copy()
        lips[:, ARTICULATE] *= np.float32(lip)
        return replace(
            self,
            lip=lips.astype(np.float32),
            expression=(self.expression * np.float32(expression)).astype(np.float32),
            pose=(self.pose * np.float32(pose)).astype(np.float32),
        )

    def channel(self, name: str) -> np.ndarray:
        """(T,) float32 values of one channel, looked up by name in any level."""
        for names, values in (
            (LIP_CHANNELS, self.lip),
            (EXPRESSION_CHANNELS, self.expression),
            (POSE_CHANNELS, self.pose),
        ):
            if name in names:
                return values[:, names.index(name)]
        raise KeyError(name)
