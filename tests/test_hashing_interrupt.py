"""Ctrl+C anywhere in the caller of BackgroundHash never hangs it.

`modpack build` of a large module hung for ever, now and then, on one Ctrl+C: the hashing
thread's hand-off was two threading.Semaphore, whose acquire and release are Python code, and a
KeyboardInterrupt between a release's count and its notify left the worker waiting on a chunk
that had been counted while the caller waited for the worker (hashing.py's join, or its idle
semaphore). Signals reach Python only in the main thread, between two lines: here a tracer
raises KeyboardInterrupt at each line of modpack.hashing the caller's thread runs, in turn, and
each run must end within seconds.
"""

from __future__ import annotations

import hashlib
import sys
import threading
from types import FrameType
from typing import Any

from modpack import hashing
from modpack.hashing import BackgroundHash

CHUNKS = [bytes([n]) * 100_000 for n in range(3)]


def _run(interrupt_at: int) -> tuple[bool, dict[str, Any]]:
    """The hashing of CHUNKS with KeyboardInterrupt raised at the caller's `interrupt_at`-th line
    (0: never): (whether it ended within 5 s, what it ended with)."""
    outcome: dict[str, Any] = {"lines": 0}

    def tracer(frame: FrameType, event: str, arg: object) -> Any:
        # modpack's lines only: the standard library's threading code is not safe against an
        # exception at any line either (one raised inside Thread.start's bookkeeping left its
        # module lock held, and every later thread start hung), and a real Ctrl+C there is
        # Python's to answer for, not modpack's
        if event == "line" and frame.f_code.co_filename == hashing.__file__:
            outcome["lines"] += 1
            if outcome["lines"] == interrupt_at:
                raise KeyboardInterrupt
        return tracer

    def caller() -> None:
        sys.settrace(tracer)
        try:
            with BackgroundHash() as digest:
                for chunk in CHUNKS:
                    digest.feed(chunk)
            outcome["digest"] = digest.hexdigest()
        except KeyboardInterrupt:
            outcome["interrupted"] = True
        finally:
            sys.settrace(None)

    thread = threading.Thread(target=caller, daemon=True)
    thread.start()
    thread.join(5)
    return not thread.is_alive(), outcome


def test_the_digest_is_that_of_every_chunk() -> None:
    ended, outcome = _run(0)
    assert ended and outcome["digest"] == hashlib.sha256(b"".join(CHUNKS)).hexdigest()


def test_ctrl_c_at_any_line_of_the_caller_ends_it() -> None:
    _, whole = _run(0)
    lines = whole["lines"]
    assert lines > 10  # the tracer saw the caller's lines
    for n in range(1, lines + 1):
        ended, outcome = _run(n)
        assert ended, f"a KeyboardInterrupt at line {n} of {lines} hung the caller"
        assert outcome.get("interrupted") or "digest" in outcome, outcome
