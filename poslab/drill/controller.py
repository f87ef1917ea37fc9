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
3. publishes one metrics sample per second and serves the dashboard, the
   facilitator's view and their API (:mod:`poslab.drill.dashboard.server`) through
   the drill room (:mod:`poslab.drill.room`: who may do what, under which name);
   it is the room's :class:`~poslab.drill.room.Stage`: checks and mitigations on
   the live stack, a further fault injected from the catalogue, the drill clock
   paused (:mod:`poslab.drill.clock`);
4. ends on ``lab drill end``, at the maximum duration, when the load dies,
   or on SIGTERM/SIGINT — and then **always** rolls back: every fault and
   every fleet mitigation cleared, the proxy verified clean, the load
   drained and stopped, the ledger exported, the stack stopped (unless
   kept), ``run.json`` written and the post-incident report produced.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import os
import secrets
import signal
import socket
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil

from poslab.drill.checks import run_check
from poslab.drill.clock import PausableClock
from poslab.drill.dashboard.server import DashboardServer, tls_context
from poslab.drill.errors import DrillError
from poslab.drill.metrics import FleetSeconds, MetricsBoard, StackProbe, sample_every_second
from poslab.drill.mitigations import DrillStack
from poslab.drill.plan import DrillPlan, PlannedFault, fault_steps, plan_of, reveal_view
from poslab.drill.playbook import DRILLABLE
from poslab.drill.room import DrillRoom
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
from poslab.errors import ConfigError, LabError
from poslab.fleet import Fleet
from poslab.scenario import (
    FaultSchedule,
    RunEvents,
    RunJournal,
    RunLifecycle,
    resolve_fleet_draws,
)
from poslab.stack import Stack

if TYPE_CHECKING:  # imported when the drill starts
    from poslab.drill.runtime import DrillRuntime

log = logging.getLogger("poslab.drill.controller")

#: An injected fault must leave this much of the drill to work on it.
_INJECT_MARGIN_S = 10.0
_WILDCARDS = frozenset({"0.0.0.0", "::", ""})


