"""How long the payment world takes from nothing to ready (the issue's goal: ≤ 10 s).

    python bench/bench_stack.py [--rounds 3]

Each round starts the default topology in a fresh run directory — embedded
proxy, issuer, acquirer, both agents and the seven proxies — waits for real
readiness (ready files, health endpoints, a connection through every proxy),
then stops it. Printed: the median and spread of ``Stack.up()``, of
``stop()``, and of ``lab up`` + ``lab down`` as a user runs them (which adds the
CLI's own start-up and world generation). A mock that does not exist yet is
played by the contract-obeying stand-in of tests/stack, and the output says so.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from poslab.stack import Stack, default_topology  # noqa: E402
from poslab.world import generate, save  # noqa: E402

FAKE = REPO / "tests" / "stack" / "fake_service.py"
MOCKS = {
    "issuer": "poslab.mocks.issuer",
    "acquirer": "poslab.mocks.acquirer",
    "agent-primary": "poslab.mocks.agent",
    "agent-backup": "poslab.mocks.agent",
}
BUDGET_S = 10.0


def stand_ins() -> dict[str, list[str]]:
    """Programs for the mocks that cannot run yet (no ``__main__`` module)."""
    programs: dict[str, list[str]] = {}
    for service, module in MOCKS.items():
        if importlib.util.find_spec(f"{module}.__main__") is None:
            programs[service] = [sys.executable, str(FAKE), "--name", service]
            if service.startswith("agent"):
                programs[service].append("--http-main")
    return programs


async def one_round(
    work: Path, world: Path, programs: dict[str, list[str]], per_service: dict[str, list[float]]
) -> tuple[float, float]:
    stack = Stack(default_topology(), world, work, programs=programs, seed=42)
    started = time.perf_counter()
    await stack.up()
    ready = time.perf_counter() - started
    for service, seconds in stack.timings.items():
        per_service.setdefault(service, []).append(seconds)
    health = await stack.health()
    if not health.ok:
        raise SystemExit(f"stack up but unhealthy: {health.unhealthy()}")
    started = time.perf_counter()
    await stack.stop()
    return ready, time.perf_counter() - started


def cli_round(work: Path, programs: dict[str, list[str]]) -> tuple[float, float]:
    state = work / "state.json"
    args = [
        arg for name, argv in programs.items() for arg in ("--program", f"{name}={' '.join(argv)}")
    ]
    lab = [sys.executable, "-m", "poslab"]
    run_dir = str(work / "run")
    started = time.perf_counter()
    subprocess.run(
        [*lab, "up", "--terminals", "100", "--state", str(state), "--run-dir", run_dir, *args],
        cwd=work,
        check=True,
        capture_output=True,
    )
    up = time.perf_counter() - started
    started = time.perf_counter()
    subprocess.run([*lab, "down", "--state", str(state)], cwd=work, check=True, capture_output=True)
    return up, time.perf_counter() - started


def describe(name: str, values: list[float]) -> str:
    return (
        f"{name:<28} median {statistics.median(values):6.2f} s   "
        f"min {min(values):6.2f}   max {max(values):6.2f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    rounds = parser.parse_args().rounds
    programs = stand_ins()
    real = [s for s in MOCKS if s not in programs]
    print(f"services: proxy (poslab.proxy, real), {', '.join(real) or 'no mock'} real; "
          f"stand-ins for {', '.join(programs) or 'none'}")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-stack-") as tmp:
        base = Path(tmp)
        world = save(generate(42, 100), base / "world.json")
        ups, stops, cli_ups, cli_downs = [], [], [], []
        per_service: dict[str, list[float]] = {}
        for i in range(rounds):
            ready, stop = asyncio.run(one_round(base / f"api-{i}", world, programs, per_service))
            ups.append(ready)
            stops.append(stop)
            work = base / f"cli-{i}"
            work.mkdir()
            cli_up, cli_down = cli_round(work, programs)
            cli_ups.append(cli_up)
            cli_downs.append(cli_down)
    for service, values in per_service.items():
        print(describe(f"  {service} spawn→ready", values))
    print(describe("Stack.up() to ready", ups))
    print(describe("Stack.stop()", stops))
    print(describe("lab up (CLI, incl. world)", cli_ups))
    print(describe("lab down (CLI)", cli_downs))
    median = statistics.median(cli_ups)
    print(f"lab up / 10 s budget: {median / BUDGET_S:.2f}   "
          f"CLI overhead over Stack.up(): {median / statistics.median(ups):.2f}x")  # fmt: skip
    return 0 if median <= BUDGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
