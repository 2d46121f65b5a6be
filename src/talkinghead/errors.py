"""The exceptions talkinghead raises.

    TalkingHeadError                 base class; str(error) is a one-line message for the user
    ├── InputError                   the user's input cannot be used (CLI exit code 2)
    │   ├── ImageError               missing, unreadable or corrupt image
    │   ├── AudioError               missing, corrupt, empty or too long audio
    │   ├── FaceError                no usable face in the image (none, too small, bad index)
    │   ├── MotionError              a motion track file that cannot be used
    │   ├── TranscriptError          --transcript names no file, an unreadable one, or no words
    │   └── OutputError              output path missing, not writable, equal to an input, or not ours to replace
    ├── ModelError                   model weights missing or incompatible (CLI exit code 2)
    ├── MediaError                   ffmpeg failed: disk full, killed by a signal (exit code 1)
    │   └── MediaInputError          ffmpeg cannot read a file the user gave (also an InputError: exit code 2)
    └── Cancelled                    the request was cancelled; nothing was written (exit code 130)

Anything else escaping the pipeline is a bug (CLI exit code 1, with a traceback).
"""

from __future__ import annotations


class TalkingHeadError(Exception):
    """Base class. The message says what is wrong and what to do about it."""

    exit_code = 1


class InputError(TalkingHeadError):
    exit_code = 2


class ImageError(InputError):
    pass


class AudioError(InputError):
    pass


class FaceError(InputError):
    pass


class MotionError(InputError):
    pass


class TranscriptError(InputError):
    pass


class OutputError(InputError):
    pass


class ModelError(TalkingHeadError):
    exit_code = 2


class MediaError(TalkingHeadError):
    pass


class MediaInputError(MediaError, InputError):
    exit_code = 2


class Cancelled(TalkingHeadError):
    exit_code = 130
