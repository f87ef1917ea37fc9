"""Benchmark of the terminal fleet, end to end on the embedded stack.

The stack comes from ``lab up`` (proxy, acquirer, issuer, both agents, every
link through the fault proxy): Locust → region proxy → acquirer → issuer
proxy → issuer, as a scenario runs it. On this 2-core machine the load
generator competes with the services it loads, so the figures are a floor.

1. Throughput: 200 terminals in one Locust process selling back to back (no
   think time, sales only), 15 s after a 3 s warm-up: approved sales/s
   (goal ≥ 2,000/s), completed sales/s, p50/p99, and CPU µs per sale of each
   process (the terminal's = the Locust process) — the same-run split shows
   where the time goes.
2. Scale: 10,000 terminals held by one Locust process through a compressed
   lunch peak with realistic think time (30 s between a terminal's customers
   at the peak): the peak RSS (goal ≤ 2 GB), memory per terminal (peak RSS
   less the RSS before users), the boot sign-on storm, and the transaction rate
   at the end (still rising: a run of seconds sees each till's first
   customers only).

The services run on their default runtime (``--loop auto``: uvloop when
installed; the compiled ISO codec). ``--baseline`` also brings up a second
stack on the baseline runtime (``LAB_EVENT_LOOP=asyncio LAB_CODEC=pyiso8583``:
asyncio's own loop, pyiso8583 alone; the Locust terminals keep the compiled
codec) and repeats the throughput phase on it, printing the same-run ratios
(~30 s more).

Run: ``python bench/bench_fleet.py [--baseline]`` (or ``make bench``).
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from poslab.fleet import Fleet, FleetConfig, ShapeSpec  # noqa: E402
from poslab.stack import StackState, read_state  # noqa: E402

TERMINALS_WORLD = 10_000
THROUGHPUT_TERMINALS = 200
WARMUP_S, MEASURE_S = 3.0, 10.0
SCALE_SECONDS = 20.0
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (and its reaped children) so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(f) for f in fields[11:15]) / TICK


def rss_bytes(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process, in bytes."""
    found = {"VmRSS": 0, "VmHWM": 0}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in found:
                found[key] = int(value.split()[0]) * 1024
    except OSError:
        pass
    return found["VmRSS"], found["VmHWM"]


BASELINE_ENV = {"LAB_EVENT_LOOP": "asyncio", "LAB_CODEC": "pyiso8583"}


def lab(*args: str, env: dict[str, str] | None = None) -> None:
    subprocess.run(
        [sys.executable, "-m", "poslab", *args],
        cwd=REPO,
        check=True,
        stdout=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )


def config_for(fleet: Fleet, state: StackState, **settings: Any) -> FleetConfig:
    assert state.addresses is not None
    regions = {name: p.primary for name, p in state.addresses.regions.items()}
    backup = next((p.backup for p in state.addresses.regions.values() if p.backup), None)
    return fleet.config_for(
        world=state.world_file,
        regions=regions,
        backup=backup,
        agents=dict(state.addresses.agents),
        seed=state.seed or 0,
        **settings,
    )


def service_pids(state: StackState) -> dict[str, int]:
    return {name: s.process.pid for name, s in state.services.items() if s.process is not None}


def during(fleet: Fleet, at_s: float, action: Callable[[], None]) -> None:
    """Run ``action`` ``at_s`` seconds after now unless Locust ended first."""
    if fleet.wait(timeout_s=at_s) is None:
        action()


def throughput(state: StackState, workdir: Path) -> dict[str, float]:
    """Phase 1; returns approved/s, completed/s and CPU µs per sale by process."""
    fleet = Fleet(workdir / "throughput")
    config = config_for(
        fleet,
        state,
        terminals=THROUGHPUT_TERMINALS,
        think_time_s=0.0,
        shape=ShapeSpec(
            "steady",
            {"duration_s": WARMUP_S + MEASURE_S + 1.0, "spawn_rate": THROUGHPUT_TERMINALS},
        ),
        terminal={
            "mix": {"sale": 1.0, "balance": 0.0, "void": 0.0, "refund": 0.0},
            # wired tills; the 4G short-connection mode costs a connect per sale
            "connection": "kept",
        },
    )
    fleet.start(config, timeout_s=90)
    assert fleet.process is not None
    pids = {"locust (terminals)": fleet.process.pid, **service_pids(state)}
    marks: dict[str, tuple[float, dict[str, float]]] = {}

    def mark(name: str) -> None:
        marks[name] = (time.time(), {n: cpu_seconds(p) for n, p in pids.items()})

    during(fleet, WARMUP_S + 1.5, lambda: mark("start"))  # Locust takes ~1.5 s to start
    during(fleet, MEASURE_S, lambda: mark("end"))
    code = fleet.wait()
    if code != 0 or "end" not in marks:
        print(f"throughput run failed (exit {code}):\n{fleet.log_tail()}")
        return {}
    (t0, cpu0), (t1, cpu1) = marks["start"], marks["end"]
    sales = [r for r in fleet.journal() if r["type"] == "sale" and t0 <= r["ts_end"] < t1]
    approved = [r for r in sales if r["outcome"] == "approved"]
    completed = [r for r in sales if r["outcome"] in ("approved", "declined")]
    seconds = t1 - t0
    latencies = sorted(r["latency_ms"] for r in completed)
    print(f"\n1. throughput: {THROUGHPUT_TERMINALS} terminals, no think time, {seconds:.1f} s")
    print(f"   approved sales/s      {len(approved) / seconds:8.0f}   (goal >= 2,000)")
    print(f"   completed sales/s     {len(completed) / seconds:8.0f}   (approved + declined)")
    print(f"   failed                {len(sales) - len(completed):8d}")
    if latencies:
        p99 = latencies[int(len(latencies) * 0.99)]
        print(f"   latency p50 / p99     {statistics.median(latencies):6.1f} / {p99:.1f} ms")
    figures = {"approved": len(approved) / seconds, "completed": len(completed) / seconds}
    if completed:
        print("   CPU µs per completed sale, by process (same run):")
        total = 0.0
        for name in pids:
            per_sale = (cpu1[name] - cpu0[name]) / len(completed) * 1e6
            total += per_sale
            figures[name] = per_sale
            print(f"     {name:22s} {per_sale:8.0f}")
        figures["all"] = total
        print(f"     {'all':22s} {total:8.0f}  (2 cores = {2e6 / total:.0f} sales/s ceiling)")
        print(f"   goal met: {len(approved) / seconds >= 2000}")
    return figures


