"""The run lifecycle, written once: up → load → inject/clear → rollback → drain →
settle → export → stop, and an end that always happens.

Every run of the lab — a scenario of ``lab run``, a drill, and what is left of a
run whose owner died — goes through the same phases on the same three objects
(a stack, a load, a fault injector) and must end the same way whatever
happened: every fault undone, the load stopped, the ledger exported, the stack
stopped. :class:`RunLifecycle` owns those phases and that end; the variants are
subclasses, as Locust's ``Runner`` has its local, master and worker runners:

- :class:`poslab.scenario.runner.ScenarioRun` — one scenario of ``lab run``
  (steady state, SLO probes, the settlement drain);
- :class:`poslab.drill.controller.Controller` — a drill (hidden faults, the
  participants' API, a stack that may be kept);
- :class:`OrphanedRun` — a run whose owner is gone, found through the stack's
  state file and the load's process identity: ``lab drill end`` after a dead
  controller, and ``lab down``.

:meth:`RunLifecycle.run` runs a subclass's :meth:`~RunLifecycle.phases` and then
:meth:`~RunLifecycle.end` on every exit path: completion, an abort, an
exception, a cancellation (the CLIs cancel on SIGINT/SIGTERM). Every step of
the end goes through :meth:`~RunLifecycle.attempt`, which runs it to its end
even if a cancellation arrives meanwhile and lets a failed step not skip the
next ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

import aiohttp

from poslab.errors import LabError
from poslab.fleet import ControlWriter, FleetConfig
from poslab.proxy.client import ToxiproxyClient
from poslab.scenario.faults import FaultInjector, FleetControl
from poslab.scenario.journal import RunEvents
from poslab.scenario.rundir import export_ledger
from poslab.scenario.schedule import FaultSchedule, ScenarioClock
from poslab.scenario.settlement_drain import NotReported, SettlementDrain
from poslab.scenario.spec.timeline import Step
from poslab.stack import (
    ProcessIdentity,
    ServiceFiles,
    Stack,
    StackAddresses,
    StackHealth,
    stop_group,
)
from poslab.stack.hook_model import ServiceHooks

log = logging.getLogger("poslab.scenario.lifecycle")

POLL_S = 0.25
#: Seconds the load gets to finish after TERM before it is killed.
STOP_GRACE_S = 10.0
_ADMIN_RESET_TIMEOUT_S = 5.0


class StackLike(Protocol):
    """What a run needs of a stack (``poslab.stack.stack.Stack`` fits)."""

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
    """What a run needs of the load (``poslab.fleet.Fleet`` fits)."""

    fleet_dir: Path

    def config_for(self, **fields: Any) -> FleetConfig: ...
    def start(self, config: FleetConfig, *, timeout_s: float) -> None: ...
    def wait(self, timeout_s: float | None = None) -> int | None: ...
    def stop(self, grace_s: float = ...) -> int: ...
    def log_tail(self, lines: int = ...) -> str: ...

    @property
    def running(self) -> bool: ...


S = TypeVar("S", bound=StackLike)
L = TypeVar("L", bound=LoadLike)
T = TypeVar("T")


class RunLifecycle(ABC, Generic[S, L]):
    """One run on one stack with one load: its phases and its guaranteed end.

    Subclasses write :meth:`phases` from the phase methods here and return the
    run's ``(status, detail)``; they refine a phase by overriding it (the drill
    clears its fleet mitigations in :meth:`rollback`, an orphaned run stops its
    load by process identity in :meth:`end_load`).
    """

    def __init__(
        self, name: str, events: RunEvents, *, scenario_dir: Path, ledger_dir: Path
    ) -> None:
        self.name = name
        self.events = events
        self.scenario_dir = scenario_dir
        self.ledger_dir = ledger_dir
        self.stack: S | None = None
        self.stack_started = False
        self.load: L | None = None
        self.clock: ScenarioClock | None = None
        self.injector: FaultInjector | None = None
        self.rolled_back = False
        self.interrupted = False

    # -- the whole run -----------------------------------------------------------------

    async def run(self) -> tuple[str, str]:
        """:meth:`phases`, then :meth:`end` on every exit path; ``(status, detail)``
        with status ``completed``, ``aborted``, ``error`` or ``interrupted``."""
        status, detail = "completed", ""
        try:
            status, detail = await self.phases()
        except asyncio.CancelledError:
            uncancel()  # the end below must be able to await
            self.interrupted = True
        except Exception as exc:
            status, detail = self.failed(exc)
        finally:
            await self.end()
        if self.interrupted:
            status, detail = "interrupted", "interrupted (SIGINT/SIGTERM); rolled back"
        return status, detail

    @abstractmethod
    async def phases(self) -> tuple[str, str]:
        """The run from the stack's start to the end of its drain (each variant's own plan)."""

    def failed(self, exc: Exception) -> tuple[str, str]:
        """What an exception out of :meth:`phases` makes of the run (called while handling it)."""
        log.exception("run %s failed", self.name)
        return "error", f"{type(exc).__name__}: {exc}"

    # -- up ------------------------------------------------------------------------------

    def phase(self, phase: str, **extra: Any) -> None:
        """Announce a phase to live listeners (the console; the journal does not keep it)."""
        self.events.phase.fire(scenario=self.name, phase=phase, **extra)

    async def stack_up(self, make: Callable[[], S]) -> StackAddresses:
        """Start a fresh stack and announce it; a run starts on a clean proxy."""
        self.phase("stack")
        self.stack = stack = make()
        await stack.up()
        self.stack_started = True
        addresses = stack.addresses
        self.events.stack_up.fire(
            scenario=self.name, seconds=stack.ready_seconds, services=addresses.services
        )
        await stack.proxy_api.reset()
        return addresses

    def start_load(self, start: Callable[[], L]) -> L:
        """Start the load (``start`` makes and starts it); the clock waits for its first sign."""
        self.phase("load")
        self.load = load = start()
        return load

    def start_clock(self, clock: ScenarioClock, *, shape: str, users: int | None) -> ScenarioClock:
        """The run's clock starts: from here faults are due at their offsets."""
        self.clock = clock
        self.events.scenario_started.fire(t=clock.t0, scenario=self.name, t0=clock.t0)
        self.events.load_started.fire(scenario=self.name, shape=shape, users=users)
        return clock

    # -- inject / clear ------------------------------------------------------------------

    def make_injector(
        self,
        addresses: StackAddresses,
        fleet_draws: Mapping[str, tuple[str, ...]],
        hooks: Mapping[str, ServiceHooks] | None = None,
    ) -> FaultInjector:
        """The injector of this run's faults: on its stack's proxy, admin APIs,
        processes (``hooks``: the external services' own), and on its load."""
        assert self.stack is not None and self.clock is not None, "the injector needs a clock"
        self.injector = FaultInjector(
            self.name,
            self.clock,
            self.events,
            proxy=self.stack.proxy_api,
            admin=addresses.admin,
            processes=self.stack,
            fleet=self.load,
            fleet_draws=fleet_draws,
            hooks=hooks,
            run_dir=self.scenario_dir,
        )
        return self.injector

    def schedule(self, steps: Sequence[Step]) -> FaultSchedule:
        """The faults injected and cleared at their planned offsets."""
        assert self.injector is not None and self.clock is not None
        return FaultSchedule(steps, self.clock, self.injector.inject, self.injector.clear)

    # -- rollback, drain, settle ---------------------------------------------------------

    async def rollback(self) -> None:
        """Undo every fault still active and verify the proxy clean; once."""
        if self.injector is None or self.rolled_back:
            return
        self.rolled_back = True
        self.phase("rollback")
        await self.injector.rollback()

    async def wait_drain(
        self, until_mono: float, while_waiting: Callable[[], object] | None = None
    ) -> None:
        """The load runs on until ``until_mono`` (or its own end) so that what is in
        flight — reversals, store-and-forward — lands."""
        self.phase("drain")
        load = self.load
        while load is not None and load.running and time.monotonic() < until_mono:
            if while_waiting is not None:
                while_waiting()
            await asyncio.sleep(POLL_S)

    async def stop_load(self) -> None:
        """Stop the load (TERM, then KILL after its grace) if it still runs."""
        load = self.load
        if load is not None and load.running:
            await asyncio.to_thread(load.stop, STOP_GRACE_S)

    async def settle(self, clock: ScenarioClock, end_s: float) -> None:
        """The acquirer's settlement finishes what falls due by ``end_s`` (before the export)."""
        assert self.stack is not None
        admin = self.stack.addresses.admin.get("acquirer")
        if admin is None:
            return  # an external acquirer without an admin API: nothing to ask
        self.phase("settlement")
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

    # -- the end: always -----------------------------------------------------------------

    async def end(self) -> None:
        """Rollback, the load's end, export, stop — each attempted, each to its end."""
        await self.attempt("rollback", self.rollback())
        await self.attempt("stopping the load", self.end_load())
        await self.attempt("closing the injector", self.close_injector())
        if self.stack is None:
            return
        if self.stack_started:
            await self.attempt("the ledger export", self.export())
        await self.attempt("stopping the stack", self.stop())

    async def end_load(self) -> None:
        """What becomes of the load at the end: it stops."""
        await self.stop_load()

    async def close_injector(self) -> None:
        if self.injector is not None:
            await self.injector.close()

    async def export(self) -> dict[str, str]:
        """The ledger, from the acquirer's and issuer's admin APIs (or the acquirer's
        database when its API is gone); per file ``ok`` or why it is missing."""
        self.phase("export")
        assert self.stack is not None
        db = ServiceFiles.under(self.scenario_dir, "acquirer").db
        return await export_ledger(self.ledger_dir, self.stack.addresses.admin, acquirer_db=db)

    async def stop(self) -> None:
        """Stop the stack: every service it started, reaped."""
        self.phase("stop")
        if self.stack is not None:
            await self.stack.stop()

    async def attempt(self, what: str, step: Awaitable[T]) -> T | None:
        """Run one step of the end to its end: a cancellation arriving meanwhile is
        noted (:attr:`interrupted`) and the step, shielded, still finishes; a step
        that fails is logged (and :meth:`step_failed` told), and None returned."""
        task = asyncio.ensure_future(step)
        while True:
            try:
                return await asyncio.shield(task)
            except asyncio.CancelledError:
                if task.cancelled():
                    return None
                uncancel()
                self.interrupted = True
                log.warning("interrupted during %s of %s: finishing it first", what, self.name)
            except Exception:
                log.exception("%s of %s failed", what, self.name)
                self.step_failed(what)
                return None

    def step_failed(self, what: str) -> None:
        """Hear of a failed step of the end; the log already has its traceback."""


