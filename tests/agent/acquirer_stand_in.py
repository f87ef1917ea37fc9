"""A small stand-in for the acquirer's admin API (terminal registration and
retirement), with the real one's answers: 201 new, 200 identical, 409 in use
with other details or retired; retire 200 (idempotent) or 404 unknown. Runs
an aiohttp server on 127.0.0.1:0 in a thread; ``down`` makes it answer 503."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from aiohttp import web


class AcquirerStandIn:
    def __init__(self, known_tids: set[str]) -> None:
        self.known = set(known_tids)
        self.terminals: dict[str, dict[str, Any]] = {}
        self.retired: dict[str, int] = {}  # tid → times asked
        self.calls: list[tuple[str, str]] = []
        self.down = False
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def start(self) -> AcquirerStandIn:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/admin/terminals", self._register)
        app.router.add_post("/admin/terminals/{tid}/retire", self._retire)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _register(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.calls.append(("register", body["tid"]))
        if self.down:
            return web.json_response({"error": "down"}, status=503)
        tid = body["tid"]
        if tid in self.retired:
            return web.json_response({"error": "retired"}, status=409)
        existing = self.terminals.get(tid)
        if existing is not None:
            status = 200 if existing == body else 409
            return web.json_response({"tid": tid, "created": False}, status=status)
        self.terminals[tid] = body
        self.known.add(tid)
        return web.json_response({"tid": tid, "created": True}, status=201)

    async def _retire(self, request: web.Request) -> web.Response:
        tid = request.match_info["tid"]
        self.calls.append(("retire", tid))
        if self.down:
            return web.json_response({"error": "down"}, status=503)
        if tid not in self.known:
            return web.json_response({"error": "unknown"}, status=404)
        self.retired[tid] = self.retired.get(tid, 0) + 1
        return web.json_response({"tid": tid, "retired": True, "closed_batches": []})
