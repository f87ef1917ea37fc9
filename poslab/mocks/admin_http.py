"""What every aiohttp admin API of the mocks shares (docs/faults.md shape):
JSON errors, JSON bodies, and the bearer-token guard used off loopback.

The mocks may not import each other (they are independent services); this
module belongs to none of them, so the acquirer and the issuer both stand on it.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

__all__ = ["Handler", "error_response", "json_body", "token_guard"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(status: int, message: str) -> web.Response:
    """Every admin error: ``{"error": message}`` with a 4xx status."""
    return web.json_response({"error": message}, status=status)


async def json_body(request: web.Request) -> Any:
    """The request's JSON body, None when there is none; 400 when it is not JSON."""
    if not request.can_read_body:
        return None
    try:
        return await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise web.HTTPBadRequest(
            text=json.dumps({"error": "body is not valid JSON"}), content_type="application/json"
        ) from None


def token_guard(token: str | None) -> Callable[..., Any]:
    """Middleware: with a token configured, every path but /health needs
    ``Authorization: Bearer <token>`` (compared in constant time)."""

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if token is not None and request.path != "/health":
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                return error_response(401, "a valid Authorization: Bearer token is required")
        return await handler(request)

    return guard
