"""SHA-256 of streams too large to hold: sequential, or on a worker thread beside other work."""

from __future__ import annotations

import hashlib
import queue
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
    and two queue.SimpleQueue: concurrent.futures would cost its import (logging with it) on every
    validate of a bundle, and a future per chunk.

    Ctrl+C may land anywhere in the caller's thread. SimpleQueue's put and get are C calls that
    a signal never leaves half done (threading.Semaphore's are Python code: a KeyboardInterrupt
    between a release's count and its notify left the worker waiting on a chunk that had been
    counted, and `build` hung for ever at the join). Leaving on an exception, the caller does not
    wait for the digest at all: the worker is told to stop and, a daemon, never holds the exit.
    """

    def __init__(self) -> None:
        self.digest = hashlib.sha256()
        self.error: BaseException | None = None
        self.chunks: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self.hashed: queue.SimpleQueue[bool] = queue.SimpleQueue()  # one per chunk the worker is done with
        self.in_flight = False  # one chunk in flight: memory stays at two chunks
        self.worker = threading.Thread(target=self._run, name="modpack-sha256", daemon=True)
        self.worker.start()

    def _run(self) -> None:
        while (chunk := self.chunks.get()) is not None:
            try:
                self.digest.update(chunk)
            except BaseException as exc:  # handed to the caller's thread by feed() or __exit__
                self.error = exc
            self.hashed.put(True)

    def _wait(self) -> None:
        """Until the worker is done with the chunk in flight (interruptible by Ctrl+C)."""
        if self.in_flight:
            self.hashed.get()
            self.in_flight = False

    def feed(self, chunk: bytes) -> None:
        self._wait()
        if self.error is not None:
            raise self.error
        self.in_flight = True  # before the put: interrupted after it, __exit__ does not wait anyway
        self.chunks.put(chunk)

    def __enter__(self) -> BackgroundHash:
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        if kind is not None:  # an error or Ctrl+C on its way out: the digest is not wanted
            self.chunks.put(None)
            return
        self._wait()
        self.chunks.put(None)
        self.worker.join()
        if self.error is not None:
            raise self.error

    def hexdigest(self) -> str:
        return self.digest.hexdigest()
