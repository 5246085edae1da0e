"""Atomic output: a file appears complete under its name, or not at all, even after SIGKILL.

Where Linux allows it the data goes to an anonymous file (O_TMPFILE) in the target folder: a
killed process leaves nothing behind, because the file never had a name. When complete it is
linked in under a temporary name and renamed over the target in the same folder. Elsewhere a
named temporary file is used, and the next run removes the ones a killed run left.

A target that cannot be written (its folder missing or read-only, a folder at its name, a full
disk) is a ModpackError naming the target and the system's reason: the caller is told the output
failed, not an internal error, and nothing is left under the target's name.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import os
import re
import secrets
import stat
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, TypeVar

from modpack.errors import ModpackError
from modpack.hashing import sha256_stream

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

_AT_FDCWD = -100
_AT_EMPTY_PATH = 0x1000
CHUNK = 1024 * 1024


def temporary_name(target: Path) -> Path:
    return target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")


def remove_stale(target: Path) -> list[Path]:
    """Named temporaries of `target` left by a killed run (two writers of one file are unsupported)."""
    removed = []
    for stale in target.parent.glob(f".{target.name}.*.tmp"):
        with contextlib.suppress(OSError):
            stale.unlink()
            removed.append(stale)
    return removed


def write_error(target: Path, exc: OSError) -> ModpackError:
    """The output `target` could not be written: the system's reason, and what to do."""
    return ModpackError(
        f"cannot write {target}: {exc.strerror or exc}",
        "Write to a folder that exists, is writable and has room.",
    )


T = TypeVar("T")


def _mapped(target: Path, call: Callable[[], T]) -> T:
    """`call()`, a failure of which (a full disk, a quota, EIO, a closed pipe) is write_error."""
    try:
        return call()
    except OSError as exc:
        raise write_error(target, exc) from None


class _Output(io.BufferedRandom):
    """The output's stream: a failed write, flush or seek (each may write out the buffer) is
    write_error."""

    def __init__(self, fd: int, target: Path) -> None:
        super().__init__(io.FileIO(fd, "r+"))
        self.target = target

    def write(self, data: ReadableBuffer, /) -> int:
        return _mapped(self.target, lambda: super(_Output, self).write(data))

    def flush(self) -> None:
        _mapped(self.target, super().flush)

    def seek(self, offset: int, whence: int = os.SEEK_SET, /) -> int:
        return _mapped(
            self.target, lambda: super(_Output, self).seek(offset, whence)
        )  # writes out the buffer


class _Direct(io.BufferedWriter):
    """The stream of a FIFO or a device written as it is: a failed write is write_error."""

    def __init__(self, fd: int, target: Path) -> None:
        super().__init__(io.FileIO(fd, "w"))
        self.target = target

    def write(self, data: ReadableBuffer, /) -> int:
        return _mapped(self.target, lambda: super(_Direct, self).write(data))

    def flush(self) -> None:
        _mapped(self.target, super().flush)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_SPECIAL = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))
# The system's names of this process's own open files: /dev/stdout, /dev/fd/63 (a shell's >(...)).
_OWN_DESCRIPTOR = re.compile(r"/dev/(?:std(in|out|err)|fd/(\d+))|/proc/self/fd/(\d+)")
_STANDARD = {"in": 0, "out": 1, "err": 2}


def special_kind(target: Path) -> str | None:
    """What the name `target` itself is when it is no file a rename may replace: a FIFO, a device
    or a socket; None for a regular file, a folder, a link (never followed) or nothing."""
    try:
        mode = target.lstat().st_mode
    except (OSError, ValueError):
        return None
    return _kind(mode)


def _kind(mode: int) -> str | None:
    if stat.S_ISSOCK(mode):
        return "a socket"
    return next((kind for test, kind in _SPECIAL if test(mode)), None)


def _own_descriptor(target: Path) -> int | None:
    """The descriptor `target` names when it is one of this process's own (/dev/stdout, /dev/fd/N,
    /proc/self/fd/N), written through a duplicate: it shares the descriptor's offset, so a name
    written to /dev/stdout sent to a file by `>` is not overwritten by what is printed next."""
    match = _OWN_DESCRIPTOR.fullmatch(str(target))
    if match is None:
        return None
    standard, number, proc = match.groups()
    return _STANDARD[standard] if standard else int(number or proc)


