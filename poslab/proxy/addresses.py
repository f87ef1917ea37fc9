"""``host:port`` addresses as Toxiproxy (Go's ``net`` package) reads them.

A proxy's ``listen`` is answered with the address actually bound, formatted
as Go formats it (``127.0.0.1:41234``, ``[::1]:41234``), and a bind failure
reads ``listen tcp 127.0.0.1:3310: bind: address already in use`` — the
message Toxiproxy's own tests expect.

One deliberate difference: an empty host (``""`` or ``":8080"``) binds
127.0.0.1, not every interface; the lab binds nothing beyond loopback unless
asked to by name (``0.0.0.0:8080``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

__all__ = [
    "AddressError",
    "ListenError",
    "bind_listener",
    "format_address",
    "resolve_listen",
    "split_host_port",
]

#: How long a host name in ``listen`` may take to resolve (no hung requests).
RESOLVE_TIMEOUT_S = 5.0
LISTEN_BACKLOG = 4096


class AddressError(ValueError):
    """An address that cannot be parsed or resolved (Go's ``AddrError`` text)."""


class ListenError(OSError):
    """A listener that could not be opened; ``str()`` is Go's message."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


def _parse_port(text: str, address: str) -> int:
    """Go's ``net.parsePort`` then ``LookupPort``: an optional sign, digits
    (saturating), a service name looked up otherwise; out of range is
    ``address <port>: invalid port``, an unknown name ``address tcp/<name>:
    unknown port`` (the port as written, not the whole address)."""
    digits = text[1:] if text[:1] in ("+", "-") else text
    if digits == "" or (digits.isascii() and digits.isdigit()):
        value = int(digits) if digits else 0
        port = -value if text.startswith("-") else value
        if not 0 <= port <= 65535:
            raise AddressError(f"address {text}: invalid port")
        return port
    try:
        return socket.getservbyname(text, "tcp")
    except OSError:
        raise AddressError(f"address tcp/{text}: unknown port") from None


def split_host_port(address: str) -> tuple[str, int]:
    """Go's ``net.SplitHostPort`` plus port parsing (an empty port, or an
    empty address, means port 0)."""
    if address == "":
        return "", 0
    if address.startswith("["):
        end = address.find("]")
        if end < 0:
            raise AddressError(f"address {address}: missing ']' in address")
        host, rest = address[1:end], address[end + 1 :]
        if not rest.startswith(":"):
            raise AddressError(f"address {address}: missing port in address")
        return host, _parse_port(rest[1:], address)
    if ":" not in address:
        raise AddressError(f"address {address}: missing port in address")
    if address.count(":") > 1:
        raise AddressError(f"address {address}: too many colons in address")
    host, port_text = address.split(":")
    return host, _parse_port(port_text, address)


def format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def _lookup(host: str) -> str:
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, None, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT_S
        )
    except (OSError, TimeoutError):
        raise AddressError(f"lookup {host}: no such host") from None
    # Go's listen prefers the first IPv4 address of a name.
    for family in (socket.AF_INET, socket.AF_INET6):
        for info in infos:
            if info[0] == family:
                return str(info[4][0])
    raise AddressError(f"lookup {host}: no such host")


async def resolve_listen(address: str) -> tuple[str, int]:
    """The IP and port a ``listen`` value names (no socket is opened)."""
    host, port = split_host_port(address)
    if host in ("", "localhost"):
        return "127.0.0.1", port
    try:
        return str(ipaddress.ip_address(host)), port
    except ValueError:
        return await _lookup(host), port


def bind_listener(host: str, port: int) -> socket.socket:
    """A listening, non-blocking socket; errors carry Go's wording."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        # Go sets SO_REUSEADDR on listeners: a restarted proxy can rebind a
        # port whose old connections sit in TIME_WAIT.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(LISTEN_BACKLOG)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        reason = (exc.strerror or str(exc)).lower()
        raise ListenError(f"listen tcp {format_address(host, port)}: bind: {reason}") from None
    return sock