def scale(state: StackState, workdir: Path) -> None:
    fleet = Fleet(workdir / "scale")
    config = config_for(
        fleet,
        state,
        terminals=TERMINALS_WORLD,
        think_time_s=30.0,
        response_timeout_s=10.0,
        shape=ShapeSpec("lunch-peak", {"duration_s": SCALE_SECONDS, "spawn_rate": 2_000.0}),
    )
    fleet.start(config, timeout_s=120)
    assert fleet.process is not None
    pid = fleet.process.pid
    samples: list[tuple[float, int]] = []  # (time, RSS)
    while fleet.wait(timeout_s=0.5) is None:
        samples.append((time.time(), rss_bytes(pid)[0]))
    code = fleet.process.returncode
    peak = max((rss for _, rss in samples), default=0)
    records = list(fleet.journal())
    on = {r["tid"] for r in records if r["type"] == "sign_on"}
    sign_ons = sorted(r["ts_end"] for r in records if r["type"] == "sign_on")
    ends = sorted(
        r["ts_end"] for r in records if r["type"] in ("sale", "void", "refund", "balance")
    )
    last = [t for t in ends if t >= ends[-1] - 10.0] if ends else []
    # Locust's own per-second user count: the terminals the process held
    users_at: dict[int, int] = {}
    with (fleet.locust_dir / "locust_stats_history.csv").open() as fh:
        for row in csv.DictReader(fh):
            users_at[int(row["Timestamp"])] = int(row["User Count"])
    held = max(users_at.values(), default=0)
    # the process before its users (world loaded, Locust up) vs at its peak,
    # when every terminal is on: what the terminals themselves cost
    idle = [rss for t, rss in samples if users_at.get(int(t)) == 0] or [samples[0][1]]
    per_terminal = (peak - min(idle)) / held if held else 0.0
    print(f"\n2. scale: {TERMINALS_WORLD:,} terminals in one Locust process, lunch peak in "
          f"{SCALE_SECONDS:.0f} s, 30 s think time at the peak (exit {code})")  # fmt: skip
    print(f"   terminals held        {held:8,d}   (Locust's user count)")
    print(f"   terminals signed on   {len(on):8,d}   (the acquirer's sign-on rate bounds it)")
    print(f"   peak RSS              {peak / 2**20:8.0f} MiB   (goal <= 2,048 MiB)")
    print(f"   memory per terminal   {per_terminal / 1024:8.1f} KiB  (peak RSS - RSS before users)")
    print(f"   RSS before users      {min(idle) / 2**20:8.0f} MiB   (Locust + the world)")
    if sign_ons:
        storm = max(sign_ons[-1] - sign_ons[0], 1e-3)
        print(f"   sign-on storm         {len(sign_ons) / storm:8.0f} /s over {storm:.0f} s")
    # a till's first customer comes after ~think time: the rate is still rising
    print(f"   till transactions/s   {len(last) / 10.0:8.0f}   (last 10 s of the run)")
    print(f"   goal met: {peak <= 2 * 2**30 and held == TERMINALS_WORLD}")


def on_stack(
    workdir: Path, env: dict[str, str] | None, phases: Callable[[StackState, Path], Any]
) -> Any:
    """``lab up`` (services started with ``env``), run ``phases``, ``lab down``."""
    workdir.mkdir()
    state_file = workdir / "stack.json"
    started = time.monotonic()
    lab("up", "--terminals", str(TERMINALS_WORLD), "--seed", "7", "--state", str(state_file),
        "--run-dir", str(workdir / "stack"), "--timeout", "60", env=env)  # fmt: skip
    try:
        state = read_state(state_file)
        assert state is not None
        print(f"stack up in {time.monotonic() - started:.1f} s: {json.dumps(service_pids(state))}")
        return phases(state, workdir)
    finally:
        lab("down", "--state", str(state_file))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--baseline", action="store_true", help="also the baseline runtime")
    args = parser.parse_args()
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    print(f"services: event loop {loop} (--loop auto), codec compiled; terminals: codec compiled")

    def default(state: StackState, workdir: Path) -> dict[str, float]:
        figures = throughput(state, workdir)
        scale(state, workdir)
        return figures

    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        ours = on_stack(Path(tmp) / "default", None, default)
        if not args.baseline:
            return 0
        print(f"\nbaseline stack, same run: services on {BASELINE_ENV}")
        base = on_stack(Path(tmp) / "baseline", BASELINE_ENV, throughput)
    if ours and base:
        print("\nsame-run ratios, default / baseline:")
        for name in ("approved", "completed"):
            print(f"   {name} sales/s      {ours[name] / max(base[name], 1e-9):6.2f}")
        for name in ("acquirer", "issuer", "proxy", "locust (terminals)", "all"):
            if name in ours and name in base:
                print(f"   CPU per sale, {name:20s} {ours[name] / max(base[name], 1e-9):6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