class OrphanedRun(RunLifecycle[Stack, Any]):
    """What is left of a run whose owner died: its end, done from the files it left.

    The stack is attached from its state file, the load is known by its process
    identity; there is no injector, so the rollback resets the proxy and every
    admin API. Each step says what it did in :attr:`done`, one line each.
    """

    def __init__(
        self,
        name: str,
        stack: Stack | None,
        *,
        scenario_dir: Path,
        ledger_dir: Path,
        load: ProcessIdentity | None = None,
        control_file: Path | None = None,
        keep: bool = False,
    ) -> None:
        super().__init__(name, RunEvents(), scenario_dir=scenario_dir, ledger_dir=ledger_dir)
        self.stack = stack
        self.stack_started = stack is not None
        self.load_identity = load
        self.control_file = control_file
        self.keep = keep
        self.done: list[str] = []

    @classmethod
    def of_stack(cls, stack: Stack) -> OrphanedRun:
        """Only a stack left behind (``lab down``): nothing to roll back or export."""
        return cls("stack", stack, scenario_dir=stack.run_dir, ledger_dir=stack.run_dir / "ledger")

    async def phases(self) -> tuple[str, str]:
        """Its owner ran them: only the end is left."""
        return "completed", f"ended without its owner ({self.name})"

    async def rollback(self) -> None:
        """No hidden fault survives: the proxy reset, every admin API reset."""
        if self.stack is None or self.rolled_back:
            return
        self.rolled_back = True
        self.phase("rollback")
        try:
            await self.stack.proxy_api.reset()
            self.done.append("proxy reset: every link enabled, every toxic removed")
        except LabError as exc:
            self.done.append(f"proxy reset failed: {exc}")
        for service, base in self.stack.addresses.admin.items():
            status = await _post(f"{base}/admin/reset")
            self.done.append(
                f"{service}: faults reset" if status == 200 else f"{service}: reset {status}"
            )

    async def end_load(self) -> None:
        """Fleet mitigations cleared, then the load's process group stopped."""
        identity = self.load_identity
        if identity is None or not identity.is_running():
            return
        if self.control_file is not None:
            with contextlib.suppress(LabError):
                ControlWriter(self.control_file).clear()
        await stop_group(identity, STOP_GRACE_S)
        self.done.append("stopped the load")

    async def export(self) -> dict[str, str]:
        outcome = await super().export()
        self.done.append("ledger export: " + ", ".join(f"{k} {v}" for k, v in outcome.items()))
        return outcome

    async def stop(self) -> None:
        """Stop the stack, or with ``keep`` let go of it (``lab down`` stops it later)."""
        if self.stack is None:
            return
        if self.keep:
            self.phase("stop")
            await self.stack.close()
            self.done.append("stack left running (lab down stops it)")
        else:
            await super().stop()
            self.done.append("stack stopped")

    def step_failed(self, what: str) -> None:
        self.done.append(f"{what} failed (see the log)")


async def _post(url: str) -> int:
    """POST ``{}`` to ``url``; the status, or 0 when nothing answered."""
    timeout = aiohttp.ClientTimeout(total=_ADMIN_RESET_TIMEOUT_S)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.post(url, json={}) as response,
        ):
            return response.status
    except (aiohttp.ClientError, TimeoutError, OSError):
        return 0


def uncancel() -> None:
    """Consume this task's cancellation: it was handled, later awaits must work."""
    task = asyncio.current_task()
    if task is not None:
        task.uncancel()
