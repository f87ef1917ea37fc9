"""``run_scenario``: one scenario as ``lab run`` runs it, scored, for a test to assert on."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from poslab.pytest_plugin.options import (
    PosSettings,
    check_containers,
    session_topology,
    wants_containers,
)

if TYPE_CHECKING:
    from poslab.scoring.result import Check, ExpectationResult, RunResult, ScenarioResult


# -- run_scenario --------------------------------------------------------------------


@dataclass(frozen=True)
class ScenarioScore:
    """One scenario's verdict, as a team's test asserts on it."""

    name: str
    score: float  # 0-100
    passed: bool  # its own minimum met, integrity held, and the run was not cut short
    status: str  # scored | could_not_run
    reason: str  # why it did not pass ("" when it did)
    run_dir: Path
    exit_code: int  # what `lab run` would have exited with
    result: ScenarioResult = field(repr=False)
    run: RunResult = field(repr=False)

    @property
    def checks(self) -> list[Check]:
        """The integrity checks (lost approvals, double bookings, …)."""
        return list(self.result.checks)

    @property
    def failed_checks(self) -> list[Check]:
        return list(self.result.failed_checks)

    @property
    def expectations(self) -> list[ExpectationResult]:
        """The scenario's own checks (probes' included), each with ``held`` and ``detail``."""
        return list(self.result.expectations)

    @property
    def components(self) -> dict[str, float]:
        """A, R and E of the score (0-1)."""
        return dict(self.result.components)

    def __str__(self) -> str:
        verdict = "passed" if self.passed else f"failed: {self.reason}"
        return f"{self.name}: score {self.score:.1f} ({verdict}); run directory {self.run_dir}"


RunScenario = Callable[..., ScenarioScore]


@pytest.fixture
def run_scenario(
    request: pytest.FixtureRequest,
    pos_settings: PosSettings,
    tmp_path_factory: pytest.TempPathFactory,
) -> RunScenario:
    """``run_scenario(name_or_path, *, time_scale=, terminals=, seed=, policy=,
    min_score=, catalogue=, containers=)`` → :class:`ScenarioScore`.

    Runs the scenario as ``lab run`` does — a fresh stack, the terminal fleet,
    its faults on time, rollback always, the drain, scoring — in a run directory
    under ``--pos-runs-dir`` (default: pytest's temporary directory). The run's
    console output is attached to the test's report. A scenario that does not
    validate raises (``ScenarioInvalid``: file, line, field); one whose stack
    would not start scores 0 with the reason.
    """

    def run(
        ref: str | Path,
        *,
        time_scale: float | None = None,
        terminals: int | None = None,
        seed: int | None = None,
        policy: str = "resilient",
        min_score: float | None = None,
        catalogue: str | Path | None = None,
        containers: bool | None = None,
    ) -> ScenarioScore:
        from rich.console import Console

        from poslab.report import finish_run
        from poslab.report.prometheus import RunMetrics
        from poslab.scenario import (
            Catalogue,
            RunOptions,
            RunPlan,
            RunSettings,
            launch_run,
            load_scenario,
        )

        scale = time_scale if time_scale is not None else pos_settings.time_scale
        count = terminals if terminals is not None else pos_settings.terminals
        topology = session_topology()
        root = Path(catalogue) if catalogue is not None else pos_settings.catalogue
        scenario = load_scenario(
            ref,
            topology,
            RunOptions(time_scale=scale, terminals=count),
            Catalogue(root) if root is not None else Catalogue(),
        )
        settings = RunSettings(
            name=scenario.name,
            suite=None,
            seed=seed if seed is not None else pos_settings.seed,
            terminals=count,
            time_scale=scale,
            policy=policy,
            min_score=min_score if min_score is not None else scenario.min_score,
        )
        runs_dir = pos_settings.runs_dir or tmp_path_factory.mktemp("pos-runs")
        plan = RunPlan(settings, (scenario,), topology, runs_dir)
        stack_factory = None
        wanted = containers if containers is not None else wants_containers(request, pos_settings)
        if wanted:
            check_containers()
            from poslab.cli.containers import container_stack_factory

            stack_factory = container_stack_factory(plan)
        output = io.StringIO()
        console = Console(file=output, width=120, force_terminal=False, color_system=None)
        results: list[RunResult] = []
        metrics = RunMetrics(suite=scenario.name)  # metrics.prom, as every lab run writes

        def judge(run_dir: Path, outcome: Any) -> tuple[str, int]:
            result = finish_run(run_dir, min_score=settings.min_score, console=console)
            results.append(result)
            for problem in metrics.finish(result):
                console.print(f"warning: {problem}", markup=False)
            return result.gate.status, result.gate.exit_code

        done = launch_run(
            plan,
            judge,
            console=console,
            plain=True,
            stack_factory=stack_factory,
            on_events=metrics.attach,
        )
        request.node.add_report_section("call", f"pos-lab {scenario.name}", output.getvalue())
        run_result = results[0]
        mine = run_result.scenarios[0]
        reason = "" if mine.passed else (mine.reason or "; ".join(run_result.gate.reasons))
        if done.outcome.stack_failure is not None:
            reason = done.outcome.stack_failure
        return ScenarioScore(
            name=mine.name,
            score=mine.score,
            passed=mine.passed and done.exit_code == 0,
            status=mine.status,
            reason=reason,
            run_dir=done.run_dir,
            exit_code=done.exit_code,
            result=mine,
            run=run_result,
        )

    return run
