"""Scenario validation and dry runs: what `lab scenario validate` and `--dry-run` cost.

Figures: per-scenario validation time (YAML with marks → model → resolution
against the topology) next to a plain parse of the same files
(same parser; the ratio is the price of line-aware, typed validation); the whole gate and
full suites; rendering the full suite's timelines; seeded fleet draws over
10k and 100k terminals; and the `lab scenario validate` command in a fresh
process, which is what a pipeline pays before a run.

Run: .venv/bin/python bench/bench_scenario.py  (or bench/run_all.py scenario).
Prints figures and same-run ratios; asserts nothing.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from poslab.scenario import (
    Catalogue,
    FleetFault,
    draw_terminals,
    load_scenario,
    load_suite,
    render_suite,
)
from poslab.scenario.fault_actions import FleetShare
from poslab.stack import default_topology

REPEATS = 20


def _median_ms(fn: Callable[[], object], repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


@dataclass(frozen=True)
class _Terminal:
    tid: str
    region: str


def main() -> int:
    cat = Catalogue()
    names = cat.scenario_names()
    paths = [cat.locate(n) for n in names]
    topology = default_topology()
    load_suite("full")  # warm imports and the proxy registry

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the parser validation uses
    parse_ms = _median_ms(
        lambda: [yaml.load(p.read_text(encoding="utf-8"), Loader=loader) for p in paths]
    ) / len(paths)
    validate_ms = _median_ms(lambda: [load_scenario(n, topology) for n in names]) / len(names)
    print(f"catalogue: {len(names)} scenarios")
    print(f"  YAML parse only (libyaml)  {parse_ms:8.2f} ms per file")
    print(f"  validate + resolve         {validate_ms:8.2f} ms per scenario")
    print(f"  ratio validate / parse     {validate_ms / parse_ms:8.1f}x")
    for suite in ("gate", "full"):
        ms = _median_ms(lambda suite=suite: load_suite(suite, topology))  # type: ignore[misc]
        print(f"  suite {suite:<5} validated     {ms:8.1f} ms")
    full = load_suite("full", topology)
    print(f"  full suite dry-run text    {_median_ms(lambda: render_suite(full)):8.2f} ms")

    fault = FleetFault(
        id="crash",
        group="crash",
        description="",
        at_s=5,
        for_s=5,
        unavoidable=False,
        index=0,
        action="crash",
        params=FleetShare(share=0.1),
    )
    for size in (10_000, 100_000):
        fleet = [
            _Terminal(f"{10_000_000 + i}", ("north", "south", "east")[i % 3]) for i in range(size)
        ]
        ms = _median_ms(lambda fleet=fleet: draw_terminals(fault, fleet, 42, "s"), 5)  # type: ignore[misc]
        print(f"fleet draw share 0.1 of {size:>7,} terminals: {ms:8.1f} ms")

    lab = Path(sys.executable).with_name("lab")
    walls = []
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run([str(lab), "scenario", "validate"], check=True, capture_output=True)
        walls.append(time.perf_counter() - started)
    print(f"`lab scenario validate` (whole catalogue, fresh process): {min(walls):.2f} s best of 3")
    return 0


if __name__ == "__main__":
    sys.exit(main())