def _open_in_place(target: Path) -> int | None:
    """A descriptor to write a user-named FIFO or device as it is (as RAMP's open(path, "w")
    writes it), or one of this process's own; None for anything a rename should replace. The
    name itself must be the FIFO or device: O_NOFOLLOW, and checked again on what was opened."""
    own = _own_descriptor(target)
    if own is not None:
        try:
            return os.dup(own)
        except OSError as exc:
            raise write_error(target, exc) from None
    if special_kind(target) is None:
        return None
    try:
        fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW)
    except OSError as exc:
        raise write_error(target, exc) from None
    if _kind(os.fstat(fd).st_mode) is None:  # swapped for a file or a link since it was looked at
        os.close(fd)
        raise ModpackError(f"cannot write {target}: it changed while it was opened", "Run the command again.")
    return fd


def _linked_file(target: Path) -> Path:
    """The regular file a link at `target` names, to be replaced with the link kept: only through
    links the user running modpack owns, every one of the chain (as root, a link another user
    planted in a shared folder such as /tmp, first or further on, must not send the write
    elsewhere), to an existing regular file. Else `target` itself: the link is replaced, not
    followed."""
    current = target
    for _ in range(40):  # the kernel's own limit on a chain of links
        try:
            found = current.lstat()
        except (OSError, ValueError):
            return target
        if stat.S_ISREG(found.st_mode):
            return target if current == target else Path(os.path.realpath(current))
        if not stat.S_ISLNK(found.st_mode) or found.st_uid != os.geteuid():
            return target  # not a file, or a link in the chain that another user made
        try:
            current = current.parent / current.readlink()
        except (OSError, ValueError):
            return target
    return target


class AtomicFile:
    """`with AtomicFile(target) as out: out.stream.write(...); out.commit()`.

    `named`: a file the user named to be written (the name file of ramp-pack, the modpack.toml init
    or discover --write writes). A link of the user's own to an existing regular file is written
    through (that file is replaced and the link kept: a linked modpack.toml lost its link); a FIFO
    or a device at the name, or one of the process's own descriptors (/dev/stdout), is written as
    it is (_open_in_place); any other link is replaced, not followed. Otherwise (a bundle) a link
    at the name is replaced, not followed, and a FIFO or a device is refused."""

    def __init__(self, target: Path, *, named: bool = False) -> None:
        self.named: Path | None = None
        self.direct = False
        fd = _open_in_place(target) if named else None
        if fd is not None:
            self.target, self.direct = target, True
            self.stream: BinaryIO = _Direct(fd, target)
            return
        kind = special_kind(target)
        if kind is not None:
            raise ModpackError(
                f"cannot write {target}: it is {kind}, not a file",
                "Name a file to write (one that is not there yet, or a regular file).",
            )
        if named:
            target = _linked_file(target)
        self.target = target
        _refuse_folder(target)  # before any work: a rename over a folder fails only at the end
        mode = 0o666 & ~_umask()
        try:
            fd = os.open(target.parent, os.O_TMPFILE | os.O_RDWR, mode)
        except (AttributeError, OSError):
            self.named = temporary_name(target)
            try:
                fd = os.open(self.named, os.O_RDWR | os.O_CREAT | os.O_EXCL, mode)
            except OSError as exc:
                self.named = None
                raise write_error(target, exc) from None
        self.stream = _Output(fd, target)

    def existing_mode(self) -> int | None:
        """The mode of the regular file this write replaces (a link is none), to keep it."""
        if self.direct:
            return None
        try:
            found = self.target.lstat()
        except OSError:
            return None
        return found.st_mode & 0o7777 if stat.S_ISREG(found.st_mode) else None

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.stream.close()  # flushes: on a full disk that fails again, and nothing is kept
        except ModpackError:
            if exc[0] is None:
                raise
        finally:
            if self.named is not None:
                self.named.unlink(missing_ok=True)

    def same_as_target(self) -> bool:
        """True when the target already holds exactly these bytes; False when it holds others or
        none. OSError when it is there and cannot be read: whether it differs is not known (a
        bundle build could not read was said to exist "with different content")."""
        if self.direct or self.target.is_symlink():  # a link at the name is replaced: never "unchanged"
            return False
        try:
            size = self.target.stat().st_size
        except FileNotFoundError:
            return False
        if size != os.fstat(self.stream.fileno()).st_size:
            return False
        with self.target.open("rb") as existing:
            return _rewound_hash(existing) == _rewound_hash(self.stream)

    def commit(self) -> None:
        """fsync, give the data a name in the target folder, rename it over the target."""
        self.stream.flush()
        if self.direct:
            return  # written where it goes: a FIFO or a device has nothing to rename
        try:
            os.fsync(self.stream.fileno())
            if self.named is None:
                self.named = self._link()
            self.named.replace(self.target)
        except OSError as exc:
            raise write_error(self.target, exc) from None
        self.named = None
        fsync_folder(self.target.parent)

    def _link(self) -> Path:
        name = temporary_name(self.target)
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.linkat(self.stream.fileno(), b"", _AT_FDCWD, os.fsencode(name), _AT_EMPTY_PATH) == 0:
            return name
        try:
            os.link(f"/proc/self/fd/{self.stream.fileno()}", name, follow_symlinks=True)
        except OSError:
            self._copy_to(name)  # no way to name an anonymous file here: copy it out
        return name

    def _copy_to(self, name: Path) -> None:
        self.stream.seek(0)
        with name.open("xb") as out:
            while chunk := self.stream.read(CHUNK):
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())


