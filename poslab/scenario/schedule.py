"""The scenario clock and the fault schedule that runs on it.

Planned times are offsets from the clock's zero (``t0`` of
``scenario_started``). Every step waits for *its own* deadline on the
monotonic clock — ``t0_mono + offset`` — so lateness never accumulates from
one step to the next (drift budget: 50 ms), and wall-clock jumps (NTP) do not
move the schedule. Times written to the journal are epoch seconds derived
from the same monotonic reading, so drift computed from the journal is exact.

Steps start as their own tasks at their deadline: a slow effect (a service
restart takes a second) does not delay an unrelated fault. Steps on one
target are serialised by a per-target lock, taken in timeline order, so at
one offset a clear still happens before the inject that follows it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from poslab.scenario.spec.resolved import Fault
from poslab.scenario.spec.timeline import Op, Step


@dataclass(frozen=True)
class ScenarioClock:
    """Zero of one scenario: an epoch time and the monotonic reading taken with it."""

    t0: float
    t0_mono: float

    @classmethod
    def start(cls) -> ScenarioClock:
        return cls(t0=time.time(), t0_mono=time.monotonic())

    @classmethod
    def at(cls, t0: float) -> ScenarioClock:
        """A clock whose zero was the epoch time ``t0`` (e.g. the load's own start)."""
        now_mono, now = time.monotonic(), time.time()
        return cls(t0=t0, t0_mono=now_mono - (now - t0))

    def epoch(self, offset_s: float) -> float:
        """The epoch time of an offset (for plans written to the journal)."""
        return self.t0 + offset_s

    def now(self) -> float:
        """Now as epoch seconds, measured on the monotonic clock."""
        return self.t0 + (time.monotonic() - self.t0_mono)

    def elapsed(self) -> float:
        return time.monotonic() - self.t0_mono

    async def sleep_until(self, offset_s: float) -> None:
        """Sleep until ``offset_s`` after zero (returns at once if that has passed)."""
        while True:
            remaining = self.t0_mono + offset_s - time.monotonic()
            if remaining <= 0:
                return
            # asyncio's timer wakes up to a clock tick early: loop until really due.
            await asyncio.sleep(remaining)


StepAction = Callable[[Fault], Awaitable[None]]


class FaultSchedule:
    """Runs the inject/clear steps of a timeline on a clock.

    ``inject`` and ``clear`` are called with the step's fault. The first
    exception of any step stops the schedule and is raised by :meth:`run`
    (the caller's rollback then undoes what was applied).
    """

    def __init__(
        self,
        steps: Sequence[Step],
        clock: ScenarioClock,
        inject: StepAction,
        clear: StepAction,
    ) -> None:
        self.steps = [s for s in steps if s.op in (Op.INJECT, Op.CLEAR) and s.fault is not None]
        self.clock = clock
        self._inject = inject
        self._clear = clear
        self._locks: dict[str, asyncio.Lock] = {}

    def _lock(self, fault: Fault) -> asyncio.Lock:
        return self._locks.setdefault(f"{fault.kind}:{fault.target}", asyncio.Lock())

    async def run(self) -> None:
        """Every step at its time; returns when the last one is done. The first
        step that fails cancels the rest, and its exception is raised as is."""
        try:
            await self._run()
        except BaseExceptionGroup as group:
            raise _first(group) from None

    async def _run(self) -> None:
        async with asyncio.TaskGroup() as group:
            for step in self.steps:
                await self.clock.sleep_until(step.offset_s)
                fault = step.fault
                assert fault is not None
                lock = self._lock(fault)
                # Queue on the lock now, in timeline order (asyncio.Lock is FIFO).
                waiter = asyncio.ensure_future(lock.acquire())
                group.create_task(self._step(step, fault, lock, waiter))
                await asyncio.sleep(0)  # let the waiter join the lock's queue

    async def _step(
        self, step: Step, fault: Fault, lock: asyncio.Lock, waiter: asyncio.Future[Any]
    ) -> None:
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                lock.release()
            raise
        try:
            if step.op is Op.INJECT:
                await self._inject(fault)
            else:
                await self._clear(fault)
        finally:
            lock.release()


def _first(group: BaseExceptionGroup[BaseException]) -> BaseException:
    error: BaseException = group
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error
