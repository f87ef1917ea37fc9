"""The real payment world: poslab.proxy and the real mocks, from nothing to ready.

Skipped (saying which) while a mock cannot be run as ``python -m mocks.<name>``.
The ≤ 10 s bound is the issue's goal on this 2-core machine; the stack usually
needs a fraction of it (see bench/bench_stack.py), which is the tolerance that
keeps this from flaking while other work shares the cores.
"""

from __future__ import annotations

import importlib.util
import signal
from pathlib import Path

import psutil
import pytest

from poslab.stack import Stack, default_topology
from tests.support.processes import alive

pytestmark = pytest.mark.anyio

READY_BUDGET_S = 10.0


def _not_runnable() -> list[str]:
    return [
        module
        for module in ("poslab.mocks.issuer", "poslab.mocks.acquirer", "poslab.mocks.agent")
        if importlib.util.find_spec(f"{module}.__main__") is None
    ]


@pytest.fixture
def real_mocks() -> None:
    missing = _not_runnable()
    if missing:
        pytest.skip(f"not runnable yet (no __main__): {', '.join(missing)}")


async def test_real_default_stack_is_ready_within_budget(
    real_mocks: None, tmp_path: Path, world_file: Path
) -> None:
    stack = Stack(default_topology(), world_file, tmp_path / "run")
    try:
        await stack.up()
        assert stack.ready_seconds is not None
        assert stack.ready_seconds <= READY_BUDGET_S, f"{stack.ready_seconds:.2f} s to ready"
        health = await stack.health()
        assert health.ok, health.unhealthy()
        # The acquirer's SIGKILL durability scenario: back on the same port and database.
        before = stack.state().services["acquirer"]
        await stack.kill("acquirer", signal.SIGKILL)
        await stack.restart("acquirer")
        after = stack.state().services["acquirer"]
        assert after.ports == before.ports
        assert (await stack.health()).ok
        pids = [s.process.pid for s in stack.state().services.values() if s.process]
    finally:
        await stack.stop()
    assert not [p for p in pids if psutil.pid_exists(p) and alive(p)]
