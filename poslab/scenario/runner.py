"""The scenario runner: each scenario on a fresh stack, its faults on time, rollback always.

    plan = RunPlan(settings, scenarios, topology, runs_dir)
    outcome = await Runner(plan, events).run()      # → outcome.run_dir, .status

For every scenario, in order (Chaos Toolkit's phases: steady state → method
→ rollbacks, with the journal as the one artifact):

1. a fresh stack in ``scenarios/<s>/`` (services' logs in its ``services/``)
   and a proxy reset;
2. the fleet (Locust, seeded) starts; the scenario clock's zero is the load
   shape's own zero, which the fleet writes to ``fleet/load-started.json``
   (:mod:`poslab.fleet.load_marker`) — for a load that writes no marker, the
   moment its first transaction reaches the fleet journal;
3. the steady state: ``good_seconds`` good seconds in a row (and every
   service healthy) by ``within`` — otherwise the scenario is aborted before
   any fault, since a fault on a sick stack proves nothing;
4. faults injected and cleared at their planned offsets
   (:mod:`poslab.scenario.schedule`), SLO probes every 250 ms
   (:mod:`poslab.scenario.probes`), abort conditions checked as seconds complete;
5. rollback (:meth:`FaultInjector.rollback`) — at the end of the load, on an
   abort, on any exception, on Ctrl-C and SIGTERM; then the drain (the
   fleet finishes in-flight transactions and reversals, and the acquirer's
   settlement what falls due by the drain's end:
   :mod:`poslab.scenario.settlement_drain`), the ledger export, and the stack
   is stopped.

A stack that will not start ends the whole run (:attr:`RunOutcome.stack_failure`
holds the service's error with its log tail; the CLI exits 2). Cancelling the
task that runs :meth:`Runner.run` (the CLI does it on SIGINT/SIGTERM) is an
interruption: the current scenario rolls back and the run ends ``interrupted``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from poslab.errors import LabError, StackError
from poslab.fleet import Fleet, FleetConfig, ShapeSpec, read_load_started
from poslab.proxy.client import ToxiproxyClient
from poslab.scenario.faults import FaultInjector, FleetControl, ProcessControl
from poslab.scenario.journal import RunEvents
from poslab.scenario.probes import FleetTail, LedgerOracle, SloProbe
from poslab.scenario.rundir import RunDirectory, RunSettings, export_ledger
from poslab.scenario.schedule import FaultSchedule, ScenarioClock
from poslab.scenario.settlement_drain import NotReported, SettlementDrain
from poslab.scenario.spec.fleet_draws import resolve_fleet_draws
from poslab.scenario.spec.resolved import ResolvedScenario
from poslab.scenario.spec.timeline import build_timeline
from poslab.stack.commands import ServiceFiles
from poslab.stack.health import StackHealth
from poslab.stack.state import StackAddresses
from poslab.stack.topology import Topology

log = logging.getLogger("poslab.scenario.runner")

_POLL_S = 0.25
#: Fleet journal flush interval the runner asks for: the live probes' lag.
JOURNAL_FLUSH_S = 0.5
#: How late a flush may come on a busy machine (gevent scheduling, disk).
_FLUSH_LATE_S = 0.15
#: Seconds the load may take from its process start to its first transaction.
LOAD_READY_TIMEOUT_S = 45.0
#: The shape runs this much longer than the judged duration. The fleet's
#: load-started marker makes the scenario clock the shape's own, so none is
#: needed for it; half a second covers a load without the marker, whose clock
#: starts at its first transaction, a moment after its own start.
SHAPE_SLACK_S = 0.5
_STOP_GRACE_S = 10.0
#: Mean pause between one terminal's customers. Scenarios compress an incident
#: into tens of seconds, so customers arrive compressed too: every terminal must
#: transact several times after a fault ends for recovery to be observable.
THINK_TIME_S = 2.0


class StackLike(Protocol):
    """What the runner needs of a stack (``poslab.stack.stack.Stack`` fits)."""

    ready_seconds: float | None

    async def up(self) -> Any: ...
    async def stop(self) -> None: ...
    async def kill(self, service: str, sig: int = ...) -> None: ...
    async def restart(self, service: str) -> None: ...
    async def health(self) -> StackHealth: ...

    @property
    def addresses(self) -> StackAddresses: ...

    @property
    def proxy_api(self) -> ToxiproxyClient: ...


class LoadLike(FleetControl, Protocol):
    """What the runner needs of the load (``poslab.fleet.Fleet`` fits)."""

    fleet_dir: Path

    def config_for(self, **fields: Any) -> FleetConfig: ...
    def start(self, config: FleetConfig, *, timeout_s: float) -> None: ...
    def wait(self, timeout_s: float | None = None) -> int | None: ...
    def stop(self, grace_s: float = ...) -> int: ...
    def log_tail(self, lines: int = ...) -> str: ...

    @property
    def running(self) -> bool: ...


#: (scenario dir, world file, the scenario) -> a stack not yet up; the scenario
#: carries the settings its services start with (``ResolvedScenario.acquirer``).
StackFactory = Callable[[Path, Path, ResolvedScenario], StackLike]
LoadFactory = Callable[[Path], LoadLike]  # scenario dir -> load


@dataclass(frozen=True)
class RunPlan:
    """A validated run: everything decided before a process starts."""

    settings: RunSettings
    scenarios: tuple[ResolvedScenario, ...]
    topology: Topology
    runs_dir: Path
    #: FleetConfig fields for every scenario (think time, timeouts, processes …).
    fleet: Mapping[str, Any] = field(default_factory=dict)

    @property
    def world_terminals(self) -> int:
        return max(s.load.terminals for s in self.scenarios)


@dataclass
class ScenarioOutcome:
    name: str
    status: str  # completed | aborted | error | interrupted
    detail: str = ""


@dataclass
class RunOutcome:
    run_dir: Path
    scenarios: list[ScenarioOutcome] = field(default_factory=list)
    interrupted: bool = False
    stack_failure: str | None = None


class LoadFailed(LabError):
    """The fleet did not start, or died before its first transaction."""


class Runner:
    """Runs a plan, firing :class:`RunEvents` that the journal and the console hear."""

    def __init__(
        self,
        plan: RunPlan,
        events: RunEvents,
        rundir: RunDirectory,
        *,
        stack_factory: StackFactory,
        load_factory: LoadFactory | None = None,
    ) -> None:
        self.plan = plan
        self.events = events
        self.rundir = rundir
        self.stack_factory = stack_factory
        self.load_factory = load_factory or (lambda d: Fleet(d))

    async def run(self) -> RunOutcome:
        settings = self.plan.settings
        outcome = RunOutcome(self.rundir.path)
        started = time.time()
        self.rundir.write_run_json(settings, self.plan.scenarios, started_at=started)
        self.events.run_started.fire(name=settings.name, seed=settings.seed)
        try:
            for scenario in self.plan.scenarios:
                result, failure = await ScenarioRun(self, scenario).execute()
                outcome.scenarios.append(result)
                if result.status == "interrupted":
                    outcome.interrupted = True
                    break
                if failure is not None:
                    outcome.stack_failure = failure
                    break
        except asyncio.CancelledError:  # between two scenarios: nothing to roll back
            _uncancel()
            outcome.interrupted = True
        self.rundir.write_run_json(
            settings,
            self.plan.scenarios,
            started_at=started,
            finished_at=time.time(),
            interrupted=outcome.interrupted,
        )
        return outcome


class ScenarioRun:
    """One scenario from stack start to stack stop."""

    def __init__(self, runner: Runner, scenario: ResolvedScenario) -> None:
        self.runner = runner
        self.scenario = scenario
        self.events = runner.events
        self.name = scenario.name
        self.dir = runner.rundir.scenario_dir(scenario.name)
        self.stack: StackLike | None = None
        self.stack_started = False
        self.load: LoadLike | None = None
        self.injector: FaultInjector | None = None
        self.rolled_back = False
        self.clock: ScenarioClock | None = None
        self.probe: SloProbe | None = None
        self.tail: FleetTail | None = None
        self.interrupted = False

    def _phase(self, phase: str, **extra: Any) -> None:
        self.events.phase.fire(scenario=self.name, phase=phase, **extra)

    async def execute(self) -> tuple[ScenarioOutcome, str | None]:
        """Run it; returns the outcome and, if the stack would not start, why."""
        status, detail, failure = "completed", "", None
        try:
            status, detail = await self._run()
        except asyncio.CancelledError:
            _uncancel()  # the cleanup below must be able to await
            self.interrupted = True
        except StackError as exc:
            status, detail = "error", str(exc)
            if not self.stack_started:
                failure = f"scenario {self.name}: the stack did not start: {exc}"
        except Exception as exc:
            log.exception("scenario %s failed", self.name)
            status, detail = "error", f"{type(exc).__name__}: {exc}"
        finally:
            await self._cleanup()
        if self.interrupted:
            status, detail = "interrupted", "interrupted (SIGINT/SIGTERM); rolled back"
        self.events.scenario_finished.fire(scenario=self.name, status=status, detail=detail)
        return ScenarioOutcome(self.name, status, detail), failure

    async def _run(self) -> tuple[str, str]:
        self._phase("stack")
        self.stack = self.runner.stack_factory(
            self.dir, self.runner.rundir.world_json, self.scenario
        )
        await self.stack.up()
        self.stack_started = True
        addresses = self.stack.addresses
        self.events.stack_up.fire(
            scenario=self.name, seconds=self.stack.ready_seconds, services=addresses.services
        )
        await self.stack.proxy_api.reset()  # a scenario starts on a clean proxy

        self._phase("load")
        self.load = self.runner.load_factory(self.dir)
        config = self._fleet_config(self.load, addresses)
        timeout = self.scenario.duration_s + self.scenario.drain_s + LOAD_READY_TIMEOUT_S + 60
        self.load.start(config, timeout_s=timeout)
        self.tail = FleetTail(self.load.fleet_dir)
        self.clock, first = await self._await_load_start(self.load, self.tail)
        clock = self.clock
        self.events.scenario_started.fire(t=clock.t0, scenario=self.name, t0=clock.t0)
        self.events.load_started.fire(
            scenario=self.name, shape=self.scenario.load.shape.value, users=config.terminals
        )
        self.probe = SloProbe(self.scenario, clock.t0, JOURNAL_FLUSH_S + _FLUSH_LATE_S)
        self.probe.feed(first)
        draws = resolve_fleet_draws(self.scenario, self._world_terminals(), self._seed)
        self.injector = FaultInjector(
            self.name,
            clock,
            self.events,
            proxy=self.stack.proxy_api,
            admin=addresses.admin,
            processes=_processes(self.stack),
            fleet=self.load,
            fleet_draws=draws,
        )
        status, detail = await self._method(clock, self.probe, self.tail, self.injector)
        await self._rollback()
        if status == "aborted":  # the load stops now; the drain still runs its course
            await asyncio.to_thread(self.load.stop, _STOP_GRACE_S)
        self.events.load_stopped.fire(
            scenario=self.name, shape=self.scenario.load.shape.value, users=config.terminals
        )
        await self._drain(clock, self.load, self.tail, self.probe)
        return status, detail

    @property
    def _seed(self) -> int:
        return self.runner.plan.settings.seed

    def _world_terminals(self) -> Sequence[Any]:
        from poslab.world import load as load_world

        world = load_world(self.runner.rundir.world_json)
        return world.terminals[: self.scenario.load.terminals]

    def _fleet_config(self, load: LoadLike, addresses: StackAddresses) -> FleetConfig:
        s, settings = self.scenario, self.runner.plan.settings
        backups = {p.backup for p in addresses.regions.values() if p.backup}
        fields: dict[str, Any] = {
            "world": str(self.runner.rundir.world_json),
            "regions": {r: p.primary for r, p in addresses.regions.items()},
            "backup": next(iter(sorted(backups)), None),
            "agents": dict(addresses.agents),
            "policy": (s.policy.value if s.policy is not None else settings.policy),
            "seed": settings.seed,
            "time_scale": settings.time_scale,
            "shape": ShapeSpec(
                s.load.shape.value,
                {**s.load.params, "duration_s": s.duration_s + SHAPE_SLACK_S},
            ),
            "terminals": s.load.terminals,
            "journal_flush_s": JOURNAL_FLUSH_S,
            "think_time_s": THINK_TIME_S,
        }
        run_wide = dict(self.runner.plan.fleet)
        # The scenario's terminal settings, under any the whole run sets.
        fields["terminal"] = {**s.terminal, **run_wide.pop("terminal", {})}
        fields.update(run_wide)
        return load.config_for(**fields)

    async def _await_load_start(
        self, load: LoadLike, tail: FleetTail
    ) -> tuple[ScenarioClock, list[dict[str, Any]]]:
        """The scenario clock, and the records journaled so far. The clock's
        zero is the load shape's own (its marker, written before any user
        spawns); a load without the marker starts it at its first transaction."""
        deadline = time.monotonic() + LOAD_READY_TIMEOUT_S
        while time.monotonic() < deadline:
            started = read_load_started(load.fleet_dir)
            if started is not None:
                return ScenarioClock.at(started), tail.read()
            records = tail.read()
            if records:
                return ScenarioClock.start(), records
            if not load.running:
                raise LoadFailed(
                    f"the fleet exited before its first transaction:\n{load.log_tail(20)}"
                )
            await asyncio.sleep(0.05)
        raise LoadFailed(
            f"no transaction from the fleet within {LOAD_READY_TIMEOUT_S:g} s:\n{load.log_tail(20)}"
        )

    # -- the method: steady state, faults, probes ------------------------------------

    async def _method(
        self, clock: ScenarioClock, probe: SloProbe, tail: FleetTail, injector: FaultInjector
    ) -> tuple[str, str]:
        """Until the load's end or an abort: ``("completed"|"aborted", detail)``."""
        abort = asyncio.Event()
        reasons: list[str] = []

        def stop(reason: str) -> None:
            if not abort.is_set():
                reasons.append(reason)
                self.events.abort.fire(t=clock.now(), scenario=self.name, reason=reason)
                abort.set()

        self._phase("steady_state" if self.scenario.steady_state else "faults")
        schedule = FaultSchedule(
            build_timeline(self.scenario), clock, injector.inject, injector.clear
        )
        tasks = [
            asyncio.create_task(self._monitor(clock, probe, tail, stop)),
            asyncio.create_task(self._steady_then_faults(clock, probe, schedule, stop)),
        ]
        ends = asyncio.create_task(clock.sleep_until(self.scenario.duration_s))
        aborted = asyncio.create_task(abort.wait())
        pending: set[asyncio.Task[Any]] = {ends, aborted, *tasks}
        try:
            while not (ends.done() or aborted.done()):
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                # A fault that could not be injected ends the scenario as an error.
                for task in done:
                    error = None if task.cancelled() else task.exception()
                    if error is not None:
                        raise error
        finally:
            for task in (*tasks, ends, aborted):
                task.cancel()
            await asyncio.gather(*tasks, ends, aborted, return_exceptions=True)
        if reasons:
            return "aborted", reasons[0]
        return "completed", ""

    async def _steady_then_faults(
        self,
        clock: ScenarioClock,
        probe: SloProbe,
        schedule: FaultSchedule,
        stop: Callable[[str], None],
    ) -> None:
        ss = self.scenario.steady_state
        if ss is not None:
            # Probed at once, so its answer is in before the first fault is due.
            health = asyncio.create_task(self._health()) if ss.health else None
            while probe.steady_at is None and clock.elapsed() < ss.within_s:
                await asyncio.sleep(_POLL_S / 5)
            ok = probe.steady_at is not None
            detail = (
                f"{ss.good_seconds} good seconds in a row by second {probe.steady_at}"
                if ok
                else f"no {ss.good_seconds} good seconds in a row within {ss.within_s:g} s"
            )
            if health is not None:
                healthy, unhealthy = await health
                ok = ok and healthy
                detail += "; every service healthy" if healthy else f"; unhealthy: {unhealthy}"
            self.events.probe.fire(
                t=clock.now(),
                scenario=self.name,
                name="steady_state",
                ok=ok,
                value=probe.good_run,
                detail=detail,
            )
            if not ok:
                stop(f"steady state not reached: {detail}")
                return
            self._phase("faults")
        await schedule.run()
        self._phase("recovery")

    async def _health(self) -> tuple[bool, str]:
        assert self.stack is not None
        health = await self.stack.health()
        return health.ok, ", ".join(health.unhealthy())

    async def _monitor(
        self, clock: ScenarioClock, probe: SloProbe, tail: FleetTail, stop: Callable[[str], None]
    ) -> None:
        last_good: bool | None = None
        assert self.stack is not None
        oracle = LedgerOracle(self.stack.addresses.admin.get("acquirer"))
        while True:
            probe.feed(tail.read())
            fresh = probe.judge(clock.now(), until_s=self.scenario.duration_s)
            for v in fresh:
                f = v.figures
                self.events.sample.fire(
                    scenario=self.name,
                    second=v.second,
                    tps=f.attempts,
                    ratio=f.success_ratio,
                    p99_ms=f.p99_ms,
                    good=v.good,
                    progress=min(1.0, clock.elapsed() / self._span),
                )
                if v.good is not None and v.good != last_good:
                    last_good = v.good
                    self.events.probe.fire(
                        t=clock.now(),
                        scenario=self.name,
                        name="slo",
                        ok=v.good,
                        value={"second": v.second, "ratio": f.success_ratio, "p99_ms": f.p99_ms},
                        detail=f"second {v.second}: {f.attempts} attempts",
                    )
            reason = probe.abort_reason(fresh)
            if probe.money.suspects and oracle.due(time.monotonic()):
                for breach in await oracle.confirm(probe.money, time.monotonic()):
                    self.events.probe.fire(
                        t=clock.now(), scenario=self.name, name="integrity", ok=False,
                        value=None, detail=breach,
                    )  # fmt: skip
                    if reason is None and probe.aborts_on_breach:
                        reason = f"integrity breach: {breach}"
            if reason is not None:
                stop(reason)
            await asyncio.sleep(_POLL_S)

    @property
    def _span(self) -> float:
        return self.scenario.duration_s + self.scenario.drain_s

    # -- the end: rollback, drain, export, stop -------------------------------------

    async def _rollback(self) -> None:
        if self.injector is None or self.rolled_back:
            return
        self.rolled_back = True
        self._phase("rollback")
        await self.injector.rollback()

    async def _drain(
        self, clock: ScenarioClock, load: LoadLike, tail: FleetTail, probe: SloProbe
    ) -> None:
        """The fleet finishes what is in flight (reversals included) until the drain ends."""
        self._phase("drain")
        end = max(clock.elapsed(), self.scenario.duration_s) + self.scenario.drain_s
        while load.running and clock.elapsed() < end:
            probe.feed(tail.read())
            await asyncio.sleep(_POLL_S)
        if load.running:
            await asyncio.to_thread(load.stop, _STOP_GRACE_S)
        probe.feed(tail.read())
        await self._settlement(clock, end)
        self.events.drain_finished.fire(
            scenario=self.name,
            pending_reversals=probe.money.pending_reversals,
            pending_saf=probe.money.pending_saf,
        )

    async def _settlement(self, clock: ScenarioClock, end_s: float) -> None:
        """Settlement finishes what falls due by the drain's end (before the export)."""
        assert self.stack is not None
        admin = self.stack.addresses.admin.get("acquirer")
        if admin is None:
            return  # an external acquirer without an admin API: nothing to ask
        self._phase("settlement")
        try:
            done, detail = await SettlementDrain(admin).wait(
                by=clock.epoch(end_s), deadline_mono=clock.t0_mono + end_s
            )
        except NotReported as exc:
            done, detail = False, str(exc)
        self.events.probe.fire(
            t=clock.now(), scenario=self.name, name="settlement", ok=done, value=None,
            detail=detail,
        )  # fmt: skip

    async def _cleanup(self) -> None:
        """Rollback, stop the load, export the ledger, stop the stack — each attempted,
        each to its end even if an interruption arrives in the middle of another."""
        await self._attempt("rollback", self._rollback())
        load = self.load
        if load is not None and load.running:
            await self._attempt("stopping the load", asyncio.to_thread(load.stop, _STOP_GRACE_S))
        if self.injector is not None:
            await self._attempt("closing the injector", self.injector.close())
        stack = self.stack
        if stack is None:
            return
        if self.stack_started:
            self._phase("export")
            ledger = export_ledger(
                self.runner.rundir.ledger_dir(self.name),
                stack.addresses.admin,
                acquirer_db=ServiceFiles.under(self.dir, "acquirer").db,
            )
            await self._attempt("the ledger export", ledger)
        self._phase("stop")
        await self._attempt("stopping the stack", stack.stop())

    async def _attempt(self, what: str, step: Awaitable[Any]) -> None:
        """Run one cleanup step to its end: an interruption arriving meanwhile is
        noted, and the step (shielded) still finishes."""
        task = asyncio.ensure_future(step)
        while True:
            try:
                await asyncio.shield(task)
                return
            except asyncio.CancelledError:
                if task.cancelled():
                    return
                _uncancel()
                self.interrupted = True
                log.warning("interrupted during %s of %s: finishing it first", what, self.name)
            except Exception:
                log.exception("%s of %s failed", what, self.name)
                return


def _uncancel() -> None:
    """Consume this task's cancellation: it was handled, later awaits must work."""
    task = asyncio.current_task()
    if task is not None:
        task.uncancel()


def _processes(stack: StackLike) -> ProcessControl:
    return stack
