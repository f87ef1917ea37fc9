"""A scored run with something of everything: a pass, an integrity failure, a slow
recovery and a scenario that could not run."""

from __future__ import annotations

from pathlib import Path

from poslab.scoring import RunResult, score_run
from poslab.testing import SyntheticScenario, write_run


def mixed_run(root: Path) -> tuple[Path, RunResult]:
    run = write_run(
        root,
        [
            SyntheticScenario(
                name="clean",
                weight=2,
                min_score=70,
                expectations=[
                    {"name": "fast", "kind": "p99_max_ms", "params": {"max_ms": 400}},
                    {"name": "quick", "kind": "recovered_within_s", "params": {"max_s": 5}},
                ],
                probes=[("health", True)],
            ),
            SyntheticScenario(
                name="money-lost",
                inject={"lost_approvals": 2, "unresolved": 1},
                fault_regions=("north",),
            ),
            SyntheticScenario(name="slow|pipe", recovery_delay_s=12.0, min_score=90),
            SyntheticScenario(name="no-stack", status="error"),
        ],
    )
    return run, score_run(run)
