"""Every knob of `talkinghead animate`, in one tree shared by the CLI and the Python API.

Each field's `help` is the CLI's help text; the CLI flag is the field name with dashes
(`lip_weight` -> `--lip-weight`), and the Python API takes the same names as keywords
(`animate(..., lip_weight=0.5)`). Defaults live here and nowhere else.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InputError
from .transcript import read_transcript

DEVICES = ("auto", "cuda", "mps", "cpu")
from .motion.expression import EMOTIONS, GAZE_MODES
from .motion.visemes import REST_MODES


def knob(default: Any, help: str, *, bounds: tuple[float, float] | None = None, **extra: Any) -> Any:
    """A config field with its CLI help text, its allowed range, and e.g. `choices`, `metavar`."""
    return field(default=default, metadata={"help": help, "bounds": bounds, **extra})


@dataclass(frozen=True)
class MotionConfig:
    lip_weight: float = knob(1.0, "amplitude of lip motion: 0 freezes the mouth, 1 natural, up to 2 exaggerated", bounds=(0, 2))
    expression_weight: float = knob(1.0, "amplitude of blinks, gaze and brows: 0 freezes them, up to 2", bounds=(0, 2))
    pose_weight: float = knob(1.0, "amplitude of head motion: 0 holds the head still, up to 2", bounds=(0, 2))
    seed: int = knob(0, "random seed of blinks and head motion (of the diffusion noise for dub --backend latentsync); the same seed gives the same video", bounds=(0, 2**32 - 1))
    transcript: str | None = knob(None, "what is said (text, or a text file): mouth shapes are aligned to these words instead of recognised", metavar="TEXT_OR_FILE")
    gaze: str = knob("camera", "where the eyes look: at the camera with small saccades, also glancing away in pauses (natural), or fixed", choices=GAZE_MODES)
    emotion: str = knob("neutral", "expression under the speech", choices=tuple(EMOTIONS))
    emotion_intensity: float = knob(1.0, "strength of --emotion, 0 to 2", bounds=(0, 2))
    rest: str = knob("photo", "what the mouth returns to in pauses: the photo's own (its smile, its parted lips; p/b/m still close), or closed lips", choices=REST_MODES)
    motion_file: Path | None = knob(None, "render this motion track (JSON or CSV from `talkinghead motion`) instead of one made from the audio", metavar="TRACK", flag="--motion")
    driving: Path | None = knob(None, "a video of a face to perform: its tracked motion drives the photo (the levels of --driving-parts) and its sound is the speech unless AUDIO is given", metavar="VIDEO")
    driving_parts: str = knob("lips,expression,pose", "the levels --driving takes from the video, comma-separated (lips, expression, pose); the others come from the audio", metavar="PARTS")


@dataclass(frozen=True)
class FaceConfig:
    face_index: int | None = knob(None, "face to animate when the photo has several, numbered from 0 left to right (default: the largest)", metavar="N")
    face_expand_ratio: float = knob(1.2, "the face region is the face's landmark box enlarged this much (Hallo's 1.2); a --size crop is twice the face region", bounds=(1.0, 3.0))
    max_side: int = knob(1920, "photos larger than this are scaled down so their longer side has this many pixels", metavar="PX", bounds=(128, 8192))
    max_pixels: int = knob(150_000_000, "refuse photos of more pixels than this (width x height, read from the file's header before decoding)", metavar="N", bounds=(10_000, 1_000_000_000))


@dataclass(frozen=True)
class OutputConfig:
    fps: float = knob(25.0, "frames per second of the video", bounds=(1, 120))
    size: int | None = knob(None, "output a square SIZE x SIZE crop around the face instead of the whole photo", metavar="SIZE", bounds=(64, 4096))
    crf: int = knob(18, "H.264 quality: lower is better and larger (0-51)", bounds=(0, 51))
    frames_dir: Path | None = knob(None, "also write every frame as a PNG into this directory", metavar="DIR")
    max_duration: float = knob(600.0, "refuse audio longer than this many seconds", metavar="SECONDS", bounds=(0.1, 86400))
    score: bool = knob(True, "print the lip-sync offset and confidence of the video made (needs the eval extra)", flag="--no-score")


@dataclass(frozen=True)
class BackendConfig:
    backend: str = knob("warp", "animate's renderer: warp (any CPU, nothing to download), hallo (the Hallo diffusion model from --weights; a GPU is advised); dub's backend: warp, latentsync (the LatentSync model from --weights; a GPU is advised); or another registered one", metavar="NAME")
    weights: Path | None = knob(None, "the model's weights: Hallo's released pretrained_models/ folder (animate --backend hallo), LatentSync's checkpoints/ folder (dub --backend latentsync)", metavar="DIR")
    steps: int | None = knob(None, "denoising steps of a diffusion backend (default: its release's own, hallo 40, latentsync 20)", metavar="N", bounds=(1, 1000))
    cfg_scale: float = knob(3.5, "classifier-free guidance of --backend hallo (1 turns it off)", bounds=(1, 20))
    device: str = knob("auto", "where --backend hallo or latentsync runs: auto picks cuda, then mps, then cpu", choices=DEVICES)
    render_size: int | None = knob(None, "side of the square --backend hallo renders (default: the model's own, 512)", metavar="PX", bounds=(64, 2048))


MODEL_STEPS = {"hallo": 40, "latentsync": 20}
"""--steps when not given: each release's inference default."""
LOOPS = ("pingpong", "hold")
DRIVING_PARTS = ("lips", "expression", "pose")


