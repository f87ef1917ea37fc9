"""The drill controller: the small detached process that owns a drill's timeline.

``lab drill start`` spawns ``python -m poslab.drill.controller RUN_DIR`` in its own
session and returns once it reports ``running``; the controller then:

1. starts the stack (detached, its state in the stack state file, so
   ``lab status`` works) and the steady background load (Locust, its shape
   and an outer timeout bounded by the drill's maximum length);
2. starts the drill clock at the load's first transaction and injects the
   hidden faults at their planned times (the scenario engine's
   :class:`~poslab.scenario.faults.FaultInjector` and schedule), journaling them
   only to the facilitator's ``journal.jsonl``;
3. publishes one metrics sample per second and serves the dashboard and the
   participants' API (:mod:`poslab.drill.dashboard.server`);
4. ends on ``lab drill end``, at the maximum duration, when the load dies,
   or on SIGTERM/SIGINT — and then **always** rolls back: every fault and
   every fleet mitigation cleared, the proxy verified clean, the load
   drained and stopped, the ledger exported, the stack stopped (unless
   kept), ``run.json`` written and the post-incident report produced.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import signal
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil

from poslab.drill import mitigations
from poslab.drill.checks import run_check
from poslab.drill.dashboard.server import DashboardServer
from poslab.drill.errors import DrillError, MitigationFailed
from poslab.drill.metrics import FleetSeconds, MetricsBoard, StackProbe, sample_every_second
from poslab.drill.plan import DrillPlan, fault_steps, plan_of
from poslab.drill.session import (
    ENDED,
    ENDING,
    FAILED,
    RUNNING,
    DrillFiles,
    FacilitatorFile,
    ProcessInfo,
    Timeline,
    clear_current,
)
from poslab.drill.steady_load import first_transaction, start_load
from poslab.drill.teardown import write_run_json
from poslab.errors import LabError
from poslab.fleet import Fleet
from poslab.scenario import RunEvents, RunJournal, RunLifecycle, ScenarioClock
from poslab.stack import Stack

if TYPE_CHECKING:  # imported when the drill starts
    from poslab.drill.runtime import DrillRuntime

log = logging.getLogger("poslab.drill.controller")

#: Events of the participants' timeline that the dashboard lists.
PUBLIC_EVENTS = frozenset({"drill_started", "note", "detect", "check", "mitigation", "end"})


class Controller(RunLifecycle[Stack, Fleet]):
    """The drill's variant of the run lifecycle, and the participants' API."""

    def __init__(self, files: DrillFiles) -> None:
        super().__init__(
            "drill", RunEvents(), scenario_dir=files.scenario_dir, ledger_dir=files.ledger_dir
        )
        self.files = files
        self.secret: FacilitatorFile = files.read_facilitator()
        self.state = files.read_state()
        self.timeline = Timeline(files.timeline)
        self.token = self.state.token or secrets.token_urlsafe(24)
        self.board = MetricsBoard(files.metrics)
        self.journal: RunJournal | None = None
        self.plan: DrillPlan | None = None
        self.runtime: DrillRuntime | None = None
        self.server: DashboardServer | None = None
        self.started_at = time.time()
        self.end_at: float | None = None
        self.end_reason = ""
        self.keep = self.state.keep_stack
        self.error: str | None = None  # why the drill failed, once it has
        self._end = asyncio.Event()
        self._mitigating = asyncio.Lock()
        self._tasks: list[asyncio.Task[Any]] = []
        self._starting: asyncio.Task[None] | None = None

    # -- the participants' API (poslab.drill.dashboard.server.DrillActions) -------------

    def public_status(self) -> dict[str, Any]:
        events = [e for e in self.timeline.read() if e.get("event") in PUBLIC_EVENTS]
        return {
            "status": self.state.status,
            "now": time.time(),
            "t0": None if self.clock is None else self.clock.t0,
            "max_end_at": self.state.max_end_at,
            "regions": self.state.regions,
            "terminals": self.state.terminals,
            "policy": self.state.policy,
            "events": events,
        }

    def _require_running(self) -> None:
        if self.state.status != RUNNING or self._end.is_set():
            raise DrillError(f"the drill is {self.state.status}, not running")

    async def note(self, kind: str, text: str) -> dict[str, Any]:
        self._require_running()
        return self.timeline.append(kind, text=text)

    async def check(self, area: str) -> dict[str, Any]:
        self._require_running()
        assert self.runtime is not None  # running
        report = await run_check(area, self.runtime)
        self.timeline.append("check", area=area, verdict=report.verdict)
        return report.to_dict()

    async def mitigate(self, action: str, raw: Mapping[str, object]) -> dict[str, Any]:
        self._require_running()
        assert self.runtime is not None  # running
        mitigation = mitigations.lookup(action)
        params = mitigation.parse(raw, self.runtime)
        async with self._mitigating:  # one at a time: two restarts must not interleave
            began = time.time()
            try:
                result = await mitigation.run(self.runtime, params)
                ok = True
            except LabError as exc:
                result, ok = str(exc), False
            done = time.time()
        event = self.timeline.append(
            "mitigation",
            t=began,
            action=action,
            params=params,
            ok=ok,
            result=result,
            seconds=round(done - began, 3),
        )
        if not ok:
            raise MitigationFailed(f"{action}: {result}")
        return event

    def request_end(self, keep: bool) -> dict[str, Any]:
        self._require_running()
        self.keep = keep
        self._request_end("ended by the participants")
        return {"ending": True, "keep_stack": keep}

    def _sample_phase(self) -> str:
        return "drill" if self.end_at is None else "drain"

    def _request_end(self, reason: str) -> None:
        if not self._end.is_set():
            self.end_at = time.time()
            self.end_reason = reason
            self._end.set()
        if self._starting is not None and not self._starting.done():
            self._starting.cancel()  # a start waiting on the stack or the load stops at once

    # -- the drill --------------------------------------------------------------------

    async def main(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._request_end, f"signal {sig.name}")
        proc = psutil.Process()
        self._save(
            controller=ProcessInfo(pid=proc.pid, create_time=proc.create_time()), token=self.token
        )
        await self.run()
        await self._close_the_records()
        return 0 if self.error is None else 1

    async def phases(self) -> tuple[str, str]:
        self._starting = asyncio.create_task(self._start())
        try:
            await self._starting
        except asyncio.CancelledError:
            if not self._end.is_set():
                raise
            # Ended while starting: whatever had started is stopped by the end.
        await self._run()
        return "completed", self.end_reason

    def failed(self, exc: Exception) -> tuple[str, str]:
        status, self.error = super().failed(exc)
        self._request_end(f"error: {self.error}")
        return status, self.error

    async def _start(self) -> None:
        from poslab.drill.runtime import DrillRuntime
        from poslab.scenario import resolve_fleet_draws
        from poslab.stack import default_topology
        from poslab.world import load as load_world

        s = self.secret
        self.plan = plan = plan_of(s)
        self.files.create_secret_journal()
        self.journal = RunJournal(self.files.journal, self.events)
        self.events.run_started.fire(name="drill", seed=s.seed)
        world = load_world(self.files.world)
        addresses = await self.stack_up(
            lambda: Stack(
                default_topology(tuple(world.regions)),
                self.files.world,
                self.files.scenario_dir,
                state_file=Path(self.state.stack_state),
                seed=s.seed,
                orphan_guard=False,  # --keep leaves it running after the controller exits
            )
        )
        stack = self.stack
        assert stack is not None
        self.timeline.append("stack_up", seconds=stack.ready_seconds)

        fleet = self.start_load(lambda: start_load(self.files, s, addresses))
        assert fleet.process is not None
        locust = psutil.Process(fleet.process.pid)
        self._save(load=ProcessInfo(pid=locust.pid, create_time=locust.create_time()))
        await first_transaction(fleet)
        clock = self.start_clock(ScenarioClock.start(), shape="steady", users=s.terminals)
        draws = resolve_fleet_draws(plan.drill_scenario, world.terminals[: s.terminals], s.seed)
        injector = self.make_injector(addresses, draws)
        seconds = FleetSeconds(fleet.fleet_dir, clock.t0, world.regions)
        self.runtime = DrillRuntime(
            stack=stack,
            fleet=fleet,
            injector=injector,
            world=world,
            terminals=s.terminals,
            board=self.board,
            seconds=seconds,
        )
        probe = StackProbe(addresses.admin, addresses.agents)
        self._tasks = [
            asyncio.create_task(
                sample_every_second(clock, seconds, probe, self.board, self._sample_phase),
                name="sampler",
            ),
            asyncio.create_task(self.schedule(fault_steps(plan)).run(), name="faults"),
        ]
        self.server = DashboardServer(self, port=s.port)
        url = await self.server.start()
        self._save(status=RUNNING, api_url=url, t0=clock.t0, max_end_at=self.started_at + s.max_s)
        self.timeline.append("drill_started", t=clock.t0, dashboard=url)

    async def _run(self) -> None:
        """Until the end is asked for, the maximum length passes, or a task fails."""
        if self._end.is_set():
            return  # ended while starting
        assert self.state.max_end_at is not None and self.load is not None
        deadline = asyncio.create_task(asyncio.sleep(self.state.max_end_at - time.time()))
        ended = asyncio.create_task(self._end.wait())
        watched = {deadline, ended, *self._tasks}
        try:
            while not self._end.is_set():
                done, _ = await asyncio.wait(
                    watched, timeout=1.0, return_when=asyncio.FIRST_COMPLETED
                )
                if deadline in done:
                    self._request_end("the drill reached its maximum length")
                for task in done & set(self._tasks):
                    watched.discard(task)
                    error = None if task.cancelled() else task.exception()
                    if error is not None:
                        raise error
                if not self.load.running:  # its shape ended, or it died
                    self._request_end("the background load stopped")
        finally:
            deadline.cancel()
            ended.cancel()

    # -- the end: always -------------------------------------------------------------

    async def end(self) -> None:
        """The drill's end, announced first: faults and fleet mitigations undone, the
        load drained, the ledger exported, the stack stopped (or kept)."""
        self._request_end("error" if self.error else "ended")
        self._save(status=ENDING, end_reason=self.end_reason, keep_stack=self.keep)
        self.timeline.append("end", t=self.end_at, reason=self.end_reason)
        schedule = [t for t in self._tasks if t.get_name() == "faults"]
        for task in schedule:
            task.cancel()
        await asyncio.gather(*schedule, return_exceptions=True)
        await super().end()
        if self.runtime is not None:
            await self.attempt("closing the runtime", self.runtime.close())

    async def rollback(self) -> None:
        """Fleet mitigations and every fault still active end with the drill, each
        cleared as the participants see it; then the rollback verifies the proxy clean."""
        injector = self.injector
        if injector is None or self.rolled_back:
            return
        if self.load is not None and self.load.running:
            self.load.control("clear", {"all": True})
        for active in list(injector.active.values()):
            try:
                await injector.clear(active.fault, reason="drill_end")
            except LabError:
                log.exception("clearing %s", active.fault.id)  # the rollback retries it
        await super().rollback()

    async def end_load(self) -> None:
        """The load runs on for the drain so pending reversals land; the samples end with it."""
        try:
            if self.load is not None and self.load.process is not None:
                await self._drain()
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _drain(self) -> None:
        await self.wait_drain(time.monotonic() + self.secret.drain_s)
        self.events.load_stopped.fire(scenario="drill", shape="steady", users=self.secret.terminals)
        await self.stop_load()
        pending = 0 if self.runtime is None else self.runtime.seconds.money.pending_reversals
        self.events.drain_finished.fire(scenario="drill", pending_reversals=pending)

    async def stop(self) -> None:
        """Stop the stack — or, asked to keep it, leave it running for ``lab status``
        and ``lab down`` (not after a failed drill)."""
        if self.keep and self.error is None and self.stack is not None:
            self.phase("stop")
            await self.stack.detach()
        else:
            await super().stop()

    def step_failed(self, what: str) -> None:
        self.timeline.append("controller_error", step=what)

    async def _close_the_records(self) -> None:
        """The journal's story closed, ``run.json`` and the report written, the
        dashboard stopped, the drill's state final."""
        error = self.error
        status = "error" if error else "completed"
        self.events.scenario_finished.fire(scenario="drill", status=status, detail=self.end_reason)
        self.events.run_finished.fire(status=status, exit_code=0 if error is None else 2)
        if self.journal is not None:
            self.journal.close()
        reports: dict[str, str] | None = None
        if self.plan is not None and self.clock is not None:
            write_run_json(
                self.files,
                self.secret,
                t0=self.clock.t0,
                end_at=self.end_at or time.time(),
                started_at=self.started_at,
            )
            reports = await self.attempt("the post-incident report", self._report())
        if self.server is not None:
            await self.attempt("stopping the dashboard", self.server.stop())
        self._save(
            status=FAILED if error else ENDED,
            ended_at=time.time(),
            error=error,
            reports=reports or {},
        )
        clear_current(self.files.run_dir.parent, self.files.run_dir)

    async def _report(self) -> dict[str, str]:
        from poslab.drill.postmortem import write_postmortem

        paths = await asyncio.to_thread(write_postmortem, self.files)
        return {k: str(v) for k, v in paths.items()}

    def _save(self, **changes: Any) -> None:
        self.state = self.state.model_copy(update=changes)
        self.files.write_state(self.state)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m poslab.drill.controller")
    parser.add_argument("run_dir", help="the drill's run directory (written by lab drill start)")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    files = DrillFiles(Path(args.run_dir))
    try:
        controller = Controller(files)
    except LabError as exc:
        log.error("cannot run the drill: %s", exc)
        return 2
    os.umask(0o022)
    return asyncio.run(controller.main())


if __name__ == "__main__":
    sys.exit(main())
