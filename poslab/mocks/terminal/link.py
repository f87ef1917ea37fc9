"""The terminal's TCP link to the acquirer: plain blocking sockets.

Blocking on purpose: under Locust, gevent's monkey-patching turns every call
here into a cooperative one, and without Locust (tests, tools) it is ordinary
socket code. No asyncio (it does not mix with gevent), no gevent import (only
``poslab/loadtests/`` may).

:class:`Channel` is the seam: the terminal logic talks to it, so it can run
over :class:`SocketChannel` or over a test double without sockets.

Failures map to :mod:`poslab.mocks.terminal.errors` with ``sent`` saying whether the
request may have reached the host — a connection that was never opened needs
no reversal; a reply that never came does.
"""

from __future__ import annotations

import contextlib
import socket
import time
from typing import Protocol

from poslab.iso8583 import Framer, FramingError, frame

from .errors import BadReply, ConnectFailed, LinkReset, ReplyTimeout
from .host_paths import Address

__all__ = ["Channel", "SocketChannel"]

_RECV = 4096


class Channel(Protocol):
    """One terminal's connection to a host address."""

    def send(self, address: Address, payload: bytes) -> None:
        """Send one payload (unframed) to ``address``, connecting if needed."""

    def receive(self, deadline: float) -> bytes:
        """The next payload from the host, before ``deadline`` (monotonic)."""

    def close(self) -> None:
        """Close the connection (the next send opens a new one)."""

    def abort(self) -> None:
        """Break the connection from another thread or greenlet: a pending
        ``receive`` returns at once with :class:`LinkReset`."""


class SocketChannel:
    """A TCP connection to one address at a time. The terminal closes it after
    each transaction in the short-connection mode; in the kept mode it stays
    open and is checked for a host-side close before reuse."""

    __slots__ = ("_address", "_framer", "_pending", "_sock", "connect_timeout_s", "max_frame")

    def __init__(self, *, connect_timeout_s: float, max_frame: int = 8192) -> None:
        self.connect_timeout_s = connect_timeout_s
        self.max_frame = max_frame
        self._sock: socket.socket | None = None
        self._address: Address | None = None
        self._framer = Framer(max_frame)
        # replies that arrived in the same read as the one returned (a late
        # reply followed by the current one): handed out by the next receive.
        # A list: it is almost always empty, and an empty deque costs ~700 B
        # per held terminal.
        self._pending: list[bytes] = []

    @property
    def connected(self) -> bool:
        return self._sock is not None

    def _open(self, address: Address) -> socket.socket:
        sock = self._sock
        if sock is not None and (self._address != address or _peer_closed(sock)):
            self.close()
            sock = None
        if sock is not None:
            return sock
        try:
            sock = socket.create_connection(address, timeout=self.connect_timeout_s)
        except OSError as exc:  # refused, unreachable, connect timeout
            raise ConnectFailed(f"cannot connect to {address[0]}:{address[1]}: {exc}") from None
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        self._address = address
        self._framer = Framer(self.max_frame)
        self._pending.clear()
        return sock

    def send(self, address: Address, payload: bytes) -> None:
        sock = self._open(address)
        try:
            sock.settimeout(self.connect_timeout_s)
            sock.sendall(frame(payload))
        except OSError as exc:
            self.close()
            # A frame that was not wholly accepted cannot be decoded by the host.
            raise LinkReset(
                f"send to {address[0]}:{address[1]} failed: {exc}", sent=False
            ) from None

    def receive(self, deadline: float) -> bytes:
        if self._pending:
            return self._pending.pop(0)
        sock = self._sock
        if sock is None:
            raise LinkReset("no connection to receive on", sent=True)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.close()
                raise ReplyTimeout("no reply before the response timeout")
            try:
                sock.settimeout(remaining)
                data = sock.recv(_RECV)
            except TimeoutError:
                self.close()
                raise ReplyTimeout("no reply before the response timeout") from None
            except OSError as exc:
                self.close()
                raise LinkReset(f"connection broke while waiting: {exc}", sent=True) from None
            if not data:
                self.close()
                raise LinkReset("host closed the connection before replying", sent=True)
            try:
                payloads = self._framer.feed(data)
            except FramingError as exc:
                self.close()
                raise BadReply(f"unusable frame from the host: {exc}") from None
            if payloads:
                self._pending.extend(payloads[1:])
                return payloads[0]

    def close(self) -> None:
        sock, self._sock = self._sock, None
        self._address = None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()

    def abort(self) -> None:
        sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def _peer_closed(sock: socket.socket) -> bool:
    # A kept connection the host closed while idle still accepts a send (into
    # the kernel buffer) and only fails on the read — which would look like a
    # lost reply and cost a reversal. Peek without waiting first.
    try:
        sock.settimeout(0.0)
        return sock.recv(1, socket.MSG_PEEK) == b""
    except (BlockingIOError, InterruptedError):
        return False
    except OSError:
        return True
