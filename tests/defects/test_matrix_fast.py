"""The fast matrix of make test (issue 19): the gate's money cells, time-compressed.

Two gate scenarios on the clean stack and against the acquirer's money defects,
through ``lab verify-catalogue``: each defect must be killed by the scenario
whose failure mode it is, for its own reason (the failing integrity check names
it), and each scenario must pass clean. The whole matrix is the same command
without ``--scenarios``/``--defects`` (its wall time is in README's "Why trust
the score").
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.processes import run_lab

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]

# defect → the gate scenario that must kill it, and the check that names why
CELLS = {
    "acquirer:reply-before-durable": ("acquirer-crash-restart", "lost_approvals"),
    "acquirer:ack-reversal-without-applying": (
        "response-timeout-reversal",
        "reversals_not_landed",
    ),
}


def test_gate_scenarios_kill_the_money_defects_for_their_reason(tmp_path: Path) -> None:
    scenarios = sorted({s for s, _ in CELLS.values()})
    args = ["verify-catalogue", "--scenarios", ",".join(scenarios), "--defects", ",".join(CELLS)]
    args += ["--time-scale", "0.5", "--terminals", "30", "--runs-dir", str(tmp_path / "runs")]
    code = run_lab(args, tmp_path / "lab.log", 380)
    log = (tmp_path / "lab.log").read_text(errors="replace")
    (matrix_file,) = (tmp_path / "runs").glob("*-verify-catalogue/matrix.json")
    matrix: dict[str, Any] = json.loads(matrix_file.read_text())
    cells = {(c["scenario"], c["column"]): c for c in matrix["cells"]}
    for scenario in scenarios:
        assert cells[(scenario, "clean")]["verdict"] == "passed", log[-3000:]
    for defect, (scenario, check) in CELLS.items():
        cell = cells[(scenario, defect)]
        assert cell["verdict"] == "killed" and check in cell["failed"], cell
    assert matrix["problems"] == [] and code == 0, log[-3000:]
    assert (matrix_file.parent / "matrix.md").read_text().startswith("| scenario |")
