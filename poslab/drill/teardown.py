"""Ending a drill's records, and ending a drill whose controller is gone.

:func:`write_run_json` makes the drill's directory a run directory that
scoring reads (one scenario, ``drill``, lasting from the load's first
transaction to the end of the drill). The controller calls it at every end.

:func:`end_without_controller` is ``lab drill end``'s fallback when the
controller crashed or was killed: it does what the controller's own end would
have done with what the files say — stop the load's process group, reset the
proxy and every admin API (so no hidden fault survives), export the ledger,
stop the stack (unless kept), close the journal's story and write the report.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path

import aiohttp

from poslab.drill.plan import plan_of
from poslab.drill.session import ENDED, DrillFiles, FacilitatorFile, Timeline, clear_current
from poslab.errors import LabError
from poslab.fleet import ControlWriter
from poslab.scenario.journal import RunEvents, RunJournal
from poslab.scenario.rundir import RunDirectory, RunSettings, export_ledger
from poslab.stack.commands import ServiceFiles
from poslab.stack.process import ProcessIdentity, stop_group
from poslab.stack.stack import Stack

log = logging.getLogger("poslab.drill.teardown")
_LOAD_GRACE_S = 10.0


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
    done: list[str] = []
    end_at = time.time()
    Timeline(files.timeline).append("end", t=end_at, reason="ended without its controller")
    if state.load is not None:
        identity = ProcessIdentity(state.load.pid, state.load.create_time)
        if identity.is_running():
            with contextlib.suppress(LabError):
                ControlWriter(files.fleet_dir / "control.jsonl").clear()
            await stop_group(identity, _LOAD_GRACE_S)
            done.append("stopped the load")
    stack_state = Path(state.stack_state)
    if stack_state.is_file():
        stack = Stack.attach_file(stack_state)
        try:
            await stack.proxy_api.reset()
            done.append("proxy reset: every link enabled, every toxic removed")
        except LabError as exc:
            done.append(f"proxy reset failed: {exc}")
        for service, base in stack.addresses.admin.items():
            status = await _post(f"{base}/admin/reset")
            done.append(
                f"{service}: faults reset" if status == 200 else f"{service}: reset {status}"
            )
        db = ServiceFiles.under(files.scenario_dir, "acquirer").db
        outcome = await export_ledger(files.ledger_dir, stack.addresses.admin, acquirer_db=db)
        done.append("ledger export: " + ", ".join(f"{k} {v}" for k, v in outcome.items()))
        if keep:
            await stack.close()
            done.append("stack left running (lab down stops it)")
        else:
            await stack.stop()
            done.append("stack stopped")
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


async def _post(url: str) -> int:
    timeout = aiohttp.ClientTimeout(total=5)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.post(url, json={}) as response,
        ):
            return response.status
    except (aiohttp.ClientError, TimeoutError, OSError):
        return 0


def run_end_without_controller(files: DrillFiles, *, keep: bool) -> list[str]:
    return asyncio.run(end_without_controller(files, keep=keep))
