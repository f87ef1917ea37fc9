"""A named proxy: its listener, its live connections, its toxics.

Toxiproxy's ``proxy.go``. ``start`` binds the listener (the answer's
``listen`` is the address actually bound); ``stop`` closes the listener and
every client and upstream socket — the "down" fault. The upstream is not
dialled until a client connects.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

from poslab.proxy.addresses import (
    LISTEN_BACKLOG,
    AddressError,
    ListenError,
    bind_listener,
    format_address,
    resolve_listen,
)
from poslab.proxy.api_error import ApiError
from poslab.proxy.connection import Connection, Side
from poslab.proxy.draws import Draws
from poslab.proxy.link import DIRECTIONS, Direction, Link
from poslab.proxy.toxic_collection import ToxicCollection

__all__ = ["Proxy"]

log = logging.getLogger("poslab.proxy")


class Proxy:
    """One listen address forwarded to one upstream, through toxics."""

    def __init__(self, name: str, listen: str, upstream: str, draws: Draws) -> None:
        self.name = name
        self.listen = listen
        self.upstream = upstream
        self.enabled = False
        self.draws = draws
        self.toxics = ToxicCollection(self.live_links)
        self.connections: set[Connection] = set()
        self._server: asyncio.AbstractServer | None = None
        self._accepted = 0
        #: Bytes of connections already closed, per (direction, "received"|"sent").
        self.closed_bytes: dict[tuple[Direction, str], int] = {
            (d, kind): 0 for d in DIRECTIONS for kind in ("received", "sent")
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled,
            # Toxiproxy's Proxy struct has an untagged *zerolog.Logger field,
            # which encoding/json writes as an empty object.
            "Logger": {},
            "toxics": self.toxics.to_json(),
        }

    def live_links(self, direction: Direction) -> Iterator[Link]:
        for connection in list(self.connections):
            link = connection.links.get(direction)
            if link is not None and not connection.stopped:
                yield link

    # --- listener -------------------------------------------------------------------

    async def start(self) -> None:
        """Bind and accept. Raises :class:`ApiError` 500 with the bind error."""
        if self.enabled:
            return
        try:
            host, port = await resolve_listen(self.listen)
            sock = bind_listener(host, port)
        except AddressError as exc:
            raise ApiError(f"listen tcp: {exc}", 500) from None
        except ListenError as exc:
            raise ApiError(str(exc), 500) from None
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._accept, sock=sock, backlog=LISTEN_BACKLOG)
        bound_host, bound_port = sock.getsockname()[:2]
        self.listen = format_address(str(bound_host), int(bound_port))
        self.enabled = True
        log.info("started proxy %s on %s -> %s", self.name, self.listen, self.upstream)

    def stop(self) -> None:
        """Close the listener and every open client and upstream socket."""
        if not self.enabled:
            return
        self.enabled = False
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for connection in list(self.connections):
            connection.abort()
        log.info("terminated proxy %s", self.name)

    def _accept(self) -> Side:
        connection = Connection(self, self._accepted)
        self._accepted += 1
        self.connections.add(connection)
        return connection.client

    def connection_closed(self, connection: Connection) -> None:
        if connection not in self.connections:
            return
        self.connections.discard(connection)
        for direction, link in connection.links.items():
            self.closed_bytes[(direction, "received")] += link.received
            self.closed_bytes[(direction, "sent")] += link.sent

    def bytes_total(self, direction: Direction, kind: str) -> int:
        total = self.closed_bytes[(direction, kind)]
        for connection in self.connections:
            link = connection.links.get(direction)
            if link is not None:
                total += link.received if kind == "received" else link.sent
        return total

    # --- updates ----------------------------------------------------------------------

    async def differs(self, listen: str, upstream: str) -> bool:
        """Toxiproxy's ``Differs``: the resolved listen or the upstream changed."""
        try:
            host, port = await resolve_listen(listen)
        except AddressError as exc:
            raise ApiError(str(exc), 500) from None
        return self.listen != format_address(host, port) or self.upstream != upstream

    async def update(self, listen: str, upstream: str, enabled: bool) -> None:
        """Merge-update: a new listen or upstream restarts the proxy (dropping
        its connections); ``enabled`` starts or stops it."""
        if await self.differs(listen, upstream):
            self.stop()
            self.listen = listen
            self.upstream = upstream
        if enabled != self.enabled:
            if enabled:
                await self.start()
            else:
                self.stop()
