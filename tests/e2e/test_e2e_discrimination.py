"""The lab must tell a resilient fleet from a naive one (issue 8), time-compressed.

`lab verify-gate` runs a two-scenario gate twice — resilient terminals, then
naive ones (no jitter, no failover, no durable reversal) — and exits 0 only
when the first passes and the second fails. Then the reasons are checked:
with naive terminals lost replies leave money moved that the merchant believes
failed (an integrity failure: a crash forgets the pending reversal, a refund
whose reply was lost is never sent again), and after a key expiry approvals
come back later (a worse recovery) than with resilient ones.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.processes import run_lab

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

# The catalogue's own scenarios: lost replies (sales reversed, refunds sent
# again from store-and-forward) with crashes, then the sign-on storm.
SUITE = """\
name: discrimination
description: money first (lost replies), then the sign-on storm
min_score: 80
scenarios:
  - response-timeout-reversal
  - working-key-expiry
"""


def _result(run_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((run_dir / "result.json").read_text())
    return data


def _scenario(result: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in result["scenarios"] if s["name"] == name)


def test_the_gate_passes_resilient_terminals_and_fails_naive_ones(tmp_path: Path) -> None:
    suite = tmp_path / "discrimination.yaml"  # a name resolves in the catalogue, a file beside it
    suite.write_text(SUITE, encoding="utf-8")
    runs = tmp_path / "runs"
    args = ["verify-gate", "--suite", str(suite), "--time-scale", "0.5", "--terminals", "80"]
    code = run_lab([*args, "--runs-dir", str(runs)], tmp_path / "lab.log", 400)
    log = (tmp_path / "lab.log").read_text(errors="replace")
    # runs/latest is a symlink to the newest run, not a run of its own
    run_dirs = sorted(p for p in runs.iterdir() if p.is_dir() and not p.is_symlink())
    assert len(run_dirs) == 2, log[-3000:]
    by_policy = {json.loads((d / "run.json").read_text())["policy"]: d for d in run_dirs}
    resilient, naive = _result(by_policy["resilient"]), _result(by_policy["naive"])

    assert resilient["gate"]["status"] == "passed", resilient["gate"]["reasons"]
    assert naive["gate"]["status"] == "failed"
    assert code == 0, log[-3000:]

    # why naive fails: lost replies are never reversed or sent again (integrity) ...
    lost = _scenario(naive, "response-timeout-reversal")
    assert lost["integrity_ok"] is False and lost["score"] == 0
    failed = {c["kind"] for c in lost["checks"] if c["status"] == "failed"}
    assert failed & {"unreversed_failures", "unresolved", "reversals_not_landed"}, failed
    assert _scenario(resilient, "response-timeout-reversal")["integrity_ok"] is True

    # ... and after the keys expire it recovers worse than the resilient fleet
    keys_naive = _scenario(naive, "working-key-expiry")
    keys_resilient = _scenario(resilient, "working-key-expiry")
    assert keys_naive["score"] < keys_resilient["score"]
    assert keys_naive["recovery"]["recovery_s"] > keys_resilient["recovery"]["recovery_s"]