def _refuse_folder(target: Path) -> None:
    try:
        is_folder = stat.S_ISDIR(target.lstat().st_mode)  # a symlink at the name is replaced, not followed
    except OSError:
        return
    if is_folder:
        raise ModpackError(
            f"cannot write {target}: a folder has that name",
            "Remove the folder, or choose another output name.",
        )


def _rewound_hash(stream: BinaryIO) -> str:
    stream.seek(0)
    return sha256_stream(stream)


def fsync_folder(folder: Path) -> None:
    """Make a new name in `folder` durable (a rename is only on disk once its folder is synced).
    A folder that cannot be opened (some file systems refuse O_RDONLY on one) is left as it is."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_output(target: Path, *, named: bool = False) -> Iterator[AtomicFile]:
    """AtomicFile(target, named=named), the temporaries a killed run left removed first."""
    if not (named and (_own_descriptor(target) is not None or special_kind(target))):
        remove_stale(_linked_file(target) if named else target)
    with AtomicFile(target, named=named) as out:
        yield out


def write_text(target: Path, text: str, mode: int | None = None) -> None:
    """A small text file the user named (AtomicFile's `named`), atomically where it is a file;
    `mode` defaults to the existing file's, else the umask's."""
    with atomic_output(target, named=True) as out:
        mode = mode if mode is not None else out.existing_mode()
        out.stream.write(text.encode("utf-8"))
        if mode is not None and not out.direct:
            os.fchmod(out.stream.fileno(), mode)
        out.commit()


def one_of(target: Path, inputs: Sequence[Path]) -> Path | None:
    """The input that `target` already is (same device and inode: a hard link counts), or None.

    A writer checks this before writing: with --force it would otherwise replace its own input."""
    try:
        written = target.lstat()  # a link at the name is replaced, never what it points to
    except OSError:
        return None  # nothing there yet: no input can be it
    for source in inputs:
        try:
            read = source.stat()
        except OSError:
            continue
        if (read.st_dev, read.st_ino) == (written.st_dev, written.st_ino):
            return source
    return None


def write_private(path: Path, data: bytes, mode: int = 0o600) -> None:
    """`data` in `path`, readable by its owner only (`mode`), whole or not at all (a temporary file,
    then a rename). A link planted at either name is never followed: the rename replaces one at
    `path`, and O_NOFOLLOW refuses one at the temporary name (a TLS key was written through it)."""
    temp = temporary_name(path)  # its own name, made anew (O_EXCL): two runs never share it
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        temp.replace(path)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise ModpackError(
            f"cannot write {path}: {exc.strerror or exc}",
            f"Check the folder {path.parent}: it must be writable (a link there is never followed).",
        ) from None
