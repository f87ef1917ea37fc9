"""The issuer's admin API (docs/faults.md shape).

``GET /health``, ``GET /metrics``, ``GET /admin/faults``,
``POST``/``DELETE /admin/faults/<slow|unavailable|decline>``,
``POST /admin/reset`` (the fault routes of the kit), ``GET /admin/state``
(authorisations by status: count and fen) and ``GET /admin/export/issuer``
(``issuer.jsonl``, streamed). Errors are JSON ``{"error": ...}`` with a 4xx
status; with a token configured every path but ``/health`` needs
``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

from aiohttp import web

from poslab.app_faults import AppFault
from poslab.app_faults.issuer import IssuerUnavailable
from poslab.mocks.kit import CONTENT_TYPE
from poslab.mocks.kit.aiohttp_admin import (
    MAX_BODY_BYTES,
    admin_middleware,
    error_response,
    fault_routes,
)

from .auth_server import AuthServer
from .holds_store import export_rows

__all__ = ["build_app"]


class IssuerAdmin:
    def __init__(self, server: AuthServer) -> None:
        self.server = server

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"status": "ok", "service": "issuer", "connections": len(self.server.connections)}
        )

    async def drop_when_unavailable(self, fault: AppFault) -> dict[str, Any]:
        """``unavailable`` also ends the connections already open (no await
        before the board has it: no connection slips in between)."""
        if isinstance(fault, IssuerUnavailable):
            self.server.drop_connections()
        return {}

    async def state(self, request: web.Request) -> web.Response:
        counts: Counter[str] = Counter()
        sums: Counter[str] = Counter()
        for auth in self.server.accounts.auths.values():
            counts[auth.status] += 1
            sums[auth.status] += auth.amount
        return web.json_response(
            {
                "auths": len(self.server.accounts.auths),
                "counts": counts,
                "sums_fen": sums,
                "tombstones": len(self.server.accounts.tombstones),
                "connections": len(self.server.connections),
            }
        )

    async def export(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["name"] != "issuer":
            return error_response(404, "unknown export; known: ['issuer']")
        rows = await asyncio.to_thread(lambda: list(export_rows(self.server.store.path)))
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        for start in range(0, len(rows), 2000):
            chunk = "".join(
                json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n"
                for r in rows[start : start + 2000]
            )
            await response.write(chunk.encode("utf-8"))
        await response.write_eof()
        return response

    async def metrics(self, request: web.Request) -> web.Response:
        return web.Response(
            body=self.server.metrics.render(), headers={"Content-Type": CONTENT_TYPE}
        )


def build_app(server: AuthServer, token: str | None) -> web.Application:
    api = IssuerAdmin(server)
    app = web.Application(middlewares=[admin_middleware(token)], client_max_size=MAX_BODY_BYTES)
    app.add_routes(
        [
            web.get("/health", api.health),
            web.get("/metrics", api.metrics),
            *fault_routes(server.faults, on_set=api.drop_when_unavailable),
            web.get("/admin/state", api.state),
            web.get("/admin/export/{name}", api.export),
        ]
    )
    return app
