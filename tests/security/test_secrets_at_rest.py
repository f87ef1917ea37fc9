"""Secrets at rest: a whole (short) run through the real stack and fleet, then
every file of its run directory — SQLite databases, WAL and journals included
— scanned for the world's PANs, PINs and terminal master keys. Only the world
file may hold them, and it is 0600 (docs/run-directory.md, "Secrets")."""

from __future__ import annotations

import stat
import time
from pathlib import Path

import pytest

from poslab.world import load
from tests.e2e.e2e_helpers import only_run_dir
from tests.security.secrets_scan import Secrets, scan
from tests.support.processes import run_lab

pytestmark = pytest.mark.timeout(240)

# Replacements (the agent hands out new TMKs, the merchants' outboxes hold its
# answers) and closed batches (the terminals' flash holds uploads and reversals).
SCENARIO = "device-replacement"


def test_a_run_directory_holds_no_pan_pin_or_key_outside_the_world_file(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    args = ["run", SCENARIO, "--time-scale", "0.5", "--terminals", "40", "--seed", "18"]
    started = time.monotonic()
    code = run_lab([*args, "--runs-dir", str(runs)], tmp_path / "lab.log", 200)
    log = (tmp_path / "lab.log").read_text(errors="replace")
    assert code in (0, 1), log[-3000:]
    run_dir = only_run_dir(runs)
    world_file = run_dir / "world.json"

    # the run did write what the scan is about: flash files, outboxes, ledgers
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    assert any(p.name.startswith("terminals-") for p in files), sorted(map(str, files))
    findings = scan(run_dir, Secrets(load(world_file)))
    assert findings == [], "\n".join(map(str, findings[:40]))
    assert stat.S_IMODE(world_file.stat().st_mode) == 0o600
    print(f"scanned {len(files)} files in {time.monotonic() - started:.0f} s (run included)")
