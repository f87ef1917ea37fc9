"""The TCP side facing the terminals: framing, connection cap, idle limit.

Each connection runs a sans-IO :class:`~poslab.iso8583.Framer`; every complete
payload becomes a task that asks :func:`dispatch.handle` for the reply and
writes it framed. A broken frame (length 0, or above ``max_frame``) cannot be
resynchronised, so the connection is closed; an undecodable payload whose
MTI cannot even be read is closed too (dispatch returns ``None``). Anything
else gets an answer.

Hardening: connections beyond ``max_connections`` are closed on accept;
connections silent for ``idle_timeout_s`` with nothing in flight are closed by
a sweeper; at most ``max_inflight_per_connection`` requests of one connection
run at once (reading pauses beyond that). :meth:`IsoServer.stop` stops
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
    __slots__ = ("_framer", "_inflight", "_paused", "_server", "last_active", "transport")

    def __init__(self, server: IsoServer) -> None:
        self._server = server
        self._framer = Framer(server.host.config.max_frame)
        self._inflight = 0
        self._paused = False
        self.transport: asyncio.Transport | None = None
        self.last_active = 0.0

    @property
    def idle(self) -> bool:
        return self._inflight == 0

    def connection_made(self, base: asyncio.BaseTransport) -> None:
        # A stream transport; uvloop's do not subclass asyncio.Transport.
        transport = cast(asyncio.Transport, base)
        server = self._server
        metrics = server.host.metrics
        if len(server.connections) >= server.host.config.max_connections or server.stopping:
            metrics.connections_rejected.inc()
            transport.abort()
            return
        self.transport = transport
        server.connections.add(self)
        metrics.connections.inc()
        self.last_active = server.loop.time()

    def data_received(self, data: bytes) -> None:
        transport = self.transport
        if transport is None:
            return
        server = self._server
        self.last_active = server.loop.time()
        try:
            payloads = self._framer.feed(data)
        except FramingError as exc:
            server.host.metrics.frames_rejected.inc()
            log.info("closing a connection: %s", exc)
            transport.close()
            return
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
        self._server.connections.discard(self)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class IsoServer:
    def __init__(self, host: Host) -> None:
        self.host = host
        self.loop = asyncio.get_running_loop()
        self.connections: set[_TerminalConnection] = set()
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

    async def _sweep(self) -> None:
        limit = self.host.config.idle_timeout_s
        while True:
            await asyncio.sleep(min(1.0, limit / 4))
            cutoff = self.loop.time() - limit
            for conn in [c for c in self.connections if c.idle and c.last_active < cutoff]:
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
