"""World generation and loading: how long a 10k and a 100k-terminal world take
to build, how big the file is, and how long every process waits to load it.

Run: .venv/bin/python bench/bench_world.py  (or `make bench`, or
bench/run_all.py world). Prints figures and same-run ratios; asserts nothing.
"""

from __future__ import annotations

import hashlib
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from poslab.world import generate, load, save

# A fresh interpreter's load: what an acquirer, issuer or Locust worker pays at start-up.
# Peak memory from VmHWM: ru_maxrss would count the parent's memory at fork.
_CHILD_LOAD = """
import sys, time
started = time.perf_counter()
from poslab.world import load
world = load(sys.argv[1])
elapsed = time.perf_counter() - started
status = open("/proc/self/status").read().split("VmHWM:")[1]
print(f"{elapsed:.3f} {int(status.split()[0]) // 1024}")
"""


def _measure(terminals: int, folder: Path) -> dict[str, float]:
    started = time.perf_counter()
    world = generate(42, terminals)
    generated = time.perf_counter() - started

    path = folder / f"world-{terminals}.json"
    started = time.perf_counter()
    save(world, path)
    saved = time.perf_counter() - started
    size = path.stat().st_size

    started = time.perf_counter()
    again = load(path)
    loaded = time.perf_counter() - started
    assert again == world, "round trip changed the world"

    child = subprocess.run(
        [sys.executable, "-c", _CHILD_LOAD, str(path)], capture_output=True, text=True, check=True
    )
    child_seconds, child_rss_mb = child.stdout.split()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    print(
        f"{terminals:>7,} terminals  {len(world.merchants):>6,} merchants  "
        f"{len(world.cards):>7,} cards  "
        f"generate {generated:6.2f} s  save {saved:5.2f} s  file {size / 1e6:6.1f} MB  "
        f"load {loaded:5.2f} s  (fresh process incl. imports {float(child_seconds):5.2f} s, "
        f"peak RSS {child_rss_mb} MB)  "
        f"sha256 {digest}",
        flush=True,
    )
    return {"generate": generated, "load": loaded, "size": float(size)}


def main() -> int:
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus (shared: figures drift)")
    with tempfile.TemporaryDirectory(prefix="bench-world-") as tmp:
        small = _measure(10_000, Path(tmp))
        large = _measure(100_000, Path(tmp))
    print(
        f"ratios 100k/10k: generate ×{large['generate'] / small['generate']:.1f}, "
        f"load ×{large['load'] / small['load']:.1f}, size ×{large['size'] / small['size']:.1f} "
        "(linear would be ×10)"
    )
    print(
        f"requirement: 10k generate < 10 s → {'ok' if small['generate'] < 10 else 'MISSED'} "
        f"({small['generate']:.2f} s)"
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process (two 100k worlds at once): {peak:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
