"""Ctrl+C and SIGTERM held back while a block runs, then handled as they would have been.

A block that starts threads (rest/workers.py) or starts or stops a redis-server (redis/harness.py)
must not be cut short by a handler raising in its middle: it would leave threads counted that
never ran, or a process or a folder behind. Python runs signal handlers in the main thread only,
so elsewhere nothing needs holding.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from types import FrameType

Handler = Callable[[int, FrameType | None], object] | int  # what signal.signal takes


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM recorded rather than handled until the block ends; then each that came
    is raised again (signal.raise_signal), so the handler in place runs as it would have (and may
    raise), or the default action is taken. A handler Python did not install (getsignal gives
    None: an embedding program's) is left alone."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    came: list[int] = []

    def record(signum: int, frame: FrameType | None) -> None:
        came.append(signum)

    handlers = {n: h for n in (signal.SIGINT, signal.SIGTERM) if (h := signal.getsignal(n)) is not None}
    try:
        for number in handlers:
            signal.signal(number, record)
        yield
    finally:
        _restore(handlers)
        for signum in dict.fromkeys(came):
            signal.raise_signal(signum)  # its own handler runs now (and may raise)


def _restore(handlers: Mapping[signal.Signals, Handler]) -> None:
    """Put `handlers` back, every one: a signal that comes meanwhile is held (where the system
    can hold it) until all are back, so that a handler raising for it cannot leave another
    recording. signal.signal first runs what is pending: the recording handler, until replaced."""
    hold = hasattr(signal, "pthread_sigmask")
    before = signal.pthread_sigmask(signal.SIG_BLOCK, set(handlers)) if hold else set()
    try:
        for number, handler in handlers.items():
            signal.signal(number, handler)
    finally:
        if hold:
            signal.pthread_sigmask(signal.SIG_SETMASK, before)
