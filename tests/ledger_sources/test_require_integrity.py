"""``require: [integrity]``: without a ledger the gate cannot pass (exit 2).

Issue 13: a host whose reversals were answered but never applied passed at
97.5 because seven of the eight money checks were "not available". With
``"require": ["integrity"]`` in run.json (from the suite or the topology) a
scenario whose money checks are not all available is a reason the gate does
not pass: exit 2 ("cannot judge money without a ledger"), or 1 when the gate
failed anyway on what it could judge.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from poslab.errors import RunDirError
from poslab.scoring import score_run
from poslab.testing import SyntheticScenario, write_run


def _run(tmp_path: Path, require: list[str] | None, **scenario: object) -> Path:
    sc = SyntheticScenario(transactions=300, terminals=5, **scenario)  # type: ignore[arg-type]
    run_dir = write_run(tmp_path, [sc], min_score=0)
    if require is not None:
        doc = json.loads((run_dir / "run.json").read_text())
        doc["require"] = require
        (run_dir / "run.json").write_text(json.dumps(doc))
    return run_dir


def _no_ledger(run_dir: Path) -> Path:
    shutil.rmtree(run_dir / "scenarios" / "synthetic" / "ledger")
    return run_dir


def test_without_a_ledger_the_gate_cannot_pass(tmp_path: Path) -> None:
    gate = score_run(_no_ledger(_run(tmp_path, ["integrity"]))).gate
    assert (gate.status, gate.exit_code) == ("could_not_run", 2)
    assert any("cannot judge money without a ledger" in r for r in gate.reasons), gate.reasons
    assert any("lost_approvals" in r and "wrong_payouts" in r for r in gate.reasons)


def test_not_required_it_passes_blind_as_before(tmp_path: Path) -> None:
    gate = score_run(_no_ledger(_run(tmp_path, None))).gate
    assert gate.status == "passed"


def test_with_the_ledger_the_requirement_holds(tmp_path: Path) -> None:
    gate = score_run(_run(tmp_path, ["integrity"])).gate
    assert gate.status == "passed", gate.reasons


def test_a_judged_failure_stays_exit_1(tmp_path: Path) -> None:
    run_dir = _run(tmp_path, ["integrity"], inject={"double_bookings": 1})
    (run_dir / "scenarios" / "synthetic" / "ledger" / "payouts.jsonl").unlink()
    gate = score_run(run_dir).gate
    assert (gate.status, gate.exit_code) == ("failed", 1)
    assert any("wrong_payouts not available" in r for r in gate.reasons), gate.reasons


def test_unknown_requirement_refused(tmp_path: Path) -> None:
    with pytest.raises(RunDirError, match="require names"):
        score_run(_run(tmp_path, ["integrty"]))
