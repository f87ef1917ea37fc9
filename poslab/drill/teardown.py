"""Ending a drill's records, and ending a drill whose controller is gone.

:func:`write_run_json` makes the drill's directory a run directory that
scoring reads (one scenario, ``drill``, lasting from the load's first
transaction to the end of the drill). The controller calls it at every end.

:func:`end_without_controller` is ``lab drill end``'s fallback when the
controller crashed or was killed: the end of the run lifecycle, as an
:class:`~poslab.scenario.lifecycle.OrphanedRun` built from what the files say —
reset the proxy and every admin API (so no hidden fault survives), stop the
load's process group, export the ledger, stop the stack (unless kept) — then it
closes the journal's story and writes the report.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from poslab.drill.plan import plan_of
from poslab.drill.session import ENDED, DrillFiles, FacilitatorFile, Timeline, clear_current
from poslab.scenario import OrphanedRun, RunDirectory, RunEvents, RunJournal, RunSettings
from poslab.stack import ProcessIdentity, Stack


def write_run_json(
    files: DrillFiles, secret: FacilitatorFile, *, t0: float, end_at: float, started_at: float
) -> None:
    plan = plan_of(secret)
    scenario = plan.drill_scenario.model_copy(
        update={"duration_s": round(max(1.0, end_at - t0), 3), "drain_s": secret.drain_s}
    )
    settings = RunSettings(
        name="drill",
        suite=None,
        seed=secret.seed,
        terminals=secret.terminals,
        time_scale=1.0,
        policy=secret.policy,
        min_score=0.0,
    )
    RunDirectory(files.run_dir).write_run_json(
        settings,
        [scenario],
        started_at=started_at,
        finished_at=time.time(),
        extra={"kind": "drill"},
    )


async def end_without_controller(files: DrillFiles, *, keep: bool) -> list[str]:
    """Clean up after a dead controller; returns what was done, one line each."""
    state = files.read_state()
    secret = files.read_facilitator()
    end_at = time.time()
    Timeline(files.timeline).append("end", t=end_at, reason="ended without its controller")
    stack_state = Path(state.stack_state)
    load = state.load
    orphan = OrphanedRun(
        "drill",
        Stack.attach_file(stack_state) if stack_state.is_file() else None,
        scenario_dir=files.scenario_dir,
        ledger_dir=files.ledger_dir,
        load=None if load is None else ProcessIdentity(load.pid, load.create_time),
        control_file=files.fleet_dir / "control.jsonl",
        keep=keep,
    )
    await orphan.run()
    done = orphan.done
    if state.t0 is not None:
        with RunJournal(files.journal, RunEvents()) as journal:
            journal.write(
                "scenario_finished",
                scenario="drill",
                status="completed",
                detail="ended without its controller",
            )
            journal.write("run_finished", status="completed", exit_code=0)
        write_run_json(files, secret, t0=state.t0, end_at=end_at, started_at=state.created_at)
    reports: dict[str, str] = {}
    if state.t0 is not None:
        from poslab.drill.postmortem import write_postmortem

        reports = {k: str(v) for k, v in write_postmortem(files).items()}
        done.append("post-incident report written")
    files.update_state(
        status=ENDED,
        ended_at=time.time(),
        end_reason="ended without its controller",
        reports=reports,
        keep_stack=keep,
    )
    clear_current(files.run_dir.parent, files.run_dir)
    return done


def run_end_without_controller(files: DrillFiles, *, keep: bool) -> list[str]:
    return asyncio.run(end_without_controller(files, keep=keep))
