"""`make chaos` figures: wall time, stack start time, fault-injection drift.

Default (under ~60 s): two gate scenarios — a network outage and a process
kill — time-compressed (``--time-scale 0.4``, 60 terminals), run exactly as
`lab run` runs them (a subprocess, fresh stacks, the real fleet). From the
journal: each stack's start time, every fault's injection and clearing drift
(max, p99, mean), and the fixed cost of a scenario (wall time minus its load
and drain), from which the full gate's wall time is estimated.

``--full`` runs the real thing, ``lab run --suite gate`` at scale 1 (about
3 minutes), and prints the measured wall time instead of the estimate.

Run: .venv/bin/python bench/bench_chaos.py [--full]   (or bench/run_all.py chaos).
Prints figures and same-run ratios; asserts nothing.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from poslab.scenario import RunOptions, load_suite, read_journal

REPO = Path(__file__).resolve().parents[1]
QUICK = ["acquirer-outage", "acquirer-crash-restart"]
QUICK_SCALE = 0.4
QUICK_TERMINALS = 60


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


def _run(args: list[str], runs: Path) -> tuple[float, int, Path]:
    env = {**os.environ, "CI": "true"}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "poslab", "run", *args, "--runs-dir", str(runs)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.monotonic() - started
    dirs = [p for p in runs.iterdir() if p.is_dir()]
    if len(dirs) != 1:
        print(done.stdout[-3000:], done.stderr[-3000:])
        raise SystemExit("bench_chaos: the run left no run directory")
    return wall, done.returncode, dirs[0]


def _report(wall: float, code: int, run_dir: Path, scale: float) -> None:
    events = read_journal(run_dir / "journal.jsonl")
    starts = [e["seconds"] for e in events if e["event"] == "stack_up" and e.get("seconds")]
    drifts = [
        float(e["drift_ms"])
        for e in events
        if e["event"] in ("fault_injected", "fault_cleared") and e.get("drift_ms") is not None
    ]
    by_scenario: dict[str, dict[str, float]] = {}
    for e in events:
        if e.get("scenario") and e["event"] in ("stack_up", "scenario_finished"):
            by_scenario.setdefault(e["scenario"], {})[e["event"]] = e["t"]
    run = json.loads((run_dir / "run.json").read_text())
    planned = {s["name"]: s["duration_s"] + s["drain_s"] for s in run["scenarios"]}
    result = json.loads((run_dir / "result.json").read_text())
    print(f"  wall time             {wall:7.1f} s   (exit {code}, gate {result['gate']['status']}, "
          f"suite score {result['gate']['suite_score']})")  # fmt: skip
    print(f"  stack start           {min(starts):7.2f} s min, {max(starts):.2f} s max, "
          f"{sum(starts) / len(starts):.2f} s mean over {len(starts)} stacks")  # fmt: skip
    print(f"  fault drift           {max(drifts):7.1f} ms max, {_p99(drifts):.1f} ms p99, "
          f"{sum(drifts) / len(drifts):.1f} ms mean over {len(drifts)} effects")  # fmt: skip
    overhead = (wall - sum(planned.values())) / len(planned)
    print(f"  fixed cost/scenario   {overhead:7.1f} s   (wall minus planned load + drain, "
          f"stack start and scoring included)")  # fmt: skip
    print(f"  planned/wall ratio    {sum(planned.values()) / wall:7.2f}   at time scale {scale:g}")
    if scale != 1.0:
        gate = load_suite("gate", options=RunOptions(time_scale=1.0))
        full = sum(s.duration_s + s.drain_s for s in gate.scenarios)
        estimate = full + overhead * len(gate.scenarios)
        print(f"  make chaos estimate   {estimate:7.1f} s   ({len(gate.scenarios)} scenarios: "
              f"{full:.0f} s planned + {len(gate.scenarios)} × fixed; goal ≤ 300 s)")  # fmt: skip


def main(argv: list[str]) -> int:
    full = "--full" in argv
    with tempfile.TemporaryDirectory(prefix="bench-chaos-") as tmp:
        runs = Path(tmp)
        if full:
            print("make chaos equivalent: lab run --suite gate (scale 1)")
            wall, code, run_dir = _run(["--suite", "gate"], runs)
            _report(wall, code, run_dir, 1.0)
        else:
            print(f"{' + '.join(QUICK)} at time scale {QUICK_SCALE:g}, {QUICK_TERMINALS} terminals")
            args = [*QUICK, "--time-scale", str(QUICK_SCALE), "--terminals", str(QUICK_TERMINALS)]
            wall, code, run_dir = _run(args, runs)
            _report(wall, code, run_dir, QUICK_SCALE)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
