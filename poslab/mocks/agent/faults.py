"""Application faults (docs/faults.md, ``agent-*`` rows) and the ASGI
middleware that applies them to the business API.

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

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from poslab.mocks.agent.errors import Invalid, NotFound
from poslab.mocks.agent.metrics import Metrics

__all__ = ["SUBSYSTEMS", "FastPath", "FaultBoard", "FaultMiddleware", "subsystem_of"]

SUBSYSTEMS = ("tms", "tickets", "onboarding", "terminals")
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


class _Slow(BaseModel):
    model_config = ConfigDict(extra="forbid")
    delay_ms: int = Field(ge=0, le=600_000)


class _Errors(BaseModel):
    model_config = ConfigDict(extra="forbid")
    share: float = Field(ge=0.0, le=1.0)


class _SubsystemDown(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subsystem: str = Field(pattern=f"^({'|'.join(SUBSYSTEMS)})$")


_PARAMS: dict[str, type[BaseModel]] = {
    "slow": _Slow,
    "errors": _Errors,
    "subsystem_down": _SubsystemDown,
}

# Path prefix → subsystem. Notifications are part of merchant support.
_PREFIXES = (
    ("/tms/", "tms"),
    ("/tickets", "tickets"),
    ("/notifications", "tickets"),
    ("/onboarding/", "onboarding"),
    ("/terminals/", "terminals"),
)
_EXEMPT = ("/health", "/admin/", "/metrics", "/sync/", "/openapi.json", "/docs", "/redoc")


def subsystem_of(path: str) -> str | None:
    """The subsystem a business path belongs to; None for exempt paths."""
    if path.startswith(_EXEMPT):
        return None
    for prefix, name in _PREFIXES:
        if path.startswith(prefix):
            return name
    if path.startswith("/merchants/"):
        return "tickets" if path.endswith("/notifications") else "onboarding"
    return None


class FaultBoard:
    """The active faults of one instance."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self.active: dict[str, dict[str, Any]] = {}
        self._rng = rng or random.Random()

    def set(self, name: str, params: dict[str, Any]) -> dict[str, Any]:
        model = _PARAMS.get(name)
        if model is None:
            raise NotFound(f"unknown fault {name!r}; known: {', '.join(sorted(_PARAMS))}")
        try:
            value = model.model_validate(params).model_dump()
        except ValidationError as exc:
            raise Invalid(f"bad params for fault {name}: {exc.errors(include_url=False)}") from exc
        self.active[name] = value
        return value

    def clear(self, name: str) -> None:
        self.active.pop(name, None)

    def reset(self) -> None:
        self.active.clear()

    def delay_s(self) -> float:
        slow = self.active.get("slow")
        return 0.0 if slow is None else slow["delay_ms"] / 1000.0

    def refuses(self, subsystem: str) -> str | None:
        """Why a request to ``subsystem`` gets a 503 now, or None."""
        down = self.active.get("subsystem_down")
        if down is not None and down["subsystem"] == subsystem:
            return f"subsystem {subsystem} is down (admin fault)"
        errors = self.active.get("errors")
        if errors is not None and self._rng.random() < errors["share"]:
            return "injected error (admin fault)"
        return None


# A ready answer for a request, bypassing routing (None: let the app answer).
FastPath = Callable[[Scope], bytes | None]


class FaultMiddleware:
    """Pure ASGI (no per-request task or body buffering): applies faults,
    counts every request for the metrics, and serves ``fast_path`` answers
    (cached JSON) without going through routing and validation."""

    def __init__(
        self, app: App, board: FaultBoard, metrics: Metrics, fast_path: FastPath | None = None
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
    body = json.dumps({"detail": reason}).encode()
    await _answer(send, 503, body, [(b"retry-after", b"1")])


async def _answer(
    send: Send, status: int, body: bytes, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send(
        {"type": "http.response.start", "status": status, "headers": headers + (extra or [])}
    )
    await send({"type": "http.response.body", "body": body})
