"""The TCP side facing the terminals: framing, connection cap, idle limit.

Each connection runs a sans-IO :class:`~poslab.iso8583.Framer`; every complete
payload becomes a task that asks :func:`dispatch.handle` for the reply and
writes it framed. A broken frame (length 0, or above ``max_frame``) cannot be
resynchronised, so the connection is closed; an undecodable payload whose
MTI cannot even be read is closed too (dispatch returns ``None``). Anything
else gets an answer.

Hardening against slow and idle clients (a slowloris must not starve the
terminals):

- idle: a connection with nothing in flight whose last *complete* message
  (or reply) is ``idle_timeout_s`` old is closed by a sweeper — bytes that do
  not complete a frame do not count, so one byte every 20 s keeps nothing;
- a frame must complete within ``frame_timeout_s`` of its first byte (the
  header timeout of a length-prefixed protocol);
- at ``max_connections`` (or a peer's ``max_connections_per_peer``) a new
  connection takes the place of the idle connection of the busiest peer
  that has been quiet longest; only when every candidate has a request in
  flight is the new one refused. Holding the cap with idle sockets therefore
  locks no terminal out: it just has its own sockets recycled;
- at most ``max_inflight_per_connection`` requests of one connection run at
  once (reading pauses beyond that). :meth:`IsoServer.stop` stops
accepting, lets in-flight requests finish (their bookings must be durable and
their replies sent), then closes what is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import cast

from poslab.iso8583 import Framer, FramingError, frame

from . import dispatch
from .host import Host

__all__ = ["IsoServer"]

log = logging.getLogger("acquirer.connections")


class _TerminalConnection(asyncio.Protocol):
    __slots__ = (
        "_framer",
        "_inflight",
        "_paused",
        "_server",
        "frame_started",
        "last_active",
        "peer",
        "transport",
    )

    def __init__(self, server: IsoServer) -> None:
        self._server = server
        self._framer = Framer(server.host.config.max_frame)
        self._inflight = 0
        self._paused = False
        self.transport: asyncio.Transport | None = None
        self.peer = ""
        # loop time of the last complete message or reply (not of any byte)
        self.last_active = 0.0
        # loop time of the first byte of the frame being received, if any
        self.frame_started: float | None = None

    @property
    def idle(self) -> bool:
        return self._inflight == 0

    def connection_made(self, base: asyncio.BaseTransport) -> None:
        # A stream transport; uvloop's do not subclass asyncio.Transport.
        transport = cast(asyncio.Transport, base)
        server = self._server
        metrics = server.host.metrics
        address = transport.get_extra_info("peername")
        peer = str(address[0]) if isinstance(address, tuple) and address else "?"
        if server.stopping or not server.make_room(peer):
            metrics.connections_rejected.inc()
            transport.abort()
            return
        self.transport = transport
        self.peer = peer
        server.admit(self)
        metrics.connections.inc()
        self.last_active = server.loop.time()

    def data_received(self, data: bytes) -> None:
        transport = self.transport
        if transport is None:
            return
        server = self._server
        try:
            payloads = self._framer.feed(data)
        except FramingError as exc:
            server.host.metrics.frames_rejected.inc()
            log.info("closing a connection: %s", exc)
            transport.close()
            return
        now = server.loop.time()
        if payloads:
            self.last_active = now
        if self._framer.buffered == 0:
            self.frame_started = None
        elif payloads or self.frame_started is None:
            self.frame_started = now  # a new frame began in this read
        for payload in payloads:
            self._inflight += 1
            task = server.loop.create_task(self._serve(payload))
            server.tasks.add(task)
            task.add_done_callback(server.tasks.discard)
        if self._inflight >= server.host.config.max_inflight_per_connection and not self._paused:
            self._paused = True
            transport.pause_reading()

    async def _serve(self, payload: bytes) -> None:
        server = self._server
        try:
            reply = await dispatch.handle(server.host, payload)
        finally:
            self._inflight -= 1
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if reply is None:
            transport.close()
            return
        transport.write(frame(reply))
        self.last_active = server.loop.time()
        if self._paused and self._inflight < server.host.config.max_inflight_per_connection:
            self._paused = False
            transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:
            self._server.forget(self)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class IsoServer:
    def __init__(self, host: Host) -> None:
        self.host = host
        self.loop = asyncio.get_running_loop()
        self.connections: set[_TerminalConnection] = set()
        self.by_peer: dict[str, set[_TerminalConnection]] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.stopping = False
        self._server: asyncio.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self, bind: str, port: int) -> int:
        """Listen on ``bind:port`` (0 = any); the port actually bound."""
        self._server = await self.loop.create_server(
            lambda: _TerminalConnection(self), bind, port, backlog=1024, reuse_address=True
        )
        self._sweeper = self.loop.create_task(self._sweep(), name="idle-sweeper")
        bound: int = self._server.sockets[0].getsockname()[1]
        return bound

    # -- who holds a connection --------------------------------------------

    def admit(self, conn: _TerminalConnection) -> None:
        self.connections.add(conn)
        self.by_peer.setdefault(conn.peer, set()).add(conn)

    def forget(self, conn: _TerminalConnection) -> None:
        self.connections.discard(conn)
        held = self.by_peer.get(conn.peer)
        if held is not None:
            held.discard(conn)
            if not held:
                del self.by_peer[conn.peer]

    def make_room(self, peer: str) -> bool:
        """Whether a connection from ``peer`` may be accepted, closing an idle
        one to make room at a cap: the peer's own when it is at its limit,
        else the busiest peer's that has been quiet longest."""
        config = self.host.config
        own = self.by_peer.get(peer, set())
        if len(own) >= config.max_connections_per_peer:
            return self._evict(own)
        if len(self.connections) >= config.max_connections:
            busiest = max(self.by_peer.values(), key=len, default=set())
            return self._evict(busiest) or self._evict(self.connections)
        return True

    def _evict(self, among: set[_TerminalConnection]) -> bool:
        quiet = [c for c in among if c.idle and c.transport is not None]
        if not quiet:
            return False
        victim = min(quiet, key=lambda c: c.last_active)
        self.host.metrics.idle_closed.inc()
        # abort, not close: the room is needed now, not after a FIN handshake
        assert victim.transport is not None
        victim.transport.abort()
        self.forget(victim)
        return True

    async def _sweep(self) -> None:
        config = self.host.config
        idle, stalled = config.idle_timeout_s, config.frame_timeout_s
        while True:
            await asyncio.sleep(min(1.0, idle / 4, stalled / 4))
            now = self.loop.time()
            for conn in list(self.connections):
                if conn.frame_started is not None and conn.frame_started < now - stalled:
                    # a frame trickling in (a slowloris) or a peer gone mid-frame
                    self.host.metrics.frames_rejected.inc()
                    conn.close()
                elif conn.idle and conn.last_active < now - idle:
                    self.host.metrics.idle_closed.inc()
                    conn.close()

    async def stop(self, timeout: float) -> None:
        """Stop accepting, finish in-flight requests (up to ``timeout`` s), close."""
        self.stopping = True
        if self._server is not None:
            self._server.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        if self.tasks:
            _done, pending = await asyncio.wait(set(self.tasks), timeout=timeout)
            if pending:
                log.warning("%d request(s) still running at shutdown", len(pending))
        for conn in list(self.connections):
            conn.close()
        if self._server is not None:
            await self._server.wait_closed()
