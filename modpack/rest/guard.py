"""Slow and idle clients, held at the connection level of each node of `modpack serve`.

uvicorn times out nothing but idle keep-alive connections: a client that trickles its headers,
or opens a connection and sends nothing, or stops halfway through an upload, holds its
connection for ever (3000 such clients took a node to about 1 GB, issue 12). `ConnectionGuard`
is the node's protocol factory (uvicorn's `http=` setting) and adds, per connection:

- a header deadline: from the accept (TLS handshake included), or from the first byte of a later
  request on a kept-alive connection, to the end of the request head; then 408 and close;
- a stalled-body timer: no body byte for `body_timeout` seconds while the client is the one to
  send; then 408 and close. The app sees the client gone (ClientDisconnect), so an upload is
  discarded from `.tmp/` as for any cut connection;
- a cap on the node's connections, checked at the accept, before any TLS work. Beyond it a new
  connection takes the slot of the oldest one still in its handshake or headers (the likeliest
  slow client: a real one sends its head in milliseconds), and only when every connection has
  sent a request is the new one refused: a 503 with Retry-After over HTTP, closed before the
  handshake over HTTPS (a handshake only to refuse is the costly part);
- TLS whose read buffer starts at 4 KiB and grows to asyncio's 256 KiB only once a read fills
  it. asyncio's own SSLProtocol allocates 256 KiB per connection up front: with it an idle
  HTTPS connection cost about 280 KB, with this one about 30 KB (OpenSSL's state is most of
  it): 3000 connections trickling headers, all held, took a node from 34 MB to 122 MB
  (bench/load_slow.py).

The idle keep-alive timeout is uvicorn's own `timeout_keep_alive`.
"""

from __future__ import annotations

import asyncio
import http
import json
import logging
import ssl
from asyncio import sslproto
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from modpack.rest.limits import ConnectionLimits
from modpack.rest.problems import ApiError

if TYPE_CHECKING:
    from uvicorn.config import Config
    from uvicorn.server import ServerState

SMALL_READ = 4 * 1024  # a request head or a ClientHello fits; a read that fills it means bulk
BULK_READ = 256 * 1024  # asyncio's SSLProtocol.max_size, for uploads
TLS_SHUTDOWN_TIMEOUT = 5.0  # wait for the client's close_notify after ours (asyncio: 30 s)
RETRY_AFTER = 1  # seconds: slots free as soon as requests finish
WARN_EVERY = 30.0  # seconds between two warnings about a full node
# h11's max_incomplete_event_size default, which uvicorn keeps. h11 checks it only on a head
# still incomplete after a read, so a larger head arriving whole would pass; counted here.
MAX_HEAD = 16 * 1024
# How long a client whose head was refused (431) may go on sending, read and dropped, before the
# close: its 431 is then read instead of lost to a reset of the unread bytes.
LINGER = 2.0

log = logging.getLogger(__name__)


def _nothing() -> None:
    return


class Slot:
    """One admitted connection's place in its node's count; evictable until it sends a request."""

    __slots__ = ("_gate", "evict", "released")

    def __init__(self, gate: Gate) -> None:
        self._gate = gate
        self.evict: Callable[[], None] = _nothing  # set by the protocol that holds the connection
        self.released = False

    def established(self) -> None:
        """The connection has sent a request head: it is no longer a candidate for eviction."""
        self._gate.waiting.pop(self, None)

    def release(self) -> None:
        self.evict = _nothing  # drop the protocol: no reference cycle outlives the connection
        if not self.released:
            self.released = True
            self._gate.leave(self)


class Gate:
    """Counts a node's connections; admits, evicts or refuses at the accept."""

    def __init__(self, limit: int, name: str) -> None:
        self.limit = limit
        self.name = name
        self.open = 0
        self.waiting: dict[Slot, None] = {}  # not yet past their request head, oldest first
        self.evicted = 0
        self.refused = 0
        self._warned = -WARN_EVERY

    def admit(self, now: float) -> Slot | None:
        if self.open >= self.limit:
            if not self.waiting:
                self.refused += 1
                self._warn(now)
                return None
            oldest = next(iter(self.waiting))
            evict = oldest.evict  # release() forgets it
            oldest.release()
            evict()
            self.evicted += 1
            self._warn(now)
        slot = Slot(self)
        self.open += 1
        self.waiting[slot] = None
        return slot

    def leave(self, slot: Slot) -> None:
        self.open -= 1
        self.waiting.pop(slot, None)

    def _warn(self, now: float) -> None:
        if now - self._warned >= WARN_EVERY:
            self._warned = now
            log.warning(
                "%s holds %d connections (--max-connections); so far %d connections still sending"
                " their headers were closed for newer ones, %d new connections refused",
                self.name,
                self.limit,
                self.evicted,
                self.refused,
            )


