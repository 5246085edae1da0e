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

MAX_TEXT_FILE = 4 * 1024 * 1024  # declarations and module.json are small; a huge one is crafted
# The fix for a path that is not a regular file: checking its permissions (the rules' own hint for
# a file that cannot be read) fixes nothing there.
NOT_REGULAR_HINT = (
    "Pass the path of a regular file: modpack does not read from pipes, sockets or devices"
    " (save what they give to a file first)."
)


FOLDER_HINT = "Pass the path of a file, not of a folder."


class NotRegularFile(OSError):
    """The path names a folder, FIFO, socket or device (errno EINVAL); strerror says which."""

    folder: bool = False


def hint_for(error: OSError) -> str:
    """The fix to print for an OSError of this module's openers; "" leaves the rule's own."""
    if not isinstance(error, NotRegularFile):
        return ""
    return FOLDER_HINT if error.folder else NOT_REGULAR_HINT


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
    error = NotRegularFile(errno.EINVAL, f"{kind_of(mode)}, not a regular file", os.fspath(path))
    error.folder = stat.S_ISDIR(mode)  # its fix is another path, not saving a stream to a file
    raise error


def is_file(path: Path) -> bool:
    """Path.is_file(), False where it raises: Python 3.11 lets ENAMETOOLONG (a name over 255
    bytes) and EACCES on a parent through. The reader, or not_a_file, then says why."""
    try:
        return path.is_file()
    except OSError:
        return False


def is_dir(path: Path) -> bool:
    """Path.is_dir(), False where it raises (as is_file)."""
    try:
        return path.is_dir()
    except OSError:
        return False


def exists(path: Path) -> bool:
    """Path.exists(), False where it raises (as is_file)."""
    try:
        return path.exists()
    except OSError:
        return False


def not_a_file(path: str | os.PathLike[str]) -> str:
    """What stands at `path` that is not a regular file, as the end of a sentence naming it.

    "does not exist" was said of a folder, a device, a FIFO, a loop of symbolic links and a path
    through a file alike."""
    where = Path(path)
    try:
        mode = where.stat().st_mode
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "is a loop of symbolic links"
        if exc.errno == errno.ENOTDIR:
            return "does not exist (a part of the path before it is a file, not a folder)"
        if exc.errno == errno.ENOENT and where.is_symlink():
            return f"is a symbolic link to {str(where.readlink())!r}, which does not exist"
        if exc.errno == errno.ENOENT and str(path) == "-":
            return "does not exist (modpack reads no standard input: pass the file's path)"
        if exc.errno == errno.ENOENT:
            return "does not exist"
        return f"cannot be read: {exc.strerror}"
    except ValueError:  # a NUL in the path
        return "does not exist"
    return f"is {kind_of(mode)}, not a regular file" if not stat.S_ISREG(mode) else "is a regular file"


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


# Byte order marks, UTF-32 first: UTF-32 LE's begins with UTF-16 LE's (the Unicode standard,
# section 23.8, "Byte Order Mark").
_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32 (little-endian)"),
    (b"\x00\x00\xfe\xff", "UTF-32 (big-endian)"),
    (b"\xff\xfe", "UTF-16 (little-endian)"),
    (b"\xfe\xff", "UTF-16 (big-endian)"),
)
_UTF8_BOM = b"\xef\xbb\xbf"
SAVE_AS_UTF8 = (
    "Save the file as UTF-8 without a byte order mark (iconv -f UTF-16 -t UTF-8, or your editor's"
    " encoding menu)."
)


class NotUtf8Text(ValueError):
    """A file that should be UTF-8 text and is not: what it is, where, and how to fix it."""

    def __init__(self, message: str, hint: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.line = line


def _line_and_column(raw: bytes, offset: int) -> tuple[int, int]:
    line_start = raw.rfind(b"\n", 0, offset) + 1
    return raw.count(b"\n", 0, offset) + 1, offset - line_start + 1


def decode_manifest(raw: bytes, name: str) -> str:
    """A ramp.yml's bytes as RAMP reads them: `ramp pack -m` opens the file in binary (click.File
    'rb', ramp.md §5) and PyYAML's reader takes UTF-16 by its byte order mark (what Windows
    PowerShell 5's `>` writes) and UTF-8 with or without one. Else decode_utf8."""
    for bom, encoding in ((b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if raw.startswith(bom) and not raw.startswith(b"\xff\xfe\x00\x00"):  # not UTF-32
            try:
                return raw[len(bom) :].decode(encoding)
            except UnicodeDecodeError as exc:
                raise NotUtf8Text(
                    f"{name} starts with a {encoding.upper()} byte order mark, but byte {exc.start + 2}"
                    f" is not {encoding.upper()} text",
                    SAVE_AS_UTF8,
                    None,
                ) from None
    return decode_utf8(raw, name, bom_ok=True)


def decode_module_json(raw: bytes, name: str) -> str:
    """A module.json's bytes as text: json.load of the bundle's member (RAMP's unpacker.py, which
    mirrors Redis Enterprise's, ramp.md §11) skips a UTF-8 byte order mark, which RFC 8259 §8.1
    lets a parser ignore, so one is no error here, in a bundle or out of one. Else decode_utf8
    (UTF-16, which json.load of bytes would also take, stays an error: RFC 8259 §8.1 says UTF-8)."""
    return decode_utf8(raw, name, bom_ok=True).removeprefix("\ufeff")


def decode_utf8(raw: bytes, name: str, *, bom_ok: bool = False) -> str:
    """`raw` as UTF-8 text, else NotUtf8Text saying what the bytes are and where.

    modpack.toml, module.json and ramp.yml are UTF-8 (TOML 1.0 and RFC 8259 say so; RAMP opens
    ramp.yml as UTF-8). An editor saving UTF-16, a UTF-8 byte order mark the TOML and JSON
    readers refuse at "line 1, column 1", or a binary file got Python's codec message, which
    named no line and came with the hint to check the file's permissions. With `bom_ok` a UTF-8
    byte order mark is kept for the parser (YAML allows one)."""
    for bom, encoding in _BOMS:
        if raw.startswith(bom):
            mark = bom.hex(" ").upper()
            raise NotUtf8Text(
                f"{name} is {encoding} text (it starts with the byte order mark {mark}), not UTF-8",
                SAVE_AS_UTF8,
                1,
            )
    if raw.startswith(_UTF8_BOM) and not bom_ok:
        raise NotUtf8Text(
            f"{name} starts with a UTF-8 byte order mark (EF BB BF), which this file may not start with",
            "Save the file as UTF-8 without a byte order mark (in VS Code: 'UTF-8', not 'UTF-8 with BOM').",
            1,
        )
    nul = raw.find(b"\0")
    if nul >= 0:
        line, column = _line_and_column(raw, nul)
        raise NotUtf8Text(
            f"{name} holds a NUL byte at line {line}, column {column}: it is not text (a binary file,"
            " or UTF-16 without a byte order mark)",
            "Pass the text file itself; if it is UTF-16, save it as UTF-8.",
            line,
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, column = _line_and_column(raw, exc.start)
        raise NotUtf8Text(
            f"{name} is not UTF-8 text: byte 0x{raw[exc.start]:02x} at line {line}, column {column}"
            f" (byte {exc.start}) is not valid UTF-8",
            "Save the file as UTF-8 (text from Windows is often Windows-1252:"
            " iconv -f WINDOWS-1252 -t UTF-8).",
            line,
        ) from None
