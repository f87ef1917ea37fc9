"""The kit's guard for an ASGI app (the agent on FastAPI): the bearer token
and the request-body cap, as pure ASGI middleware in front of every route.

One rule, the aiohttp middleware's (:func:`~.admin_token.guarded`): with a
token configured, every path but ``/health`` needs ``Authorization: Bearer
<token>`` — admin and peer routes, ``/metrics``, and the business routes
that change state or answer terminal master keys. As middleware rather than
a per-router dependency, no route can be added without it, and the
OpenAPI document is not cluttered with an ``authorization`` parameter on
every operation.

The body cap: a ``Content-Length`` over the limit is answered 413 before a
byte of the body is read; a chunked body is counted as it streams and cut
at the limit (the multipart parser never spools more than the limit to
disk). Without it two 100 MB JSON bodies took the agent to 811 MB.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.exceptions import HTTPException

from poslab.mocks.kit.admin_token import UNAUTHORISED, authorised, guarded

__all__ = ["DEFAULT_MAX_BODY_BYTES", "BearerGuard", "BodyLimit"]

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: A JSON request of the agent is at most a few KiB; a peer's pushed batch of
#: records a few hundred.
DEFAULT_MAX_BODY_BYTES = 1024 * 1024


async def _answer(send: Send, status: int, message: str, headers: Mapping[str, str]) -> None:
    body = json.dumps({"error": message}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


class BearerGuard:
    """401 ``{"error"}`` for a guarded path without the token."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and guarded(scope["path"])
            and not authorised(self.token, _header(scope, b"authorization"))
        ):
            await _answer(send, 401, UNAUTHORISED, {"WWW-Authenticate": "Bearer"})
            return
        await self.app(scope, receive, send)


class BodyLimit:
    """413 for a body over its path's limit (``larger``: path → bytes, for
    uploads), whether announced by ``Content-Length`` or streamed."""

    def __init__(
        self,
        app: ASGIApp,
        default: int = DEFAULT_MAX_BODY_BYTES,
        larger: Mapping[str, int] | None = None,
    ) -> None:
        self.app = app
        self.default = default
        self.larger = dict(larger or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.larger.get(scope["path"], self.default)
        too_large = f"request body larger than {limit} bytes"
        declared = _header(scope, b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                await _answer(send, 400, "Content-Length is not a number", {})
                return
            if length > limit:
                await _answer(send, 413, too_large, {"Connection": "close"})
                return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # Raised into the reader (FastAPI passes an HTTPException
                    # through its body parsing); the kit answers it as {"error"}.
                    raise HTTPException(413, too_large)
            return message

        await self.app(scope, counted, send)
