"""Opening a file the user named, only when it is a regular file.

Opening a FIFO for reading blocks until a writer comes, and a device may never end: `validate`
hung on a FIFO named module.json. The file is opened non-blocking (an open that returns at once
whatever the path is, even when it was swapped for a FIFO after a check), then its type is checked
on the open descriptor, so no race between a check and the open remains.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO

_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def kind_of(mode: int) -> str:
    """What a non-regular file is, in words."""
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def _regular_fd(path: str | os.PathLike[str]) -> int:
    """A blocking descriptor of `path`, opened only when it is a regular file (else OSError)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISREG(mode):
            os.set_blocking(fd, True)
            return fd
    except BaseException:
        os.close(fd)
        raise
    os.close(fd)
    raise OSError(errno.EINVAL, f"{kind_of(mode)}, not a regular file", os.fspath(path))


def open_regular(path: str | os.PathLike[str]) -> BinaryIO:
    """`path` opened for binary reading; OSError (strerror saying what it is) when not a regular file."""
    return os.fdopen(_regular_fd(path), "rb")


def read_regular(path: Path, limit: int) -> bytes:
    """At most `limit` + 1 bytes of a regular file (the caller tells a too-large one by the length).

    Read with os.read in pieces sized by the file: asking a buffered reader for `limit` + 1 bytes
    allocates that much on every call (4 MiB per module.json cost 45 us, most of a file's budget).
    """
    fd = _regular_fd(path)
    try:
        size = os.fstat(fd).st_size
        wanted = min(size, limit) + 1  # + 1 tells EOF, or a file past the limit
        pieces: list[bytes] = []
        total = 0
        while total <= limit:
            piece = os.read(fd, wanted)
            if not piece:
                break
            pieces.append(piece)
            total += len(piece)
            if total == size and len(piece) < wanted:
                break  # all fstat counted, and the read stopped short of the extra byte: the end
            wanted = min(max(wanted, 1 << 16), limit + 1 - total)  # grown since fstat, or /proc
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)
    finally:
        os.close(fd)
