"""Application faults (docs/faults.md, ``agent-*`` rows) and the ASGI
middleware that applies them to the business API.

The faults and their params are declared in :mod:`poslab.app_faults.agent`
(shared with scenario validation):

    slow            {"delay_ms": int ≥ 0}             every request delayed
    errors          {"share": 0..1}                   that share answered 503
    subsystem_down  {"subsystem": tms|tickets|onboarding|terminals}   503 there

Faults touch what merchants and terminals reach through the agent proxies.
``/health``, ``/admin``, ``/metrics``, the OpenAPI document and the peer
protocol (``/sync``) are exempt: the lab must still be able to clear a fault,
and the instances must still converge while one of them is degraded.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from poslab.app_faults import ServiceFamily
from poslab.app_faults.agent import AgentErrors, AgentSlow, Subsystem, SubsystemDown
from poslab.mocks.agent.metrics import Metrics
from poslab.mocks.kit import FaultBoard

__all__ = ["AgentFaults", "FastPath", "FaultMiddleware", "subsystem_of"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


# Path prefix → subsystem. Notifications are part of merchant support.
_PREFIXES: tuple[tuple[str, Subsystem], ...] = (
    ("/tms/", "tms"),
    ("/tickets", "tickets"),
    ("/notifications", "tickets"),
    ("/onboarding/", "onboarding"),
    ("/terminals/", "terminals"),
)
_EXEMPT = ("/health", "/admin/", "/metrics", "/sync/", "/openapi.json", "/docs", "/redoc")


def subsystem_of(path: str) -> Subsystem | None:
    """The subsystem a business path belongs to; None for exempt paths."""
    if path.startswith(_EXEMPT):
        return None
    for prefix, name in _PREFIXES:
        if path.startswith(prefix):
            return name
    if path.startswith("/merchants/"):
        return "tickets" if path.endswith("/notifications") else "onboarding"
    return None


class AgentFaults(FaultBoard):
    """The active faults of one instance."""

    def __init__(self, rng: random.Random | None = None) -> None:
        super().__init__(ServiceFamily.AGENT, rng)

    def delay_s(self) -> float:
        slow = self.get(AgentSlow)
        return 0.0 if slow is None else slow.delay_ms / 1000.0

    def refuses(self, subsystem: Subsystem) -> str | None:
        """Why a request to ``subsystem`` gets a 503 now, or None."""
        down = self.get(SubsystemDown)
        if down is not None and down.subsystem == subsystem:
            return f"subsystem {subsystem} is down (admin fault)"
        errors = self.get(AgentErrors)
        if errors is not None and self.rng.random() < errors.share:
            return "injected error (admin fault)"
        return None


# A ready answer for a request, bypassing routing (None: let the app answer).
FastPath = Callable[[Scope], bytes | None]


class FaultMiddleware:
    """Pure ASGI (no per-request task or body buffering): applies faults,
    counts every request for the metrics, and serves ``fast_path`` answers
    (cached JSON) without going through routing and validation."""

    def __init__(
        self, app: App, board: AgentFaults, metrics: Metrics, fast_path: FastPath | None = None
    ) -> None:
        self.app = app
        self.board = board
        self.metrics = metrics
        self.fast_path = fast_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        subsystem = subsystem_of(scope["path"])
        label = subsystem or "other"
        started = asyncio.get_running_loop().time()
        status_seen = 500

        async def send_counted(message: Message) -> None:
            nonlocal status_seen
            if message["type"] == "http.response.start":
                status_seen = int(message["status"])
            await send(message)

        try:
            if subsystem is not None:
                delay = self.board.delay_s()
                if delay:
                    await asyncio.sleep(delay)
                reason = self.board.refuses(subsystem)
                if reason is not None:
                    await _unavailable(send_counted, reason)
                    return
            ready = self.fast_path(scope) if self.fast_path is not None else None
            if ready is not None:
                await _answer(send_counted, 200, ready)
                return
            await self.app(scope, receive, send_counted)
        finally:
            elapsed = asyncio.get_running_loop().time() - started
            self.metrics.observe_request(label, status_seen, elapsed)


async def _unavailable(send: Send, reason: str) -> None:
    body = json.dumps({"error": reason}).encode()
    await _answer(send, 503, body, [(b"retry-after", b"1")])


async def _answer(
    send: Send, status: int, body: bytes, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send(
        {"type": "http.response.start", "status": status, "headers": headers + (extra or [])}
    )
    await send({"type": "http.response.body", "body": body})
