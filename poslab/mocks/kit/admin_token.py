"""The admin APIs' bearer token: when one is needed and how a request shows it.

Bound to loopback an admin API is reachable only from this machine and needs
no token; bound anywhere else it must have one (the service refuses to start
without it). A token that is given is always enforced, on loopback too, so a
stack started with ``LAB_ADMIN_TOKEN`` behaves the same on any address.
``/health`` stays open: launchers and load balancers probe it without secrets.
Everything else — admin routes, ``/metrics``, and the business routes that
change state or answer keys (the agent's replacements and orders) — is
guarded, by the one rule here (:func:`guarded`), whichever web framework
serves it (:mod:`.aiohttp_admin`, :mod:`.asgi_guard`).
"""

from __future__ import annotations

import hmac
import ipaddress

from poslab.errors import ConfigError

__all__ = ["OPEN_PATHS", "UNAUTHORISED", "admin_token_for", "authorised", "guarded"]

UNAUTHORISED = "a valid Authorization: Bearer token is required"
#: What anyone may ask without the token: liveness only, which reveals nothing.
OPEN_PATHS = frozenset({"/health"})


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def admin_token_for(host: str, token: str | None) -> str | None:
    """The token the admin API on ``host`` enforces (None: none); a
    ConfigError when ``host`` is off loopback and no token was given."""
    token = token or None
    if token is None and not _is_loopback(host):
        raise ConfigError(
            f"the admin API would listen on {host}: give --admin-token "
            "(or LAB_ADMIN_TOKEN), it is required off loopback"
        )
    return token


def authorised(token: str | None, authorization: str | None) -> bool:
    """Whether an ``Authorization`` header value passes (compared in constant
    time, so the answer's timing tells nothing about the token)."""
    if token is None:
        return True
    # any header text encodes (backslashreplace): an undecodable header is a
    # wrong token, not a 500
    given = (authorization or "").encode("utf-8", "backslashreplace")
    return hmac.compare_digest(given, f"Bearer {token}".encode())


def guarded(path: str) -> bool:
    """Whether ``path`` needs the token (when one is configured)."""
    return path not in OPEN_PATHS
