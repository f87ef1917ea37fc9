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

The phases and the guaranteed end are :class:`~poslab.scenario.lifecycle.RunLifecycle`'s,
shared with the drills; :class:`ScenarioRun` adds what is a scenario's own: the
steady state, the SLO probes and abort conditions, the settlement drain.

A scenario the topology cannot serve (an essential need an external service
cannot meet: :attr:`ResolvedScenario.skip`) is not started: it is journaled
``skipped`` with the reason and scored could-not-run.

An external acquirer with a ``reset`` hook starts every scenario clean, as the
lab's own does. Without one, the terminals' flash (STAN, batch, pending
reversals) lives at run level, shared by every scenario: the host keeps its
books across scenarios, and terminals that started again at STAN 1 would be
the same requests again to it (each scenario's ledger is then the rows booked
in its window: docs/external.md says what that cannot see). A topology
``ledger:`` source replaces the acquirer's export after the drain
(:mod:`poslab.ledger_sources`).

A stack that will not start, or a ledger source that cannot be read, ends the
whole run (:attr:`RunOutcome.stack_failure` holds the error — the service's
with its log tail, or the column and the first bad row; the CLI exits 2). Cancelling the
task that runs :meth:`Runner.run` (the CLI does it on SIGINT/SIGTERM) is an
interruption: the current scenario rolls back and the run ends ``interrupted``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from poslab.errors import ConfigError, LabError, StackError
from poslab.fleet import Fleet, FleetConfig, ShapeSpec, read_load_started
from poslab.ledger_sources import Window, write_ledger_export
from poslab.scenario.extensions import ScenarioExtensions
from poslab.scenario.faults import FaultInjector, FaultNotInjected
from poslab.scenario.journal import RunEvents
from poslab.scenario.lifecycle import (
    POLL_S,
    STOP_GRACE_S,
    LoadLike,
    RunLifecycle,
    StackLike,
    uncancel,
)
from poslab.scenario.probes import FleetTail, LedgerOracle, SloProbe
from poslab.scenario.rundir import RunDirectory, RunSettings
from poslab.scenario.schedule import FaultSchedule, ScenarioClock
from poslab.scenario.spec.fleet_draws import resolve_fleet_draws
from poslab.scenario.spec.resolved import ResolvedScenario
from poslab.scenario.spec.timeline import build_timeline
from poslab.stack import Mode, ServiceName, StackAddresses, Topology

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
#: Mean pause between one terminal's customers. Scenarios compress an incident
#: into tens of seconds, so customers arrive compressed too: every terminal must
#: transact several times after a fault ends for recovery to be observable.
THINK_TIME_S = 2.0


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

    #: what the run must be able to judge before it may pass (suite + topology)
    require: tuple[str, ...] = ()
    #: a world file to use as it is (``lab run --world``; ``lab world import``)
    world: Path | None = None

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
        # scoring holds the run to ``require`` (integrity: no pass without a ledger)
        extra = {"require": list(self.plan.require)} if self.plan.require else None
        self.rundir.write_run_json(settings, self.plan.scenarios, started_at=started, extra=extra)
        self.events.run_started.fire(name=settings.name, seed=settings.seed)
        try:
            for scenario in self.plan.scenarios:
                if scenario.skip is not None:
                    self.events.scenario_finished.fire(
                        scenario=scenario.name, status="skipped", detail=scenario.skip
                    )
                    skipped = ScenarioOutcome(scenario.name, "skipped", scenario.skip)
                    outcome.scenarios.append(skipped)
                    continue
                result, failure = await ScenarioRun(self, scenario).execute()
                outcome.scenarios.append(result)
                if result.status == "interrupted":
                    outcome.interrupted = True
                    break
                if failure is not None:
                    outcome.stack_failure = failure
                    break
        except asyncio.CancelledError:  # between two scenarios: nothing to roll back
            uncancel()
            outcome.interrupted = True
        self.rundir.write_run_json(
            settings,
            self.plan.scenarios,
            started_at=started,
            finished_at=time.time(),
            interrupted=outcome.interrupted,
            extra=extra,
        )
        return outcome


