"""Incident drills: what the controller pays each second, what the report costs, how long
a drill takes to start and to end.

Figures:
- the metrics sampler's fleet-journal tail: one second of a 110 txn/s fleet read and
  bucketed (the controller does this every second; the ratio is its share of the
  one-second budget), and a whole 30-minute journal read at once (a report rebuilt later);
- the post-incident report of a 30-minute drill (1,800 samples, ~200k fleet records):
  the analysis, the fleet-side reconciliation and the three files, as a share of the
  drill's length;
- the dashboard's ``/api/metrics`` over a real socket: an incremental poll (one new
  sample) against a page load that fetches the whole 30-minute ring;
- a real drill on this machine (12 terminals): ``lab drill start`` until the controller
  reports running (stack, load, first transaction), and ``lab drill end`` (rollback,
  drain, ledger export, stack stop, scoring, report).

Run: .venv/bin/python bench/bench_drill.py  (or bench/run_all.py drill).
Prints figures and same-run ratios; asserts nothing.
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from poslab.drill.dashboard.server import DashboardServer
from poslab.drill.metrics import FleetSeconds, MetricsBoard
from poslab.drill.postmortem import write_postmortem
from poslab.drill.session import DrillFiles, DrillState, FacilitatorFile, Timeline
from poslab.drill.teardown import write_run_json

T0 = 1_790_000_000.0
TPS = 110
DRILL_S = 1800
REGIONS = ("north", "south", "east")


def _records(second: int, rng: random.Random) -> list[dict[str, Any]]:
    out = []
    for n in range(TPS):
        end = T0 + second + n / TPS
        ok = rng.random() > (0.6 if 600 <= second < 660 else 0.01)
        out.append(
            {
                "ts_start": end - 0.04,
                "ts_end": end,
                "tid": f"1{rng.randrange(300):07d}",
                "mid": "1",
                "region": REGIONS[n % 3],
                "type": "sale",
                "stan": f"{n:06d}",
                "batch": "000001",
                "amount": rng.randrange(100, 50_000),
                "pan": "622202******1234",
                "rc": "00" if ok else None,
                "outcome": "approved" if ok else "failed",
                "attempts": 1,
                "path": "primary",
                "rrn": None,
                "reason": None if ok else "timeout",
                "reversal": None,
                "orig_stan": None,
                "orig_batch": None,
                "latency_ms": 40.0,
                "policy": "resilient",
            }
        )
    return out


def _sample(i: int, rng: random.Random) -> dict[str, Any]:
    bad = 600 <= i < 660
    fig = {
        "tps": TPS // 3,
        "approved": TPS // 3 if not bad else 10,
        "declined": 0,
        "success_ratio": 1.0 if not bad else 0.3,
        "p99_ms": 40.0 + rng.random() * 10,
        "backup_share": 0.0,
        "rc": {"00": TPS // 3},
    }
    return {
        "seq": i + 1,
        "second": i,
        "t": T0 + i,
        "regions": dict.fromkeys(REGIONS, fig),
        "all": {**fig, "tps": TPS},
        "sign_ons": 0,
        "sign_ons_failed": 0,
        "agent_calls": {"ok": 0, "failed": 0, "backup": 0},
        "reversal_backlog": 0,
        "unresolved": 0,
        "host": {"up": True, "settlement_backlog": 0},
        "issuer": {"up": True},
        "agents": {"primary": {"ok": True, "ms": 2.0}, "backup": {"ok": True, "ms": 2.0}},
        "phase": "drill",
    }


def bench_tail(tmp: Path) -> None:
    rng = random.Random(1)
    fleet = tmp / "tail"
    fleet.mkdir()
    journal = fleet / "host-1.jsonl"
    seconds = FleetSeconds(fleet, T0, REGIONS)
    ticks = []
    for second in range(60):
        with journal.open("a", encoding="utf-8") as fh:
            fh.write("".join(json.dumps(r) + "\n" for r in _records(second, rng)))
        started = time.perf_counter()
        seconds.complete(T0 + second + 2.2, lag_s=1.1)
        ticks.append((time.perf_counter() - started) * 1000)
    tick = statistics.median(ticks)
    print(
        f"sampler, one second of a {TPS} txn/s fleet: {tick:.2f} ms "
        f"({tick / 10:.2f} % of the 1 s budget)"
    )
    whole = tmp / "whole"
    whole.mkdir()
    with (whole / "host-1.jsonl").open("w", encoding="utf-8") as fh:
        for second in range(DRILL_S):
            fh.write("".join(json.dumps(r) + "\n" for r in _records(second, rng)))
    started = time.perf_counter()
    FleetSeconds(whole, T0, REGIONS).complete(T0 + DRILL_S + 2, lag_s=1.1)
    took = time.perf_counter() - started
    n = TPS * DRILL_S
    print(f"a 30-minute journal at once: {n:,} records in {took:.2f} s ({n / took:,.0f} records/s)")


def bench_report(tmp: Path) -> None:
    rng = random.Random(2)
    files = DrillFiles(tmp / "20260101T000000Z-drill")
    files.fleet_dir.mkdir(parents=True)
    secret = FacilitatorFile(
        seed=3,
        scenario="acquirer-crash-restart",
        delay_window_s=(600, 600),
        max_s=DRILL_S + 60,
        drain_s=8,
        terminals=300,
        think_time_s=2,
        policy="resilient",
        regions=list(REGIONS),
    )
    files.write_facilitator(secret)
    files.write_state(
        DrillState(
            run_dir=str(files.run_dir),
            created_at=T0,
            t0=T0,
            stack_state="/nonexistent",
            status="ended",
        )
    )
    injected = {
        "t": T0 + 600,
        "event": "fault_injected",
        "fault_id": "acquirer-killed",
        "kind": "process",
        "target": "acquirer",
        "action": "kill",
    }
    files.journal.write_text(
        json.dumps({"t": T0, "event": "scenario_started", "scenario": "drill", "t0": T0})
        + "\n"
        + json.dumps({**injected, "scenario": "drill"})
        + "\n",
        encoding="utf-8",
    )
    timeline = Timeline(files.timeline)
    timeline.append("detect", t=T0 + 630, text="acquirer down")
    timeline.append(
        "mitigation",
        t=T0 + 655,
        action="restart_acquirer",
        params={},
        ok=True,
        result="restarted",
        seconds=1.2,
    )
    timeline.append("end", t=T0 + DRILL_S, reason="bench")
    with files.metrics.open("w", encoding="utf-8") as fh:
        fh.write("".join(json.dumps(_sample(i, rng)) + "\n" for i in range(DRILL_S)))
    with (files.fleet_dir / "host-1.jsonl").open("w", encoding="utf-8") as fh:
        for second in range(DRILL_S):
            fh.write("".join(json.dumps(r) + "\n" for r in _records(second, rng)))
    write_run_json(files, secret, t0=T0, end_at=T0 + DRILL_S, started_at=T0)
    started = time.perf_counter()
    paths = write_postmortem(files)
    took = time.perf_counter() - started
    size = paths["html"].stat().st_size / 1e6
    print(
        f"report of a 30-minute drill ({TPS * DRILL_S:,} fleet records, {DRILL_S} samples): "
        f"{took:.2f} s = {took / DRILL_S:.2%} of the drill's length; html {size:.1f} MB"
    )


class _Drill:
    def __init__(self) -> None:
        rng = random.Random(3)
        self.board = MetricsBoard(None)
        self.token = "t"
        for i in range(DRILL_S):
            self.board.publish(_sample(i, rng))

    def public_status(self) -> dict[str, Any]:
        return {"status": "running", "events": []}


def bench_api() -> None:
    async def run() -> tuple[float, float]:
        server = DashboardServer(_Drill())  # type: ignore[arg-type]
        url = await server.start()
        try:
            async with httpx.AsyncClient(base_url=url) as client:

                async def median_ms(after: int, n: int) -> float:
                    times = []
                    for _ in range(n):
                        started = time.perf_counter()
                        (await client.get("/api/metrics", params={"after": after})).json()
                        times.append((time.perf_counter() - started) * 1000)
                    return statistics.median(times)

                return await median_ms(DRILL_S - 1, 50), await median_ms(0, 10)
        finally:
            await server.stop()

    poll, full = asyncio.run(run())
    print(
        f"/api/metrics: a 1 s poll {poll:.2f} ms, a page load's 300-sample history "
        f"{full:.1f} ms (×{full / poll:.0f})"
    )


def bench_real_drill(tmp: Path) -> None:
    runs = tmp / "runs"
    lab = [sys.executable, "-m", "poslab"]
    started = time.monotonic()
    subprocess.run(
        [
            *lab,
            "drill",
            "start",
            "--scenario=acquirer-crash-restart",
            "--seed=1",
            "--terminals=12",
            "--think-time=1",
            "--delay-window=3:3",
            "--max-minutes=2",
            "--drain=2",
            f"--runs-dir={runs}",
            f"--state={runs / '.stack.json'}",
        ],
        check=True,
        capture_output=True,
    )
    up = time.monotonic() - started
    time.sleep(6)  # the hidden fault goes in at T+3 s; let it show
    started = time.monotonic()
    subprocess.run([*lab, "drill", "end", f"--runs-dir={runs}"], check=True, capture_output=True)
    down = time.monotonic() - started
    print(
        f"real drill (12 terminals): start until running {up:.1f} s, end with report {down:.1f} s"
    )


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        bench_tail(Path(tmp))
        bench_report(Path(tmp))
        bench_api()
        bench_real_drill(Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