def error_response(
    status: int, error_code: str, description: str, extra: str = "", *, legacy: bool = False
) -> bytes:
    """A complete HTTP/1.1 answer that closes the connection, with the API's error body (`legacy`:
    as RS 7.x words it)."""
    body = json.dumps(ApiError(error_code, description).body(legacy=legacy)).encode()
    reason = http.HTTPStatus(status).phrase
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n{extra}\r\n"
    )
    return head.encode("ascii") + body


class ConnectionGuard:
    """uvicorn's protocol factory for one node: admits, times and counts its connections."""

    def __init__(
        self, limits: ConnectionLimits, tls: ssl.SSLContext | None, name: str, *, legacy: bool = False
    ) -> None:
        self.limits = limits
        self.tls = tls
        self.gate = Gate(limits.max_connections, name)
        self.legacy = legacy  # error bodies as RS 7.x words them

    def __call__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],  # uvicorn's own type: the app's lifespan state, passed through
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> asyncio.BaseProtocol:
        """Called by asyncio (through uvicorn) for each accepted connection, before any byte."""
        loop = _loop or asyncio.get_running_loop()
        slot = self.gate.admit(loop.time())
        if slot is None:
            return _Refused(self.tls is None, self.legacy)
        deadline = loop.time() + self.limits.header_timeout
        http = GuardedH11(
            config,
            server_state,
            app_state,
            loop,
            slot=slot,
            limits=self.limits,
            deadline=deadline,
            legacy=self.legacy,
        )
        if self.tls is None:
            return http
        return LeanTLS(
            loop,
            http,
            self.tls,
            slot=slot,
            connections=server_state.connections,
            handshake_timeout=self.limits.header_timeout,
        )


class _Refused(asyncio.Protocol):
    """A connection beyond the node's cap: 503 and close (HTTP), or close before the handshake."""

    def __init__(self, plain: bool, legacy: bool = False) -> None:
        self.plain = plain
        self.legacy = legacy

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        if self.plain:
            transport.write(
                error_response(
                    503,
                    "too_many_connections",
                    "this node holds as many connections as it may: retry shortly",
                    f"retry-after: {RETRY_AFTER}\r\n",
                    legacy=self.legacy,
                )
            )
        transport.close()


class LeanTLS(sslproto.SSLProtocol):
    """asyncio's TLS layer with a small read buffer until the client sends in bulk.

    It holds the connection's slot: the HTTP side is only made once the handshake is done, and
    a handshake that never ends is closed by asyncio's handshake timeout (the header timeout).
    While in the handshake it is in uvicorn's connection set, so a stopping node closes it.
    """

    max_size = SMALL_READ  # what SSLProtocol.__init__ allocates; grown by buffer_updated

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        http: GuardedH11,
        context: ssl.SSLContext,
        *,
        slot: Slot,
        connections: set[Any],  # uvicorn's ServerState.connections: its protocols, and this one added
        handshake_timeout: float,
    ) -> None:
        super().__init__(
            loop,
            http,
            context,
            None,  # type: ignore[arg-type]  # no waiter: asyncio's _wakeup_waiter takes None
            server_side=True,
            ssl_handshake_timeout=handshake_timeout,  # type: ignore[arg-type]  # a float works
            ssl_shutdown_timeout=TLS_SHUTDOWN_TIMEOUT,
        )
        self._guard_http: GuardedH11 | None = http  # dropped on close: no cycle through it
        self._guard_slot = slot
        self._guard_connections = connections
        self._guard_raw: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._guard_raw = transport
        self._guard_slot.evict = transport.abort  # until the HTTP side takes over
        self._guard_connections.add(self)
        super().connection_made(transport)
        if self._guard_slot.released:  # evicted between the accept and now
            transport.abort()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._guard_slot.release()
        self._guard_connections.discard(self)
        self._guard_http = self._guard_raw = None
        super().connection_lost(exc)

    def buffer_updated(self, nbytes: int) -> None:
        if nbytes >= self.max_size < BULK_READ:
            # A read filled the buffer: bulk data (an upload). Read as asyncio would from now on;
            # SSLProtocol.get_buffer allocates the larger buffer on the next read.
            self.max_size = BULK_READ  # type: ignore[misc]  # per connection, on purpose
        super().buffer_updated(nbytes)

    def abort(self) -> None:
        """Cut the connection: the node stopped and uvicorn left it open (LocalCluster.stop_node)."""
        if self._guard_raw is not None:
            self._guard_raw.abort()

    def shutdown(self) -> None:
        """uvicorn stops the node: close a connection that has no HTTP side yet."""
        if self._guard_http is not None and not self._guard_http.made and self._guard_raw is not None:
            self._guard_raw.abort()


