"""Where outputs go: the rules every file talkinghead writes follows, as ffmpeg and cp would.

    OUTPUT                       what happens
    a new name                   written as a hidden partial beside it, renamed onto it on success
    an existing regular file     the same: replaced only on success, keeping its permission bits
    a symbolic link              followed (as cp does): its target is written as above
    -                            written into standard output as a stream
    a character device, a FIFO   written into as a stream (/dev/null, a named pipe a player reads)
    a folder, a block device,    refused with a one-line OutputError
    a socket, a dangling link,
    a read-only file, an input

A stream cannot be taken back: a run that fails has already written part of it (a reader
sees the stream end early). Nothing here ever removes or replaces a file that is not ours.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

from .errors import OutputError, TalkingHeadError

STDOUT = Path("-")  # `-o -`: standard output


def check_output_path(
    output: str | os.PathLike, *, inputs: Sequence[str | os.PathLike] = (), streams: bool = True
) -> Path:
    """Where to write `output`, or OutputError when nothing may be written there.

    Returns `-` for standard output, the path as given for a device or FIFO (a stream), and
    otherwise the resolved path (a symbolic link's target). `streams=False`: the caller writes
    files beside the output, so a stream is refused. Call it before any heavy work, so a typo
    in the output path costs nothing.
    """
    given = Path(output)
    if given == STDOUT:
        if not streams:
            raise OutputError("this command cannot write to standard output (-): give a file name")
        if _isatty(1):
            raise OutputError("standard output is a terminal: redirect it (> out.mp4), pipe it (| ffplay -) or give -o FILE")
        return STDOUT
    kind = _kind(given)
    if kind == "link loop":
        raise OutputError(f"{output} is a symbolic link that leads back to itself: remove the link or give another name")
    if kind == "link to nothing":
        raise OutputError(f"{output} is a symbolic link to {os.readlink(given)}, which does not exist: create the target or remove the link")
    if kind == "folder":
        raise OutputError(f"{output} is a folder: give a file name (inside it, or another)")
    if kind in ("block device", "socket", "other"):
        raise OutputError(f"{output} is a {kind}, not a file: give a file name")
    if kind in ("character device", "FIFO"):
        if not streams:
            raise OutputError(f"{output} is a {kind}: this command writes files beside its output, so give a file name")
        return given
    path = given.resolve()
    if kind == "file" and not os.access(path, os.W_OK):
        raise OutputError(f"{output} is read-only: choose another output path or make it writable (chmod u+w)")
    if not path.parent.is_dir():
        if path.parent.exists():
            raise OutputError(f"{path.parent} is not a folder: choose another output path")
        raise OutputError(f"the folder {path.parent} does not exist: create it or choose another output path")
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write in {path.parent} (permission denied): choose another output folder")
    for source in inputs:
        if path == Path(source).resolve() or _same_file(path, source):
            raise OutputError(f"the output {path.name} is the input {Path(source).name}: choose another output name")
    return path


def is_stream(path: str | os.PathLike) -> bool:
    """Whether `path` (as check_output_path returned it) is written as a stream, not a file."""
    return Path(path) == STDOUT or _kind(Path(path)) in ("character device", "FIFO")


def open_stream(path: str | os.PathLike) -> int:
    """A file descriptor to write the stream `path` into (the caller closes it).

    A FIFO blocks here until a reader opens it, as `cat > fifo` does.
    """
    if Path(path) == STDOUT:
        with contextlib.suppress(AttributeError, ValueError, OSError):
            sys.stdout.flush()  # whatever Python buffered goes first
        fd = os.dup(1)
    else:
        try:
            fd = os.open(path, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError as error:
            raise OutputError(f"cannot write into {path} ({error.strerror}): choose another output") from None
    if _isatty(fd):
        os.close(fd)
        raise OutputError(f"{'standard output' if Path(path) == STDOUT else path} is a terminal: give -o FILE or redirect the output")
    return fd


def file_target(path: str | os.PathLike) -> Path:
    """The regular file that writing `path` replaces: links followed; OutputError when what is
    there is not a regular file (a last guard for callers that skipped check_output_path)."""
    target = Path(os.path.realpath(path))
    kind = _kind(target)
    if kind not in ("nothing", "file"):
        raise OutputError(f"{path} is a {kind}, not a file: it is not replaced; give a file name")
    return target


def partial_path(path: Path) -> Path:
    """A fresh hidden name beside `path` for the file being written: .NAME.partial-XXXXXX.SUFFIX."""
    return path.with_name(f".{path.stem}.partial-{secrets.token_hex(3)}{path.suffix}")


def replace_with(partial: Path, path: Path) -> None:
    """Move the finished `partial` onto `path` in one step, after its data reached the disk.

    An existing `path` keeps its permission bits. Raises TalkingHeadError (the partial removed)
    when the rename fails.
    """
    try:
        with contextlib.suppress(FileNotFoundError):
            os.chmod(partial, stat.S_IMODE(os.stat(path).st_mode))
        fd = os.open(partial, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(partial, path)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise TalkingHeadError(f"cannot write {path} ({error.strerror}): choose another output path") from None


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, *, newline: str | None = None) -> Iterator[IO[str]]:
    """A text file to write `path` through (UTF-8): a stream written as it goes, a file
    written beside `path` and renamed onto it only when the block ends without an error.

    Raises TalkingHeadError naming the reason (e.g. no space left on the device) when writing
    fails; no partial file is left behind.
    """
    path = Path(path)
    if is_stream(path):
        fd = open_stream(path)
        try:
            with open(fd, "w", encoding="utf-8", newline=newline) as file:
                yield file
        except OSError as error:
            raise TalkingHeadError(f"cannot write into {path} ({error.strerror})") from None
        return
    path = file_target(path)
    partial = partial_path(path)
    try:
        with open(partial, "x", encoding="utf-8", newline=newline) as file:
            yield file
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise TalkingHeadError(f"cannot write {path.name} ({error.strerror}): free some space or choose another folder") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    replace_with(partial, path)


_KINDS = (
    (stat.S_ISREG, "file"),
    (stat.S_ISDIR, "folder"),
    (stat.S_ISCHR, "character device"),
    (stat.S_ISFIFO, "FIFO"),
    (stat.S_ISBLK, "block device"),
    (stat.S_ISSOCK, "socket"),
)


def _kind(path: Path) -> str:
    """What is at `path`, symbolic links followed: "nothing", "file", "folder", ..."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "link to nothing" if os.path.islink(path) else "nothing"
    except OSError as error:
        if error.errno == errno.ELOOP:
            return "link loop"
        return "nothing"  # e.g. a path through a file (NotADirectoryError): nothing can be there
    for test, kind in _KINDS:
        if test(mode):
            return kind
    return "other"


def _isatty(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False


def _same_file(path: Path, other: str | os.PathLike) -> bool:
    """Hard links and other aliases the resolved paths do not reveal; False when either is missing."""
    try:
        return os.path.samefile(path, other)
    except OSError:
        return False
