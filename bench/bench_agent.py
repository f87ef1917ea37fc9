"""Agent TMS polls: how many per second one agent process answers, and the
latency at the goal rate (≥ 1,000 polls/s with p99 < 20 ms).

The agent runs as its own process (single-threaded asyncio: one core by
construction); the load comes from a separate process: raw keep-alive HTTP/1.1
over asyncio streams, pre-built requests across the fleet's TIDs, latency
measured from each request's *scheduled* send time (open loop, so a stalled
server cannot hide its queueing). Figures:
- closed loop: polls/s with 32 connections sending back to back (capacity);
- open loop at the goal rate: achieved rate, p50 / p99 / max latency;
- the agent's CPU µs per poll (from /proc), and same-run ratios.

    .venv/bin/python bench/bench_agent.py [--rate 1000] [--seconds 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


# -- the load generator (runs in its own process) ---------------------------------


async def _one_request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, req: bytes
) -> int:
    writer.write(req)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    await reader.readexactly(length)
    return status


async def _load(
    port: int, tids: list[str], mode: str, rate: float, seconds: float, conns: int
) -> dict[str, object]:
    requests = [
        f"GET /tms/terminals/{tid} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode() for tid in tids
    ]
    streams = [await asyncio.open_connection("127.0.0.1", port) for _ in range(conns)]
    latencies: list[float] = []
    errors = 0
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.05
    end = start + seconds

    async def worker(index: int) -> None:
        nonlocal errors
        reader, writer = streams[index]
        n = index
        # open loop: this connection's share of a fixed schedule
        interval = conns / rate if mode == "open" else 0.0
        due = start + index * (1.0 / rate if mode == "open" else 0.0)
        while True:
            now = loop.time()
            if mode == "open":
                if due >= end:
                    return
                if due > now:
                    await asyncio.sleep(due - now)
                sent_at = due
                due += interval
            else:
                if now >= end:
                    return
                sent_at = now
            status = await _one_request(reader, writer, requests[n % len(requests)])
            n += conns
            if status != 200:
                errors += 1
            latencies.append(loop.time() - sent_at)

    await asyncio.gather(*(worker(i) for i in range(conns)))
    elapsed = loop.time() - start
    for _, writer in streams:
        writer.close()
    latencies.sort()

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000

    return {
        "mode": mode,
        "requests": len(latencies),
        "errors": errors,
        "rate": len(latencies) / elapsed,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "max_ms": latencies[-1] * 1000,
    }


def _load_main(args: argparse.Namespace) -> int:
    tids = json.loads(Path(args.tids).read_text())
    result = asyncio.run(_load(args.port, tids, args.mode, args.rate, args.seconds, args.conns))
    print(json.dumps(result))
    return 0


# -- the orchestration ------------------------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _run_load(
    port: int, tids: Path, mode: str, rate: float, seconds: float, conns: int
) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--load", "--port", str(port), "--tids", str(tids),
         "--mode", mode, "--rate", str(rate), "--seconds", str(seconds), "--conns", str(conns)],
        check=True, capture_output=True, text=True, timeout=seconds + 60,
    )  # fmt: skip
    result: dict[str, float] = json.loads(out.stdout)
    return result


def _measure(work: Path, args: argparse.Namespace, http: str) -> dict[str, float]:
    """Start one agent with ``http`` as its parser, measure, stop it."""
    tids_file = work / "tids.json"
    ready = work / f"agent-{http}.ready.json"
    log = (work / f"agent-{http}.log").open("wb")
    agent = subprocess.Popen(
        [sys.executable, "-m", "poslab.mocks.agent", "--world", str(work / "world.json"),
         "--db", str(work / f"agent-{http}.sqlite"), "--name", "primary",
         "--ready-file", str(ready), "--log-level", "WARNING", "--http", http],
        cwd=REPO, stdout=log, stderr=log,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not ready.exists():
            if agent.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"agent did not start: {(work / f'agent-{http}.log').read_text()}")
            time.sleep(0.02)
        port = json.loads(ready.read_text())["ports"]["main"]
        # warm up: every answer rendered once, as in a fleet that polls daily
        _run_load(port, tids_file, "closed", 0, 2.0, 8)
        cpu0 = _cpu_seconds(agent.pid)
        closed = _run_load(port, tids_file, "closed", 0, args.seconds, 32)
        cpu1 = _cpu_seconds(agent.pid)
        opened = _run_load(port, tids_file, "open", args.rate, args.seconds, args.conns)
        cpu2 = _cpu_seconds(agent.pid)
    finally:
        agent.terminate()
        agent.wait(15)
        log.close()
    return {
        "capacity": closed["rate"],
        "capacity_p99_ms": closed["p99_ms"],
        "cpu_us": (cpu1 - cpu0) / max(1, closed["requests"]) * 1e6,
        "rate": opened["rate"],
        "p50_ms": opened["p50_ms"],
        "p99_ms": opened["p99_ms"],
        "max_ms": opened["max_ms"],
        "cpu_us_at_rate": (cpu2 - cpu1) / max(1, opened["requests"]) * 1e6,
        "errors": closed["errors"] + opened["errors"],
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--load", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--tids", default="")
    parser.add_argument("--mode", default="open")
    parser.add_argument("--conns", type=int, default=16)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--terminals", type=int, default=2000)
    args = parser.parse_args()
    if args.load:
        return _load_main(args)

    from poslab.world import generate, save

    try:
        import httptools  # noqa: F401

        parsers = ["httptools", "h11"]
    except ImportError:
        parsers = ["h11"]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        world = generate(3, args.terminals)
        save(world, work / "world.json")
        (work / "tids.json").write_text(json.dumps([t.tid for t in world.terminals]))
        results = {http: _measure(work, args, http) for http in parsers}
    print(f"agent TMS polls — {args.terminals} terminals, load from a separate process")
    print(f"  goal: ≥ 1,000 polls/s on one core, p99 < 20 ms at {args.rate:.0f}/s")
    for http, r in results.items():
        print(f"  [{http}]")
        print(
            f"    capacity (closed loop, 32 conns): {r['capacity']:7.0f} polls/s  "
            f"(p99 {r['capacity_p99_ms']:.1f} ms)"
        )
        print(
            f"    agent CPU per poll:               {r['cpu_us']:7.0f} µs  "
            f"(one core: ≤ {1e6 / r['cpu_us']:.0f} polls/s)"
        )
        print(
            f"    open loop at {args.rate:.0f}/s ({args.conns} conns):  {r['rate']:7.0f} polls/s  "
            f"p50 {r['p50_ms']:.1f} ms  p99 {r['p99_ms']:.1f} ms  max {r['max_ms']:.1f} ms"
        )
        print(
            f"    agent CPU at that rate:           {r['cpu_us_at_rate'] * args.rate / 1e4:7.0f} % "
            f"of a core   errors {r['errors']:.0f}"
        )
        ok = r["capacity"] >= 1000 and r["p99_ms"] < 20 and r["errors"] == 0
        print(
            f"    ratios: capacity/goal {r['capacity'] / 1000:.2f}, p99/20 ms "
            f"{r['p99_ms'] / 20:.2f} → goal {'met' if ok else 'NOT met'}"
        )
    if len(results) == 2:
        a, b = results["httptools"], results["h11"]
        print(f"  same-run ratio h11/httptools CPU per poll: {b['cpu_us'] / a['cpu_us']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