class ScenarioRun(RunLifecycle[StackLike, LoadLike]):
    """One scenario from stack start to stack stop (``lab run``'s variant of the lifecycle)."""

    def __init__(self, runner: Runner, scenario: ResolvedScenario) -> None:
        super().__init__(
            scenario.name,
            runner.events,
            scenario_dir=runner.rundir.scenario_dir(scenario.name),
            ledger_dir=runner.rundir.ledger_dir(scenario.name),
        )
        self.runner = runner
        self.scenario = scenario
        self.stack_failure: str | None = None
        self.began_at = time.time()

    async def execute(self) -> tuple[ScenarioOutcome, str | None]:
        """Run it; returns the outcome and, if the stack would not start, why."""
        status, detail = await self.run()
        self.events.scenario_finished.fire(scenario=self.name, status=status, detail=detail)
        return ScenarioOutcome(self.name, status, detail), self.stack_failure

    def failed(self, exc: Exception) -> tuple[str, str]:
        if isinstance(exc, StackError):
            if not self.stack_started:
                self.stack_failure = f"scenario {self.name}: the stack did not start: {exc}"
            return "error", str(exc)
        if isinstance(exc, FaultNotInjected):  # a hook failed: rollback runs, could-not-run
            return "error", str(exc)
        return super().failed(exc)

    async def export(self) -> dict[str, str]:
        """The topology's ledger source when it has one, else the acquirer's export.

        A source that cannot be read (a missing mapped column, a wrong type)
        ends the run: exit 2 naming the column and the first bad row.
        """
        source = self.runner.plan.topology.ledger
        if source is None:
            return await super().export()
        self.phase("export")
        window = Window(self.name, self.began_at - 1.0, time.time() + 1.0)
        try:
            export = await asyncio.to_thread(
                write_ledger_export,
                source,
                self.ledger_dir,
                window,
                run_dir=self.runner.rundir.path,
            )
        except ConfigError as exc:
            self.stack_failure = f"scenario {self.name}: the ledger source: {exc}"
            raise
        return export.outcome()

    async def phases(self) -> tuple[str, str]:
        addresses = await self.stack_up(
            lambda: self.runner.stack_factory(
                self.scenario_dir, self.runner.rundir.world_json, self.scenario
            )
        )
        load = self.start_load(lambda: self.runner.load_factory(self.scenario_dir))
        config = self._fleet_config(load, addresses)
        timeout = self.scenario.duration_s + self.scenario.drain_s + LOAD_READY_TIMEOUT_S + 60
        load.start(config, timeout_s=timeout)
        tail = FleetTail(load.fleet_dir)
        started, first = await self._await_load_start(load, tail)
        shape = self.scenario.load.shape.value
        clock = self.start_clock(started, shape=shape, users=config.terminals)
        probe = SloProbe(self.scenario, clock.t0, JOURNAL_FLUSH_S + _FLUSH_LATE_S)
        probe.feed(first)
        draws = resolve_fleet_draws(self.scenario, self._world_terminals(), self._seed)
        topology = self.runner.plan.topology
        hooks = {s.name.value: s.hooks for s in topology.external() if s.hooks is not None}
        injector = self.make_injector(addresses, draws, hooks)
        # the scenario's own probes and plugin fault actions (poslab.plugins)
        self.extensions = ScenarioExtensions(
            self.scenario, self.events, clock, addresses, self.scenario_dir,
            faults_active=lambda: bool(injector.active),
        )  # fmt: skip
        injector.plugins = self.extensions.actions
        status, detail = await self._method(clock, probe, tail, injector)
        await self.rollback()
        if status == "aborted":  # the load stops now; the drain still runs its course
            await asyncio.to_thread(load.stop, STOP_GRACE_S)
        self.events.load_stopped.fire(scenario=self.name, shape=shape, users=config.terminals)
        await self._drain(clock, probe, tail)
        await self.extensions.end()
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
        topology = self.runner.plan.topology
        # The scenario's terminal settings, then the acquirer's dialect (the
        # topology's), under any the whole run sets.
        fields["terminal"] = {
            **s.terminal,
            **topology.terminal.fleet_settings(),
            **run_wide.pop("terminal", {}),
        }
        acquirer = topology.service(ServiceName.ACQUIRER)
        if acquirer.mode is Mode.EXTERNAL and (acquirer.hooks is None or not acquirer.hooks.reset):
            # One fleet of test terminals for the whole run (see the module docstring).
            fields["state_dir"] = str(self.runner.rundir.path / "terminals" / "state")
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

        self.phase("steady_state" if self.scenario.steady_state else "faults")
        schedule = self.schedule(build_timeline(self.scenario))
        tasks = [
            asyncio.create_task(self._monitor(clock, probe, tail, stop)),
            asyncio.create_task(self._steady_then_faults(clock, probe, schedule, stop)),
            asyncio.create_task(self.extensions.watch()),  # never raises: a failed probe
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
                await asyncio.sleep(POLL_S / 5)
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
            self.phase("faults")
        await schedule.run()
        self.phase("recovery")

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
            await asyncio.sleep(POLL_S)

    @property
    def _span(self) -> float:
        return self.scenario.duration_s + self.scenario.drain_s

    # -- the end of the load: drain, settlement ------------------------------------------

    async def _drain(self, clock: ScenarioClock, probe: SloProbe, tail: FleetTail) -> None:
        """The fleet finishes what is in flight (reversals included) until the drain ends."""
        end = max(clock.elapsed(), self.scenario.duration_s) + self.scenario.drain_s
        await self.wait_drain(clock.t0_mono + end, lambda: probe.feed(tail.read()))
        await self.stop_load()
        probe.feed(tail.read())
        await self.settle(clock, end)
        self.events.drain_finished.fire(
            scenario=self.name,
            pending_reversals=probe.money.pending_reversals,
            pending_saf=probe.money.pending_saf,
        )
