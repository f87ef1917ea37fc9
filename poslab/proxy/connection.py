"""A proxied TCP connection: the client's socket, the upstream socket, and the
two :class:`~poslab.proxy.link.Link` objects between them.

As in Toxiproxy, every accepted client dials the upstream; if that fails the
client is closed (it sees EOF). End of stream is not half-closed: EOF from one
side travels through its direction's toxics and then closes the other socket
outright, which in turn ends the opposite direction — Toxiproxy's behaviour,
which clients of the lab's services are tested against.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from typing import TYPE_CHECKING, cast

from poslab.proxy.addresses import split_host_port
from poslab.proxy.draws import StageDraws
from poslab.proxy.link import DIRECTIONS, Direction, Link

if TYPE_CHECKING:
    from poslab.proxy.proxy import Proxy

__all__ = ["Connection", "Side"]

log = logging.getLogger("poslab.proxy")

_LINGER_ZERO = struct.pack("ii", 1, 0)


class _Held:
    """What a side feeds until its links exist. asyncio honours the
    ``pause_reading`` of ``connection_made``; uvloop starts reading right
    after it, so bytes (or EOF) can come before the upstream is dialled: they
    are kept here, reading is paused, and they are replayed into the link."""

    __slots__ = ("chunks", "eof", "side")

    fast_dest: None = None  # never the fast path
    received = sent = 0

    def __init__(self, side: Side) -> None:
        self.side = side
        self.chunks: list[bytes] = []
        self.eof = False

    def feed(self, data: bytes) -> None:
        self.chunks.append(data)
        self.side.transport.pause_reading()

    def feed_eof(self) -> None:
        self.eof = True

    def replay(self) -> None:
        """Once ``side.out`` is the real link: as if read just now."""
        for chunk in self.chunks:
            self.side.data_received(chunk)
        if self.eof:
            self.side.eof_received()


class Side(asyncio.Protocol):
    """One socket of a connection. ``out`` is the link it feeds, ``inbound``
    the link that writes to it."""

    __slots__ = ("alive", "conn", "inbound", "out", "reading", "transport")

    transport: asyncio.Transport
    out: Link | _Held
    inbound: Link

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.alive = False
        self.reading = True
        self.out = _Held(self)

    def connection_made(self, base: asyncio.BaseTransport) -> None:
        # A stream transport; uvloop's do not subclass asyncio.Transport.
        transport = cast(asyncio.Transport, base)
        self.transport = transport
        self.alive = True
        self.conn.side_made(self)

    def data_received(self, data: bytes) -> None:
        # The hot path: with no toxics in this direction, straight across.
        link = self.out
        dest = link.fast_dest
        if dest is not None:
            size = len(data)
            link.received += size
            link.sent += size
            dest.write(data)
        else:
            link.feed(data)

    def eof_received(self) -> bool:
        self.out.feed_eof()
        return True  # keep writing: toxics may still deliver to this side

    def connection_lost(self, exc: Exception | None) -> None:
        self.alive = False
        self.conn.side_lost(self)

    def pause_writing(self) -> None:
        self.inbound.set_dest_paused(True)

    def resume_writing(self) -> None:
        self.inbound.set_dest_paused(False)

    # --- used by links ------------------------------------------------------------

    def set_reading(self, reading: bool) -> None:
        if reading == self.reading or not self.alive:
            return
        self.reading = reading
        if reading:
            self.transport.resume_reading()
        else:
            self.transport.pause_reading()

    def write(self, data: bytes | memoryview) -> None:
        if self.alive:
            self.transport.write(data)

    def close(self) -> None:
        if self.alive and not self.transport.is_closing():
            self.transport.close()

    def abort(self, *, reset: bool = False) -> None:
        if not self.alive:
            return
        if reset:
            sock = self.transport.get_extra_info("socket")
            if sock is not None:
                # A socket already gone has nothing left to reset.
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ZERO)
        self.transport.abort()


class Connection:
    """A client accepted by a proxy, and its upstream."""

    def __init__(self, proxy: Proxy, ordinal: int) -> None:
        self.proxy = proxy
        self.ordinal = ordinal
        self.client = Side(self)
        self.upstream = Side(self)
        self.links: dict[Direction, Link] = {}
        self._dial: asyncio.Task[None] | None = None
        self._done = False
        #: Being torn down: toxics are no longer applied to it.
        self.stopped = False

    def describe(self) -> str:
        return f"proxy {self.proxy.name} connection #{self.ordinal}"

    def draws(self, direction: Direction, toxic_name: str) -> StageDraws:
        return self.proxy.draws.for_stage(self.proxy.name, self.ordinal, direction, toxic_name)

    # --- set-up -----------------------------------------------------------------

    def side_made(self, side: Side) -> None:
        # Nothing is read from either socket until both are there and linked.
        side.set_reading(False)
        if side is self.client:
            self._dial = asyncio.get_running_loop().create_task(self._connect_upstream())

    async def _connect_upstream(self) -> None:
        loop = asyncio.get_running_loop()
        upstream = self.proxy.upstream
        try:
            host, port = split_host_port(upstream)
            # Go dials an empty host as the local system.
            await loop.create_connection(lambda: self.upstream, host or "127.0.0.1", port)
        except (OSError, ValueError) as exc:
            log.warning(
                "%s: unable to open connection to upstream %s: %s", self.describe(), upstream, exc
            )
            self.client.close()
            if not self.client.alive:
                self._finish()
            return
        if not self.client.alive or self._done:
            self.upstream.abort()
            return
        up = Link(self, "upstream", self.client, self.upstream)
        down = Link(self, "downstream", self.upstream, self.client)
        held = (self.client.out, self.upstream.out)
        self.client.out, self.client.inbound = up, down
        self.upstream.out, self.upstream.inbound = down, up
        self.links = {"upstream": up, "downstream": down}
        for direction in DIRECTIONS:
            link = self.links[direction]
            for wrapper in self.proxy.toxics.chain(direction):
                link.add_stage(wrapper.name, wrapper.toxic, wrapper.toxicity)
        for early in held:
            if isinstance(early, _Held):
                early.replay()
        self.client.set_reading(True)
        self.upstream.set_reading(True)

    # --- tear-down -----------------------------------------------------------------

    def side_lost(self, side: Side) -> None:
        if self.links:
            if side is self.client:
                self.links["upstream"].feed_eof()
                self.links["downstream"].dest_lost()
            else:
                self.links["downstream"].feed_eof()
                self.links["upstream"].dest_lost()
        if not self.client.alive and not self.upstream.alive:
            self._finish()

    def abort(self) -> None:
        """Close both sockets now (proxy disabled or deleted, or a toxic failed)."""
        self._stop()
        self.client.abort()
        self.upstream.abort()

    def reset(self) -> None:
        """Close both sockets with a TCP RST (the reset_peer toxic)."""
        self._stop()
        self.client.abort(reset=True)
        self.upstream.abort(reset=True)

    def _stop(self) -> None:
        self.stopped = True
        if self._dial is not None and not self._dial.done():
            self._dial.cancel()
        for link in self.links.values():
            link.stop()

    def _finish(self) -> None:
        if self._done:
            return
        self._done = True
        self._stop()
        self.proxy.connection_closed(self)
