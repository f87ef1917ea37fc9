"""The issuer's admin API (docs/faults.md shape).

``GET /health``, ``GET /metrics``, ``GET /admin/faults``,
``POST``/``DELETE /admin/faults/<slow|unavailable|decline>``,
``POST /admin/reset``, ``GET /admin/state`` (authorisations by status: count
and fen) and ``GET /admin/export/issuer`` (``issuer.jsonl``, streamed).
Errors are JSON ``{"error": ...}`` with a 4xx status; with a token configured
every path but ``/health`` needs ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

from aiohttp import web

from poslab.mocks.admin_http import error_response, json_body, token_guard

from .auth_server import AuthServer
from .faults import FaultError, validate
from .holds_store import export_rows

__all__ = ["build_app"]


class IssuerAdmin:
    def __init__(self, server: AuthServer) -> None:
        self.server = server

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"status": "ok", "service": "issuer", "connections": len(self.server.connections)}
        )

    async def faults(self, request: web.Request) -> web.Response:
        return web.json_response({"active": self.server.faults.active})

    async def set_fault(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        body: Any = None
        body = await json_body(request)
        try:
            params = validate(name, body)
        except FaultError as exc:
            return error_response(exc.status, f"fault {name}: {exc}")
        self.server.faults.set(name, params)
        if name == "unavailable":
            self.server.drop_connections()
        return web.json_response({"fault": name, "params": params})

    async def clear_fault(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        try:
            self.server.faults.clear(name)
        except FaultError as exc:
            return error_response(exc.status, str(exc))
        return web.json_response({"fault": name, "cleared": True})

    async def reset(self, request: web.Request) -> web.Response:
        self.server.faults.reset()
        return web.json_response({"reset": True})

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
        lines = [
            "# HELP issuer_requests_total requests answered, by MTI and response code",
            "# TYPE issuer_requests_total counter",
        ]
        for (mti, rc), n in sorted(self.server.requests.items()):
            lines.append(f'issuer_requests_total{{mti="{mti}",rc="{rc}"}} {n}')
        held = sum(1 for a in self.server.accounts.auths.values() if a.status == "held")
        lines += [
            "# HELP issuer_holds authorisations currently holding funds",
            "# TYPE issuer_holds gauge",
            f"issuer_holds {held}",
            "# HELP issuer_connections acquirer connections open",
            "# TYPE issuer_connections gauge",
            f"issuer_connections {len(self.server.connections)}",
        ]
        return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")


def build_app(server: AuthServer, token: str | None) -> web.Application:
    api = IssuerAdmin(server)
    app = web.Application(middlewares=[token_guard(token)], client_max_size=64 * 1024)
    app.add_routes(
        [
            web.get("/health", api.health),
            web.get("/metrics", api.metrics),
            web.get("/admin/faults", api.faults),
            web.post("/admin/faults/{name}", api.set_fault),
            web.delete("/admin/faults/{name}", api.clear_fault),
            web.post("/admin/reset", api.reset),
            web.get("/admin/state", api.state),
            web.get("/admin/export/{name}", api.export),
        ]
    )
    return app
