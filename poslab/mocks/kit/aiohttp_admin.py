"""What every aiohttp admin API of the mocks shares (docs/faults.md shape):
JSON errors, JSON bodies, the bearer-token guard, and the fault routes.

The mocks may not import each other (they are independent services); the kit
belongs to none of them, so the acquirer and the issuer both stand on it.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from poslab.app_faults import AppFault, FaultError
from poslab.mocks.kit.admin_token import UNAUTHORISED, authorised, guarded
from poslab.mocks.kit.fault_board import FaultBoard
from poslab.mocks.kit.service_error import ServiceError, error_body

__all__ = [
    "MAX_BODY_BYTES",
    "SERVER_LIMITS",
    "Handler",
    "admin_middleware",
    "error_response",
    "fault_routes",
    "json_body",
]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: Before a fault is set: act on it (and refuse it with a FaultError when the
#: service's state does not allow it); extra fields for the answer.
OnSet = Callable[[AppFault], Awaitable[Mapping[str, Any]]]

#: ``web.Application(client_max_size=...)``: an admin body is a few hundred
#: bytes; beyond this aiohttp answers 413 without reading further.
MAX_BODY_BYTES = 64 * 1024
#: ``web.AppRunner(app, **SERVER_LIMITS)``. aiohttp's keep-alive timer runs
#: from the connection's start and from each answer, and is not reset by
#: bytes that do not complete a request: it is also the header timeout that
#: closes a half-sent request (aiohttp's default, an hour, let 500 of them
#: hold their sockets). 15 s is far beyond what a client on this machine
#: needs to send headers, and a polling client reconnects.
SERVER_LIMITS: dict[str, Any] = {"keepalive_timeout": 15.0}


def error_response(status: int, message: str) -> web.Response:
    """Every admin error: ``{"error": message}`` with a 4xx status."""
    return web.json_response({"error": message}, status=status)


async def json_body(request: web.Request) -> Any:
    """The request's JSON body, None when there is none; 400 when it is not JSON."""
    if not request.can_read_body:
        return None
    try:
        return await request.json()
    # ValueError covers JSONDecodeError and UnicodeDecodeError, and also an
    # integer beyond Python's int-from-text limit (4,300 digits), which the
    # parser raises as a bare ValueError; RecursionError: nesting too deep.
    except (ValueError, RecursionError):
        raise web.HTTPBadRequest(
            text=json.dumps({"error": "body is not valid JSON"}), content_type="application/json"
        ) from None


def admin_middleware(token: str | None, max_body: int = MAX_BODY_BYTES) -> Callable[..., Any]:
    """Middleware of every aiohttp admin API: with a token configured, every
    path but /health (:func:`~.admin_token.guarded`) needs ``Authorization:
    Bearer <token>``; a body announced larger than ``max_body`` is refused
    before it is read (aiohttp's ``client_max_size`` counts only what arrives,
    so it would wait for the body first); a :class:`ServiceError` or
    :class:`FaultError` from any handler becomes its JSON error answer
    (handlers raise, one place answers)."""

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if guarded(request.path) and not authorised(token, request.headers.get("Authorization")):
            return error_response(401, UNAUTHORISED)
        if (request.content_length or 0) > max_body:
            response = error_response(413, f"request body larger than {max_body} bytes")
            response.force_close()  # the body is left unread: no keep-alive after it
            return response
        try:
            return await handler(request)
        except (ServiceError, FaultError) as exc:
            return web.json_response(error_body(exc), status=exc.status)

    return guard


def fault_routes(
    board: FaultBoard,
    *,
    context: Callable[[], Mapping[str, Any]] | None = None,
    on_set: OnSet | None = None,
) -> list[web.RouteDef]:
    """``GET /admin/faults``, ``POST``/``DELETE /admin/faults/<name>`` and
    ``POST /admin/reset`` over ``board``. ``context`` gives what validation
    checks names against (``{"regions": ...}``)."""

    async def active(request: web.Request) -> web.Response:
        return web.json_response({"active": board.snapshot()})

    async def set_fault(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        fault = board.parse(
            name, await json_body(request), context=None if context is None else context()
        )
        extra = {} if on_set is None else await on_set(fault)
        board.set(fault)
        return web.json_response({"fault": name, "params": fault.to_json(), **extra})

    async def clear_fault(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        board.clear(name)
        return web.json_response({"fault": name, "cleared": True})

    async def reset(request: web.Request) -> web.Response:
        board.reset()
        return web.json_response({"reset": True})

    return [
        web.get("/admin/faults", active),
        web.post("/admin/faults/{name}", set_fault),
        web.delete("/admin/faults/{name}", clear_fault),
        web.post("/admin/reset", reset),
    ]
