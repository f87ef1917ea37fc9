"""The fast matrix of make test (issue 19): the gate's money cells, time-compressed.

Each money defect against the gate scenario whose failure mode it is, and that
scenario on the clean stack, through ``lab verify-catalogue`` (30 terminals,
time scale 0.5): the defect must be killed for its own reason (the failing
integrity check names it) and the scenario must pass clean. The whole matrix is
the same command without ``--scenarios``/``--defects`` (README, "Why trust the
score").
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.processes import run_lab

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

# gate scenario → {money defect → the check that must name it}
CELLS: dict[str, dict[str, str]] = {
    "response-timeout-reversal": {
        "acquirer:ack-reversal-without-applying": "reversals_not_landed",
        "acquirer:no-late-reversal": "issuer_holds_without_sale",
        "acquirer:double-pay-batch": "wrong_payouts",
    },
    "acquirer-crash-restart": {"acquirer:reply-before-durable": "lost_approvals"},
}


@pytest.mark.parametrize("scenario", list(CELLS))
def test_a_gate_scenario_kills_its_money_defects_for_their_reason(
    tmp_path: Path, scenario: str
) -> None:
    defects = CELLS[scenario]
    args = ["verify-catalogue", "--scenarios", scenario, "--defects", ",".join(defects)]
    args += ["--time-scale", "0.5", "--terminals", "30", "--runs-dir", str(tmp_path / "runs")]
    code = run_lab(args, tmp_path / "lab.log", 280)
    log = (tmp_path / "lab.log").read_text(errors="replace")
    (matrix_file,) = (tmp_path / "runs").glob("*-verify-catalogue/matrix.json")
    matrix: dict[str, Any] = json.loads(matrix_file.read_text())
    cells = {c["column"]: c for c in matrix["cells"]}
    assert cells["clean"]["verdict"] == "passed", log[-3000:]
    for defect, check in defects.items():
        assert cells[defect]["verdict"] == "killed" and check in cells[defect]["failed"], cells
    assert matrix["problems"] == [] and code == 0, log[-3000:]
    assert (matrix_file.parent / "matrix.md").read_text().startswith("| scenario |")
