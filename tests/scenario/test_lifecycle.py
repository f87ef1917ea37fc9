"""The run lifecycle's guaranteed end, with stand-ins for the stack, load and injector."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from poslab.scenario.journal import RunEvents
from poslab.scenario.lifecycle import OrphanedRun, RunLifecycle

pytestmark = pytest.mark.anyio


class Steps:
    """The order in which the end's steps happened."""

    def __init__(self) -> None:
        self.done: list[str] = []


class StandInStack:
    def __init__(self, steps: Steps, stop_s: float = 0.0) -> None:
        self.steps = steps
        self.stop_s = stop_s

    async def stop(self) -> None:
        await asyncio.sleep(self.stop_s)
        self.steps.done.append("stack stopped")


class StandInLoad:
    def __init__(self, steps: Steps) -> None:
        self.steps = steps
        self.running = True

    def stop(self, grace_s: float = 10.0) -> int:
        self.running = False
        self.steps.done.append("load stopped")
        return 0


class StandInInjector:
    def __init__(self, steps: Steps) -> None:
        self.steps = steps

    async def rollback(self) -> None:
        self.steps.done.append("rolled back")

    async def close(self) -> None:
        self.steps.done.append("injector closed")


class Run(RunLifecycle[Any, Any]):
    """A run whose phases set everything up, then do what the test asks."""

    def __init__(self, tmp_path: Path, then: Any, *, stop_s: float = 0.0) -> None:
        super().__init__("s", RunEvents(), scenario_dir=tmp_path, ledger_dir=tmp_path / "ledger")
        self.steps = Steps()
        self.then = then
        self.stop_s = stop_s
        self.failures: list[str] = []
        self.export_fails = False

    async def phases(self) -> tuple[str, str]:
        self.stack = StandInStack(self.steps, self.stop_s)
        self.stack_started = True
        self.load = StandInLoad(self.steps)
        self.injector = StandInInjector(self.steps)  # type: ignore[assignment]
        await self.then()
        return "completed", ""

    async def export(self) -> dict[str, str]:
        if self.export_fails:
            raise RuntimeError("no ledger")
        self.steps.done.append("exported")
        return {}

    def step_failed(self, what: str) -> None:
        self.failures.append(what)


FULL_END = ["rolled back", "load stopped", "injector closed", "exported", "stack stopped"]


async def test_an_error_in_the_phases_ends_the_run_in_order(tmp_path: Path) -> None:
    async def boom() -> None:
        raise RuntimeError("boom")

    run = Run(tmp_path, boom)
    assert await run.run() == ("error", "RuntimeError: boom")
    assert run.steps.done == FULL_END


async def test_a_failed_step_of_the_end_does_not_skip_the_next(tmp_path: Path) -> None:
    async def fine() -> None:
        return None

    run = Run(tmp_path, fine)
    run.export_fails = True
    assert await run.run() == ("completed", "")
    assert run.steps.done == ["rolled back", "load stopped", "injector closed", "stack stopped"]
    assert run.failures == ["the ledger export"]


async def test_a_second_interruption_does_not_cut_the_end_short(tmp_path: Path) -> None:
    started = asyncio.Event()

    async def wait_forever() -> None:
        started.set()
        await asyncio.Event().wait()

    run = Run(tmp_path, wait_forever, stop_s=0.3)
    task = asyncio.create_task(run.run())
    await started.wait()
    task.cancel()  # Ctrl-C: the run ends
    await asyncio.sleep(0.1)  # ... and is stopping the stack when the second one comes
    task.cancel()
    status, detail = await task
    assert status == "interrupted" and "rolled back" in detail
    assert run.steps.done == FULL_END


async def test_an_orphaned_run_without_stack_or_load_has_nothing_to_do(tmp_path: Path) -> None:
    orphan = OrphanedRun("drill", None, scenario_dir=tmp_path, ledger_dir=tmp_path / "ledger")
    await orphan.run()
    assert orphan.done == []
