"""The exceptions talkinghead raises.

    TalkingHeadError                 base class; str(error) is a one-line message for the user
    ├── InputError                   the user's input cannot be used (CLI exit code 2)
    │   ├── ImageError               missing, unreadable or corrupt image
    │   ├── AudioError               missing, corrupt, empty or too long audio
    │   ├── FaceError                no usable face in the image (none, too small, bad index)
    │   ├── MotionError              a motion track file that cannot be used
    │   ├── TranscriptError          --transcript names no file, an unreadable one, or no words
    │   └── OutputError              output path missing, not writable, equal to an input, or not ours to replace
    ├── MediaError                   ffmpeg could not read or write a media file: exit code 2 when the
    │                                input is at fault (corrupt, unplayable), 1 otherwise (disk full,
    │                                ffmpeg stopped by a signal)
    └── ModelError                   model weights missing or incompatible (CLI exit code 2)

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


class MediaError(TalkingHeadError):
    """ffmpeg failed on a media file. `input_fault`: the file given to us is what is wrong."""

    def __init__(self, message: str, *, input_fault: bool = False) -> None:
        super().__init__(message)
        self.input_fault = input_fault
        self.exit_code = 2 if input_fault else 1


class ModelError(TalkingHeadError):
    exit_code = 2
