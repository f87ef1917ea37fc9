"""Per-second samples: the fleet journal tail bucketed by the second each record ended,
and the stack's admin APIs polled over real sockets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from poslab.drill.metrics import FleetSeconds, MetricsBoard, StackProbe

T0 = 1_790_000_000.0


def record(
    end: float,
    *,
    kind: str = "sale",
    outcome: str = "approved",
    region: str = "north",
    rc: str | None = "00",
    latency: float = 40.0,
    **extra: Any,
) -> dict[str, Any]:
    base = {
        "ts_start": T0 + end - latency / 1000,
        "ts_end": T0 + end,
        "tid": extra.pop("tid", "10000001"),
        "region": region,
        "type": kind,
        "stan": extra.pop("stan", "000001"),
        "batch": "000001",
        "amount": 1000,
        "outcome": outcome,
        "rc": rc,
        "path": extra.pop("path", "primary"),
        "latency_ms": latency,
        "reason": extra.pop("reason", None),
        "reversal": extra.pop("reversal", None),
    }
    base.update(extra)
    return base


def write(fleet: Path, records: list[dict[str, Any]], name: str = "host-1") -> None:
    fleet.mkdir(parents=True, exist_ok=True)
    with (fleet / f"{name}.jsonl").open("a", encoding="utf-8") as fh:
        fh.write("".join(json.dumps(r) + "\n" for r in records))


def test_seconds_are_published_once_complete_and_bucketed_by_end(tmp_path: Path) -> None:
    fleet = tmp_path / "fleet"
    seconds = FleetSeconds(fleet, T0, ("north", "south"))
    write(
        fleet,
        [
            record(0.2),
            record(0.5, outcome="declined", rc="51"),
            record(0.9, outcome="failed", rc=None, reason="timeout", latency=5000.0),
            record(1.3, region="south", path="backup"),
            record(1.4, kind="sign_on"),
            record(1.5, kind="tms", outcome="failed", rc=None),
        ],
    )
    (fleet / "host-2.jsonl").write_text(
        '{"ts_end": 17', encoding="utf-8"
    )  # a process died mid-line
    assert seconds.complete(T0 + 1.5, lag_s=1.1) == []  # second 0 not complete yet
    (first,) = seconds.complete(T0 + 2.2, lag_s=1.1)
    assert first["second"] == 0 and first["t"] == T0
    north = first["regions"]["north"]
    assert (north["tps"], north["approved"], north["declined"], north["failed"]) == (3, 1, 1, 1)
    assert north["success_ratio"] == 0.5  # declines are the system working
    assert north["rc"] == {"00": 1, "51": 1, "timeout": 1}
    assert north["p99_ms"] == 5000.0
    assert first["regions"]["south"]["tps"] == 0 and first["all"]["tps"] == 3
    (second,) = seconds.complete(T0 + 3.2, lag_s=1.1)
    assert second["regions"]["south"]["backup_share"] == 1.0
    assert second["sign_ons"] == 1 and second["agent_calls"] == {"ok": 0, "failed": 1, "backup": 0}
    write(fleet, [record(0.95)])  # ended in a second already shown: not counted there
    seconds.complete(T0 + 3.3, lag_s=1.1)
    assert seconds.late == 1
    assert set(seconds.last_seen) == {"10000001"}


def test_reversal_backlog_and_given_up_reversals(tmp_path: Path) -> None:
    fleet = tmp_path / "fleet"
    seconds = FleetSeconds(fleet, T0, ("north",))
    write(
        fleet,
        [
            record(0.1, outcome="failed", rc=None, reversal="pending", stan="000007"),
            record(0.2, outcome="failed", rc=None, reversal="pending", stan="000008"),
            record(
                0.3,
                kind="reversal",
                outcome="approved",
                stan="000007",
                orig_stan="000007",
                orig_batch="000001",
            ),
            record(
                0.4,
                kind="reversal",
                outcome="unresolved",
                stan="000008",
                orig_stan="000008",
                orig_batch="000001",
            ),
            record(0.5, outcome="failed", rc=None, reversal="pending", stan="000009"),
        ],
    )
    (s,) = seconds.complete(T0 + 2.2, lag_s=1.1)
    # 7 reversed, 8 given up (counted apart, not waiting any more), 9 still waiting
    assert s["reversal_backlog"] == 1 and s["unresolved"] == 1


@pytest.mark.anyio
async def test_stack_probe_reads_the_admin_apis_and_the_agents_through_their_paths() -> None:
    async def scenario() -> dict[str, Any]:
        async def state(request: web.Request) -> web.Response:
            return web.json_response(
                {
                    "settlement_backlog": 4,
                    "settlement_stalled": True,
                    "open_batches": 9,
                    "connections": 12,
                    "issuer_links": 2,
                    "advices_pending": 0,
                    "ignored": 1,
                }
            )

        async def health(request: web.Request) -> web.Response:
            return web.json_response({"status": "ok"})

        app = web.Application()
        app.add_routes([web.get("/admin/state", state), web.get("/health", health)])
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        base = f"http://127.0.0.1:{runner.addresses[0][1]}"
        probe = StackProbe(
            {"acquirer": base, "issuer": base}, {"primary": base, "backup": "http://127.0.0.1:9"}
        )
        try:
            return await probe.poll()
        finally:
            await probe.close()
            await runner.cleanup()

    got = await scenario()
    host = got["host"]
    assert host["up"] and host["settlement_backlog"] == 4 and host["settlement_stalled"] is True
    assert "ignored" not in host and got["issuer"] == {"up": True}
    assert got["agents"]["primary"]["ok"] is True
    backup = got["agents"]["backup"]
    assert backup["ok"] is False and backup["detail"]  # nothing listens on port 9


def test_board_keeps_a_ring_and_a_file(tmp_path: Path) -> None:
    board = MetricsBoard(tmp_path / "metrics.jsonl", keep=3)
    for i in range(5):
        board.publish({"second": i, "t": T0 + i})
    assert [s["seq"] for s in board.samples] == [3, 4, 5]
    assert [s["seq"] for s in board.after(3)] == [4, 5]
    lines = (tmp_path / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(x)["second"] for x in lines] == [0, 1, 2, 3, 4]
    assert board.latest is not None and board.latest["seq"] == 5


def test_a_store_and_forward_resend_is_not_a_customer_attempt(tmp_path: Path) -> None:
    fleet = tmp_path / "fleet"
    seconds = FleetSeconds(fleet, T0, ("north",))
    write(
        fleet,
        [
            record(0.1, kind="refund", outcome="failed", rc=None, reason="timeout", saf="pending"),
            record(0.6, kind="refund", stan="000001", retransmission=True, saf=None),
            record(0.7),
        ],
    )
    (first,) = seconds.complete(T0 + 2.2, lag_s=1.1)
    north = first["regions"]["north"]
    # the failed refund and the sale count; the resend that answered it does not
    assert (north["tps"], north["approved"], north["failed"]) == (2, 1, 1)
