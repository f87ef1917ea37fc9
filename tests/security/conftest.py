"""A stack the way a deployment off loopback runs it: issuer, acquirer and one
agent given the same admin token (``LAB_ADMIN_TOKEN``), the agent pointed at
the acquirer's admin API. Bound to 127.0.0.1 — a token that is given is
enforced on any address, so this is the off-loopback behaviour without
leaving the machine."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from poslab.world import World, generate, save
from tests.acquirer.services import Service, start_acquirer, start_issuer
from tests.agent.conftest import AgentFleet, AgentProcess

TOKEN = "lab-security-token-7d1c"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


@dataclasses.dataclass
class GuardedStack:
    world: World
    workdir: Path
    issuer: Service
    acquirer: Service
    agent: AgentProcess

    @property
    def acquirer_admin(self) -> str:
        return f"http://127.0.0.1:{self.acquirer.admin}"

    @property
    def issuer_admin(self) -> str:
        return f"http://127.0.0.1:{self.issuer.admin}"


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GuardedStack]:
    workdir = tmp_path_factory.mktemp("guarded")
    world = generate(18, 12)
    world_path = save(world, workdir / "world.json")
    previous = os.environ.get("LAB_ADMIN_TOKEN")
    os.environ["LAB_ADMIN_TOKEN"] = TOKEN  # the services inherit it, as under compose
    fleet = AgentFleet(workdir, world_path)
    issuer = acquirer = None
    try:
        issuer = start_issuer(world_path, workdir)
        acquirer = start_acquirer(
            world_path, workdir, issuer.main, {"day_seconds": 86400.0, "idle_timeout_s": 60.0}
        )
        agent = fleet.agent(
            "primary", acquirer=f"http://127.0.0.1:{acquirer.admin}", extra=("--seed", "3")
        ).start()
        yield GuardedStack(world, workdir, issuer, acquirer, agent)
    finally:
        if previous is None:
            os.environ.pop("LAB_ADMIN_TOKEN", None)
        else:
            os.environ["LAB_ADMIN_TOKEN"] = previous
        fleet.stop_all()
        for service in (acquirer, issuer):
            if service is not None and service.proc.poll() is None:
                service.stop()
