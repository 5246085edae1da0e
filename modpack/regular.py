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


def open_regular(path: str | os.PathLike[str]) -> BinaryIO:
    """`path` opened for binary reading; OSError (strerror saying what it is) when not a regular file."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISREG(mode):
            os.set_blocking(fd, True)
            return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    os.close(fd)
    raise OSError(errno.EINVAL, f"{kind_of(mode)}, not a regular file", os.fspath(path))


def read_regular(path: Path, limit: int) -> bytes:
    """At most `limit` + 1 bytes of a regular file (the caller tells a too-large one by the length)."""
    with open_regular(path) as stream:
        return stream.read(limit + 1)
