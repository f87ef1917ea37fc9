"""One ``lab run`` from a validated plan to a judged run directory.

:func:`launch_run` creates the run directory and its world, wires the journal and
the live view to the run's events, runs the plan with SIGINT/SIGTERM turned
into a clean interruption (the current scenario rolls back, the stack stops,
the run is still scored), then hands the directory to ``judge`` — the CLI's
scoring and reporting — and journals ``run_finished`` with its verdict.

The first SIGINT/SIGTERM cancels the run; any further one is acknowledged and
ignored, so a second Ctrl-C cannot cut the rollback short (every cleanup step
is bounded by its own timeout).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from rich.console import Console

from poslab.scenario.journal import RunEvents, RunJournal
from poslab.scenario.live_view import LiveView
from poslab.scenario.rundir import RunDirectory
from poslab.scenario.runner import LoadFactory, Runner, RunOutcome, RunPlan, StackFactory
from poslab.scenario.spec.resolved import ResolvedScenario

#: (run directory, outcome) → (gate status, exit code)
Judge = Callable[[Path, RunOutcome], tuple[str, int]]


@dataclass
class Launched:
    run_dir: Path
    outcome: RunOutcome
    status: str
    exit_code: int


def default_stack_factory(plan: RunPlan) -> StackFactory:
    """A fresh embedded (or external, per the topology) stack per scenario."""
    from poslab.stack import Stack

    def make(scenario_dir: Path, world_file: Path, scenario: ResolvedScenario) -> Stack:
        return Stack(
            plan.topology,
            world_file,
            scenario_dir,
            seed=plan.settings.seed,
            acquirer_config=scenario.acquirer or None,
        )

    return make


def launch_run(
    plan: RunPlan,
    judge: Judge,
    *,
    console: Console,
    plain: bool,
    stack_factory: StackFactory | None = None,
    load_factory: LoadFactory | None = None,
    on_events: Callable[[RunEvents, Path], object] | None = None,
) -> Launched:
    """Run ``plan`` into a new run directory under ``plan.runs_dir`` and judge it.

    ``on_events(events, run_dir)`` subscribes listeners of the caller's own
    before anything starts (the Prometheus export of ``lab run``, the pytest plugin).
    """
    rundir = RunDirectory.create(plan.runs_dir, plan.settings.name)
    if plan.world is not None:  # the team's terminals and cards (lab world import)
        from poslab.world import load, save

        save(load(plan.world), rundir.world_json)
    else:
        rundir.write_world(plan.settings.seed, plan.world_terminals, plan.topology.regions)
    events = RunEvents()
    if on_events is not None:
        on_events(events, rundir.path)
    console.print(f"run directory {rundir.path}", highlight=False)
    with RunJournal(rundir.journal, events):
        runner = Runner(
            plan,
            events,
            rundir,
            stack_factory=stack_factory or default_stack_factory(plan),
            load_factory=load_factory,
        )
        with LiveView(events, console, plain=plain, scenarios=len(plan.scenarios)):
            outcome = asyncio.run(_run_with_signals(runner, console))
        with _sigterm_interrupts():  # scoring is plain Python: SIGTERM as Ctrl-C (exit 130)
            status, code = judge(rundir.path, outcome)
        events.run_finished.fire(status=status, exit_code=code)
    return Launched(rundir.path, outcome, status, code)


async def _run_with_signals(runner: Runner, console: Console) -> RunOutcome:
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    seen: list[str] = []

    def interrupt(name: str) -> None:
        if seen:
            console.print(f"lab: {name} again — still rolling back, please wait", highlight=False)
            return
        seen.append(name)
        console.print(f"lab: {name}: rolling back and stopping the stack", highlight=False)
        task.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, interrupt, sig.name)
    try:
        outcome = await runner.run()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    if seen:
        outcome.interrupted = True
    return outcome


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
