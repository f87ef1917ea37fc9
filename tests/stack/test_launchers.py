"""The launchers of the modes that need no process of the lab's: external and compose."""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import dataclass, field

import pytest

from poslab.errors import StackError
from poslab.stack.compose import ComposeProject, container_topology
from poslab.stack.compose_launcher import ComposeLauncher
from poslab.stack.external import ExternalLauncher
from poslab.stack.launcher import ServiceLauncher
from poslab.stack.probe import Prober
from poslab.stack.topology import Endpoint, Mode, Service, ServiceName

pytestmark = pytest.mark.anyio


def _closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _external(name: ServiceName, port: int, admin: bool) -> Service:
    address = Endpoint(host="127.0.0.1", port=port)
    return Service(name=name, mode=Mode.EXTERNAL, address=address, admin=address if admin else None)


async def test_external_service_is_probed_never_touched() -> None:
    prober = Prober()
    try:
        launcher: ServiceLauncher = ExternalLauncher(
            _external(ServiceName.ACQUIRER, _closed_port(), admin=True), prober
        )
        state = launcher.state()
        assert state.mode == "external" and state.health_url == f"{state.admin_url}/health"
        assert launcher.running() is None
        await launcher.start(time.monotonic())  # nothing to start
        with pytest.raises(StackError, match="is external: the lab cannot kill it"):
            await launcher.kill()
        with pytest.raises(StackError, match="is external"):
            await launcher.restart(time.monotonic())
        await launcher.stop(0.1)  # nothing to stop
        began = time.monotonic()
        with pytest.raises(StackError, match=r"external service acquirer at .* does not answer"):
            await launcher.ready(began + 0.3)
        assert time.monotonic() - began < 3
    finally:
        await prober.close()


def test_external_proxy_answers_on_its_api() -> None:
    launcher = ExternalLauncher(_external(ServiceName.PROXY, 8474, admin=False), Prober())
    assert launcher.state().health_url == "http://127.0.0.1:8474/version"
    assert launcher.state().admin_url is None


@dataclass
class RecordingProject(ComposeProject):
    """A compose project whose ``docker compose`` calls are recorded, not run."""

    calls: list[tuple[str, ...]] = field(default_factory=list)

    async def _compose(self, *args: str) -> str:
        self.calls.append(args)
        await asyncio.sleep(0.02)  # long enough for the other launchers to ask meanwhile
        return "line 1\nline 2\n"


async def test_compose_project_goes_up_and_down_once_for_all_its_services() -> None:
    project = RecordingProject()
    prober = Prober()
    try:
        launchers = [
            ComposeLauncher(service, project, prober, timeout=30)
            for service in container_topology().services
        ]
        await asyncio.gather(*(launcher.start(time.monotonic() + 5) for launcher in launchers))
        ups = [call for call in project.calls if call[0] == "up"]
        assert ups == [("up", "--detach", "--build", "--wait", "--wait-timeout", "30")]
        await asyncio.gather(*(launcher.stop(1.0) for launcher in launchers))
        downs = [call for call in project.calls if call[0] == "down"]
        assert len(downs) == 1
    finally:
        await prober.close()


async def test_compose_service_is_killed_and_restarted_by_its_container_name() -> None:
    project = RecordingProject()
    topology = container_topology()
    prober = Prober()  # never used: neither kill nor restart probes
    proxy = ComposeLauncher(topology.service(ServiceName.PROXY), project, prober, timeout=30)
    acquirer = ComposeLauncher(topology.service(ServiceName.ACQUIRER), project, prober, timeout=30)
    await proxy.kill()
    await acquirer.restart(time.monotonic() + 5)
    assert project.calls == [
        ("kill", "--signal", "SIGKILL", "toxiproxy"),
        ("restart", "--timeout", "5", "acquirer"),
    ]
    assert await acquirer.logs(1) == "line 2"
    assert acquirer.state().address == "127.0.0.1:9000" and acquirer.running() is None
