"""talkinghead: one portrait photo + one speech recording -> a talking-head video.

    import talkinghead
    talkinghead.animate("photo.jpg", "speech.wav", "talking.mp4")
"""

__version__ = "0.1.0"

from .api import Animator, animate, dub  # noqa: E402
from .config import AnimateConfig  # noqa: E402
from .engine import AnimateResult, CancelToken, Engine  # noqa: E402
from .errors import (  # noqa: E402
    AudioError,
    Cancelled,
    FaceError,
    ImageError,
    InputError,
    MediaError,
    MediaInputError,
    ModelError,
    MotionError,
    OutputError,
    TalkingHeadError,
)
from .live import LiveFrame, LiveSession  # noqa: E402
from .render.base import Renderer, RenderRequest, Work, register_renderer  # noqa: E402
from .types import AudioClip, AudioFeatures, Face, MotionTrack, Portrait  # noqa: E402

__all__ = [
    "AnimateConfig",
    "AnimateResult",
    "Animator",
    "AudioClip",
    "AudioError",
    "AudioFeatures",
    "CancelToken",
    "Cancelled",
    "Engine",
    "Face",
    "FaceError",
    "ImageError",
    "InputError",
    "LiveFrame",
    "LiveSession",
    "MediaError",
    "MediaInputError",
    "ModelError",
    "MotionError",
    "MotionTrack",
    "OutputError",
    "Portrait",
    "RenderRequest",
    "Renderer",
    "TalkingHeadError",
    "Work",
    "animate",
    "dub",
    "register_renderer",
    "__version__",
]
