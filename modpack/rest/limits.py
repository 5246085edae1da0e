"""How long a node waits for a slow client, and how many connections it holds.

Kept apart from `modpack.rest.guard` (which imports uvicorn and h11) so that `ServeOptions` and
the CLI can name the limits without loading the server stack.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from modpack.errors import UsageError


@dataclass(frozen=True)
class ConnectionLimits:
    """Per-node limits on slow or idle clients (`modpack serve --header-timeout ...`).

    header_timeout: seconds from accepting a connection (TLS handshake included), or from the
        first byte of a later request on it, to the end of the request's headers; then 408.
    idle_timeout: seconds a keep-alive connection may wait for its next request; then closed.
        Longer than the client's 5 s idle expiry (rest/transport.py), so a client never reuses a
        connection the server is closing at that moment.
    body_timeout: seconds a request body may send no byte; then 408, and the partial upload is
        discarded (it only ever existed in the node's `.tmp/`).
    max_connections: connections one node holds. A new one beyond it takes the slot of the
        oldest connection still in its TLS handshake or headers (answered 408); when none is,
        it is refused (503 with Retry-After over HTTP, closed before the handshake over HTTPS).
    """

    header_timeout: float = 10.0
    idle_timeout: float = 15.0
    body_timeout: float = 30.0
    max_connections: int = 512

    def __post_init__(self) -> None:
        for name in ("header_timeout", "idle_timeout", "body_timeout"):
            seconds(getattr(self, name), "--" + name.replace("_", "-"))
        if self.max_connections < 1:
            raise UsageError("--max-connections must be at least 1")


def seconds(value: float, what: str) -> float:
    """`value` when it is a positive, finite number of seconds; else UsageError naming `what`.

    click's FloatRange(0, min_open=True) lets nan and inf through (nan compares false with its
    bounds): nan was a ValueError from here (an internal error), inf an internal error where the
    client turned it into a deadline (OverflowError: timestamp out of range)."""
    if not (math.isfinite(value) and value > 0):
        raise UsageError(f"{what} {value}: give a positive, finite number of seconds")
    return value
