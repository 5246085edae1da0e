"""SHA-256 of streams too large to hold: sequential, or on a worker thread beside other work."""

from __future__ import annotations

import concurrent.futures
import hashlib
from collections.abc import Iterable
from typing import BinaryIO

CHUNK = 1024 * 1024


def sha256_chunks(chunks: Iterable[bytes]) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def stream_chunks(stream: BinaryIO) -> Iterable[bytes]:
    while chunk := stream.read(CHUNK):
        yield chunk


def sha256_stream(stream: BinaryIO) -> str:
    """The hash of a binary stream from its current position, read a megabyte at a time."""
    return sha256_chunks(stream_chunks(stream))


class BackgroundHash:
    """Hashes each fed chunk on a worker thread while the caller works on the same chunk.

    hashlib and zlib both release the GIL on large buffers, so inflating or deflating a chunk in
    the caller's thread overlaps with hashing it here. `with BackgroundHash() as digest:` waits
    for the last chunk on exit; `hexdigest()` is valid after that.
    """

    def __init__(self) -> None:
        self.digest = hashlib.sha256()
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        self.pending: concurrent.futures.Future[None] | None = None

    def feed(self, chunk: bytes) -> None:
        if self.pending is not None:
            self.pending.result()  # one chunk in flight: memory stays at two chunks
        self.pending = self.pool.submit(self.digest.update, chunk)

    def __enter__(self) -> BackgroundHash:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self.pending is not None:
                self.pending.result()
        finally:
            self.pool.shutdown()

    def hexdigest(self) -> str:
        return self.digest.hexdigest()
