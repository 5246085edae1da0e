"""Bytes and files: a file's sha256 read in chunks (tests hash bundles of 100 MiB and more), and a
copy of some bytes with one field patched."""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path


def sha256(path: Path) -> str:
    """The file's sha256 (hex), read 1 MiB at a time."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def patched(data: bytes, offset: int, fmt: str, *values: int) -> bytes:
    """`data` with `values` packed little-endian (struct format `fmt`) at `offset`."""
    out = bytearray(data)
    struct.pack_into("<" + fmt, out, offset, *values)
    return bytes(out)
