"""The acquirer's admin API (aiohttp), in the shape docs/faults.md fixes.

==========================================  =====================================
``GET /health``                             200 when ready
``GET /metrics``                            Prometheus text
``GET /admin/faults``                       ``{"active": {name: params}}``
``POST /admin/faults/<name>``               set a fault (404 unknown, 422 bad params)
``DELETE /admin/faults/<name>``             clear it (idempotent)
``POST /admin/reset``                       clear every fault
``POST /admin/terminals``                   provision a terminal → 201 (200 if identical)
``GET /admin/terminals/<tid>``              registry, session and batch of one terminal
``POST /admin/terminals/<tid>/retire``      close its open batch (``replacement``), refuse it
``GET /admin/state``                        ledger counts and sums, batches, backlog, payouts
``GET /admin/batches?status=open``          batches (open / closed / all)
``GET /admin/payouts``                      payouts made so far
``GET /admin/export/<name>``                stream ``transactions``/``batches``/``payouts`` JSONL
``GET /admin/settlement?by=T``              what settlement will still do by epoch T
``POST /admin/settlement/run``              one settlement tick now (409 while stalled)
==========================================  =====================================

Every error is JSON ``{"error": message}`` with a 4xx status. When a token is
configured (the API is bound to a non-loopback address), every path but
``/health`` needs ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from typing import Any

from aiohttp import web

from poslab.app_faults import AppFault, FaultError
from poslab.app_faults.acquirer import ExpireKeys, TerminalScope
from poslab.mocks.kit import CONTENT_TYPE
from poslab.mocks.kit.aiohttp_admin import (
    MAX_BODY_BYTES,
    admin_middleware,
    error_response,
    fault_routes,
    json_body,
)

from .export import EXPORTS, export_rows, line
from .group_commit import Op
from .host import Host
from .ledger import (
    INSERT_RETIRED,
    INSERT_TERMINAL,
    REVOKE_SESSION,
    UPSERT_SESSION,
    reader,
    registry_sealer,
)
from .registry import validate_provision
from .settlement_worker import PAYOUTS_DUE_BY, SettlementWorker
from .terminal_server import IsoServer

__all__ = ["build_app"]


class AdminApi:
    def __init__(self, host: Host, iso: IsoServer, worker: SettlementWorker) -> None:
        self.host = host
        self.iso = iso
        self.worker = worker
        self.registry_sealer = registry_sealer(host.world)

    # -- faults -------------------------------------------------------------------

    def fault_context(self) -> dict[str, Any]:
        """What fault params are checked against: the regions of the world."""
        return {"regions": sorted(self.host.registry.regions)}

    async def apply_key_fault(self, fault: AppFault) -> dict[str, Any]:
        """Key faults act once, when set: the sessions they hit are revoked or
        re-keyed now (and durably), and the answer says how many."""
        if not isinstance(fault, TerminalScope):
            return {}
        registry = self.host.registry
        unknown_tids = sorted(t for t in fault.tids or () if registry.get(t) is None)
        if unknown_tids:
            raise FaultError(f"fault {fault.name}: unknown terminal(s) {unknown_tids[:10]}")
        tids = registry.select(fault.regions, fault.tids)
        keystore = self.host.keystore
        ops: list[Op]
        if isinstance(fault, ExpireKeys):
            hit = keystore.expire(tids)
            ops = [(REVOKE_SESSION, (tid,)) for tid in hit]
        else:
            tmks = {tid: record.tmk for tid in tids if (record := registry.get(tid)) is not None}
            rotated = keystore.rotate(tids, tmks, time.time())
            hit = [session.tid for session, _ in rotated]
            ops = [
                (UPSERT_SESSION, (s.tid, s.mode, block, s.issued_at, s.expires_at, 0))
                for s, block in rotated
            ]
        if ops and self.host.config.persist_sessions:
            await self.host.commit(ops)
        return {"affected": len(hit)}

    # -- terminals ----------------------------------------------------------------

    async def provision(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        record = validate_provision(body)
        added = self.host.registry.add(record)
        if added:
            await self.host.commit(
                [
                    (
                        INSERT_TERMINAL,
                        (
                            record.tid,
                            record.mid,
                            record.region,
                            # the key at rest only sealed (docs/run-directory.md)
                            self.registry_sealer.seal(record.tmk.hex().upper().encode()),
                            record.software_version,
                            json.dumps(sorted(record.allowed)),
                            time.time(),
                        ),
                    )
                ]
            )
        return web.json_response(
            {"tid": record.tid, "mid": record.mid, "created": added}, status=201 if added else 200
        )

    async def terminal(self, request: web.Request) -> web.Response:
        tid = request.match_info["tid"]
        record = self.host.registry.known(tid)
        if record is None:
            return error_response(404, f"terminal {tid} is not known")
        session = self.host.keystore.get(tid)
        return web.json_response(
            {
                "tid": tid,
                "mid": record.mid,
                "region": record.region,
                "software_version": record.software_version,
                "allowed": sorted(record.allowed),
                "provisioned": record.provisioned,
                "retired": self.host.registry.is_retired(tid),
                "session": None
                if session is None
                else {
                    "mode": session.mode,
                    "issued_at": session.issued_at,
                    "valid": session.valid(time.time()),
                },
                "batch": self.host.journal.host_batch(tid),
            }
        )

    async def retire(self, request: web.Request) -> web.Response:
        tid = request.match_info["tid"]
        now = time.time()
        try:
            newly = self.host.registry.retire(tid, now)
        except KeyError:
            return error_response(404, f"terminal {tid} is not known")
        ops = self.worker.close_for_replacement(tid, now)
        closed = [
            b.batch
            for b in self.host.journal.batches.values()
            if b.tid == tid and b.closed_by == "replacement"
        ]
        if newly:
            ops.append((INSERT_RETIRED, (tid, now)))
        self.host.keystore.drop(tid)
        await self.host.commit(ops)
        return web.json_response({"tid": tid, "retired": True, "closed_batches": closed})

    # -- state --------------------------------------------------------------------

    async def state(self, request: web.Request) -> web.Response:
        journal = self.host.journal
        counts: Counter[str] = Counter()
        sums: Counter[str] = Counter()
        for txn in journal.by_id.values():
            label = f"{txn.type}/{txn.status}"
            counts[label] += 1
            sums[label] += txn.amount
        payouts = await asyncio.to_thread(self._payout_summary)
        return web.json_response(
            {
                "ledger": {"rows": len(journal.by_id), "counts": counts, "sums_fen": sums},
                "open_batches": sum(1 for _ in journal.open_batches()),
                "settlement_backlog": self.worker.backlog(),
                "settlement_stalled": self.host.faults.stall_settlement,
                "advices_pending": len(self.host.advices),
                "payouts": payouts,
                "connections": len(self.iso.connections),
                "issuer_links": self.host.issuer.connected,
                "sessions": len(self.host.keystore),
            }
        )

    def _payout_summary(self) -> dict[str, int]:
        conn = reader(self.host.db_path)
        try:
            row = conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(gross), 0), COALESCE(SUM(fees), 0), "
                "COALESCE(SUM(net), 0) FROM payouts"
            ).fetchone()
        finally:
            conn.close()
        return {"count": row[0], "gross": row[1], "fees": row[2], "net": row[3]}

    async def batches(self, request: web.Request) -> web.Response:
        wanted = request.query.get("status", "all")
        if wanted not in ("open", "closed", "all"):
            return error_response(400, "status must be open, closed or all")
        rows = [
            {
                "tid": b.tid,
                "batch": b.batch,
                "mid": b.mid,
                "status": b.status,
                "settle_requested": b.settle_requested_at is not None,
                "closed_by": b.closed_by,
                "recon_code": b.recon_code,
                "uploaded": b.uploaded,
            }
            for b in self.host.journal.batches.values()
            if wanted == "all" or b.status == wanted
        ]
        return web.json_response({"batches": rows})

    async def payouts(self, request: web.Request) -> web.Response:
        rows = await asyncio.to_thread(self._read_all, "payouts")
        return web.json_response({"payouts": rows})

    def _read_all(self, name: str) -> list[dict[str, Any]]:
        conn = reader(self.host.db_path)
        try:
            return list(export_rows(conn, name))
        finally:
            conn.close()

    async def export(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in EXPORTS:
            return error_response(404, f"unknown export {name!r}; known: {sorted(EXPORTS)}")
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        conn = reader(self.host.db_path)
        try:
            await asyncio.to_thread(conn.execute, "BEGIN")
            rows = export_rows(conn, name)
            while True:
                chunk = await asyncio.to_thread(_chunk, rows)
                if not chunk:
                    break
                await response.write(chunk)
            await asyncio.to_thread(conn.execute, "COMMIT")
        finally:
            conn.close()
        await response.write_eof()
        return response

    async def settlement(self, request: web.Request) -> web.Response:
        """What the settlement worker will still do by ``by`` (epoch; default now):
        settled batches to close, batches the day cuts will close host-side,
        rows whose payout falls due. A run's drain waits for all three to be 0
        before it exports the ledger, so every payout due in the run is in it."""
        raw = request.query.get("by")
        try:
            by = time.time() if raw is None else float(raw)
        except ValueError:
            return error_response(400, f"by must be epoch seconds, got {raw!r}")
        if by != by or by in (float("inf"), float("-inf")):
            return error_response(400, "by must be a finite number")
        payouts_due = await asyncio.to_thread(self._count, PAYOUTS_DUE_BY, (by,))
        backlog, cut_closes = self.worker.backlog(), self.worker.cut_closes_by(by)
        return web.json_response(
            {
                "by": by,
                "stalled": self.host.faults.stall_settlement,
                "backlog": backlog,
                "cut_closes": cut_closes,
                "payouts_due": payouts_due,
                "done": not (backlog or cut_closes or payouts_due),
            }
        )

    def _count(self, sql: str, params: tuple[Any, ...]) -> int:
        conn = reader(self.host.db_path)
        try:
            return int(conn.execute(sql, params).fetchone()[0])
        finally:
            conn.close()

    async def run_settlement(self, request: web.Request) -> web.Response:
        if self.host.faults.stall_settlement:
            return error_response(409, "settlement is stalled (fault stall_settlement)")
        await self.worker.tick()
        return web.json_response({"settlement_backlog": self.worker.backlog()})

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "status": "ok",
                "service": "acquirer",
                "terminals": len(self.host.registry),
                "issuer_links": self.host.issuer.connected,
            }
        )

    async def metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=self.host.metrics.render(), headers={"Content-Type": CONTENT_TYPE})


def _chunk(rows: Any, size: int = 2000) -> bytes:
    out = bytearray()
    for _ in range(size):
        row = next(rows, None)
        if row is None:
            break
        out += line(row)
    return bytes(out)


def build_app(
    host: Host, iso: IsoServer, worker: SettlementWorker, token: str | None
) -> web.Application:
    api = AdminApi(host, iso, worker)
    app = web.Application(middlewares=[admin_middleware(token)], client_max_size=MAX_BODY_BYTES)
    app.add_routes(
        [
            web.get("/health", api.health),
            web.get("/metrics", api.metrics),
            *fault_routes(host.faults, context=api.fault_context, on_set=api.apply_key_fault),
            web.post("/admin/terminals", api.provision),
            web.get("/admin/terminals/{tid}", api.terminal),
            web.post("/admin/terminals/{tid}/retire", api.retire),
            web.get("/admin/state", api.state),
            web.get("/admin/batches", api.batches),
            web.get("/admin/payouts", api.payouts),
            web.get("/admin/export/{name}", api.export),
            web.get("/admin/settlement", api.settlement),
            web.post("/admin/settlement/run", api.run_settlement),
        ]
    )
    return app
