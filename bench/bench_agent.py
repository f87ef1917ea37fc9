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


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--load", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--tids", default="")
    parser.add_argument("--mode", default="open")
    parser.add_argument("--conns", type=int, default=16)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--terminals", type=int, default=2000)
    args = parser.parse_args()
    if args.load:
        return _load_main(args)

    from lab.world import generate, save

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        world = generate(3, args.terminals)
        save(world, work / "world.json")
        tids_file = work / "tids.json"
        tids_file.write_text(json.dumps([t.tid for t in world.terminals]))
        ready = work / "agent-primary.ready.json"
        log = (work / "agent.log").open("wb")
        agent = subprocess.Popen(
            [sys.executable, "-m", "mocks.agent", "--world", str(work / "world.json"),
             "--db", str(work / "agent.sqlite"), "--name", "primary", "--ready-file", str(ready),
             "--log-level", "WARNING"],
            cwd=REPO, stdout=log, stderr=log,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 30
            while not ready.exists():
                if agent.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"agent did not start: {(work / 'agent.log').read_text()}")
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
    cpu_closed = (cpu1 - cpu0) / max(1, closed["requests"]) * 1e6
    cpu_open = (cpu2 - cpu1) / max(1, opened["requests"]) * 1e6
    try:
        import httptools  # noqa: F401

        parser_name = "httptools"
    except ImportError:
        parser_name = "h11 (install httptools for ~2x less CPU per request)"
    print(f"agent TMS polls — {args.terminals} terminals, load from a separate process")
    print(f"  uvicorn HTTP parser: {parser_name}")
    print(
        f"  capacity (closed loop, 32 conns): {closed['rate']:8.0f} polls/s  "
        f"p50 {closed['p50_ms']:.1f} ms  p99 {closed['p99_ms']:.1f} ms  errors {closed['errors']}"
    )
    print(
        f"  agent CPU per poll at capacity:   {cpu_closed:8.0f} µs  "
        f"(one core: ≤ {1e6 / cpu_closed:.0f} polls/s)"
    )
    print(
        f"  open loop at {args.rate:.0f}/s ({args.conns} conns): {opened['rate']:8.0f} polls/s  "
        f"p50 {opened['p50_ms']:.1f} ms  p99 {opened['p99_ms']:.1f} ms  "
        f"max {opened['max_ms']:.1f} ms  errors {opened['errors']}"
    )
    print(
        f"  agent CPU per poll at that rate:  {cpu_open:8.0f} µs  "
        f"({cpu_open * args.rate / 1e4:.0f}% of a core)"
    )
    print(f"  ratio capacity / goal (1,000/s):  {closed['rate'] / 1000:.2f}")
    print(f"  ratio p99 / goal (20 ms):         {opened['p99_ms'] / 20:.2f}")
    ok = closed["rate"] >= 1000 and opened["p99_ms"] < 20 and opened["errors"] == 0
    print(f"  goal met: {'yes' if ok else 'NO'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
