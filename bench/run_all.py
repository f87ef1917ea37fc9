"""Runs every ``bench/bench_*.py`` script in turn and prints their figures.

Benchmarks are scripts, not timed tests: this machine is shared and absolute
times drift, so each script prints its figures and, where it can, a ratio
measured in the same run (through-proxy vs direct, ...).
Pass names to run a subset: ``python bench/run_all.py proxy codec``.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    scripts = sorted(HERE.glob("bench_*.py"))
    if argv:
        scripts = [s for s in scripts if any(a in s.stem for a in argv)]
    if not scripts:
        print("no benchmark matched", file=sys.stderr)
        return 2
    failed = 0
    for script in scripts:
        print(f"\n=== {script.stem} ===", flush=True)
        started = time.monotonic()
        rc = subprocess.call([sys.executable, str(script)], cwd=HERE.parent)
        print(f"--- {script.stem}: exit {rc}, {time.monotonic() - started:.1f} s", flush=True)
        failed += rc != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
