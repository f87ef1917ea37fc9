"""Scoring and reporting a synthetic run of 1,000,000 journaled transactions.

Goal (issue 8): ≤ 20 s and ≤ 2 GB for score + result.json, junit.xml,
summary.md and report.html. The run is generated once by
``poslab.testing`` (a 60-minute peak with a 30 s fault, 2,000
terminals) and cached in the temp directory, keyed by the generator's source.

Scoring runs in a child process, as ``lab report`` would, while this process
samples the resident memory of that child and all its descendants (the ledger
is read in a second process) every 50 ms. Figures printed:

- score and report wall time, and the peak RSS of the whole process tree and
  of its largest process;
- the CPU seconds of each process: on a shared machine the wall time depends
  on the load, while the busiest process's CPU time is what the wall time
  would be on two idle cores;
- a same-run ratio against the floor: the time merely to ``json.loads`` every
  line of the fleet journal and ledger export in one process, which no
  pure-Python scorer reading these files can beat.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from poslab import testing  # noqa: E402

TRANSACTIONS = 1_000_000
GOAL_S, GOAL_MB = 20.0, 2048

CHILD = """
import json, sys, time
from pathlib import Path
from poslab.report import write_reports
from poslab.scoring import score_run
run = Path(sys.argv[1])
t = time.perf_counter()
result = score_run(run)
scored = time.perf_counter() - t
write_reports(result, run)
total = time.perf_counter() - t
s = result.scenarios[0]
print(json.dumps({"score_s": scored, "total_s": total, "score": s.score,
                  "records": s.counts, "gate": result.gate.status}))
"""


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            found += [int(p) for p in task.read_text().split()]
    return found


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of one process (fields 14 and 15 of its stat)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


class TreeSampler(threading.Thread):
    """Peak RSS of a process and every descendant (summed, and the largest one),
    and the CPU seconds each of them used (last value seen, every 50 ms)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak_total, self.peak_single = pid, 0.0, 0.0
        self.cpu: dict[int, float] = {}
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            pids, todo = [], [self.pid]
            while todo:
                pid = todo.pop()
                pids.append(pid)
                todo += _children(pid)
            sizes = [_rss_mb(p) for p in pids]
            self.peak_total = max(self.peak_total, sum(sizes))
            self.peak_single = max(self.peak_single, max(sizes, default=0.0))
            for p in pids:
                self.cpu[p] = max(self.cpu.get(p, 0.0), _cpu_s(p))
            self.done.wait(0.05)


def _synthetic_run() -> tuple[Path, float | None]:
    here = Path(testing.__file__).parent
    source = b"".join(f.read_bytes() for f in sorted(here.glob("*.py")))
    key = hashlib.sha256(source + str(TRANSACTIONS).encode()).hexdigest()[:12]
    cache = Path(tempfile.gettempdir()) / f"pos-lab-bench-scoring-{key}"
    if cache.exists():
        return next(cache.glob("*T*Z-*")), None
    for old in Path(tempfile.gettempdir()).glob("pos-lab-bench-scoring-*"):
        shutil.rmtree(old, ignore_errors=True)
    started = time.perf_counter()
    staging = Path(tempfile.mkdtemp(prefix="pos-lab-bench-staging-"))
    testing.write_run(
        staging,
        [
            testing.SyntheticScenario(
                name="peak-hour-1m",
                transactions=TRANSACTIONS,
                duration_s=3600,
                terminals=2000,
                fault=(1200.0, 30.0),
                recovery_delay_s=3.0,
                fleet_files=4,
            )
        ],
        name="bench",
    )
    staging.rename(cache)
    return next(cache.glob("*T*Z-*")), time.perf_counter() - started


def _parse_floor(run: Path) -> tuple[float, int]:
    started, lines = time.perf_counter(), 0
    files = sorted((run / "scenarios").glob("*/fleet/*.jsonl"))
    files += sorted((run / "scenarios").glob("*/ledger/transactions.jsonl"))
    for path in files:
        with path.open("rb") as fh:
            for line in fh:
                json.loads(line)
                lines += 1
    return time.perf_counter() - started, lines


def main() -> int:
    run, generated = _synthetic_run()
    size = sum(p.stat().st_size for p in run.rglob("*.jsonl")) / 2**20
    print(f"synthetic run: {run}")
    print(
        f"  {TRANSACTIONS:,} transactions, {size:,.0f} MB of JSONL, "
        + (f"generated in {generated:.1f} s" if generated is not None else "cached")
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(run)], stdout=subprocess.PIPE, text=True, env=env
    )
    sampler = TreeSampler(child.pid)
    sampler.start()
    out, _ = child.communicate()
    wall = time.perf_counter() - started
    sampler.done.set()
    sampler.join()
    if child.returncode != 0:
        print(f"scoring failed with exit code {child.returncode}", file=sys.stderr)
        return 1
    figures = json.loads(out.strip().splitlines()[-1])
    sales = figures["records"].get("sale", {})
    print(f"  scenario score {figures['score']:.1f}, gate {figures['gate']}, sales {sales}")
    floor, lines = _parse_floor(run)
    print(f"score:                {figures['score_s']:6.2f} s")
    print(f"score + 4 reports:    {figures['total_s']:6.2f} s   (process wall {wall:.2f} s)")
    print(
        f"peak RSS, all procs:  {sampler.peak_total:6.0f} MB   "
        f"(largest one {sampler.peak_single:.0f} MB)"
    )
    busy = sorted(sampler.cpu.values(), reverse=True)
    print(
        f"CPU seconds:          {sum(busy):6.2f} s   (busiest process {busy[0]:.2f} s, "
        f"next {busy[1] if len(busy) > 1 else 0.0:.2f} s: the wall time on two idle cores)"
    )
    print(f"json.loads floor:     {floor:6.2f} s   ({lines:,} lines, one process)")
    print(f"ratio score / floor:  {figures['score_s'] / floor:6.2f}")
    time_ok = figures["total_s"] <= GOAL_S
    memory_ok = sampler.peak_total <= GOAL_MB
    print(
        f"goal ≤ {GOAL_S:.0f} s: {'met' if time_ok else 'MISSED'}; "
        f"goal ≤ {GOAL_MB} MB: {'met' if memory_ok else 'MISSED'} "
        f"(load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
