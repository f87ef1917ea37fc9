"""settlement-backlog end to end: the scenario's business day reaches the acquirer
(``acquirer:`` → ``--config``), batches queue while settlement is stalled, and
the drain waits until every batch is closed and every payout made — so the
scorer's batch and payout reconciliation has the whole run's money to check."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.e2e_helpers import journal, only_run_dir
from tests.support.processes import run_lab

pytestmark = pytest.mark.timeout(150)

SCENARIO = "settlement-backlog"
SCALE = 0.6


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_batches_queue_in_the_stall_then_every_batch_settles_and_is_paid(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    args = ["run", SCENARIO, "--time-scale", str(SCALE), "--terminals", "40", "--seed", "5"]
    code = run_lab([*args, "--runs-dir", str(runs)], tmp_path / "lab.log", 120)
    run_dir = only_run_dir(runs)
    log = (tmp_path / "lab.log").read_text(errors="replace")
    scenario = run_dir / "scenarios" / SCENARIO

    # the scenario's calendar, scaled, is the acquirer's --config
    config = json.loads((scenario / "services" / "acquirer.config.json").read_text())
    assert config == {"day_seconds": round(6 * SCALE, 1), "batch_max_days": 2}
    assert "--config" in (scenario / "services" / "acquirer.log").read_text()

    events = journal(run_dir)
    faults = {e["fault_id"]: e["t"] for e in events if e["event"] == "fault_cleared"}
    stall_end = faults["settlement-stalled"]
    probe = next(e for e in events if e["event"] == "probe" and e["name"] == "settlement")
    assert probe["ok"], f"{probe['detail']}; log:\n{log[-2000:]}"

    ledger = scenario / "ledger"
    batches = _rows(ledger / "batches.jsonl")
    assert batches and all(b["status"] == "closed" for b in batches)
    # batches the terminals settled during the stall were queued, not lost:
    # the worker closed them only once it ran again
    settled = [b for b in batches if b["closed_by"] == "terminal"]
    assert settled, "no terminal settled its batch"
    assert any(b["closed_at"] >= stall_end for b in settled)
    # forced mismatches were resolved by the 0320 upload
    assert any(b["uploaded"] > 0 and b["recon_code"] == 1 for b in settled)
    payouts = _rows(ledger / "payouts.jsonl")
    assert len({p["settle_date"] for p in payouts}) >= 2, "payouts of several lab days"

    result = json.loads((run_dir / "result.json").read_text())
    (scored,) = result["scenarios"]
    checks = {c["kind"]: c for c in scored["checks"]}
    for kind in ("wrong_payouts", "unbalanced_batches", "lost_approvals", "double_bookings"):
        assert checks[kind]["status"] == "passed", checks[kind]
    paid = next(e for e in scored["expectations"] if e["kind"] == "all_batches_settled")
    assert paid["held"], paid["detail"]
    assert code == 0, log[-2000:]
