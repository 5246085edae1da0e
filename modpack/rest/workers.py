"""Work on each of a few items (the nodes), on threads of their own, a few at a time.

Plain threads rather than concurrent.futures: that package imports logging, and the two cost
every publish about 8 ms before its first upload byte (python -X importtime), for one map.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar, cast

from modpack.signals import signals_held

T = TypeVar("T")
R = TypeVar("R")


class Workers(Generic[T, R]):
    """`work` on every item, at most `jobs` at a time, started when made.

    `results()` waits for all of them and gives the answers in the items' order, or raises the
    error of the first item (in their order) that failed, once all have ended, as
    ThreadPoolExecutor.map in a `with` block does. The threads are not daemons unless asked: the
    interpreter waits for them at exit, so no work is cut short silently.
    """

    def __init__(
        self, items: Sequence[T], work: Callable[[T], R], jobs: int, name: str, *, daemon: bool = False
    ) -> None:
        """The threads, not yet started: `start()` starts them. `daemon`: for work a caller may
        give up on (a stop that says what is not known), which the interpreter need not wait for."""
        self._items = list(items)
        self._work = work
        self._answers: list[R | None] = [None] * len(self._items)
        self._begun = [False] * len(self._items)  # a stop leaves those no thread took unbegun
        self._errors: list[BaseException | None] = [None] * len(self._items)
        self._next = 0
        self._lock = threading.Lock()
        self._ended = threading.Condition(self._lock)
        count = max(1, min(jobs, len(self._items))) if self._items else 0
        self._running = count  # threads not yet ended: all are started once start() returns
        self._threads = [
            threading.Thread(target=self._run, name=f"{name}-{n}", daemon=daemon) for n in range(count)
        ]

    def start(self) -> Workers[T, R]:
        """Start every thread. Ctrl+C (or SIGTERM) meanwhile is held back until all are started,
        then raised here, with no item more begun: `wait()` and `results()` still work, so a
        caller can say what the items under way did (a Ctrl+C raised between two starts left
        threads that wait() counted but that never ran, and waiting for them hung)."""
        started = 0
        try:
            with signals_held():
                for thread in self._threads:
                    thread.start()
                    started += 1
        except BaseException:  # the deferred signal, or a thread the system could not start
            with self._lock:
                self._running -= len(self._threads) - started
                self._ended.notify_all()
            self.stop()
            raise
        return self

    def _run(self) -> None:
        try:
            while True:
                with self._lock:
                    index = self._next
                    self._next += 1
                    if index >= len(self._items):
                        return
                    self._begun[index] = True
                try:
                    self._answers[index] = self._work(self._items[index])
                except BaseException as exc:  # raised again by results(), in the caller's thread
                    self._errors[index] = exc
        finally:
            with self._lock:
                self._running -= 1
                self._ended.notify_all()

    def stop(self) -> None:
        """No item not yet begun is begun (as ThreadPoolExecutor.map cancels its pending calls when
        the caller stops waiting): those under way go on to their end. `results()` is then not
        whole: for a caller that gives up on them (Ctrl+C)."""
        with self._lock:
            self._next = len(self._items)

    def wait(self) -> None:
        """Until every item is done (a signal's exception in the caller interrupts the wait).

        Not Thread.join: Python (3.11, 3.12) takes a thread whose join a signal's exception
        interrupted for ended, and joins it at once after, while it still works (Ctrl+C while
        publish waited for its uploads, then waiting again in _Uploads.__exit__).
        """
        with self._ended:
            self._ended.wait_for(lambda: self._running == 0)

    def results(self) -> list[R]:
        self.wait()
        for error in self._errors:
            if error is not None:
                raise error
        return cast("list[R]", self._answers)  # every item answered: none failed

    def settled(self, not_begun: Callable[[T], R]) -> list[R]:
        """`results()` once a stop may have left items no thread began (a Ctrl+C while the threads
        started): `not_begun(item)` stands for each of those."""
        answers = self.results()
        return [
            a if begun else not_begun(i)
            for a, i, begun in zip(answers, self._items, self._begun, strict=True)
        ]
