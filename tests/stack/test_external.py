"""External mode: services the lab does not start, probed and wired all the same."""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from poslab.errors import ConfigError, StackError
from poslab.stack import (
    Mode,
    ServiceName,
    Stack,
    default_topology,
    topology_from_mapping,
    toxiproxy_endpoint,
    with_external_proxy,
)
from poslab.stack.probe import Prober
from poslab.stack.process import ServiceProcess
from poslab.stack.service import ServiceSpec

pytestmark = pytest.mark.anyio

Programs = dict[str, list[str]]
FAKE = Path(__file__).with_name("fake_service.py")


@pytest.fixture
async def outside_host(tmp_path: Path) -> AsyncIterator[ServiceProcess]:
    """A service somebody else runs (their own acquirer or issuer)."""
    spec = ServiceSpec(
        name="theirs",
        argv=(sys.executable, str(FAKE), "--name", "theirs"),
        port_flags={"main": "--port", "admin": "--admin-port"},
        log_file=tmp_path / "theirs.log",
        ready_file=tmp_path / "theirs.ready.json",
        health_port="admin",
    )
    proc = await _running(spec)
    yield proc
    await proc.stop()


async def _running(spec: ServiceSpec) -> ServiceProcess:
    """A service started outside any stack, once it is ready."""
    proc = ServiceProcess(spec)
    proc.spawn()
    prober = Prober()
    try:
        await proc.wait_ready(prober, time.monotonic() + 10)
    finally:
        await prober.close()
    return proc


def _address(proc: ServiceProcess, port: str = "main") -> str:
    return f"127.0.0.1:{proc.ports[port]}"


async def test_external_issuer_without_admin_is_wired_and_probed_by_tcp(
    tmp_path: Path, world_file: Path, fake_programs: Programs, outside_host: ServiceProcess
) -> None:
    issuer = _address(outside_host)
    topology = topology_from_mapping(
        {"services": {"issuer": {"mode": "external", "address": issuer}}}
    )
    stack = await Stack(topology, world_file, tmp_path / "run", programs=fake_programs).up()
    try:
        assert not (tmp_path / "run" / "services" / "issuer.log").exists(), "not started"
        proxies = await stack.proxy_api.proxies()
        assert proxies["issuer"].upstream == issuer
        health = await stack.health()
        assert health.ok, health.unhealthy()
        assert health.services["issuer"].mode == "external"
        assert health.services["issuer"].probe.detail.startswith("connect")
        with pytest.raises(StackError, match="external"):
            await stack.kill("issuer")
        await outside_host.stop()
        health = await stack.health()
        assert not health.services["issuer"].ok
        assert "proxy:issuer" in health.unhealthy(), "the path to a dead issuer is broken"
    finally:
        await stack.stop()


async def test_external_acquirer_with_admin_feeds_the_agents(
    tmp_path: Path, world_file: Path, fake_programs: Programs, outside_host: ServiceProcess
) -> None:
    admin = _address(outside_host, "admin")
    topology = topology_from_mapping(
        {
            "services": {
                "acquirer": {"mode": "external", "address": _address(outside_host), "admin": admin}
            }
        }
    )
    stack = await Stack(topology, world_file, tmp_path / "run", programs=fake_programs).up()
    try:
        assert stack.addresses.admin["acquirer"] == f"http://{admin}"
        agent_log = (tmp_path / "run" / "services" / "agent-primary.log").read_text()
        assert f"--acquirer-admin http://{admin}" in agent_log
        health = await stack.health()
        assert health.ok, health.unhealthy()
        assert health.services["acquirer"].probe.detail.endswith("/health → 200")
        assert (await stack.proxy_api.proxies())["region-south"].upstream == _address(outside_host)
    finally:
        await stack.stop()
    assert outside_host.running, "stopping the stack leaves an external service alone"


async def test_external_acquirer_without_admin_still_gets_its_agents(
    tmp_path: Path, world_file: Path, fake_programs: Programs, outside_host: ServiceProcess
) -> None:
    """A host offering only its TCP address: the agents start without the acquirer's
    admin API (they serve the world's terminals; issue 13), nothing is refused."""
    topology = topology_from_mapping(
        {"services": {"acquirer": {"mode": "external", "address": _address(outside_host)}}}
    )
    stack = await Stack(topology, world_file, tmp_path / "run", programs=fake_programs).up()
    try:
        agent_log = (tmp_path / "run" / "services" / "agent-primary.log").read_text()
        assert "--acquirer-admin" not in agent_log
        assert "acquirer" not in stack.addresses.admin
    finally:
        await stack.stop()


async def test_unreachable_external_service_fails_the_start(
    tmp_path: Path, world_file: Path, fake_programs: Programs
) -> None:
    topology = topology_from_mapping(
        {"services": {"issuer": {"mode": "external", "address": "127.0.0.1:9"}}}
    )
    started = time.monotonic()
    with pytest.raises(StackError, match=r"external service issuer at 127\.0\.0\.1:9"):
        await Stack(
            topology, world_file, tmp_path / "run", programs=fake_programs, ready_timeout=1.5
        ).up()
    assert time.monotonic() - started < 6


async def test_external_proxy_is_used_not_started(
    tmp_path: Path, world_file: Path, fake_programs: Programs
) -> None:
    """A real Toxiproxy elsewhere (here: a fake one we run) takes the embedded one's place."""
    spec = ServiceSpec(
        name="toxiproxy",
        argv=tuple(fake_programs["proxy"]),
        port_flags={"api": "--port"},
        log_file=tmp_path / "toxiproxy.log",
        ready_file=tmp_path / "toxiproxy.ready.json",
        health_port="api",
        health_path="/version",
    )
    toxiproxy = await _running(spec)
    url = f"http://127.0.0.1:{toxiproxy.ports['api']}"
    topology = with_external_proxy(default_topology(), url)
    assert topology.service(ServiceName.PROXY).mode is Mode.EXTERNAL
    try:
        stack = await Stack(topology, world_file, tmp_path / "run", programs=fake_programs).up()
        try:
            assert stack.addresses.proxy_api == url
            assert not (tmp_path / "run" / "services" / "proxy.log").exists()
            assert (await stack.health()).ok
        finally:
            await stack.stop()
        async with stack.proxy_api as api:
            left = await api.proxies()
        assert left == {}, "a shared Toxiproxy is left as it was found"
    finally:
        await toxiproxy.stop()


@pytest.mark.parametrize(
    ("url", "expected"),
    [("http://127.0.0.1:8474", "127.0.0.1:8474"), ("toxiproxy:9000", "toxiproxy:9000"),
     ("http://[::1]", "[::1]:8474")],
)  # fmt: skip
def test_toxiproxy_url(url: str, expected: str) -> None:
    assert str(toxiproxy_endpoint(url)) == expected


@pytest.mark.parametrize("url", ["ftp://x:1", "http://", "http://bad host:1"])
def test_bad_toxiproxy_url(url: str) -> None:
    with pytest.raises(ConfigError, match="TOXIPROXY_URL"):
        toxiproxy_endpoint(url)
