"""One catalogue scenario, time-compressed, through the real stack and the real fleet:
`lab run` must leave a complete run directory, a score, and faults on time."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.e2e_helpers import journal, only_run_dir
from tests.support.processes import run_lab

pytestmark = pytest.mark.timeout(150)

SCENARIO = "acquirer-outage"


def test_one_scenario_end_to_end_leaves_a_complete_scored_run(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    args = ["run", SCENARIO, "--time-scale", "0.6", "--terminals", "60", "--seed", "11"]
    code = run_lab([*args, "--runs-dir", str(runs)], tmp_path / "lab.log", 120)
    run_dir = only_run_dir(runs)
    log = (tmp_path / "lab.log").read_text(errors="replace")

    # the run directory of docs/run-directory.md, complete
    for name in ("run.json", "world.json", "journal.jsonl", "result.json", "junit.xml",
                 "summary.md", "report.html"):  # fmt: skip
        assert (run_dir / name).is_file(), f"{name} missing; log:\n{log[-2000:]}"
    scenario = run_dir / "scenarios" / SCENARIO
    assert list((scenario / "fleet").glob("*.jsonl")), "no fleet journal"
    assert (scenario / "services" / "acquirer.log").is_file()
    for ledger in ("transactions", "batches", "payouts", "issuer"):
        assert (scenario / "ledger" / f"{ledger}.jsonl").is_file(), ledger
    assert (scenario / "ledger" / "transactions.jsonl").read_text().strip()

    run = json.loads((run_dir / "run.json").read_text())
    assert run["seed"] == 11 and run["time_scale"] == 0.6 and run["terminals"] == 60
    assert run["finished_at"] > run["started_at"] and run["interrupted"] is False

    events = journal(run_dir)
    kinds = [e["event"] for e in events]
    for kind in ("run_started", "stack_up", "scenario_started", "load_started", "probe",
                 "fault_injected", "fault_cleared", "rollback", "load_stopped",
                 "drain_finished", "scenario_finished", "run_finished"):  # fmt: skip
        assert kind in kinds, f"no {kind} in {kinds}"
    # every fault on time: drift measured from the journal, within 50 ms
    drifts = [e["drift_ms"] for e in events if e["event"] in ("fault_injected", "fault_cleared")]
    assert len(drifts) == 6 and max(drifts) < 50 and min(drifts) >= 0, drifts
    stack_up = next(e for e in events if e["event"] == "stack_up")
    assert stack_up["seconds"] < 15  # the stack's own goal is ≤ 10 s on this machine

    result = json.loads((run_dir / "result.json").read_text())
    (scored,) = result["scenarios"]
    assert scored["status"] == "scored" and 0 <= scored["score"] <= 100
    assert scored["counts"]["sale"]["approved"] > 50  # the load really ran
    assert events[-1]["exit_code"] == code == result["gate"]["exit_code"], log[-2000:]
    assert code in (0, 1)