@dataclass(frozen=True)
class DubConfig:
    loop: str = knob("pingpong", "when the speech outlasts the video: play it backwards and forwards again (pingpong), or hold its last frame (hold)", choices=LOOPS)
    keep_original_audio: float = knob(0.0, "mix the video's own sound under the new speech at this level, 0 (replaced) to 1 (as loud as it was)", bounds=(0, 1))
    # LatentSync's own knobs (dub --backend latentsync), defaults as its release's pipeline runs it.
    guidance: float = knob(1.5, "classifier-free guidance of dub --backend latentsync (1 turns it off, as the release's scripts/inference.py default does)", bounds=(1, 20))
    cache_interval: int = knob(1, "dub --backend latentsync: a full UNet pass every N-th step, only its last layers between (DeepCache; the release's inference.sh uses 3, ~2x faster); 1 = off, the model's own output", metavar="N", bounds=(1, 20))
    resolution: int = knob(256, "side of the face crop dub --backend latentsync works at, a multiple of 64: 256 for LatentSync 1.5, 512 for 1.6 (the checkpoints do not tell which they are)", metavar="PX", bounds=(64, 1024))


@dataclass(frozen=True)
class AnimateConfig:
    motion: MotionConfig = field(default_factory=MotionConfig)
    face: FaceConfig = field(default_factory=FaceConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    backend: BackendConfig = field(default_factory=BackendConfig)
    dub: DubConfig = field(default_factory=DubConfig)

    @classmethod
    def from_options(cls, **options: Any) -> AnimateConfig:
        """Build from flat keyword options named like the CLI flags (`lip_weight=0.5`)."""
        return cls().replace(**options)

    def validate(self) -> AnimateConfig:
        """Itself, or InputError naming the first option outside its range."""
        for group in (getattr(self, g.name) for g in dataclasses.fields(self)):
            _check_bounds(group)
        from .render.base import renderer_names  # the registry: renderers can be added at run time

        from .dubbing.backend import dub_backend_names

        if self.backend.backend not in renderer_names() + dub_backend_names():
            raise InputError(
                f"--backend {self.backend.backend!r} is neither a renderer ({', '.join(renderer_names())}) "
                f"nor a dub backend ({', '.join(dub_backend_names())})"
            )
        if self.output.size is not None and self.output.size % 2:
            raise InputError(f"--size {self.output.size} must be even (H.264 needs even sizes)")
        if self.backend.backend == "hallo" and self.backend.weights is None:
            raise InputError("--backend hallo needs --weights DIR: the pretrained_models folder of Hallo's release")
        if self.dub.resolution % 64:
            raise InputError(f"--resolution {self.dub.resolution} must be a multiple of 64 (the UNet halves the 1/8-size latents three times)")
        if self.backend.backend == "latentsync" and self.backend.weights is None:
            raise InputError("dub --backend latentsync needs --weights DIR: the checkpoints folder of LatentSync's release")
        parts = [p.strip() for p in self.motion.driving_parts.split(",") if p.strip()]
        if not parts or any(p not in DRIVING_PARTS for p in parts):
            raise InputError(f"--driving-parts {self.motion.driving_parts!r}: give a comma-separated list of {', '.join(DRIVING_PARTS)}")
        if self.motion.driving is not None and self.motion.motion_file is not None:
            raise InputError("--driving and --motion both give the motion: use one of them")
        if self.backend.render_size is not None and self.backend.render_size % 8:
            raise InputError(f"--render-size {self.backend.render_size} must be a multiple of 8")
        # Files named by options are checked now, before a photo is analysed or an output opened.
        read_transcript(self.motion.transcript)
        if self.motion.motion_file is not None:
            from .motion.track_io import load_motion

            load_motion(self.motion.motion_file)  # read in full: a damaged track fails here, not mid-render
        return self

    def input_files(self) -> list[Path]:
        """The files options name (--motion, a --transcript file): outputs must not replace them."""
        files = [self.motion.motion_file] if self.motion.motion_file is not None else []
        transcript = self.motion.transcript
        if transcript and len(transcript) < 4096 and "\0" not in transcript and Path(transcript).expanduser().is_file():
            files.append(Path(transcript).expanduser())
        return files

    def replace(self, **options: Any) -> AnimateConfig:
        """A copy with some flat options changed; unknown names raise TypeError."""
        groups = {g.name: getattr(self, g.name) for g in dataclasses.fields(self)}
        changes: dict[str, dict[str, Any]] = {name: {} for name in groups}
        for key, value in options.items():
            group = next((g for g, obj in groups.items() if key in _field_names(obj)), None)
            if group is None:
                raise TypeError(f"unknown option {key!r}; known: {', '.join(sorted(option_names()))}")
            changes[group][key] = value
        return dataclasses.replace(
            self, **{g: dataclasses.replace(obj, **changes[g]) for g, obj in groups.items() if changes[g]}
        ).validate()


LIVE_MOTION_OPTIONS = ("lip_weight", "expression_weight", "pose_weight", "seed", "gaze", "emotion", "emotion_intensity", "rest")
LIVE_PORTRAIT_OPTIONS = ("face_index", "face_expand_ratio", "max_side", "fps", "size", "backend")
"""The options of `animate` that a live session takes too; the others (a transcript, a motion
track, encoding, scoring, the hallo backend's) have no meaning for speech that is still arriving."""


@dataclass(frozen=True)
class LiveConfig:
    """The options of a live session (talkinghead.LiveSession) beyond those of animate it takes."""

    lookahead_ms: float = knob(150.0, "how far ahead of the frame it shows the live motion may hear (ms): more gives surer mouth shapes, less lowers the latency; 0 suits speech pushed with its phone timings", metavar="MS", bounds=(0, 1000))
    audio_rate: int = knob(48000, "sample rate of the sound a live session sends with its frames (pushed audio is resampled to it)", metavar="HZ", bounds=(8000, 96000))
    max_queued: float = knob(120.0, "most seconds of speech a live session holds waiting to be played", metavar="SECONDS", bounds=(1, 3600))

    def validate(self) -> LiveConfig:
        _check_bounds(self)
        return self


@dataclass(frozen=True)
class LiveServerConfig:
    """The options of `talkinghead live`'s page and endpoints."""

    host: str = knob("127.0.0.1", "address to listen on; any but a loopback address needs --token (or --insecure-no-token)", metavar="ADDRESS")
    port: int = knob(8765, "port to listen on (0: any free port, printed at start)", metavar="PORT", bounds=(0, 65535))
    token: str | None = knob(None, "bearer token every request must carry (Authorization: Bearer TOKEN, or ?token= on the page's address)", metavar="TOKEN")
    insecure_no_token: bool = knob(False, "listen on a non-loopback address without a token (anyone who reaches it can use it)")
    max_sessions: int = knob(4, "most live sessions at once, each with its own photo; more are refused (HTTP 503)", metavar="N", bounds=(1, 64))
    session_timeout: float = knob(30.0, "a session no one reads frames from for this long is closed", metavar="SECONDS", bounds=(1, 86400))
    transport: str = knob("auto", "how the page receives the avatar: webrtc (aiortc), websocket (frames as JPEG + PCM), or auto (WebRTC when aiortc is installed)", choices=("auto", "webrtc", "websocket"))

    def validate(self) -> LiveServerConfig:
        _check_bounds(self)
        return self


def _check_bounds(group: Any) -> None:
    for f in dataclasses.fields(group):
        value, bounds, choices = getattr(group, f.name), f.metadata.get("bounds"), f.metadata.get("choices")
        if value is None:
            continue
        if bounds is not None and not bounds[0] <= value <= bounds[1]:
            raise InputError(f"{flag_of(f)} {value} is out of range: use a value from {bounds[0]:g} to {bounds[1]:g}")
        if choices is not None and value not in choices:
            raise InputError(f"{flag_of(f)} {value!r} is not one of {', '.join(choices)}")


def _field_names(obj: Any) -> set[str]:
    return {f.name for f in dataclasses.fields(obj)}


def option_fields() -> list[dataclasses.Field]:
    """Every leaf option of AnimateConfig, in CLI order."""
    groups = [f.default_factory() for f in dataclasses.fields(AnimateConfig)]  # type: ignore[misc]
    return [f for group in groups for f in dataclasses.fields(group)]


def group_names(group: type) -> frozenset[str]:
    """The option names of one group of the tree (MotionConfig, DubConfig, ...)."""
    return frozenset(f.name for f in dataclasses.fields(group))


DUB_COMMON_OPTIONS = frozenset({"face_index", "crf", "frames_dir", "max_duration", "score", "loop", "keep_original_audio", "backend"})
"""The options every dub backend takes: the face, the length, the sound, the output's quality;
fps and size are the video's own. Each backend adds its own (DubBackend.options)."""
DUB_OPTIONS = DUB_COMMON_OPTIONS | {"lip_weight", "transcript", "weights", "device", "seed", "steps"} | group_names(DubConfig)
"""The options `talkinghead dub` takes, whichever backend honours them."""


def flag_of(f: dataclasses.Field) -> str:
    """The CLI flag of an option: its name with dashes, unless it names its own."""
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


def option_names() -> set[str]:
    return {f.name for f in option_fields()}