class GuardedH11(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with a header deadline and a stalled-body timer."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],  # uvicorn's own type: the app's lifespan state, passed through
        loop: asyncio.AbstractEventLoop,
        *,
        slot: Slot,
        limits: ConnectionLimits,
        deadline: float,
        legacy: bool = False,
    ) -> None:
        super().__init__(config, server_state, app_state, loop)
        self._legacy = legacy  # error bodies as RS 7.x words them
        self.made = False  # connection_made has run (for TLS: the handshake is done)
        self._slot = slot
        self._limits = limits
        self._deadline = deadline  # loop time by which the first request head must be complete
        self._header_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._last_body = 0.0
        self._closing = False  # answered 408 (or cut): what the client still sends is dropped
        self._head_bytes = 0  # of the request head being received

    # --- uvicorn's protocol, extended ---------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # as uvicorn's
        super().connection_made(transport)
        self.made = True
        self._slot.evict = self._evicted
        if self._slot.released:  # evicted between the accept and now
            self._evicted()
            return
        self._header_timer = self.loop.call_at(self._deadline, self._headers_late)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        self._slot.release()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return  # a TLS close still delivers what was read: no request may start after a 408
        if self._header_timer is None and self.conn.their_state is h11.IDLE:
            # The first byte of a new request on a kept-alive connection: its head is timed.
            self._header_timer = self.loop.call_later(self._limits.header_timeout, self._headers_late)
        if self.conn.their_state is h11.IDLE and self._head_bytes + len(data) > MAX_HEAD:
            self._receive_long_head(data)
            return
        if self.conn.their_state is h11.IDLE:
            self._head_bytes += len(data)
        super().data_received(data)
        self._follow()

    def _receive_long_head(self, data: bytes) -> None:
        """Feed h11 up to the head limit; 431 when the head is still incomplete there."""
        room = MAX_HEAD - self._head_bytes
        if room > 0:  # never feed h11 b"": to h11 an empty read is the client's end of stream
            super().data_received(data[:room])  # as if TCP had split the read there
            self._follow()
        if self.conn.their_state is h11.IDLE and not self._closing and not self.transport.is_closing():
            description = f"the request line and headers exceed {MAX_HEAD // 1024} KiB"
            self._answer_and_close(description, 431, "headers_too_large", linger=LINGER)
        elif not self._closing and not self.transport.is_closing():
            self.data_received(data[room:])

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._follow()  # a pipelined request may have been read meanwhile

    # --- the timers ---------------------------------------------------------------------------

    def _follow(self) -> None:
        """Move the timers along with h11's view of the client's side of the exchange."""
        state = self.conn.their_state
        if state is h11.IDLE:
            return  # the request head is still to come: the header timer runs
        self._slot.established()
        self._head_bytes = 0
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        if state is h11.SEND_BODY:
            self._last_body = self.loop.time()
            if self._body_timer is None:
                self._body_timer = self.loop.call_later(self._limits.body_timeout, self._body_late)
        elif self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _cancel_timers(self) -> None:
        for timer in (self._header_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._header_timer = self._body_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            seconds = self._limits.header_timeout
            self._answer_and_close(f"the request line and headers did not arrive within {seconds:g} s")

    def _body_late(self) -> None:
        self._body_timer = None
        if self.conn.their_state is not h11.SEND_BODY or self.transport.is_closing():
            return
        now, cycle = self.loop.time(), self.cycle
        if self.flow.read_paused or (cycle is not None and cycle.waiting_for_100_continue):
            self._last_body = now  # the server is the one not reading: not the client's stall
        quiet = now - self._last_body
        if quiet < self._limits.body_timeout:
            self._body_timer = self.loop.call_later(self._limits.body_timeout - quiet, self._body_late)
            return
        if cycle is None or cycle.response_started:
            self._closing = True
            self._slot.release()
            self.transport.close()  # answered already: nothing to say
            return
        cycle.disconnected = True  # the app's next receive() is http.disconnect: it discards
        cycle.message_event.set()
        seconds = self._limits.body_timeout
        self._answer_and_close(f"the request body stalled: no byte for {seconds:g} s")

    def _evicted(self) -> None:
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self._answer_and_close(
                "this node is at its connection limit and this connection had not sent its"
                " request headers: it gave its place to a newer one"
            )

    def _answer_and_close(
        self, description: str, status: int = 408, code: str = "request_timeout", *, linger: float = 0.0
    ) -> None:
        """Answer and close; the slot is free at once (a TLS close may linger a few seconds).

        With `linger`, the connection stays open that long while what the client still sends is
        read and dropped: closed with unread bytes, a socket answers them with a reset, which may
        reach the client before the answer does (a lingering close, as web servers do for 4xx)."""
        self._closing = True
        self._cancel_timers()
        self._slot.release()
        self.transport.write(error_response(status, code, description, legacy=self._legacy))
        if linger > 0:
            self.loop.call_later(linger, self._close_transport)
        else:
            self.transport.close()
        if self.access_log:
            client = f"{self.client[0]}:{self.client[1]}" if self.client else "-"
            self.access_logger.info("%s - %d %s", client, status, description)

    def _close_transport(self) -> None:
        if not self.transport.is_closing():
            self.transport.close()
