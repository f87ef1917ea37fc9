"""Fixtures for the agent tests: a small world, agent processes started the
way the stack starts them (port 0 + ready file), the acquirer stand-in, and
onboarding documents."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from poslab.world import World, generate, save
from tests.agent.acquirer_stand_in import AcquirerStandIn

REPO = Path(__file__).resolve().parents[2]
WORLD_SEED = 11


@pytest.fixture(scope="module")
def agent_world() -> World:
    return generate(WORLD_SEED, 16)


@pytest.fixture(scope="module")
def world_path(agent_world: World, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save(agent_world, tmp_path_factory.mktemp("world") / "world.json")


@dataclass
class AgentProcess:
    name: str
    directory: Path
    argv: list[str]
    proc: subprocess.Popen[bytes] | None = None
    port: int = 0
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.directory / f"agent-{self.name}.log"

    @property
    def ready_file(self) -> Path:
        return self.directory / f"agent-{self.name}.ready.json"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 20.0) -> AgentProcess:
        self.ready_file.unlink(missing_ok=True)
        argv = [*self.argv, "--port", str(self.port), "--ready-file", str(self.ready_file)]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=log, cwd=REPO)
        deadline = time.monotonic() + timeout_s
        while not self.ready_file.exists():  # the contract's readiness signal
            if self.proc.poll() is not None:
                raise RuntimeError(f"agent {self.name} exited: {self.log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"agent {self.name} not ready: {self.log.read_text()[-2000:]}")
            time.sleep(0.02)
        ready = json.loads(self.ready_file.read_text())
        assert ready["pid"] == self.proc.pid
        self.port = int(ready["ports"]["main"])
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            self.proc.wait(15)
        self.proc = None

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10)

    def status(self) -> dict[str, object]:
        with self.client() as c:
            found: dict[str, object] = c.get("/admin/status").json()
            return found


class AgentFleet:
    """Starts agent instances in one directory (peers find each other through
    their ready files, as under the stack)."""

    def __init__(self, directory: Path, world_path: Path) -> None:
        self.directory = directory
        self.world_path = world_path
        self.started: list[AgentProcess] = []

    def agent(
        self, name: str, *, acquirer: str | None = None, extra: tuple[str, ...] = ()
    ) -> AgentProcess:
        argv = [
            sys.executable,
            "-m",
            "poslab.mocks.agent",
            "--world",
            str(self.world_path),
            "--host",
            "127.0.0.1",
            "--db",
            str(self.directory / f"agent-{name}.sqlite"),
            "--name",
            name,
            "--takeover-after",
            "1.0",
            "--sync-interval",
            "0.2",
            *extra,
        ]
        if acquirer:
            argv += ["--acquirer-admin", acquirer]
        process = AgentProcess(name, self.directory, argv)
        self.started.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.started:
            process.stop()


@pytest.fixture
def agents(tmp_path: Path, world_path: Path) -> Iterator[AgentFleet]:
    fleet = AgentFleet(tmp_path, world_path)
    yield fleet
    fleet.stop_all()


@pytest.fixture(scope="module")
def shared_agent(
    tmp_path_factory: pytest.TempPathFactory, world_path: Path
) -> Iterator[AgentProcess]:
    """One lone primary for a whole test module (read-mostly tests)."""
    fleet = AgentFleet(tmp_path_factory.mktemp("agent"), world_path)
    yield fleet.agent("primary").start()
    fleet.stop_all()


@pytest.fixture
def acquirer_stand_in(agent_world: World) -> Iterator[AcquirerStandIn]:
    stand_in = AcquirerStandIn({t.tid for t in agent_world.terminals}).start()
    yield stand_in
    stand_in.stop()


def wait_until(predicate: object, timeout_s: float = 10.0, interval_s: float = 0.05) -> None:
    """Poll ``predicate`` (a callable) until it is truthy; fail after ``timeout_s``."""
    assert callable(predicate)
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        time.sleep(interval_s)
