"""talkinghead: one portrait photo + one speech recording -> a talking-head video.

    import talkinghead
    talkinghead.animate("photo.jpg", "speech.wav", "talking.mp4")
"""

__version__ = "0.1.0"

from .api import Animator, animate  # noqa: E402
from .config import AnimateConfig  # noqa: E402
from .errors import InputError, MediaError, ModelError, TalkingHeadError  # noqa: E402
from .types import AudioClip, AudioFeatures, Face, MotionTrack, Portrait  # noqa: E402

__all__ = [
    "Animator",
    "AnimateConfig",
    "AudioClip",
    "AudioFeatures",
    "Face",
    "InputError",
    "MediaError",
    "ModelError",
    "MotionTrack",
    "Portrait",
    "TalkingHeadError",
    "animate",
    "__version__",
]
