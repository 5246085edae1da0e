"""SHA-256 of streams too large to hold: sequential, or on a worker thread beside other work."""

from __future__ import annotations

import hashlib
import threading
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
    """Hashes each fed chunk on a worker thread while the caller works on the next one.

    hashlib and zlib both release the GIL on large buffers, so inflating or deflating a chunk in
    the caller's thread overlaps with hashing the previous one here. `with BackgroundHash() as
    digest:` waits for the last chunk on exit; `hexdigest()` is valid after that. One plain thread
    and two semaphores: concurrent.futures would cost its import (logging with it) on every
    validate of a bundle, and a future per chunk.
    """

    def __init__(self) -> None:
        self.digest = hashlib.sha256()
        self.chunk: bytes | None = None
        self.error: BaseException | None = None
        self.ready = threading.Semaphore(0)  # a chunk (or the end) waits for the worker
        self.idle = threading.Semaphore(1)  # the worker is done with the last chunk
        self.worker = threading.Thread(target=self._run, name="modpack-sha256", daemon=True)
        self.worker.start()

    def _run(self) -> None:
        while True:
            self.ready.acquire()
            chunk = self.chunk
            if chunk is None:
                return
            try:
                self.digest.update(chunk)
            except BaseException as exc:  # handed to the caller's thread by feed() or __exit__
                self.error = exc
            self.idle.release()

    def feed(self, chunk: bytes) -> None:
        self.idle.acquire()  # one chunk in flight: memory stays at two chunks
        if self.error is not None:
            self.idle.release()  # __exit__ still finds the worker idle
            raise self.error
        self.chunk = chunk
        self.ready.release()

    def __enter__(self) -> BackgroundHash:
        return self

    def __exit__(self, *exc: object) -> None:
        self.idle.acquire()
        self.chunk = None
        self.ready.release()
        self.worker.join()
        if self.error is not None and exc[0] is None:
            raise self.error

    def hexdigest(self) -> str:
        return self.digest.hexdigest()
