"""``lab run`` and ``lab verify-gate``: scenarios against a fresh stack, then the gate.

    lab run acquirer-outage working-key-expiry --seed 7 --time-scale 0.5
    lab run --suite gate                     # what `make chaos` runs
    lab run --suite gate --dry-run           # the resolved timeline; no socket opened
    lab verify-gate --suite gate             # resilient must pass and naive must fail

Everything is validated before any process starts (exit 2 with file:line:
field). Exit codes are the gate's: 0 passed, 1 gate failed, 2 the lab could
not run (bad input, a service that would not start), 130 interrupted.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console

from poslab.errors import ConfigError
from poslab.scenario import (
    Policy,
    Problem,
    ResolvedScenario,
    RunOptions,
    RunOutcome,
    RunPlan,
    RunSettings,
    ScenarioInvalid,
    load_scenario,
    load_suite,
)
from poslab.stack import (
    DEFAULT_REGIONS,
    Mode,
    ServiceName,
    Topology,
    default_topology,
    load_topology,
)

__all__ = ["run", "verify_gate"]

DEFAULT_SEED = 42
DEFAULT_RUNS_DIR = Path("runs")
_GATE_DEFAULT = 80.0


@dataclass(frozen=True)
class _Request:
    refs: tuple[str, ...]
    suite: str | None
    seed: int
    terminals: int | None
    time_scale: float
    policy: str
    min_score: float | None
    runs_dir: Path
    topology: Path | None


def _topology(path: Path | None) -> Topology:
    from poslab.stack import with_external_proxy

    topology = load_topology(path, DEFAULT_REGIONS) if path else default_topology(DEFAULT_REGIONS)
    url = os.environ.get("TOXIPROXY_URL")
    if url and topology.service(ServiceName.PROXY).mode is Mode.EMBEDDED:
        topology = with_external_proxy(topology, url)
    return topology


def _plan(req: _Request, policy: str | None = None) -> RunPlan:
    """Validate everything (every file's problems at once) into a plan."""
    if req.suite and req.refs:
        raise click.UsageError("give scenarios or --suite, not both")
    if not req.suite and not req.refs:
        raise click.UsageError("name at least one scenario, or --suite NAME")
    topology = _topology(req.topology)
    options = RunOptions(time_scale=req.time_scale, terminals=req.terminals)
    scenarios: list[ResolvedScenario] = []
    if req.suite:
        suite = load_suite(req.suite, topology, options)
        scenarios, name, suite_min = list(suite.scenarios), suite.name, suite.min_score
    else:
        problems: list[Problem] = []
        for ref in req.refs:
            try:
                scenarios.append(load_scenario(ref, topology, options))
            except ScenarioInvalid as exc:
                problems += exc.problems
        if problems:
            raise ScenarioInvalid(problems)
        names = [s.name for s in scenarios]
        if len(set(names)) != len(names):
            raise ConfigError(f"a scenario is named twice: {', '.join(names)}")
        name, suite_min = (names[0] if len(names) == 1 else "scenarios"), _GATE_DEFAULT
    settings = RunSettings(
        name=name,
        suite=req.suite,
        seed=req.seed,
        terminals=req.terminals,
        time_scale=req.time_scale,
        policy=policy or req.policy,
        min_score=req.min_score if req.min_score is not None else suite_min,
    )
    return RunPlan(settings, tuple(scenarios), topology, req.runs_dir)


def _dry_run(plan: RunPlan) -> None:
    from poslab.scenario import render_timeline, resolve_fleet_draws
    from poslab.world import generate

    s = plan.settings
    click.echo(
        f"dry run of {s.name}: seed {s.seed}, policy {s.policy}, time scale {s.time_scale:g}, "
        f"min score {s.min_score:g}; nothing is started"
    )
    world = generate(s.seed, plan.world_terminals, regions=plan.topology.regions)
    for scenario in plan.scenarios:
        click.echo("\n" + render_timeline(scenario))
        draws = resolve_fleet_draws(scenario, world.terminals[: scenario.load.terminals], s.seed)
        for fault_id, tids in draws.items():
            shown = ", ".join(tids[:8]) + (" …" if len(tids) > 8 else "")
            click.echo(f"  fleet draw {fault_id}: {len(tids)} terminals: {shown}")


def _judge(min_score: float | None, baseline: Path | None, console: Console):  # type: ignore[no-untyped-def]
    from poslab.report import finish_run

    def judge(run_dir: Path, outcome: RunOutcome) -> tuple[str, int]:
        result = finish_run(run_dir, min_score=min_score, baseline=baseline, console=console)
        status, code = result.gate.status, result.gate.exit_code
        if outcome.interrupted:
            status, code = "interrupted", 130
        elif outcome.stack_failure is not None:
            console.print(f"lab: {outcome.stack_failure}", markup=False, highlight=False)
            status, code = "could_not_run", 2
        return status, code

    return judge


def _console() -> Console:
    """Rich on a terminal; 120 columns in logs (rich would assume 80)."""
    return Console() if sys.stdout.isatty() else Console(width=120)


def _execute(req: _Request, baseline: Path | None, policy: str | None = None) -> int:
    from poslab.scenario import launch_run

    plan = _plan(req, policy)
    console = _console()
    plain = not console.is_terminal or bool(os.environ.get("CI"))
    done = launch_run(
        plan, _judge(plan.settings.min_score, baseline, console), console=console, plain=plain
    )
    console.print(f"run directory {done.run_dir}: gate {done.status} (exit {done.exit_code})")
    return done.exit_code


F = TypeVar("F", bound=Callable[..., Any])


def _common(func: F) -> F:
    options = [
        click.option("--seed", type=int, default=DEFAULT_SEED, show_default=True,
                     help="Seed of the world, the load and the fault draws."),
        click.option("--terminals", type=click.IntRange(min=1),
                     help="Terminals in every scenario (overrides the files)."),
        click.option("--time-scale", type=click.FloatRange(min=0, min_open=True), default=1.0,
                     show_default=True, help="Multiply every timeline duration (0.5: 2x faster)."),
        click.option("--min-score", type=click.FloatRange(0, 100),
                     help="The gate's pass mark (default: the suite's, else 80)."),
        click.option("--runs-dir", type=click.Path(file_okay=False, path_type=Path),
                     default=DEFAULT_RUNS_DIR, show_default=True, help="Where run directories go."),
        click.option("--topology", "topology_path",
                     type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     help="Topology overrides (external services, fixed ports)."),
    ]  # fmt: skip
    for option in reversed(options):
        func = option(func)
    return func


@click.command("run")
@click.argument("scenarios", nargs=-1)
@click.option("--suite", help="Run a suite (scenarios/suites/NAME.yaml or a path).")
@_common
@click.option(
    "--policy",
    type=click.Choice([p.value for p in Policy]),
    default=Policy.RESILIENT.value,
    show_default=True,
    help="The terminals' policy (a scenario may force its own).",
)
@click.option(
    "--baseline",
    type=click.Path(exists=True, path_type=Path),
    help="A run directory (or result.json): the gate fails when a score drops below it.",
)
@click.option("--dry-run", is_flag=True, help="Print the resolved timelines; start nothing.")
def run(
    scenarios: tuple[str, ...],
    suite: str | None,
    seed: int,
    terminals: int | None,
    time_scale: float,
    min_score: float | None,
    runs_dir: Path,
    topology_path: Path | None,
    policy: str,
    baseline: Path | None,
    dry_run: bool,
) -> int:
    """Run SCENARIO… (or a --suite) on a fresh stack and gate on the score."""
    req = _Request(
        scenarios, suite, seed, terminals, time_scale, policy, min_score, runs_dir, topology_path
    )
    if dry_run:
        _dry_run(_plan(req))
        return 0
    return _execute(req, baseline)


@click.command("verify-gate")
@click.option("--suite", default="gate", show_default=True, help="The suite to prove.")
@_common
def verify_gate(
    suite: str,
    seed: int,
    terminals: int | None,
    time_scale: float,
    min_score: float | None,
    runs_dir: Path,
    topology_path: Path | None,
) -> int:
    """Run the suite with resilient and with naive terminals: the gate must tell them apart.

    Exits 0 only when resilient passes and naive fails; 1 when it does not
    discriminate; 2 / 130 when a run could not run / was interrupted.
    """
    req = _Request((), suite, seed, terminals, time_scale, "resilient", min_score, runs_dir,
                   topology_path)  # fmt: skip
    _plan(req)  # validate once before either run starts
    console = _console()
    codes: dict[str, int] = {}
    for policy in (Policy.RESILIENT.value, Policy.NAIVE.value):
        console.rule(f"verify-gate: {suite} with {policy} terminals")
        codes[policy] = _execute(req, None, policy)
        if codes[policy] in (2, 130):
            return codes[policy]
    resilient_ok, naive_fails = codes["resilient"] == 0, codes["naive"] == 1
    console.rule("verify-gate verdict")
    console.print(
        f"resilient: {'passed' if resilient_ok else 'did NOT pass'}; "
        f"naive: {'failed' if naive_fails else 'did NOT fail'} → "
        + ("the gate discriminates" if resilient_ok and naive_fails else "NOT discriminating")
    )
    return 0 if resilient_ok and naive_fails else 1