class Controller(RunLifecycle[Stack, Fleet]):
    """The drill's variant of the run lifecycle, and the stage of the drill room."""

    def __init__(self, files: DrillFiles) -> None:
        super().__init__(
            "drill", RunEvents(), scenario_dir=files.scenario_dir, ledger_dir=files.ledger_dir
        )
        self.files = files
        self.secret: FacilitatorFile = files.read_facilitator()
        self.state = files.read_state()
        self.timeline = Timeline(files.timeline)
        self.token = self.state.token or secrets.token_urlsafe(24)
        if not self.secret.facilitator_token:  # a drill prepared before team drills
            self.secret = self.secret.model_copy(
                update={"facilitator_token": secrets.token_urlsafe(24)}
            )
            files.write_facilitator(self.secret)
        self.board = MetricsBoard(files.metrics)
        self.room = DrillRoom(
            self,
            self.timeline,
            self.board,
            token=self.token,
            facilitator_token=self.secret.facilitator_token,
        )
        self.fault_clock: PausableClock | None = None
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
        self._tasks: list[asyncio.Task[Any]] = []
        self._starting: asyncio.Task[None] | None = None
        self._scheduled: set[str] = set()

    # -- the drill room's stage (poslab.drill.room.Stage) -----------------------------------

    @property
    def status(self) -> str:
        if self.state.status == RUNNING and self._end.is_set():
            return ENDING  # asked to end; the rollback is on its way
        return self.state.status

    @property
    def t0(self) -> float | None:
        return None if self.clock is None else self.clock.t0

    @property
    def max_end_at(self) -> float | None:
        return self.state.max_end_at

    @property
    def info(self) -> dict[str, Any]:
        return {
            "regions": self.state.regions,
            "terminals": self.state.terminals,
            "policy": self.state.policy,
        }

    def clock_s(self) -> float | None:
        return None if self.fault_clock is None else round(self.fault_clock.offset_now(), 1)

    def mitigation_stack(self) -> DrillStack:
        if self.runtime is None:
            raise DrillError("the drill is not running yet")
        return self.runtime

    async def run_check(self, area: str) -> dict[str, Any]:
        assert self.runtime is not None  # the room checks that the drill runs
        return (await run_check(area, self.runtime)).to_dict()

    def plan_view(self) -> dict[str, Any]:
        """The hidden plan and when each fault really went in (``lab drill reveal``)."""
        assert self.plan is not None
        view = reveal_view(self.files, self.secret.seed, self.plan)
        view["injectable"] = [n for n in DRILLABLE if n not in self.plan.scenario_names]
        return view

    async def inject(self, scenario: str) -> list[str]:
        """A further fault from the catalogue, in from now on the drill clock: written to
        the facilitator file first (the report rebuilds the plan from it), then run on
        its own schedule, which the pause holds like the first."""
        clock, injector, runtime = self.fault_clock, self.injector, self.runtime
        assert clock is not None and injector is not None and runtime is not None
        at_s = round(clock.offset_now(), 1)
        if at_s + _INJECT_MARGIN_S > self.secret.max_s:
            raise DrillError("too close to the drill's end to inject anything")
        secret = self.secret.model_copy(
            update={"injected": [*self.secret.injected, (scenario, at_s)]}
        )
        plan = plan_of(secret)  # refuses a scenario already in the drill
        new = [
            p for p in plan.faults if p.scenario == scenario and p.fault.id not in self._scheduled
        ]
        busy = {a.fault.target for a in injector.active.values()}
        clash = sorted(
            {p.fault.target for p in new if p.fault.target in busy and p.fault.target != "fleet"}
        )
        if clash:
            raise ConfigError(f"{scenario}: {', '.join(clash)} already has a fault in place")
        self.secret, self.plan = secret, plan
        self.files.write_facilitator(secret)
        draws = resolve_fleet_draws(
            plan.drill_scenario, runtime.world.terminals[: secret.terminals], secret.seed
        )
        injector.fleet_draws.update(
            {k: v for k, v in draws.items() if k not in injector.fleet_draws}
        )
        self._schedule_faults(new)
        return [p.fault.id for p in new]

    def set_paused(self, paused: bool) -> float | None:
        """Stop or restart the drill clock; on a restart the drill's maximum end moves
        out by the pause (the pause's length is returned)."""
        clock = self.fault_clock
        if clock is None:
            raise DrillError("the drill clock has not started")
        if paused:
            clock.pause()
            return None
        length = clock.resume()
        if length is not None and self.state.max_end_at is not None:
            self._save(max_end_at=self.state.max_end_at + length)
        return length

    def finish(self, reason: str, keep: bool) -> None:
        """End the drill (its rollback and report follow), leaving the stack up if ``keep``."""
        self.keep = keep
        self._request_end(reason)

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
        # The lifecycle's clock is the pausable drill clock (the injector's journal
        # times stay real); the sampler measures the world on its plain twin.
        self.fault_clock = clock = PausableClock.start()
        self.start_clock(clock, shape="steady", users=s.terminals)
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
                sample_every_second(clock.plain(), seconds, probe, self.board, self._sample_phase),
                name="sampler",
            ),
        ]
        self._schedule_faults(plan.faults)
        tls = (
            tls_context(Path(s.tls_cert), Path(s.tls_key) if s.tls_key else None)
            if s.tls_cert
            else None
        )
        self.server = DashboardServer(self.room, host=s.host, port=s.port, tls=tls)
        url = await self.server.start()
        local, public = _urls(url, s.host)
        self._save(
            status=RUNNING,
            api_url=local,
            public_url=public,
            tls_cert=s.tls_cert,
            t0=clock.t0,
            max_end_at=self.started_at + s.max_s,
        )
        self.timeline.append("drill_started", t=clock.t0, dashboard=public or local)
        self.room.changed()

    def _schedule_faults(self, planned: tuple[PlannedFault, ...] | list[PlannedFault]) -> None:
        """Run ``planned``'s steps on the drill clock, as one more task named ``faults``."""
        assert self.plan is not None and self.injector is not None and self.fault_clock is not None
        subset = tuple(planned)
        self._scheduled |= {p.fault.id for p in subset}
        steps = fault_steps(replace(self.plan, faults=subset))
        schedule = FaultSchedule(steps, self.fault_clock, self.injector.inject, self.injector.clear)
        self._tasks.append(asyncio.create_task(schedule.run(), name="faults"))

    async def _run(self) -> None:
        """Until the end is asked for, the maximum length passes, or a task fails."""
        if self._end.is_set():
            return  # ended while starting
        assert self.state.max_end_at is not None and self.load is not None
        ended = asyncio.create_task(self._end.wait())
        seen: set[asyncio.Task[Any]] = set()
        try:
            while not self._end.is_set():
                # A fault schedule added by an injection joins the watched tasks.
                watched = {ended, *(set(self._tasks) - seen)}
                done, _ = await asyncio.wait(
                    watched, timeout=1.0, return_when=asyncio.FIRST_COMPLETED
                )
                for task in done & set(self._tasks):
                    seen.add(task)
                    error = None if task.cancelled() else task.exception()
                    if error is not None:
                        raise error
                clock = self.fault_clock
                paused = clock is not None and clock.paused
                # The maximum end moves out with each pause (set_paused); a pause
                # cannot outlast the load, which runs for twice the drill.
                if not paused and time.time() >= (self.state.max_end_at or 0):
                    self._request_end("the drill reached its maximum length")
                if (
                    clock is not None
                    and clock.pause_state.paused_s(time.monotonic()) > self.secret.max_s
                ):
                    self._request_end("paused for longer than the drill lasts")
                if not self.load.running:  # its shape ended, or it died
                    self._request_end("the background load stopped")
        finally:
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
        self.room.changed()  # every page sees a new status at once


def _urls(url: str, host: str) -> tuple[str, str | None]:
    """Where this machine's CLI reaches the dashboard, and where other machines do
    (None on loopback: nobody else can). A wildcard bind is reached locally on
    127.0.0.1 and from elsewhere by this machine's name."""
    if host in _WILDCARDS:
        scheme, _, rest = url.partition("://")
        port = rest.rsplit(":", 1)[1]
        return f"{scheme}://127.0.0.1:{port}", f"{scheme}://{socket.getfqdn()}:{port}"
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    return url, None if loopback else url


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
